"""Atomic steps without a cluster: every part as the request of its own RPC (the very request
the RPC's method sends, less its header and fence), the step's workflow named once and the
other parts' ids left empty for the cluster, bad input refused before sending, the results
parsed, refusals classified with their step and part, and the batch's one idempotency header
on every retry and on a resume."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import cairn
from cairn import (
    Step,
    StepCheckpoint,
    StepResult,
    StepsResult,
    TaskSpec,
    VarScope,
    VarsUpdate,
    WorkflowCreate,
    WorkflowTransition,
    WorkflowUpdate,
)
from cairn._classify import Status, classify
from cairn._proto.cairn.v1 import checkpoint_pb2 as ckpt_pb
from cairn._proto.cairn.v1 import kv_pb2
from cairn._proto.cairn.v1 import step_pb2 as pb
from cairn._proto.cairn.v1 import workflow_pb2 as wf_pb
from cairn.config import ClientSettings
from cairn.steps import MAX_STEP_CHECKPOINT, MAX_STEPS

from .fakes import (
    APPLY_STEPS,
    CREATE_WORKFLOW,
    SAVE_CHECKPOINT,
    TRANSITION,
    UPDATE_VARS,
    UPDATE_WORKFLOW,
    UPSERT_TASKS,
    Fail,
    FakeNode,
    Ok,
)

C = grpc.StatusCode
FAST: ClientSettings = {"backoff_base": 0.001, "backoff_max": 0.01, "request_timeout": 1.0}


@pytest.fixture
async def node() -> AsyncIterator[FakeNode]:
    n = await FakeNode().start()
    yield n
    await n.stop()


def header_of(seen: Any) -> tuple[str, int, int]:
    h = seen.request.header
    return h.client_id, h.sequence, h.first_incomplete


def headless(msg: Any) -> Any:
    """A copy of a request without its header and fence (what a step's part carries)."""
    copy = type(msg)()
    copy.CopyFrom(msg)
    copy.ClearField("header")
    if "fence" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("fence")
    return copy


def ok_steps(results: list[pb.StepResult], revision: int = 70) -> Ok:
    return Ok(pb.ApplyStepsResponse(results=results, revision=revision))


def test_a_full_step_names_its_workflow_once() -> None:
    step = Step(
        "job-1",
        create=WorkflowCreate(
            namespace="etl",
            definition="pipeline",
            definition_version=3,
            metadata={"owner": "etl", "n": [1, None]},
            labels={"team": "data"},
            owner_id="orch-1",
            routing_strategy="rr",
            max_concurrent=4,
            total_tasks=3,
            upsert=True,
            actor="orch",
        ),
        tasks=[
            TaskSpec("fetch", kind="io", input={"url": "s3://in"}),
            TaskSpec("parse", dependencies=["fetch"], retry=cairn.RetryPolicy(3, 100)),
        ],
        vars=VarsUpdate(
            set={"batch": 64, "model": "small", "none": None},
            delete=["old"],
            immutable=["model"],
            expected_version=0,
            keep_versions=10,
            actor="orch",
            reason="start",
        ),
        checkpoint=StepCheckpoint(
            b"\x00state", kind="manual", label="step-0", metadata={"rows": 10}
        ),
        fence=cairn.Fence.for_lock("jobs", 7),
    )
    msg = step.to_pb()
    assert msg.WhichOneof("change") == "create"
    c = msg.create
    assert (c.id, c.namespace, c.definition, c.definition_version) == (
        "job-1",
        "etl",
        "pipeline",
        3,
    )
    assert json.loads(c.metadata) == {"owner": "etl", "n": [1, None]}
    assert dict(c.labels) == {"team": "data"}
    assert (c.owner_id, c.routing_strategy, c.max_concurrent, c.total_tasks) == (
        "orch-1",
        "rr",
        4,
        3,
    )
    assert c.upsert and c.actor == "orch"
    # The parts carry no header and no fence of their own: the batch and the step do.
    for part in (msg.create, msg.tasks, msg.vars):
        assert not part.HasField("header") and not part.HasField("fence")
    assert (msg.fence.lock, msg.fence.token) == ("jobs", 7)

    # The other parts leave the workflow to the step's.
    assert msg.tasks.workflow_id == ""
    assert [t.id for t in msg.tasks.tasks] == ["fetch", "parse"]
    assert msg.tasks.tasks[0].input == '{"url":"s3://in"}' and msg.tasks.tasks[0].kind == "io"
    assert list(msg.tasks.tasks[1].dependencies.ids) == ["fetch"]
    assert msg.tasks.tasks[1].retry.max_attempts == 3
    v = msg.vars
    assert not v.HasField("scope")
    assert dict(v.set) == {"batch": "64", "model": '"small"', "none": "null"}
    assert (list(v.delete), list(v.immutable)) == (["old"], ["model"])
    assert v.HasField("expected_version") and v.expected_version == 0
    assert (v.keep_versions, v.actor, v.reason) == (10, "orch", "start")
    k = msg.checkpoint
    assert k.fields.workflow_id == "" and k.payload == b"\x00state"
    assert k.fields.kind == ckpt_pb.CHECKPOINT_KIND_MANUAL and k.fields.label == "step-0"
    assert json.loads(k.fields.metadata) == {"rows": 10}
    assert not k.fields.HasField("parent") and not k.fields.delta


def test_transition_and_update_steps() -> None:
    msg = Step(
        "job-1", transition=WorkflowTransition(event="start", expected_version=2, reason="go")
    ).to_pb()
    t = msg.transition
    assert msg.WhichOneof("change") == "transition"
    assert (t.id, t.event, t.WhichOneof("target"), t.expected_version, t.reason) == (
        "job-1",
        "start",
        "event",
        2,
        "go",
    )
    assert not msg.HasField("tasks") and not msg.HasField("vars")
    assert not msg.HasField("checkpoint") and not msg.HasField("fence")
    t = Step("job-1", transition=WorkflowTransition(status="PAUSED")).to_pb().transition
    assert t.WhichOneof("target") == "status" and not t.HasField("expected_version")

    u = (
        Step(
            "job-1",
            update=WorkflowUpdate(
                metadata_patch={"progress": 0.5, "gone": None},
                set_labels={"stage": "2"},
                remove_labels=["tmp"],
                max_concurrent=8,
            ),
        )
        .to_pb()
        .update
    )
    assert u.id == "job-1" and json.loads(u.metadata_patch) == {"progress": 0.5, "gone": None}
    assert dict(u.set_labels) == {"stage": "2"} and list(u.remove_labels) == ["tmp"]
    assert u.max_concurrent == 8
    # Fields left None are not sent.
    for f in ("expected_version", "owner_id", "routing_strategy", "total_tasks"):
        assert not u.HasField(f), f


def test_without_a_change_the_tasks_part_names_the_workflow() -> None:
    msg = Step(
        "job-2",
        tasks=[TaskSpec("a", status="COMPLETED", output={"ok": True})],
        vars=VarsUpdate(set={"done": 1}),
        checkpoint=StepCheckpoint({"cursor": 3}),
    ).to_pb()
    assert msg.WhichOneof("change") is None
    assert msg.tasks.workflow_id == "job-2"
    assert not msg.vars.HasField("scope") and msg.checkpoint.fields.workflow_id == ""
    assert msg.checkpoint.payload == b'{"cursor":3}'
    assert msg.checkpoint.fields.kind == ckpt_pb.CHECKPOINT_KIND_AUTO

    # Neither change nor tasks: each part names the workflow itself.
    msg = Step(
        "job-3", vars=VarsUpdate(set={"x": 1}), checkpoint=StepCheckpoint("text", parent="c-1")
    ).to_pb()
    assert msg.vars.scope.workflow == "job-3"
    assert msg.checkpoint.fields.workflow_id == "job-3" and msg.checkpoint.payload == b"text"
    assert msg.checkpoint.fields.parent == "c-1"

    # A scope of its own stays its own.
    msg = Step(
        "job-4",
        transition=WorkflowTransition(event="start"),
        vars=VarsUpdate(set={"x": 1}, scope=VarScope.namespace("etl")),
    ).to_pb()
    assert msg.vars.scope.WhichOneof("scope") == "namespace" and msg.vars.scope.namespace == "etl"


async def test_each_part_is_its_own_rpcs_request(node: FakeNode) -> None:
    """The same arguments give the same request through the RPC's method and in a step."""
    node.handlers[CREATE_WORKFLOW] = lambda req, md: Ok(
        wf_pb.CreateWorkflowResponse(workflow=wf_pb.WorkflowRef(id="w"))
    )
    node.handlers[TRANSITION] = lambda req, md: Ok(
        wf_pb.TransitionWorkflowResponse(workflow=wf_pb.WorkflowRef(id="w"))
    )
    node.handlers[UPDATE_WORKFLOW] = lambda req, md: Ok(
        wf_pb.UpdateWorkflowResponse(workflow=wf_pb.WorkflowRef(id="w"))
    )
    node.handlers[UPSERT_TASKS] = lambda req, md: Ok(wf_pb.UpsertTasksResponse())
    node.handlers[UPDATE_VARS] = lambda req, md: Ok(wf_pb.UpdateVarsResponse())
    node.handlers[SAVE_CHECKPOINT] = lambda req, md: Ok(ckpt_pb.SaveCheckpointResponse())
    meta = {"a": {"b": [1, 2.5, "x"]}}
    tasks = [TaskSpec("t1", input=[1]), TaskSpec("t2", dependencies=["t1"], expected_version=0)]
    async with cairn.Client([node.addr], **FAST) as c:
        await c.create_workflow(
            "w", namespace="ns", metadata=meta, labels={"l": "1"}, total_tasks=2, actor="me"
        )
        await c.transition("w", status="RUNNING", expected_version=1, actor="me", reason="r")
        await c.update_workflow(
            "w", metadata_patch=meta, set_labels={"l": "2"}, remove_labels=["m"], owner_id="o"
        )
        await c.upsert_tasks("w", tasks)
        await c.update_vars(
            VarScope.workflow("w"), set={"k": meta}, delete=["d"], expected_version=3
        )
        await c.save_checkpoint("w", b"state", label="l", metadata=meta, parent="p")
    create = Step(
        "w",
        create=WorkflowCreate(
            namespace="ns", metadata=meta, labels={"l": "1"}, total_tasks=2, actor="me"
        ),
        tasks=tasks,
        vars=VarsUpdate(set={"k": meta}, delete=["d"], expected_version=3),
        checkpoint=StepCheckpoint(b"state", label="l", metadata=meta, parent="p"),
    ).to_pb()
    assert create.create == headless(node.calls(CREATE_WORKFLOW)[0].request)
    sent_tasks = headless(node.calls(UPSERT_TASKS)[0].request)
    sent_tasks.workflow_id = ""  # the step's
    assert create.tasks == sent_tasks
    sent_vars = headless(node.calls(UPDATE_VARS)[0].request)
    sent_vars.ClearField("scope")  # the step's
    assert create.vars == sent_vars
    save = node.calls(SAVE_CHECKPOINT)[0].request
    save.fields.workflow_id = ""  # the step's
    assert create.checkpoint.fields == save.fields and create.checkpoint.payload == save.payload

    transition = Step(
        "w",
        transition=WorkflowTransition(status="RUNNING", expected_version=1, actor="me", reason="r"),
    ).to_pb()
    assert transition.transition == headless(node.calls(TRANSITION)[0].request)
    update = Step(
        "w",
        update=WorkflowUpdate(
            metadata_patch=meta, set_labels={"l": "2"}, remove_labels=["m"], owner_id="o"
        ),
    ).to_pb()
    assert update.update == headless(node.calls(UPDATE_WORKFLOW)[0].request)


def test_bad_steps_are_refused_when_made() -> None:
    with pytest.raises(cairn.InvalidArgument, match="at most one change"):
        Step("w", create=WorkflowCreate(), transition=WorkflowTransition(event="start"))
    with pytest.raises(cairn.InvalidArgument, match="at most one change"):
        Step("w", transition=WorkflowTransition(event="start"), update=WorkflowUpdate())
    with pytest.raises(cairn.InvalidArgument, match="names its workflow"):
        Step("", vars=VarsUpdate(set={"x": 1}))
    with pytest.raises(cairn.InvalidArgument, match="a step has a part"):
        Step("w")
    with pytest.raises(cairn.InvalidArgument, match="a step has a part"):
        Step("w", fence=cairn.Fence.for_lock("l", 1))
    with pytest.raises(cairn.InvalidArgument, match="exactly one of status= and event="):
        WorkflowTransition()
    with pytest.raises(cairn.InvalidArgument, match="exactly one of status= and event="):
        WorkflowTransition(status="RUNNING", event="start")
    with pytest.raises(cairn.InvalidArgument, match="WorkflowTransition"):
        Step("w", transition="start")  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="VarsUpdate"):
        Step("w", vars={"x": 1})  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument):
        Step("w", tasks="abc")  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument):
        VarsUpdate(set={"x": 1}, scope="etl")  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="delete is a list of names"):
        VarsUpdate(delete="old")
    with pytest.raises(cairn.InvalidArgument, match="immutable is a list of names"):
        VarsUpdate(set={"model": 1}, immutable="model")
    with pytest.raises(cairn.InvalidArgument, match="remove_labels is a list of names"):
        WorkflowUpdate(remove_labels="tmp")
    # A step's checkpoint: at most 64 KiB, whatever form the payload takes.
    StepCheckpoint(b"x" * MAX_STEP_CHECKPOINT)
    with pytest.raises(cairn.InvalidArgument, match="limit is 65536"):
        StepCheckpoint(b"x" * (MAX_STEP_CHECKPOINT + 1))
    with pytest.raises(cairn.InvalidArgument, match="limit"):
        StepCheckpoint("é" * (MAX_STEP_CHECKPOINT // 2 + 1))
    with pytest.raises(cairn.InvalidArgument, match="limit"):
        StepCheckpoint({"blob": "x" * MAX_STEP_CHECKPOINT})
    with pytest.raises(cairn.InvalidArgument, match="not JSON"):
        StepCheckpoint({"x": float("nan")})
    with pytest.raises(cairn.InvalidArgument, match="bytes or str"):
        StepCheckpoint(12)  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="checkpoint kind"):
        StepCheckpoint(b"", kind="sometimes")


async def test_bad_batches_are_refused_before_sending(node: FakeNode) -> None:
    one = Step("w", transition=WorkflowTransition(event="start"))
    async with cairn.Client([node.addr], **FAST) as c:
        with pytest.raises(cairn.InvalidArgument, match="1 to 128 steps, not 0"):
            await c.apply_steps([])
        with pytest.raises(cairn.InvalidArgument, match="not 129"):
            await c.apply_steps([one] * (MAX_STEPS + 1))
        with pytest.raises(cairn.InvalidArgument, match="holds Steps"):
            await c.apply_steps([one, "w"])  # type: ignore[list-item]
        # What a part's own RPC refuses locally, a step refuses too.
        bad_parts = [
            Step("w", create=WorkflowCreate(metadata={"x": float("inf")})),
            Step("w", update=WorkflowUpdate(metadata_patch={"x": object()})),
            Step("w", tasks=[TaskSpec("t", input=float("nan"))]),
            Step("w", tasks=["t"]),  # type: ignore[list-item]
            Step("w", vars=VarsUpdate(set={"x": 1}, expected_version=-1)),
            Step("w", vars=VarsUpdate(set={"x": 1}, keep_versions=-5)),
            Step("w", vars=VarsUpdate(set={"x": {1, 2}})),
        ]
        for bad in bad_parts:
            with pytest.raises(cairn.InvalidArgument):
                await c.apply_steps([one, bad])
        with pytest.raises(cairn.InvalidArgument):
            await c.step(bad_parts[0])
        assert node.seen == []
        assert c._sequencer.in_flight() == frozenset()
    assert MAX_STEPS == 128


async def test_a_retried_batch_sends_the_same_header_and_parses_the_results(
    node: FakeNode,
) -> None:
    left = [2]

    def apply(req: Any, md: dict[str, str]) -> Ok | Fail:
        if left[0] > 0:
            left[0] -= 1
            return Fail(C.UNAVAILABLE, "leader changing")
        return ok_steps(
            [
                pb.StepResult(
                    workflow=wf_pb.WorkflowRef(id="a", status="PENDING", version=1, revision=70),
                    created=True,
                    tasks=[
                        wf_pb.TaskRef(id="t1", status="PENDING", version=1),
                        wf_pb.TaskRef(id="t2", status="PENDING", version=1),
                    ],
                    vars=wf_pb.UpdateVarsResponse(version=1, checksum=99, revision=70),
                    checkpoint=ckpt_pb.SaveCheckpointResponse(
                        id="ckpt-70", raw_size=5, stored_size=5, revision=70
                    ),
                ),
                # A part's revision the server left unset is still the batch's.
                pb.StepResult(workflow=wf_pb.WorkflowRef(id="b", status="RUNNING", version=4)),
                pb.StepResult(vars=wf_pb.UpdateVarsResponse(version=8, checksum=1)),
            ]
        )

    node.handlers[APPLY_STEPS] = apply
    steps = [
        Step(
            "a",
            create=WorkflowCreate(),
            tasks=[TaskSpec("t1"), TaskSpec("t2", dependencies=["t1"])],
            vars=VarsUpdate(set={"n": 1}),
            checkpoint=StepCheckpoint(b"state"),
        ),
        Step(
            "b", transition=WorkflowTransition(event="start"), fence=cairn.Fence.for_owner("b", 3)
        ),
        Step("c", vars=VarsUpdate(set={"m": 2})),
    ]
    async with cairn.Client([node.addr], **FAST) as c:
        got = await c.apply_steps(iter(steps))
        calls = node.calls(APPLY_STEPS)
        assert len(calls) == 3
        assert {header_of(s) for s in calls} == {(c.client_id, 1, 1)}
        assert all(s.request == calls[0].request for s in calls)
        assert list(calls[0].request.steps) == [s.to_pb() for s in steps]
        assert c._sequencer.in_flight() == frozenset()

        assert isinstance(got, StepsResult) and got.revision == 70 and len(got.results) == 3
        a, b, vars_only = got.results
        assert a == StepResult(
            workflow=cairn.WorkflowRef("a", "PENDING", 1, 70),
            created=True,
            tasks=[
                cairn.TaskRef("t1", cairn.TaskStatus.PENDING, 1, 0),
                cairn.TaskRef("t2", cairn.TaskStatus.PENDING, 1, 0),
            ],
            vars=cairn.VarsWritten(1, 99, 70),
            checkpoint=cairn.SavedCheckpoint("ckpt-70", 5, 5, 70),
            revision=70,
        )
        assert b.workflow == cairn.WorkflowRef("b", "RUNNING", 4, 70) and not b.created
        assert (b.tasks, b.vars, b.checkpoint) == ([], None, None)
        assert vars_only.workflow is None and vars_only.vars == cairn.VarsWritten(8, 1, 70)

        # One step: its own result, the next sequence.
        node.handlers[APPLY_STEPS] = lambda req, md: ok_steps(
            [pb.StepResult(workflow=wf_pb.WorkflowRef(id="b", status="PAUSED", version=5))], 71
        )
        one = await c.step(Step("b", transition=WorkflowTransition(event="pause")))
        assert one.workflow == cairn.WorkflowRef("b", "PAUSED", 5, 71) and one.revision == 71
        assert header_of(node.calls(APPLY_STEPS)[-1]) == (c.client_id, 2, 2)
        assert len(node.calls(APPLY_STEPS)[-1].request.steps) == 1

        # As many results as steps, or the answer is not understood.
        node.handlers[APPLY_STEPS] = lambda req, md: ok_steps([pb.StepResult()])
        with pytest.raises(cairn.RpcError, match="1 step results for 2 steps"):
            await c.apply_steps(steps[1:])


def test_refusals_name_the_step_and_its_part() -> None:
    def refused(code: C, message: str, **meta: str) -> cairn.CairnError:
        e = classify(Status(code, message, {k.replace("_", "-"): v for k, v in meta.items()}))
        assert isinstance(e, cairn.CairnError)
        return e

    e = refused(
        C.FAILED_PRECONDITION,
        "step 13 (change): illegal transition COMPLETED -> RUNNING",
        cairn_error="illegal_transition",
        cairn_current_status="COMPLETED",
        cairn_allowed="",
        cairn_step="13",
        cairn_step_part="change",
    )
    assert isinstance(e, cairn.IllegalTransition)
    assert (e.current, e.allowed, e.step, e.step_part) == ("COMPLETED", [], 13, "change")
    assert e.message.startswith("step 13 (change): ")
    e = refused(
        C.ABORTED,
        "step 0 (vars): expected version 1, current 2",
        cairn_error="version_conflict",
        cairn_current_version="2",
        cairn_step="0",
        cairn_step_part="vars",
    )
    assert isinstance(e, cairn.VersionConflict) and (e.current, e.step, e.step_part) == (
        2,
        0,
        "vars",
    )
    e = refused(
        C.INVALID_ARGUMENT,
        "step 0 (tasks): task b depends on unknown task zz",
        cairn_error="unknown_dependency",
        cairn_step="0",
        cairn_step_part="tasks",
    )
    assert type(e) is cairn.InvalidArgument and e.kind == "unknown_dependency"
    assert (e.step, e.step_part) == (0, "tasks")
    e = refused(
        C.FAILED_PRECONDITION,
        "step 2 (fence): stale",
        cairn_error="stale_fence",
        cairn_current_revision="9",
        cairn_step="2",
        cairn_step_part="fence",
    )
    assert isinstance(e, cairn.StaleFence) and (e.current, e.step, e.step_part) == (9, 2, "fence")
    e = refused(
        C.FAILED_PRECONDITION,
        "step 1 (vars): k is immutable",
        cairn_error="immutable",
        cairn_step="1",
        cairn_step_part="vars",
    )
    assert isinstance(e, cairn.Immutable) and (e.step, e.step_part) == (1, "vars")
    e = refused(
        C.NOT_FOUND,
        "step 5 (checkpoint): no workflow",
        cairn_step="5",
        cairn_step_part="checkpoint",
    )
    assert isinstance(e, cairn.NotFound) and (e.step, e.step_part) == (5, "checkpoint")
    e = refused(
        C.RESOURCE_EXHAUSTED,
        "full",
        cairn_error="namespace_full",
        cairn_step="3",
        cairn_step_part="change",
    )
    assert isinstance(e, cairn.ResourceExhausted) and (e.step, e.step_part) == (3, "change")
    # Not a batch's refusal (or garbled): no step.
    e = refused(C.ABORTED, "x", cairn_error="version_conflict", cairn_current_version="4")
    assert (e.step, e.step_part) == (None, None)
    e = refused(C.NOT_FOUND, "x", cairn_step="-1", cairn_step_part=" ")
    assert (e.step, e.step_part) == (None, None)
    assert (cairn.CairnError("local").step, cairn.InvalidArgument("x").step_part) == (None, None)


async def test_a_refused_batch_raises_its_parts_error_once(node: FakeNode) -> None:
    node.handlers[APPLY_STEPS] = lambda req, md: Fail(
        C.FAILED_PRECONDITION,
        "step 13 (change): illegal transition from COMPLETED",
        (
            ("cairn-error", "illegal_transition"),
            ("cairn-current-status", "COMPLETED"),
            ("cairn-allowed", ""),
            ("cairn-step", "13"),
            ("cairn-step-part", "change"),
        ),
    )
    steps = [Step(f"w{i}", transition=WorkflowTransition(event="start")) for i in range(20)]
    async with cairn.Client([node.addr], **FAST) as c:
        with pytest.raises(cairn.IllegalTransition) as info:
            await c.apply_steps(steps)
        e = info.value
        assert (e.step, e.step_part, e.current, e.allowed) == (13, "change", "COMPLETED", [])
        assert e.kind == "illegal_transition" and e.code == C.FAILED_PRECONDITION
        assert len(node.calls(APPLY_STEPS)) == 1, "a definite answer is not retried"
        assert c._sequencer.in_flight() == frozenset()


async def test_an_unknown_batch_outcome_resumes_with_the_same_header(node: FakeNode) -> None:
    node.handlers[APPLY_STEPS] = lambda req, md: Fail(C.UNAVAILABLE, "no leader")
    async with cairn.Client([node.addr], retry_deadline=0.3, **FAST) as c:
        with pytest.raises(cairn.OutcomeUnknown) as info:
            await c.step(Step("w", vars=VarsUpdate(set={"n": 1})))
        pending = info.value.pending
        assert pending.op == "apply_steps" and pending.idempotency_key == (c.client_id, 1)
        attempts = len(node.calls(APPLY_STEPS))
        assert attempts > 1
        assert c._sequencer.in_flight() == frozenset({1})
        node.handlers[APPLY_STEPS] = lambda req, md: ok_steps(
            [pb.StepResult(vars=wf_pb.UpdateVarsResponse(version=3, checksum=4))], 80
        )
        # The pending write answers what step() answers: the step's result.
        got = await c.resume(pending)
        assert got == StepResult(None, False, [], cairn.VarsWritten(3, 4, 80), None, 80)
        sent = [s.request for s in node.calls(APPLY_STEPS)]
        assert len(sent) == attempts + 1 and all(r == sent[0] for r in sent)
        assert sent[0].header == kv_pb2.RequestHeader(
            client_id=c.client_id, sequence=1, first_incomplete=1
        )
        assert pending.released and c._sequencer.in_flight() == frozenset()
