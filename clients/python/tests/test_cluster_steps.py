"""Atomic steps against a real 3-node cluster: one step creates a workflow with its tasks,
variables and a checkpoint at one revision (and a later one checkpoints the status its own
transition set); a refused part (an unknown task dependency after a legal transition, an
illegal transition in step 13 of 20, a stale variables version, a stale fence, an unknown
checkpoint parent) raises that part's own typed error naming the step and part, and nothing
of any step is written; so does input the server refuses before proposing (an invalid workflow
id in step 2 of 3's transition, an invalid task or dependency id, an invalid variable scope); a
batch of 20 workflows' steps applies at one revision; a batch sent again under its idempotency
header (and one resumed after an unknown outcome) is applied once.

"Nothing written" compares everything a workflow has, read in full before and after: the
record, its tasks, its variables and their history, its checkpoints and its history.

The shared cluster is used with names of this test's own, except where a test kills nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import cairn
from cairn import (
    CheckpointInfo,
    HistoryEvent,
    Step,
    StepCheckpoint,
    Task,
    TaskSpec,
    TaskStatus,
    Vars,
    VarScope,
    VarsUpdate,
    VarVersion,
    Workflow,
    WorkflowCreate,
    WorkflowTransition,
    WorkflowUpdate,
)
from cairn import _methods as m
from cairn._proto.cairn.v1 import step_pb2

from .cluster import Cluster

WORKFLOWS = 20
BAD_STEP = 13


@dataclass(frozen=True)
class State:
    """All a workflow has (None and empty when it does not exist)."""

    workflow: Workflow | None
    tasks: list[Task]
    vars: Vars | None
    var_history: list[VarVersion]
    checkpoints: list[CheckpointInfo]
    history: list[HistoryEvent]


async def state(client: cairn.Client, wid: str) -> State:
    details = await client.get_workflow(wid, include_tasks=True)
    if details is None:
        return State(None, [], None, [], [], [])
    scope = VarScope.workflow(wid)
    return State(
        workflow=details.workflow,
        tasks=details.tasks,
        vars=await client.vars(scope),
        var_history=await client.var_history(scope),
        checkpoints=await client.list_all_checkpoints(wid),
        history=await client.history_all(wid),
    )


async def states(client: cairn.Client, wids: list[str]) -> list[State]:
    return list(await asyncio.gather(*(state(client, w) for w in wids)))


def three_tasks() -> list[TaskSpec]:
    return [
        TaskSpec("fetch", kind="io", input={"url": "s3://bucket/in"}),
        TaskSpec("parse", dependencies=["fetch"], retry=cairn.RetryPolicy(3, 10)),
        TaskSpec("store", dependencies=["parse"]),
    ]


async def test_one_step_creates_a_workflow_with_tasks_vars_and_a_checkpoint(
    client: cairn.Client, name: str
) -> None:
    wid = f"{name}-wf"
    done = await client.step(
        Step(
            wid,
            create=WorkflowCreate(metadata={"job": 7}, labels={"team": "data"}, actor="orch"),
            tasks=three_tasks(),
            vars=VarsUpdate(set={"batch": 64, "model": "small"}, expected_version=0, actor="orch"),
            checkpoint=StepCheckpoint({"cursor": 0}, label="step-0", metadata={"rows": 0}),
        )
    )
    rev = done.revision
    assert done.created
    assert done.workflow == cairn.WorkflowRef(wid, "PENDING", 1, rev)
    assert [(t.id, t.status, t.version) for t in done.tasks] == [
        ("fetch", TaskStatus.PENDING, 1),
        ("parse", TaskStatus.PENDING, 1),
        ("store", TaskStatus.PENDING, 1),
    ]
    assert done.vars is not None and (done.vars.version, done.vars.revision) == (1, rev)
    assert done.checkpoint is not None and done.checkpoint.revision == rev
    assert done.checkpoint.raw_size == len(b'{"cursor":0}')

    # Everything reads back as written, all at the step's one revision.
    s = await state(client, wid)
    w = s.workflow
    assert w is not None
    assert (w.status, w.version, w.metadata, w.labels) == (
        "PENDING",
        1,
        {"job": 7},
        {"team": "data"},
    )
    assert w.create_revision == rev and w.mod_revision == rev
    assert [(t.id, t.status, t.dependencies, t.mod_revision) for t in s.tasks] == [
        ("fetch", TaskStatus.PENDING, [], rev),
        ("parse", TaskStatus.PENDING, ["fetch"], rev),
        ("store", TaskStatus.PENDING, ["parse"], rev),
    ]
    assert s.tasks[0].input == {"url": "s3://bucket/in"} and s.tasks[1].retry.max_attempts == 3
    assert [t.id for t in await client.ready_tasks(wid)] == ["fetch"]
    assert s.vars is not None
    assert (s.vars.version, s.vars.values, s.vars.mod_revision, s.vars.updated_by) == (
        1,
        {"batch": 64, "model": "small"},
        rev,
        "orch",
    )
    assert s.vars.checksum == done.vars.checksum
    assert [v.version for v in s.var_history] == [1]
    [ckpt] = s.checkpoints
    assert (ckpt.id, ckpt.revision, ckpt.label, ckpt.metadata) == (
        done.checkpoint.id,
        rev,
        "step-0",
        {"rows": 0},
    )
    # The checkpoint recorded the workflow as the change left it.
    assert (ckpt.workflow_status, ckpt.workflow_version) == ("PENDING", 1)
    _, payload = await client.load_checkpoint(wid, ckpt.id)
    assert payload == b'{"cursor":0}'
    assert [(e.kind, e.to, e.revision) for e in s.history] == [
        (cairn.HistoryKind.CREATED, "PENDING", rev)
    ]

    # The next step: a transition, a task started, the variables at their next version and a
    # checkpoint that records the status this very step's transition set.
    nxt = await client.step(
        Step(
            wid,
            transition=WorkflowTransition(event="start", expected_version=1, actor="orch"),
            tasks=[TaskSpec("fetch", status="RUNNING", expected_version=1)],
            vars=VarsUpdate(set={"batch": 128}, expected_version=1),
            checkpoint=StepCheckpoint(b"state-1", label="step-1", parent=ckpt.id),
        )
    )
    rev2 = nxt.revision
    assert rev2 > rev and not nxt.created
    assert nxt.workflow == cairn.WorkflowRef(wid, "RUNNING", 2, rev2)
    assert [(t.id, t.status, t.version) for t in nxt.tasks] == [("fetch", TaskStatus.RUNNING, 2)]
    assert nxt.vars is not None and nxt.vars.version == 2
    s2 = await state(client, wid)
    assert s2.workflow is not None and s2.workflow.mod_revision == rev2
    assert s2.vars is not None and (s2.vars.version, s2.vars.values["batch"]) == (2, 128)
    assert [c.label for c in s2.checkpoints] == ["step-0", "step-1"]
    second = s2.checkpoints[1]
    assert (second.workflow_status, second.workflow_version, second.parent) == (
        "RUNNING",
        2,
        ckpt.id,
    )
    assert second.revision == rev2 and not second.delta


async def test_a_refused_tasks_part_after_a_legal_transition_writes_nothing(
    client: cairn.Client, name: str
) -> None:
    wid = f"{name}-wf"
    await client.step(
        Step(
            wid,
            create=WorkflowCreate(),
            tasks=three_tasks(),
            vars=VarsUpdate(set={"n": 1}),
            checkpoint=StepCheckpoint(b"v1"),
        )
    )
    before = await state(client, wid)
    with pytest.raises(cairn.InvalidArgument) as info:
        await client.step(
            Step(
                wid,
                transition=WorkflowTransition(event="start", expected_version=1),
                tasks=[
                    TaskSpec("fetch", status="RUNNING"),
                    TaskSpec("late", dependencies=["nope"]),
                ],
                vars=VarsUpdate(set={"n": 2}),
                checkpoint=StepCheckpoint(b"v2"),
            )
        )
    e = info.value
    assert (e.kind, e.step, e.step_part) == ("unknown_dependency", 0, "tasks")
    assert e.message.startswith("step 0 (tasks)"), e.message
    assert await state(client, wid) == before
    # The same step with the tasks part fixed goes through.
    ok = await client.step(
        Step(
            wid,
            transition=WorkflowTransition(event="start", expected_version=1),
            tasks=[TaskSpec("late", dependencies=["store"])],
        )
    )
    assert ok.workflow is not None and (ok.workflow.status, ok.workflow.version) == ("RUNNING", 2)


def batch(wids: list[str], bad: int | None) -> list[Step]:
    """A step per workflow: start it, add a task, set a variable and checkpoint; step ``bad``
    asks for a transition its definition does not allow (PENDING -> COMPLETED)."""
    return [
        Step(
            wid,
            transition=(
                WorkflowTransition(status="COMPLETED")
                if i == bad
                else WorkflowTransition(event="start", expected_version=1)
            ),
            tasks=[TaskSpec(f"t{i}")],
            vars=VarsUpdate(set={"i": i}, expected_version=0),
            checkpoint=StepCheckpoint({"step": i}),
        )
        for i, wid in enumerate(wids)
    ]


async def test_an_illegal_transition_in_step_13_of_20_refuses_the_batch(
    client: cairn.Client, name: str
) -> None:
    wids = [f"{name}-w{i:02}" for i in range(WORKFLOWS)]
    for wid in wids:
        await client.create_workflow(wid)
    before = await states(client, wids)

    with pytest.raises(cairn.IllegalTransition) as info:
        await client.apply_steps(batch(wids, BAD_STEP))
    e = info.value
    assert (e.step, e.step_part, e.current) == (BAD_STEP, "change", "PENDING")
    assert set(e.allowed) == {"RUNNING", "CANCELLED"}
    assert e.message.startswith(f"step {BAD_STEP} (change)"), e.message
    assert await states(client, wids) == before, "a step of a refused batch was written"

    # The same batch without the bad step: all 20 at one revision.
    done = await client.apply_steps(batch(wids, None))
    rev = done.revision
    assert len(done.results) == WORKFLOWS
    for wid, r in zip(wids, done.results, strict=True):
        assert r.revision == rev
        assert r.workflow == cairn.WorkflowRef(wid, "RUNNING", 2, rev)
        assert r.vars is not None and (r.vars.version, r.vars.revision) == (1, rev)
        assert r.checkpoint is not None and r.checkpoint.revision == rev
        assert len(r.tasks) == 1
    after = await states(client, wids)
    for i, s in enumerate(after):
        assert s.workflow is not None and (s.workflow.status, s.workflow.mod_revision) == (
            "RUNNING",
            rev,
        )
        assert [(t.id, t.mod_revision) for t in s.tasks] == [(f"t{i}", rev)]
        assert s.vars is not None and (s.vars.values, s.vars.mod_revision) == ({"i": i}, rev)
        assert [(c.revision, c.workflow_status) for c in s.checkpoints] == [(rev, "RUNNING")]


async def test_a_stale_vars_version_refuses_every_step(client: cairn.Client, name: str) -> None:
    other, wid = f"{name}-other", f"{name}-wf"
    await client.create_workflow(other)
    await client.step(Step(wid, create=WorkflowCreate(), vars=VarsUpdate(set={"a": 1})))
    before = await states(client, [other, wid])
    with pytest.raises(cairn.VersionConflict) as info:
        await client.apply_steps(
            [
                Step(other, transition=WorkflowTransition(event="start")),
                Step(
                    wid,
                    update=WorkflowUpdate(metadata_patch={"stage": 2}),
                    vars=VarsUpdate(set={"a": 2}, expected_version=0),
                ),
            ]
        )
    e = info.value
    assert (e.current, e.step, e.step_part) == (1, 1, "vars")
    assert await states(client, [other, wid]) == before


async def test_every_part_names_itself_when_refused(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    scope = VarScope.workflow(wid)
    await client.step(
        Step(
            wid,
            create=WorkflowCreate(),
            vars=VarsUpdate(set={"model": "small"}, immutable=["model"]),
        )
    )
    async with client.lock(f"{name}-lock", ttl=10.0) as guard:
        await client.step(
            Step(wid, transition=WorkflowTransition(event="start"), fence=guard.fence)
        )
    stale = guard.fence
    before = await state(client, wid)

    with pytest.raises(cairn.StaleFence) as fenced:
        await client.step(Step(wid, update=WorkflowUpdate(set_labels={"x": "1"}), fence=stale))
    assert (fenced.value.step, fenced.value.step_part) == (0, "fence")
    with pytest.raises(cairn.Immutable) as immutable:
        await client.step(Step(wid, vars=VarsUpdate(set={"model": "large"})))
    assert (immutable.value.step, immutable.value.step_part) == (0, "vars")
    with pytest.raises(cairn.InvalidArgument) as parent:
        await client.step(
            Step(
                wid,
                update=WorkflowUpdate(metadata_patch={"x": 1}),
                checkpoint=StepCheckpoint(b"x", parent="ckpt-1"),
            )
        )
    assert (parent.value.kind, parent.value.step, parent.value.step_part) == (
        "unknown_parent",
        0,
        "checkpoint",
    )
    with pytest.raises(cairn.NotFound) as missing:
        await client.apply_steps(
            [
                Step(wid, update=WorkflowUpdate(metadata_patch={"y": 1})),
                Step(f"{name}-nope", transition=WorkflowTransition(event="start")),
            ]
        )
    assert (missing.value.step, missing.value.step_part) == (1, "change")
    with pytest.raises(cairn.AlreadyExists) as exists:
        await client.step(Step(wid, create=WorkflowCreate(), vars=VarsUpdate(set={"z": 1})))
    assert (exists.value.step, exists.value.step_part) == (0, "change")
    assert await state(client, wid) == before
    assert await client.vars(scope) == before.vars


def started(wid: str) -> Step:
    """A legal step of a workflow made by :func:`test_input_errors_name_their_step_and_part`:
    start it, add a task, set its variable and checkpoint."""
    return Step(
        wid,
        transition=WorkflowTransition(event="start", expected_version=1),
        tasks=[TaskSpec("b", dependencies=["a"])],
        vars=VarsUpdate(set={"n": 2}, expected_version=1),
        checkpoint=StepCheckpoint(b"started"),
    )


async def test_input_errors_name_their_step_and_part(client: cairn.Client, name: str) -> None:
    """Input the server refuses before proposing (the client checks no ids, so these reach it)
    names the step and part as a refusal at apply does, with the field in the message."""
    wids = [f"{name}-w{i}" for i in range(3)]
    for wid in wids:
        await client.step(
            Step(wid, create=WorkflowCreate(), tasks=[TaskSpec("a")], vars=VarsUpdate(set={"n": 1}))
        )
    before = await states(client, wids)
    start = WorkflowTransition(event="start", expected_version=1)
    # (steps, kind, step, part, message prefix)
    cases: list[tuple[list[Step], str, int, str, str]] = [
        (
            [started(wids[0]), started(wids[1]), Step(f"{name} w2", transition=start)],
            "invalid_id",
            2,
            "change",
            "steps[2].transition: id: invalid id",
        ),
        (
            [
                Step(wids[0], transition=start, tasks=[TaskSpec("b"), TaskSpec("bad task")]),
                started(wids[1]),
            ],
            "invalid_id",
            0,
            "tasks",
            "steps[0].tasks: task id: invalid id",
        ),
        (
            [Step(wids[0], tasks=[TaskSpec("b", dependencies=["no such"])]), started(wids[1])],
            "invalid_id",
            0,
            "tasks",
            "steps[0].tasks: dependency: invalid id",
        ),
        (
            [
                started(wids[0]),
                Step(
                    wids[1],
                    update=WorkflowUpdate(metadata_patch={"x": 1}),
                    vars=VarsUpdate(set={"n": 2}, scope=VarScope.workflow(f"{name} w1")),
                ),
                started(wids[2]),
            ],
            "invalid_id",
            1,
            "vars",
            "steps[1].vars: scope.workflow: invalid id",
        ),
    ]
    for steps, kind, step, part, prefix in cases:
        with pytest.raises(cairn.InvalidArgument) as info:
            await client.apply_steps(steps)
        e = info.value
        assert (e.kind, e.step, e.step_part) == (kind, step, part), e.message
        assert e.message.startswith(prefix), e.message
        assert await states(client, wids) == before, f"{prefix}: a step was written"

    # The batches are good but for their bad part: the first one fixed applies.
    done = await client.apply_steps([started(w) for w in wids])
    assert [r.workflow.status if r.workflow else None for r in done.results] == ["RUNNING"] * 3


async def test_a_batch_sent_again_under_its_header_is_applied_once(
    client: cairn.Client, name: str
) -> None:
    wid = f"{name}-wf"
    steps = [
        Step(
            wid,
            create=WorkflowCreate(),
            tasks=[TaskSpec("a")],
            vars=VarsUpdate(set={"n": 1}),
            checkpoint=StepCheckpoint(b"once"),
        )
    ]
    # What every retry of one apply_steps sends: the same request, the same header.
    request = step_pb2.ApplyStepsRequest(
        header=client._sequencer.next_header(), steps=[s.to_pb() for s in steps]
    )
    first = await client._call("apply_steps", m.APPLY_STEPS, request)
    again = await client._call("apply_steps", m.APPLY_STEPS, request)
    client._sequencer.finish(request.header.sequence)
    assert again == first, "a retry is answered with the first result"
    s = await state(client, wid)
    assert s.workflow is not None and s.workflow.version == 1
    assert s.vars is not None and s.vars.version == 1
    assert len(s.checkpoints) == 1 and [t.id for t in s.tasks] == ["a"]
    assert [e.kind for e in s.history] == [cairn.HistoryKind.CREATED]
    # A new logical write of the same steps is another write: the workflow exists by now.
    with pytest.raises(cairn.AlreadyExists):
        await client.apply_steps(steps)
    assert await state(client, wid) == s


async def test_an_unknown_batch_outcome_resumed_is_applied_once(
    new_cluster: Callable[..., Cluster], name: str
) -> None:
    cluster = new_cluster()
    wids = [f"{name}-{i}" for i in range(3)]
    survivor = cluster.leader()
    others = [p.id for p in cluster.nodes if p.id != survivor]
    async with cairn.Client(
        [cluster.node(survivor).client_addr],
        retry_deadline=1.0,
        request_timeout=0.5,
        backoff_max=0.05,
    ) as client:
        for n in others:
            cluster.kill(n)
        # No quorum: the batch cannot commit, and the client cannot know that it did not.
        with pytest.raises(cairn.OutcomeUnknown) as info:
            await client.apply_steps(
                [
                    Step(
                        wid,
                        create=WorkflowCreate(),
                        vars=VarsUpdate(set={"i": i}),
                        checkpoint=StepCheckpoint(b"x"),
                    )
                    for i, wid in enumerate(wids)
                ]
            )
        pending = info.value.pending
        assert pending.op == "apply_steps" and pending.idempotency_key[0] == client.client_id
        for n in others:
            cluster.spawn(n)
        await asyncio.to_thread(cluster.leader, 30)

        async def again() -> cairn.StepsResult:
            while True:
                try:
                    r: cairn.StepsResult = await pending._send()
                    return r
                except (cairn.Unavailable, cairn.Timeout):
                    pass  # the cluster is still settling; the deadline below bounds this

        first = await asyncio.wait_for(again(), 60)
        second = await asyncio.wait_for(again(), 60)
        assert first == second
        resumed = await asyncio.wait_for(client.resume(pending), 60)
        assert resumed == first and pending.released
        assert all(r.created for r in first.results)
    async with cairn.Client(cluster.endpoints()) as reader:
        for i, wid in enumerate(wids):
            s = await state(reader, wid)
            assert s.workflow is not None and s.workflow.version == 1
            assert s.workflow.mod_revision == first.revision
            assert s.vars is not None and (s.vars.version, s.vars.values) == (1, {"i": i})
            assert len(s.checkpoints) == 1
