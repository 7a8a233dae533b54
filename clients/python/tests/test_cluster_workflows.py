"""Definitions, workflows, history, tasks and namespace limits against a real cluster, with
bad input raising the typed error and writing nothing."""

from __future__ import annotations

import pytest

import cairn
from cairn import TaskSpec, TaskStatus

DEFAULT_FROM_RUNNING = {"PAUSED", "COMPLETED", "FAILED", "CANCELLED"}


async def test_definitions_register_version_get_list(client: cairn.Client, name: str) -> None:
    d = cairn.Definition(
        name=f"{name}-def",
        states=["NEW", "WORKING", "DONE"],
        initial="NEW",
        terminal=["DONE"],
        transitions=[cairn.Transition("NEW", "WORKING", "go"), cairn.Transition("WORKING", "DONE")],
    )
    r1 = await client.register_definition(d)
    assert (r1.name, r1.version, r1.created) == (d.name, 1, True)
    same = await client.register_definition(d)
    assert (same.version, same.created) == (1, False)
    d2 = cairn.Definition(d.name, [*d.states, "ORPHAN"], "NEW", ["DONE"], d.transitions)
    r2 = await client.register_definition(d2)
    assert (r2.version, r2.created, r2.unreachable) == (2, True, ["ORPHAN"])
    latest = await client.get_definition(d.name)
    assert latest is not None and latest.version == 2 and "ORPHAN" in latest.definition.states
    v1 = await client.get_definition(d.name, 1)
    assert v1 is not None and v1.definition == cairn.Definition.from_pb(d.to_pb())
    assert await client.get_definition(f"{name}-nope") is None
    names = {v.definition.name: v.version for v in await client.list_definitions()}
    assert names[d.name] == 2 and "default" in names
    with pytest.raises(cairn.InvalidArgument):
        await client.register_definition(cairn.Definition(f"{name}-bad", ["A"], "Z"))


async def test_workflow_lifecycle(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    created = await client.create_workflow(
        wid,
        metadata={"job": 7, "tags": ["a"]},
        labels={"team": "x"},
        owner_id="me",
        total_tasks=3,
        actor="tester",
    )
    assert created.created and created.workflow == cairn.WorkflowRef(
        wid, "PENDING", 1, created.revision
    )
    got = await client.get_workflow(wid)
    assert got is not None
    w = got.workflow
    assert (w.status, w.version, w.metadata, w.labels, w.owner_id, w.total_tasks) == (
        "PENDING",
        1,
        {"job": 7, "tags": ["a"]},
        {"team": "x"},
        "me",
        3,
    )
    assert w.namespace == "default" and w.definition == "default" and w.started_ms is None
    with pytest.raises(cairn.AlreadyExists):
        await client.create_workflow(wid)
    up = await client.upsert_workflow(wid, metadata={"job": 8}, labels={"team": "y"})
    assert not up.created and up.workflow.version == 2
    running = await client.transition(wid, event="start", expected_version=2, actor="me")
    assert (running.status, running.version) == ("RUNNING", 3)
    paused = await client.pause_workflow(wid)
    resumed = await client.resume_workflow(wid, reason="back")
    assert (paused.status, resumed.status, resumed.version) == ("PAUSED", "RUNNING", 5)
    upd = await client.update_workflow(
        wid,
        expected_version=5,
        metadata_patch={"job": None, "step": 2},
        set_labels={"stage": "two"},
        remove_labels=["team"],
        owner_id="you",
    )
    assert upd.version == 6
    got = await client.get_workflow(wid)
    assert got is not None
    assert (got.workflow.metadata, got.workflow.labels, got.workflow.owner_id) == (
        {"step": 2},
        {"stage": "two"},
        "you",
    )
    done = await client.transition(wid, status="COMPLETED")
    assert done.status == "COMPLETED"
    events = await client.history_all(wid)
    assert [e.version for e in events] == list(range(1, 8))
    assert [e.kind for e in events] == [
        cairn.HistoryKind.CREATED,
        cairn.HistoryKind.UPDATED,
        cairn.HistoryKind.TRANSITION,
        cairn.HistoryKind.TRANSITION,
        cairn.HistoryKind.TRANSITION,
        cairn.HistoryKind.UPDATED,
        cairn.HistoryKind.TRANSITION,
    ]
    assert (events[2].from_, events[2].to, events[2].event, events[2].actor) == (
        "PENDING",
        "RUNNING",
        "start",
        "me",
    )
    assert events[4].reason == "back" and events[6].event is None
    page = await client.history(wid, from_version=3, limit=2)
    assert [e.version for e in page.events] == [3, 4] and page.next_version == 5
    floor = await client.compact_history(wid, keep_last=2)
    assert floor == 6
    after = await client.history(wid, from_version=1)
    assert [e.version for e in after.events] == [6, 7] and after.compacted_before == 6
    deleted = await client.delete_workflow(wid)
    assert deleted.id == wid
    assert await client.get_workflow(wid) is None


async def test_bad_transitions_raise_typed_errors_and_write_nothing(
    client: cairn.Client, name: str
) -> None:
    wid = f"{name}-bad"
    await client.create_workflow(wid)
    await client.transition(wid, event="start")
    before = await client.get_workflow(wid)
    assert before is not None and before.workflow.version == 2
    with pytest.raises(cairn.IllegalTransition) as illegal:
        await client.transition(wid, status="PENDING")
    assert illegal.value.current == "RUNNING"
    assert set(illegal.value.allowed) == DEFAULT_FROM_RUNNING
    with pytest.raises(cairn.IllegalTransition):
        await client.transition(wid, event="start")
    with pytest.raises(cairn.VersionConflict) as conflict:
        await client.transition(wid, event="pause", expected_version=1)
    assert conflict.value.current == 2
    with pytest.raises(cairn.VersionConflict):
        await client.update_workflow(wid, expected_version=1, metadata_patch={"x": 1})
    with pytest.raises(cairn.InvalidArgument):
        await client.update_workflow(wid, metadata_patch={"x": "y" * (1024 * 1024 + 100)})
    after = await client.get_workflow(wid)
    assert after is not None and after.workflow == before.workflow
    assert len(await client.history_all(wid)) == 2
    with pytest.raises(cairn.NotFound):
        await client.transition(f"{name}-missing", event="start")
    with pytest.raises(cairn.NotFound):
        await client.create_workflow(f"{name}-x", definition=f"{name}-no-such-definition")
    with pytest.raises(cairn.FailedPrecondition):
        await client.delete_workflow(wid)
    gone = await client.delete_workflow(wid, force=True)
    assert gone.id == wid and await client.get_workflow(wid) is None


async def test_list_iterate_count(client: cairn.Client, name: str) -> None:
    ns = f"{name}-ns"
    ids = []
    for i in range(23):
        c = await client.create_workflow(
            f"{name}-{i:02d}", namespace=ns, labels={"parity": "even" if i % 2 == 0 else "odd"}
        )
        ids.append(c.workflow.id)
    for wid in ids[:5]:
        await client.transition(wid, event="start")
    page = await client.list_workflows(namespace=ns, limit=10, with_count=True)
    assert [w.id for w in page.workflows] == ids[:10]
    assert page.count == 23 and page.next_cursor is not None
    seen = [w.id async for w in client.iter_workflows(namespace=ns, page_size=4)]
    assert seen == ids
    desc = [w.id async for w in client.iter_workflows(namespace=ns, descending=True, page_size=6)]
    assert desc == ids[::-1]
    assert await client.count_workflows(namespace=ns) == 23
    assert await client.count_workflows(namespace=ns, statuses=["RUNNING"]) == 5
    assert await client.count_workflows(namespace=ns, labels={"parity": "even"}) == 12
    running = [w.id async for w in client.iter_workflows(namespace=ns, statuses=["RUNNING"])]
    assert running == ids[:5]
    assert await client.count_workflows(namespace=f"{name}-empty") == 0


async def test_tasks_dependencies_ready_and_progress(client: cairn.Client, name: str) -> None:
    wid = f"{name}-tasks"
    await client.create_workflow(wid)
    r = await client.upsert_tasks(
        wid,
        [
            TaskSpec("a", name="fetch", kind="io", input={"url": "u"}),
            TaskSpec("b", name="parse", dependencies=["a"]),
            TaskSpec("c", name="store", dependencies=["b"]),
        ],
    )
    assert [(t.id, t.status, t.version) for t in r.tasks] == [
        ("a", TaskStatus.PENDING, 1),
        ("b", TaskStatus.PENDING, 1),
        ("c", TaskStatus.PENDING, 1),
    ]
    assert [t.id for t in await client.ready_tasks(wid)] == ["a"]
    await client.upsert_tasks(wid, [TaskSpec("a", status=TaskStatus.RUNNING, agent_id="agent-1")])
    done = await client.upsert_tasks(
        wid, [TaskSpec("a", status=TaskStatus.COMPLETED, output={"rows": 3}, expected_version=2)]
    )
    assert done.tasks[0].version == 3
    assert [t.id for t in await client.ready_tasks(wid)] == ["b"]
    pending = await client.list_tasks(wid, statuses=[TaskStatus.PENDING])
    assert [t.id for t in pending] == ["b", "c"]
    details = await client.get_workflow(wid, include_tasks=True)
    assert details is not None
    a = details.tasks[0]
    assert (a.id, a.status, a.input, a.output, a.agent_id, a.attempts) == (
        "a",
        TaskStatus.COMPLETED,
        {"url": "u"},
        {"rows": 3},
        "agent-1",
        1,
    )
    assert a.started_ms is not None and a.finished_ms is not None
    assert details.tasks[2].dependencies == ["b"]
    p = details.progress
    assert (p.total, p.completed, p.pending, p.success_rate) == (3, 1, 2, 1.0)
    # Bad batches change nothing at all.
    with pytest.raises(cairn.IllegalTransition) as illegal:
        await client.upsert_tasks(
            wid,
            [TaskSpec("b", status=TaskStatus.RUNNING), TaskSpec("a", status=TaskStatus.RUNNING)],
        )
    assert illegal.value.current == "COMPLETED"
    with pytest.raises(cairn.VersionConflict) as conflict:
        await client.upsert_tasks(wid, [TaskSpec("b", name="x", expected_version=7)])
    assert conflict.value.current == 1
    with pytest.raises(cairn.InvalidArgument):
        await client.upsert_tasks(wid, [TaskSpec("a", dependencies=["c"])])
    with pytest.raises(cairn.FailedPrecondition):
        await client.upsert_tasks(wid, [TaskSpec("c", status=TaskStatus.RUNNING)])
    after = await client.get_workflow(wid, include_tasks=True)
    assert after is not None and after.tasks == details.tasks


async def test_namespace_limits(client: cairn.Client, name: str) -> None:
    ns = f"{name}-quota"
    q = await client.set_namespace_limits(ns, cairn.NamespaceLimits(max_workflows=2))
    assert q.limits == cairn.NamespaceLimits(max_workflows=2) and q.usage.workflows == 0
    await client.create_workflow(f"{name}-q1", namespace=ns)
    await client.create_workflow(f"{name}-q2", namespace=ns)
    with pytest.raises(cairn.ResourceExhausted) as full:
        await client.create_workflow(f"{name}-q3", namespace=ns)
    assert full.value.kind == "namespace_full"
    assert await client.get_workflow(f"{name}-q3") is None
    quota = await client.namespace_quota(ns)
    assert (quota.namespace, quota.usage.workflows, quota.limits.max_workflows) == (ns, 2, 2)
    await client.set_namespace_limits(ns, cairn.NamespaceLimits())
    await client.create_workflow(f"{name}-q3", namespace=ns)
    assert (await client.namespace_quota(ns)).usage.workflows == 3
