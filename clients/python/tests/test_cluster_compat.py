"""The migration facades (``cairn.compat``) against a real 3-node cluster: the workflow-style
and pipeline-style state manager methods, ``DistributedLock`` excluding a second holder, and
``LeaderElection`` failing over when its leader stops or its lease ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import pytest

import cairn
from cairn.compat import (
    CheckpointNotFoundError,
    DistributedLock,
    LeaderElection,
    StateManager,
    WorkflowNotFoundError,
)

from .cluster import Cluster
from .test_cluster_leases import eventually

T = TypeVar("T")


async def test_workflow_state_save_load_and_transitions(client: cairn.Client, name: str) -> None:
    sm = StateManager(client, namespace=name)
    wf = f"{name}-wf"
    got = await sm.save_workflow_state(
        workflow_id=wf,
        status="RUNNING",
        metadata={"total_tasks": 5, "priority": "high"},
        routing_strategy="semantic",
        total_tasks=5,
        labels={"team": "data"},
    )
    assert got == wf
    result = await sm.load_workflow_state(wf)
    state = result["workflow_state"]
    assert state["workflow_id"] == wf and state["namespace"] == name
    assert state["status"] == "RUNNING"
    assert state["metadata"] == {"total_tasks": 5, "priority": "high"}
    assert state["labels"] == {"team": "data"}
    assert (state["routing_strategy"], state["total_tasks"]) == ("semantic", 5)
    assert isinstance(state["start_time"], datetime) and state["end_time"] is None
    assert result["agent_records"] == []

    # An update merges the metadata; the same status is no transition.
    await sm.save_workflow_state(wf, "RUNNING", {"priority": None, "step": 2})
    state = (await sm.load_workflow_state(wf, include_records=False))["workflow_state"]
    assert state["metadata"] == {"total_tasks": 5, "step": 2}
    version = state["version"]

    # An illegal status change raises with the legal targets, and writes nothing.
    with pytest.raises(cairn.IllegalTransition) as e:
        await sm.save_workflow_state(wf, "PENDING", {"step": 3})
    assert e.value.current == "RUNNING" and "COMPLETED" in e.value.allowed
    again = await sm.load_workflow_state(wf, include_records=False)
    assert again["workflow_state"]["version"] == version
    assert again["workflow_state"]["metadata"]["step"] == 2

    await sm.save_workflow_state(wf, "completed")
    state = (await sm.load_workflow_state(wf))["workflow_state"]
    assert state["status"] == "COMPLETED" and isinstance(state["end_time"], datetime)

    # Tasks are the agent records.
    wf2 = f"{name}-wf2"
    await sm.save_workflow_state(wf2, "PENDING")
    await client.upsert_tasks(wf2, [cairn.TaskSpec("fetch", agent_id="agent-1")])
    records = (await sm.load_workflow_state(wf2))["agent_records"]
    assert [(r["id"], r["agent_id"]) for r in records] == [("fetch", "agent-1")]

    with pytest.raises(WorkflowNotFoundError):
        await sm.load_workflow_state(f"{name}-missing")
    with pytest.raises(cairn.NotFound):
        await sm.load_workflow_state(f"{name}-missing")

    # A new workflow is created in PENDING, then moved by one transition: a status more than
    # one edge away is refused, and the workflow stays created in PENDING.
    wf3 = f"{name}-wf3"
    with pytest.raises(cairn.IllegalTransition):
        await sm.save_workflow_state(wf3, "COMPLETED", {"a": 1}, runtime_id="rt-1")
    state = (await sm.load_workflow_state(wf3))["workflow_state"]
    assert (state["status"], state["metadata"], state["runtime_id"]) == (
        "PENDING",
        {"a": 1},
        "rt-1",
    )
    await sm.save_workflow_state(wf3, "RUNNING", max_concurrent=4)
    state = (await sm.load_workflow_state(wf3))["workflow_state"]
    assert (state["status"], state["max_concurrent"]) == ("RUNNING", 4)


async def test_checkpoints_and_active_workflows(client: cairn.Client, name: str) -> None:
    sm = StateManager(client, namespace=name)
    wf = f"{name}-wf"
    await sm.save_workflow_state(wf, "RUNNING")
    data = {"agents": [{"id": "agent_001", "progress": 0.5}], "state": {"current_step": 5}}
    cp1 = await sm.save_checkpoint(workflow_id=wf, checkpoint_data=data, checkpoint_type="AUTO")
    assert cp1.startswith(f"{wf}/ckpt-")
    assert await sm.load_checkpoint(cp1) == data
    cp2 = await sm.save_checkpoint(
        wf, {"step": 2}, checkpoint_type="MANUAL", parent_checkpoint_id=cp1
    )
    assert await sm.load_checkpoint(cp2) == {"step": 2}
    bare = cp2.rpartition("/")[2]
    assert await sm.load_checkpoint(bare, workflow_id=wf) == {"step": 2}
    info = await client.get_checkpoint(wf, bare)
    assert info is not None and info.kind == cairn.CheckpointKind.MANUAL
    assert info.parent == cp1.rpartition("/")[2]

    with pytest.raises(CheckpointNotFoundError):
        await sm.load_checkpoint(f"{wf}/ckpt-0000000000000001")
    with pytest.raises(cairn.InvalidArgument):
        await sm.load_checkpoint("ckpt-0000000000000001")
    with pytest.raises(WorkflowNotFoundError):
        await sm.save_checkpoint(f"{name}-missing", {"x": 1})

    await sm.save_workflow_state(f"{name}-pending", "PENDING")
    await sm.save_workflow_state(f"{name}-done", "RUNNING")
    await sm.save_workflow_state(f"{name}-done", "FAILED")
    active = await sm.list_active_workflows()
    assert sorted((w["workflow_id"], w["status"]) for w in active) == [
        (f"{name}-pending", "PENDING"),
        (wf, "RUNNING"),
    ]
    failed = await sm.list_active_workflows(["failed"])
    assert [w["workflow_id"] for w in failed] == [f"{name}-done"]


async def test_pipeline_state_checkpoint_and_resume(client: cairn.Client, name: str) -> None:
    sm = StateManager(client, namespace=name)
    pid = f"{name}-pipeline"
    assert await sm.load_pipeline_state(pid) is None
    first = {"status": "running", "completed_tasks": ["web_search"], "current_task": "analysis"}
    await sm.save_pipeline_state(pipeline_id=pid, state=first, status="RUNNING")
    assert await sm.load_pipeline_state(pid) == first
    cp = await sm.create_checkpoint(pipeline_id=pid, checkpoint_data={"task_results": [1, 2]})

    later = {"status": "failed", "completed_tasks": ["web_search", "analysis"]}
    await sm.save_pipeline_state(pid, later)  # replaces the whole state
    assert await sm.load_pipeline_state(pid) == later
    await client.transition(pid, status="FAILED")

    # Out of FAILED the default definition has no edge: refused, nothing changed.
    with pytest.raises(cairn.IllegalTransition):
        await sm.resume_from_checkpoint(pipeline_id=pid, checkpoint_id=cp)
    assert await sm.load_pipeline_state(pid) == later
    # Forced: state and status are those saved with the checkpoint.
    restored = await sm.resume_from_checkpoint(pid, cp, force=True)
    assert restored == {"task_results": [1, 2]}
    assert await sm.load_pipeline_state(pid) == first
    details = await client.get_workflow(pid)
    assert details is not None and details.workflow.status == "RUNNING"

    # Without an id: the newest valid checkpoint.
    cp2 = await sm.create_checkpoint(pid, {"n": 2})
    await sm.save_pipeline_state(pid, {"n": 3})
    assert await sm.resume_from_checkpoint(pid) == {"n": 2}
    assert await sm.load_pipeline_state(pid) == first
    assert cp2 != cp

    other = f"{name}-empty"
    await sm.save_pipeline_state(other, {})
    with pytest.raises(CheckpointNotFoundError):
        await sm.resume_from_checkpoint(other)


async def test_distributed_lock_excludes_a_second_holder(client: cairn.Client, name: str) -> None:
    lock = DistributedLock(client, f"resource_{name}", ttl=5.0, retry_interval=1.0)
    async with lock:
        assert lock.locked() and not lock.lost.is_set()
        await client.put(f"{name}/k", "a", fence=lock.fence)
        second = DistributedLock(client, f"resource_{name}", ttl=5.0)
        assert await second.acquire(blocking=False) is False
        assert await second.acquire(timeout=0.3) is False
        with pytest.raises(cairn.WaitTimeout):
            async with DistributedLock(client, f"resource_{name}", ttl=5.0, wait=0.3):
                pass
        # A blocked acquire gets it once the first is released.
        waiter = asyncio.create_task(second.acquire())
        await asyncio.sleep(0.3)
        assert not waiter.done()
        old_fence = lock.fence
    assert not lock.locked()
    assert await asyncio.wait_for(waiter, 10.0) is True
    assert second.locked()
    with pytest.raises(cairn.StaleFence):
        await client.put(f"{name}/k", "b", fence=old_fence)
    await client.put(f"{name}/k", "c", fence=second.fence)
    with pytest.raises(cairn.InvalidArgument):
        await second.acquire()
    await second.release()
    await second.release()  # nothing held: nothing to do
    assert await client.lock_state(f"resource_{name}") is None

    # Eight tasks through one lock: never two inside at once.
    inside = 0
    seen = 0

    async def worker() -> None:
        nonlocal inside, seen
        async with DistributedLock(client, f"resource_{name}", ttl=5.0):
            inside += 1
            seen = max(seen, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(8)))
    assert seen == 1


async def test_leader_election_fails_over(cluster: Cluster, name: str) -> None:
    async with (
        cairn.Client(cluster.endpoints()) as c1,
        cairn.Client(cluster.endpoints()) as c2,
        cairn.Client(cluster.endpoints()) as c3,
    ):
        a = LeaderElection(c1, name, node_id="node-a", ttl=2.0)
        b = LeaderElection(c2, name, node_id="node-b", ttl=2.0)
        c = LeaderElection(c3, name, node_id="node-c", ttl=2.0)
        await a.is_leader()  # joins the election in the background
        await eventually("a leads", lambda: _true_or_none(a.is_leader()))
        assert await a.leader() == "node-a"
        assert await b.is_leader() is False  # b joins, behind a
        await c1.put(f"{name}/plan", "a", fence=a.fence)

        # a steps down for good: b takes over, a's fence is stale.
        a_fence = a.fence
        await a.stop()
        await eventually("b leads", lambda: _true_or_none(b.is_leader()))
        assert await c.leader() == "node-b"
        with pytest.raises(cairn.StaleFence):
            await c1.put(f"{name}/plan", "stale", fence=a_fence)
        await c2.put(f"{name}/plan", "b", fence=b.fence)

        # b's lease ends (as when b stops renewing it: it crashed or was cut off): c, in
        # line, takes over; b sees the loss and campaigns again, behind c.
        c.start()
        await asyncio.sleep(0.3)
        assert await c.is_leader() is False
        b_lead = b.leadership
        assert b_lead is not None
        await c3.revoke_lease(b_lead.lease_id)
        await eventually("c leads", lambda: _true_or_none(c.is_leader()), timeout=15.0)
        assert await c.leader() == "node-c"
        await eventually("b sees the loss", lambda: _true_or_none(_not(b.is_leader())))
        state = await eventually(
            "b back in line",
            lambda: _some(c3.leader(name), lambda s: [h.owner for h in s.candidates] == ["node-b"]),
        )
        assert state.leader is not None and state.leader.owner == "node-c"
        await c.stop()
        await eventually("b leads again", lambda: _true_or_none(b.is_leader()), timeout=15.0)
        await b.stop()
        assert (await c3.leader(name)).leader is None


async def test_leader_election_campaign_and_resign(client: cairn.Client, name: str) -> None:
    a = LeaderElection(client, name, node_id="a", ttl=5.0)
    b = LeaderElection(client, name, node_id="b", ttl=5.0)
    lead = await a.campaign(wait=5.0)
    assert lead.is_leader() and await a.is_leader() is True
    with pytest.raises(cairn.WaitTimeout):
        await b.campaign(wait=0.3)
    waiting = asyncio.create_task(b.campaign())
    await asyncio.sleep(0.2)
    await a.resign()
    await asyncio.wait_for(waiting, 10.0)
    assert await b.leader() == "b"
    await b.stop()
    await a.stop()
    assert (await client.leader(name)).leader is None
    assert await a.is_leader() is False  # stopped: does not rejoin by itself
    await asyncio.sleep(0.2)
    assert (await client.leader(name)).leader is None

    # async with: campaigns in the background, stops on exit.
    async with LeaderElection(client, name, node_id="c", ttl=5.0) as c:
        await eventually("c leads", lambda: _true_or_none(c.is_leader()))
        assert await c.leader() == "c"
    assert (await client.leader(name)).leader is None


async def _true_or_none(c: object) -> bool | None:
    assert asyncio.iscoroutine(c)
    return True if await c else None


async def _not(c: Awaitable[bool]) -> bool:
    return not await c


async def _some(c: Awaitable[T], ok: Callable[[T], bool]) -> T | None:
    value = await c
    return value if ok(value) else None
