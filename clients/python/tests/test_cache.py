"""The workflow cache against in-process fake nodes (no cluster): loaded from a snapshot, then
kept by the watch from the snapshot's revision + 1 (changes, deletes taking their variables,
a reset replacing everything), ``sync`` asking the watch for progress until the cache reaches
the read index of a linearizable GetVars (asking again while a lagging node answers lower),
``wait_for``, timeouts, a watch refused for good, and closing."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

import cairn
from cairn._proto.cairn.v1 import watch_pb2 as pb
from cairn._proto.cairn.v1 import workflow_pb2

from .watch_fakes import (
    EOF,
    HANG,
    FakeWatchNode,
    Session,
    Start,
    WatchScript,
    client,
    compacted,
    created,
    events,
    progress,
    wait_for,
)

NS = "payments"


@pytest.fixture
async def nodes() -> Any:
    started: list[FakeWatchNode] = []

    async def start(script: WatchScript, **kw: Any) -> FakeWatchNode:
        n = await FakeWatchNode(script, **kw).start()
        started.append(n)
        return n

    yield start
    for n in started:
        await n.stop()


# ---- message helpers ----


def wf(
    id: str, status: str = "PENDING", version: int = 1, created: int = 1
) -> workflow_pb2.Workflow:
    return workflow_pb2.Workflow(
        id=id,
        namespace=NS,
        status=status,
        version=version,
        create_revision=created,
        mod_revision=created,
    )


def scope_pb(scope: cairn.VarScope) -> workflow_pb2.VarScope:
    return scope.to_pb()


def vars_pb(version: int, **values: str) -> workflow_pb2.Vars:
    return workflow_pb2.Vars(version=version, values=values)


def wf_event(revision: int, w: workflow_pb2.Workflow) -> pb.WatchEvent:
    return pb.WatchEvent(revision=revision, workflow=pb.WorkflowChange(workflow=w))


def wf_delete(revision: int, w: workflow_pb2.Workflow) -> pb.WatchEvent:
    return pb.WatchEvent(revision=revision, workflow_delete=pb.WorkflowDeleteChange(workflow=w))


def vars_event(revision: int, scope: cairn.VarScope, v: workflow_pb2.Vars) -> pb.WatchEvent:
    change = pb.VarsChange(scope=scope_pb(scope), namespace=NS, vars=v)
    return pb.WatchEvent(revision=revision, vars=change)


def vars_delete(revision: int, scope: cairn.VarScope) -> pb.WatchEvent:
    change = pb.VarsDeleteChange(scope=scope_pb(scope), namespace=NS)
    return pb.WatchEvent(revision=revision, vars_delete=change)


def snapshot(revision: int, *objects: pb.WatchObject) -> list[pb.WatchSnapshotResponse]:
    """A snapshot in two chunks."""
    half = len(objects) // 2
    return [
        pb.WatchSnapshotResponse(revision=revision, objects=objects[:half]),
        pb.WatchSnapshotResponse(revision=revision, objects=objects[half:], done=True),
    ]


def wf_object(w: workflow_pb2.Workflow) -> pb.WatchObject:
    return pb.WatchObject(workflow=w)


def vars_object(scope: cairn.VarScope, v: workflow_pb2.Vars) -> pb.WatchObject:
    return pb.WatchObject(vars=pb.VarsChange(scope=scope_pb(scope), namespace=NS, vars=v))


NS_SCOPE = cairn.VarScope.namespace(NS)
W1 = cairn.VarScope.workflow("w1")
W3 = cairn.VarScope.workflow("w3")


def first_snapshot() -> list[pb.WatchSnapshotResponse]:
    return snapshot(
        10,
        wf_object(wf("w2", created=3)),
        wf_object(wf("w1", created=2)),
        vars_object(NS_SCOPE, vars_pb(1, mode='"fast"')),
        vars_object(W1, vars_pb(2, n="1")),
    )


def follow_from(*messages: Any) -> WatchScript:
    """A watch that says it is live after the snapshot, sends ``messages`` and stays open."""
    return lambda c: ([created(c.start_revision - 1), *messages], HANG)


# ---- loading and following ----


async def test_the_cache_loads_a_snapshot_then_follows_the_watch_from_after_it(
    nodes: Start,
) -> None:
    a = await nodes(
        follow_from(
            events(
                12,
                wf_event(11, wf("w3", created=11)),
                vars_event(12, W3, vars_pb(1, k='"v"')),
            ),
            events(
                14,
                wf_event(13, wf("w2", status="RUNNING", version=2, created=3)),
                vars_delete(14, W1),  # the server says so; the cache drops them with w1 too
                wf_delete(14, wf("w1", created=2)),
            ),
        ),
        snapshot=first_snapshot(),
    )
    async with client(a) as c, c.workflow_cache(NS) as cache:
        # As of the snapshot's revision, or later (the follower may have run already).
        assert cache.revision >= 10 and cache.namespace == NS
        sel = a.sessions[0].create
        assert sel.start_revision == 11
        assert [s.WhichOneof("target") for s in sel.filter.selectors] == ["workflows", "vars"]
        assert sel.filter.selectors[0].workflows.namespace == NS
        assert sel.filter.selectors[1].vars.namespace == NS
        assert not sel.filter.selectors[1].vars.HasField("scope")
        await cache.wait_for(14)
        assert cache.revision == 14
        assert [w.id for w in cache.workflows()] == ["w2", "w3"]
        w2 = cache.workflow("w2")
        assert w2 is not None and (w2.status, w2.version) == ("RUNNING", 2)
        assert cache.workflow("w1") is None and cache.vars(W1) is None
        w3_vars = cache.vars(W3)
        assert w3_vars is not None and w3_vars.values == {"k": "v"}
        ns_vars = cache.vars(NS_SCOPE)
        assert ns_vars is not None and ns_vars.values == {"mode": "fast"}
        assert len(cache) == 2 and cache.resets == 0
        assert cache.endpoint == a.addr
    assert cache.closed
    await wait_for("the watch closed", a.sessions[0].cancelled.is_set)


async def test_a_snapshot_is_read_as_of_one_revision(nodes: Start) -> None:
    a = await nodes(follow_from(), snapshot=first_snapshot())
    async with client(a) as c, c.workflow_cache(NS) as cache:
        assert cache.revision == 10
        assert [w.id for w in cache.workflows()] == ["w1", "w2"]
        assert cache.vars(W1) == cairn.Vars.from_pb(vars_pb(2, n="1"))
        assert cache.vars(cairn.VarScope.workflow("w2")) is None
        # Already there: no read, no progress request.
        await cache.wait_for(10)
        await cache.wait_for(3)
        assert a.sessions[0].progress_requests == 0
        with pytest.raises(cairn.InvalidArgument):
            await cache.wait_for(-1)
        with pytest.raises(cairn.InvalidArgument):
            cache.vars("w1")  # type: ignore[arg-type]


async def test_a_reset_replaces_everything(nodes: Start) -> None:
    later = snapshot(
        30,
        wf_object(wf("w9", status="FAILED", created=25)),
        vars_object(NS_SCOPE, vars_pb(4, mode='"safe"')),
    )
    node: list[FakeWatchNode] = []

    def script(c: pb.WatchCreateRequest) -> tuple[list[Any], Any]:
        if c.start_revision == 11:
            node[0].snapshot = later  # what the catch-up snapshot finds
            return [created(10), 0.1, compacted(20, 30)], EOF
        return [created(c.start_revision - 1)], HANG

    a = await nodes(script, snapshot=first_snapshot())
    node.append(a)
    async with client(a) as c, c.workflow_cache(NS) as cache:
        await cache.wait_for(30)
        assert cache.revision == 30 and cache.resets == 1
        assert [w.id for w in cache.workflows()] == ["w9"]
        assert cache.vars(W1) is None
        ns_vars = cache.vars(NS_SCOPE)
        assert ns_vars is not None and ns_vars.version == 4
        await wait_for("the watch after the reset", lambda: len(a.sessions) == 2)
        assert [s.create.start_revision for s in a.sessions] == [11, 31]


# ---- sync and wait_for ----


async def test_sync_reads_the_read_index_and_asks_for_progress_until_there(
    nodes: Start,
) -> None:
    # A lagging node: its first answers are behind the read index.
    answers = iter([14, 17])
    a = await nodes(
        follow_from(),
        snapshot=first_snapshot(),
        read_index=lambda: 20,
        on_progress=lambda s: [progress(next(answers, 20))],
    )
    async with client(a) as c, c.workflow_cache(NS) as cache:
        assert await cache.sync() == 20
        assert cache.revision == 20
        assert a.sessions[0].progress_requests >= 3  # one per answer, 50 ms apart
        (req,) = a.get_vars
        assert req.scope.namespace == NS and not req.serializable
        assert not req.HasField("version")


async def test_wait_for_reads_your_write_without_the_read(nodes: Start) -> None:
    def answer(s: Session) -> list[pb.WatchResponse]:
        # The write arrives with the second answer.
        if s.progress_requests < 2:
            return [progress(11)]
        return [events(12, wf_event(12, wf("w1", "RUNNING", 2, 2)))]

    a = await nodes(follow_from(), snapshot=first_snapshot(), on_progress=answer)
    async with client(a) as c, c.workflow_cache(NS) as cache:
        await cache.wait_for(12)
        w1 = cache.workflow("w1")
        assert w1 is not None and w1.status == "RUNNING"
        assert a.get_vars == []


async def test_sync_gives_up_after_the_timeout(nodes: Start) -> None:
    a = await nodes(
        follow_from(),
        snapshot=first_snapshot(),
        read_index=lambda: 50,
        on_progress=lambda s: [progress(10 + s.progress_requests)],
    )
    async with client(a, request_timeout=0.3) as c, c.workflow_cache(NS) as cache:
        with pytest.raises(cairn.Timeout, match="revision 50 not reached"):
            await cache.sync()
        assert 11 <= cache.revision < 50
        with pytest.raises(cairn.Timeout):
            await cache.wait_for(50, timeout=0.1)
        with pytest.raises(cairn.InvalidArgument):
            await cache.wait_for(50, timeout=0)
        # The watch goes on: a later answer brings the cache there.
        a.on_progress = lambda s: [progress(50)]
        assert await cache.sync() == 50


async def test_a_watch_refused_for_good_fails_sync(nodes: Start) -> None:
    def script(c: pb.WatchCreateRequest) -> tuple[list[Any], Any]:
        if len(a.sessions) == 1:
            return [created(10)], (grpc.StatusCode.UNAVAILABLE, "going away")
        return [], (grpc.StatusCode.PERMISSION_DENIED, "not yours any more")

    # The read index is past the snapshot: sync waits on the watch, which is refused.
    a = await nodes(script, snapshot=first_snapshot(), read_index=lambda: 11)
    async with client(a) as c, c.workflow_cache(NS) as cache:
        with pytest.raises(cairn.PermissionDenied):
            await cache.sync()
        with pytest.raises(cairn.PermissionDenied):
            await cache.wait_for(11)
        assert len(a.sessions) == 2
        # The reads keep the last state.
        assert [w.id for w in cache.workflows()] == ["w1", "w2"] and cache.revision == 10


async def test_closing_stops_the_watch_and_later_waits_fail(nodes: Start) -> None:
    a = await nodes(follow_from(), snapshot=first_snapshot(), read_index=lambda: 10)
    async with client(a) as c:
        cache = await c.workflow_cache(NS)
        assert cache.endpoint == a.addr
        waiting = asyncio.ensure_future(cache.wait_for(99, timeout=5.0))
        await asyncio.sleep(0.05)
        await cache.close()
        await cache.close()  # idempotent
        with pytest.raises(cairn.Unavailable, match="closed"):
            await asyncio.wait_for(waiting, 5)
        await wait_for("the watch closed", a.sessions[0].cancelled.is_set)
        with pytest.raises(cairn.Unavailable, match="closed"):
            await cache.sync()
        assert cache.workflow("w1") is not None and cache.revision == 10


async def test_a_cache_needs_a_namespace_and_a_refused_one_is_raised(nodes: Start) -> None:
    a = await nodes(lambda _c: ([], (grpc.StatusCode.PERMISSION_DENIED, "no")))
    async with client(a) as c:
        with pytest.raises(cairn.InvalidArgument):
            await c.workflow_cache("")
        # The snapshot (empty here) loads, then the watch is refused: nothing is left open.
        a.snapshot = snapshot(5)
        with pytest.raises(cairn.PermissionDenied):
            await c.workflow_cache(NS)
        assert len(a.sessions) == 1
