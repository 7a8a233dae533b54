"""The retry loop, failover and the idempotency protocol against in-process fake nodes: every
retry of one write carries the same header, a leader hint is followed at once, definite
answers are not retried, exhausted retries give a resumable OutcomeUnknown, and an expired
login token is renewed once."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import cairn
from cairn._proto.cairn.v1 import kv_pb2, workflow_pb2
from cairn._proto.etcd.etcdserverpb import auth_pb2
from cairn.config import ClientSettings

from .fakes import (
    AUTHENTICATE,
    CLAIM_TASK,
    FINISH_TASK,
    GET,
    PUT,
    TRANSITION,
    Fail,
    FakeNode,
    Ok,
)

C = grpc.StatusCode
FAST: ClientSettings = {"backoff_base": 0.001, "backoff_max": 0.01, "request_timeout": 1.0}


@pytest.fixture
async def nodes() -> AsyncIterator[list[FakeNode]]:
    ns = [await FakeNode().start() for _ in range(3)]
    yield ns
    for n in ns:
        await n.stop()


def header_of(seen: Any) -> tuple[str, int, int]:
    h = seen.request.header
    return h.client_id, h.sequence, h.first_incomplete


def fail_then_ok(failures: int, code: grpc.StatusCode = C.UNAVAILABLE) -> Any:
    left = [failures]

    def script(req: Any, md: dict[str, str]) -> Ok | Fail:
        if left[0] > 0:
            left[0] -= 1
            return Fail(code, "node restarting")
        return Ok(kv_pb2.PutResponse(revision=100 + req.header.sequence))

    return script


async def test_retries_of_one_write_send_the_same_header(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    n.handlers[PUT] = fail_then_ok(3)
    async with cairn.Client([n.addr], **FAST) as c:
        assert await c.put("k", "v") == 101
        puts = n.calls(PUT)
        assert len(puts) == 4
        assert {header_of(s) for s in puts} == {(c.client_id, 1, 1)}
        assert all(s.request.key == b"k" and s.request.value == b"v" for s in puts)
        # The next logical write takes the next sequence; nothing is in flight any more.
        assert await c.put("k", "w") == 102
        assert header_of(n.calls(PUT)[-1]) == (c.client_id, 2, 2)


async def test_concurrent_writes_report_the_oldest_in_flight(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    release = asyncio.Event()

    async def slow_first(req: Any, md: dict[str, str]) -> Ok:
        if req.header.sequence == 1:
            await release.wait()
        return Ok(kv_pb2.PutResponse(revision=req.header.sequence))

    n.handlers[PUT] = slow_first
    async with cairn.Client([n.addr], **FAST) as c:
        first = asyncio.create_task(c.put("a", "1"))
        while not n.calls(PUT):
            await asyncio.sleep(0.005)
        for i in range(3):
            await c.put(f"b{i}", "x")
        release.set()
        await first
        await c.put("c", "x")
        headers = [header_of(s)[1:] for s in n.calls(PUT)]
        assert headers == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 5)]


async def test_leader_hint_is_followed_at_once(nodes: list[FakeNode]) -> None:
    follower, leader, _ = nodes
    follower.handlers[PUT] = lambda req, md: Fail(
        C.UNAVAILABLE,
        "not the leader",
        (("cairn-leader", leader.addr), ("cairn-error", "not_leader")),
    )
    leader.handlers[PUT] = fail_then_ok(0)
    # A huge backoff: following the hint must not sleep at all.
    async with cairn.Client([follower.addr], backoff_base=30.0, backoff_max=30.0) as c:
        assert await asyncio.wait_for(c.put("k", "v"), 5) == 101
        assert c.endpoints() == [follower.addr, leader.addr]
        assert header_of(follower.calls(PUT)[0]) == header_of(leader.calls(PUT)[0])
        # The leader is now preferred: the next call goes straight there.
        await c.put("k", "w")
        assert len(follower.calls(PUT)) == 1 and len(leader.calls(PUT)) == 2


async def test_leader_named_on_success_is_preferred_next(nodes: list[FakeNode]) -> None:
    follower, leader, _ = nodes
    follower.handlers[GET] = lambda req, md: Ok(
        kv_pb2.GetResponse(revision=5), headers=(("cairn-leader", leader.addr),)
    )
    leader.handlers[GET] = lambda req, md: Ok(kv_pb2.GetResponse(revision=6))
    async with cairn.Client([follower.addr, leader.addr], **FAST) as c:
        assert await c.get("k") is None
        assert await c.get("k") is None
        assert len(follower.calls(GET)) == 1 and len(leader.calls(GET)) == 1


async def test_failover_without_hint_keeps_the_header(nodes: list[FakeNode]) -> None:
    down, up, _ = nodes
    down.handlers[TRANSITION] = lambda req, md: Fail(C.UNAVAILABLE, "stopping")
    ref = workflow_pb2.WorkflowRef(id="w", status="RUNNING", version=2, revision=3)
    up.handlers[TRANSITION] = lambda req, md: Ok(
        workflow_pb2.TransitionWorkflowResponse(workflow=ref, revision=3)
    )
    async with cairn.Client([down.addr, up.addr], **FAST) as c:
        got = await c.transition(
            "w", event="start", expected_version=1, fence=cairn.Fence.for_lock("l", 4)
        )
        assert got == cairn.WorkflowRef("w", "RUNNING", 2, 3)
        sent = [s.request for s in down.calls(TRANSITION) + up.calls(TRANSITION)]
        assert len(sent) == 2 and sent[0] == sent[1]
        assert (
            sent[0].event,
            sent[0].expected_version,
            sent[0].fence.lock,
            sent[0].fence.token,
        ) == ("start", 1, "l", 4)
        assert header_of(down.calls(TRANSITION)[0]) == (c.client_id, 1, 1)


async def test_a_dead_endpoint_is_skipped(nodes: list[FakeNode]) -> None:
    dead = nodes[0]
    await dead.stop()
    nodes[1].handlers[PUT] = fail_then_ok(0)
    async with cairn.Client([dead.addr, nodes[1].addr], **FAST) as c:
        assert await c.put("k", "v") == 101


async def test_definite_answers_are_not_retried(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    n.handlers[TRANSITION] = lambda req, md: Fail(
        C.FAILED_PRECONDITION,
        "workflow w: cannot go from PENDING to PAUSED",
        (
            ("cairn-error", "illegal_transition"),
            ("cairn-current-status", "PENDING"),
            ("cairn-allowed", "RUNNING,CANCELLED"),
        ),
    )
    async with cairn.Client([n.addr], **FAST) as c:
        with pytest.raises(cairn.IllegalTransition) as info:
            await c.transition("w", status="PAUSED")
        assert info.value.allowed == ["RUNNING", "CANCELLED"]
        assert len(n.calls(TRANSITION)) == 1
        # Its sequence is finished: the next write reports nothing older in flight.
        n.handlers[PUT] = fail_then_ok(0)
        await c.put("k", "v")
        assert header_of(n.calls(PUT)[0])[1:] == (2, 2)


async def test_exhausted_retries_give_a_resumable_outcome_unknown(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    n.handlers[TRANSITION] = lambda req, md: Fail(C.UNAVAILABLE, "no leader")
    async with cairn.Client([n.addr], retry_deadline=0.3, **FAST) as c:
        with pytest.raises(cairn.OutcomeUnknown) as info:
            await c.transition("w", event="start", expected_version=1)
        pending = info.value.pending
        assert pending.idempotency_key == (c.client_id, 1)
        assert "no leader" in pending.cause
        attempts = len(n.calls(TRANSITION))
        assert attempts > 1
        # While the outcome is unknown the sequence stays in flight: later writes carry it as
        # first_incomplete, so the cluster keeps its reply.
        n.handlers[PUT] = fail_then_ok(0)
        await c.put("k", "v")
        assert header_of(n.calls(PUT)[-1])[1:] == (2, 1)
        # The cluster is back: resume sends the very same request and returns its result.
        ref = workflow_pb2.WorkflowRef(id="w", status="RUNNING", version=2, revision=9)
        n.handlers[TRANSITION] = lambda req, md: Ok(
            workflow_pb2.TransitionWorkflowResponse(workflow=ref, revision=9)
        )
        result = await c.resume(pending)
        assert result == cairn.WorkflowRef("w", "RUNNING", 2, 9)
        sent = [s.request for s in n.calls(TRANSITION)]
        assert len(sent) == attempts + 1
        assert all(r == sent[0] for r in sent)
        assert pending.released
        await c.put("k", "w")
        assert header_of(n.calls(PUT)[-1])[1:] == (3, 3)
        with pytest.raises(cairn.InvalidArgument):
            await c.resume(pending)


async def test_dropping_a_pending_write_releases_its_sequence(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    n.handlers[PUT] = lambda req, md: Fail(C.UNAVAILABLE, "down")
    async with cairn.Client([n.addr], retry_deadline=0.1, **FAST) as c:
        try:
            await c.put("k", "v")
        except cairn.OutcomeUnknown as e:
            e.pending.release()
        assert c._sequencer.in_flight() == frozenset()


async def test_a_dropped_pending_write_is_released_when_collected(
    nodes: list[FakeNode],
) -> None:
    n = nodes[0]
    n.handlers[PUT] = lambda req, md: Fail(C.UNAVAILABLE, "down")
    async with cairn.Client([n.addr], retry_deadline=0.1, **FAST) as c:
        with pytest.raises(cairn.OutcomeUnknown):
            await c.put("k", "v")
        gc.collect()
        assert c._sequencer.in_flight() == frozenset()


async def test_reads_time_out_with_timeout(nodes: list[FakeNode]) -> None:
    n = nodes[0]

    async def hang(req: Any, md: dict[str, str]) -> Ok:
        await asyncio.sleep(5)
        return Ok(kv_pb2.GetResponse())

    n.handlers[GET] = hang
    async with cairn.Client(
        [n.addr], request_timeout=0.2, retry_deadline=0.5, backoff_base=0.001, backoff_max=0.01
    ) as c:
        with pytest.raises(cairn.Timeout):
            await c.get("k")
        # Reads are not writes: no pending write, nothing in flight.
        assert c._sequencer.in_flight() == frozenset()


async def test_unavailable_reads_exhaust_to_unavailable(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    n.handlers[GET] = lambda req, md: Fail(C.UNAVAILABLE, "no leader")
    async with cairn.Client([n.addr], retry_deadline=1.0, **FAST) as c:
        with pytest.raises(cairn.Unavailable, match="no leader"):
            await c.get("k")


async def test_login_once_and_again_when_the_token_is_refused(nodes: list[FakeNode]) -> None:
    n = nodes[0]
    tokens = iter(["t1", "t2"])
    n.handlers[AUTHENTICATE] = lambda req, md: (
        Ok(auth_pb2.AuthenticateResponse(token=next(tokens)))
        if (req.name, req.password) == ("alice", "pw")
        else Fail(
            C.INVALID_ARGUMENT,
            "etcdserver: authentication failed, invalid user ID or password",
            (("cairn-error", "unauthenticated"),),
        )
    )

    def put(req: Any, md: dict[str, str]) -> Ok | Fail:
        if md.get("token") != "t2":
            return Fail(C.UNAUTHENTICATED, "etcdserver: invalid auth token")
        return Ok(kv_pb2.PutResponse(revision=7))

    n.handlers[PUT] = put
    creds = cairn.Credentials("alice", "pw")
    async with cairn.Client([n.addr], credentials=creds, **FAST) as c:
        # t1 is refused once: the client logs in again at once and succeeds with t2.
        results = await asyncio.gather(*(c.put("k", str(i)) for i in range(5)))
        assert results == [7] * 5
        assert len(n.calls(AUTHENTICATE)) == 2
    bad = cairn.Credentials("alice", "wrong")
    async with cairn.Client([n.addr], credentials=bad, **FAST) as c:
        with pytest.raises(cairn.Unauthenticated):
            await c.put("k", "v")
    assert "pw" not in repr(creds)


async def test_closed_client_refuses_calls(nodes: list[FakeNode]) -> None:
    c = await cairn.Client.connect(nodes[0].addr)
    await c.close()
    with pytest.raises(cairn.Unavailable, match="closed"):
        await c.get("k")


async def test_a_retried_claim_sends_the_same_header(nodes: list[FakeNode]) -> None:
    """A claim is a write: its retries carry one header, so the cluster answers every retry
    with the task the first attempt claimed (here: the fake answers by sequence)."""
    n = nodes[0]
    left = [2]

    def claim(req: Any, md: dict[str, str]) -> Ok | Fail:
        if left[0] > 0:
            left[0] -= 1
            return Fail(C.UNAVAILABLE, "leader changing")
        task = workflow_pb2.Task(
            workflow_id="w",
            id=f"t{req.header.sequence}",
            status="RUNNING",
            agent_id=req.agent_id,
            lease_id=req.lease_id,
            claim=77,
            attempts=1,
        )
        return Ok(workflow_pb2.ClaimTaskResponse(task=task, revision=77))

    n.handlers[CLAIM_TASK] = claim
    n.handlers[FINISH_TASK] = lambda req, md: Fail(
        C.FAILED_PRECONDITION,
        "task w/t1 is not running under claim 76 (current claim 77)",
        (("cairn-error", "stale_claim"),),
    )
    async with cairn.Client([n.addr], **FAST) as c:
        got = await c.claim_task("agent-1", 9, namespace="ns", kinds=["etl"])
        assert got.task is not None and (got.task.id, got.task.claim) == ("t1", 77)
        claims = n.calls(CLAIM_TASK)
        assert len(claims) == 3
        assert {header_of(s) for s in claims} == {(c.client_id, 1, 1)}
        r = claims[0].request
        assert (r.namespace, list(r.kinds), r.agent_id, r.lease_id) == ("ns", ["etl"], "agent-1", 9)
        assert not r.HasField("workflow_id")
        # A stale claim is a definite answer: not retried, nothing in flight afterwards.
        with pytest.raises(cairn.StaleClaim):
            await c.finish_task("w", "t1", 76, output={"ok": True})
        assert len(n.calls(FINISH_TASK)) == 1
        assert header_of(n.calls(FINISH_TASK)[0]) == (c.client_id, 2, 2)
        assert c._sequencer.in_flight() == frozenset()
