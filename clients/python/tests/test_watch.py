"""The watch's resume bookkeeping and its reconnect logic, against in-process fake nodes that
serve scripted Watch streams and snapshots (no cluster): resume from the last delivered
revision + 1 on another endpoint, duplicates a node re-sends dropped, Compacted turned into a
reset from a snapshot, a silent stream taken for dead, permanent errors raised, closing
cancels the server's stream, and progress requests go on the current stream; variable
selectors and changes decode with their scope."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio
import pytest

import cairn
from cairn._proto.cairn.v1 import coord_pb2, kv_pb2, workflow_pb2
from cairn._proto.cairn.v1 import watch_pb2 as pb
from cairn.watch import Resume
from cairn.watch_types import event_from_pb, object_from_pb

from .watch_fakes import (
    EOF,
    HANG,
    FakeWatchNode,
    Start,
    WatchScript,
    canceled,
    client,
    compacted,
    created,
    events,
    next_item,
    progress,
    put_event,
    revisions,
    wait_for,
)


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


# ---- the bookkeeping alone ----


def test_resume_from_now_is_pinned_by_the_first_created() -> None:
    r = Resume(0)
    assert r.start_revision() == 0
    r.created(41)
    assert r.start_revision() == 42
    r.created(90)  # a later connection's Created never moves an established point
    assert r.start_revision() == 42


def test_resume_drops_what_was_delivered_and_keeps_the_rest() -> None:
    r = Resume(10)
    assert r.last == 9 and r.start_revision() == 10
    first = r.events(events(11, put_event(10, "a"), put_event(11, "b")).events)
    assert first is not None and [e.revision for e in first.events] == [10, 11]
    # A node re-sends 11 with 12: only 12 is new.
    again = r.events(events(12, put_event(11, "b"), put_event(12, "c")).events)
    assert again is not None and [e.revision for e in again.events] == [12]
    assert r.events(events(12, put_event(12, "c")).events) is None
    assert r.start_revision() == 13
    # Progress never moves the point back, and only reports news.
    assert r.progress(12) is None
    assert r.progress(20) == cairn.WatchProgress(20)
    assert r.start_revision() == 21
    reset = r.reset(30, [])
    assert reset == cairn.WatchReset(30, []) and r.start_revision() == 31


def test_out_of_order_events_are_a_server_fault() -> None:
    r = Resume(1)
    with pytest.raises(cairn.RpcError):
        r.events(events(5, put_event(4, "a"), put_event(3, "b")).events)
    with pytest.raises(cairn.RpcError):
        r.events(events(5, put_event(6, "a")).events)


def test_negative_start_is_refused() -> None:
    with pytest.raises(cairn.InvalidArgument):
        Resume(-1)


def test_changes_and_objects_decode_into_the_client_types() -> None:
    wf = workflow_pb2.Workflow(id="w", status="RUNNING", version=2, metadata='{"a":1}')
    e = event_from_pb(
        pb.WatchEvent(revision=7, workflow=pb.WorkflowChange(workflow=wf, prev_status="PENDING"))
    )
    assert isinstance(e.change, cairn.WorkflowChanged)
    assert e.change.workflow.metadata == {"a": 1} and e.change.prev_status == "PENDING"
    assert e.change.history is None
    holder = coord_pb2.Holder(owner="o", lease_id=3, token=9, value=b"x", since_ms=1)
    lock = coord_pb2.Lock(name="L", holder=holder)
    le = event_from_pb(pb.WatchEvent(revision=8, lock=pb.LockChange(lock=lock)))
    assert isinstance(le.change, cairn.LockChanged) and le.change.lock.holder is not None
    assert le.change.lock.holder.token == 9
    ee = event_from_pb(pb.WatchEvent(revision=8, election=pb.ElectionChange(election=lock)))
    assert isinstance(ee.change, cairn.ElectionChanged)
    assert ee.change.election.leader is not None and ee.change.election.leader.value == b"x"
    d = event_from_pb(pb.WatchEvent(revision=9, kv_delete=pb.KvDeleteChange(key=b"k")))
    assert d.change == cairn.KvDelete(b"k", None)
    cp = event_from_pb(
        pb.WatchEvent(
            revision=10,
            checkpoint=pb.CheckpointChange(checkpoint=pb.CheckpointInfo(workflow_id="w", id="c")),
        )
    )
    assert isinstance(cp.change, cairn.CheckpointSaved) and cp.change.checkpoint.parent is None
    assert isinstance(object_from_pb(pb.WatchObject(election=lock)), cairn.ElectionState)
    assert isinstance(object_from_pb(pb.WatchObject(kv=kv_pb2.KeyValue(key=b"k"))), cairn.KeyValue)
    with pytest.raises(cairn.RpcError):
        event_from_pb(pb.WatchEvent(revision=1))
    with pytest.raises(cairn.RpcError):
        event_from_pb(pb.WatchEvent(revision=1, kv_put=pb.KvPutChange()))


def test_filters_combine_selectors_and_refuse_nothing() -> None:
    f = cairn.WatchFilter().kv_prefix("jobs/").workflows_in("payments", ["FAILED"]).tasks_of("w")
    assert len(f.selectors) == 3
    assert f.selectors[0] == cairn.KvSelector(b"jobs/")
    assert f.to_pb().selectors[1].workflows.statuses == ["FAILED"]
    assert len(cairn.WatchFilter.everything().selectors) == 7
    assert cairn.VarsSelector() in cairn.WatchFilter.everything().selectors
    with pytest.raises(TypeError):
        cairn.WatchFilter("jobs/")  # type: ignore[arg-type]


def test_vars_selectors_name_a_scope_a_namespace_or_everything() -> None:
    f = (
        cairn.WatchFilter()
        .vars_of(cairn.VarScope.workflow("w1"))
        .vars_in("payments")
        .vars_of(cairn.VarScope.namespace("ops"))
        .all_vars()
    )
    assert f.selectors == (
        cairn.VarsSelector(scope=cairn.VarScope.workflow("w1")),
        cairn.VarsSelector(namespace="payments"),
        cairn.VarsSelector(scope=cairn.VarScope.namespace("ops")),
        cairn.VarsSelector(),
    )
    sel = [s.vars for s in f.to_pb().selectors]
    assert [s.WhichOneof("target") for s in f.to_pb().selectors] == ["vars"] * 4
    assert sel[0].scope.workflow == "w1" and sel[0].namespace == ""
    assert not sel[1].HasField("scope") and sel[1].namespace == "payments"
    assert sel[2].scope.namespace == "ops" and sel[2].namespace == ""
    assert not sel[3].HasField("scope") and sel[3].namespace == ""
    with pytest.raises(TypeError):
        cairn.VarsSelector(scope="w1")  # type: ignore[arg-type]


def test_vars_changes_and_objects_decode_with_their_scope() -> None:
    v = workflow_pb2.Vars(
        version=3, values={"n": "1", "s": '"x"'}, immutable=["n"], mod_revision=9, checksum=7
    )
    scope = workflow_pb2.VarScope(workflow="w1")
    e = event_from_pb(
        pb.WatchEvent(revision=9, vars=pb.VarsChange(scope=scope, namespace="ns", vars=v))
    )
    assert isinstance(e.change, cairn.VarsChanged)
    assert e.change.scope == cairn.VarScope.workflow("w1") and e.change.namespace == "ns"
    assert e.change.vars.values == {"n": 1, "s": "x"} and e.change.vars.version == 3
    assert e.change.vars.immutable == frozenset({"n"})
    d = event_from_pb(
        pb.WatchEvent(
            revision=10,
            vars_delete=pb.VarsDeleteChange(
                scope=workflow_pb2.VarScope(namespace="ns"), namespace="ns"
            ),
        )
    )
    assert d.change == cairn.VarsDeleted(cairn.VarScope.namespace("ns"), "ns")
    o = object_from_pb(pb.WatchObject(vars=pb.VarsChange(scope=scope, namespace="ns", vars=v)))
    assert isinstance(o, cairn.ScopedVars) and o.scope == cairn.VarScope.workflow("w1")
    assert o.namespace == "ns" and o.vars.checksum == 7
    # A change without its scope or set, or with an empty scope, is a server fault.
    for bad in (
        pb.VarsChange(namespace="ns", vars=v),
        pb.VarsChange(scope=scope, namespace="ns"),
        pb.VarsChange(scope=workflow_pb2.VarScope(workflow=""), namespace="ns", vars=v),
    ):
        with pytest.raises(cairn.RpcError):
            event_from_pb(pb.WatchEvent(revision=1, vars=bad))
    with pytest.raises(cairn.RpcError):
        event_from_pb(pb.WatchEvent(revision=1, vars_delete=pb.VarsDeleteChange(namespace="n")))


async def test_a_watch_needs_a_selector() -> None:
    async with cairn.Client("127.0.0.1:1") as c:
        with pytest.raises(cairn.InvalidArgument):
            c.watch()
        with pytest.raises(cairn.InvalidArgument):
            c.watch(cairn.KvSelector(), progress_notify=0)


# ---- reconnects against fake nodes ----


async def test_a_broken_stream_resumes_from_the_next_revision_on_another_node(
    nodes: Start,
) -> None:
    a = await nodes(
        lambda _c: (
            [created(10), events(11, put_event(11, "a")), events(12, put_event(12, "b"))],
            (grpc.StatusCode.UNAVAILABLE, "node going away"),
        )
    )
    # The second node re-sends 12 (it must not be delivered twice) and adds 13.
    b = await nodes(
        lambda c: (
            [created(c.start_revision - 1), events(13, put_event(12, "b"), put_event(13, "c"))],
            HANG,
        )
    )
    async with client(a, b) as c, c.watch(cairn.KvSelector("")) as w:
        items = [await next_item(w) for _ in range(3)]
        assert w.endpoint == b.addr and w.reconnects == 1
        assert w.last_revision == 13
    assert revisions(items) == [11, 12, 13]
    assert a.sessions[0].create.start_revision == 0
    assert b.sessions[0].create.start_revision == 13
    assert b.sessions[0].create.filter.selectors[0].HasField("kv")
    await wait_for("the last stream cancelled", b.sessions[0].cancelled.is_set)


async def test_a_node_that_ends_the_stream_is_left_for_another(nodes: Start) -> None:
    a = await nodes(lambda _c: ([created(4), events(5, put_event(5, "a"))], EOF))
    b = await nodes(lambda c: ([created(c.start_revision - 1), events(6, put_event(6, "b"))], HANG))
    async with client(a, b) as c, c.watch(cairn.KvSelector(""), start_revision=5) as w:
        items = [await next_item(w) for _ in range(2)]
    assert revisions(items) == [5, 6]
    assert [s.create.start_revision for s in a.sessions + b.sessions] == [5, 6]


async def test_compacted_yields_a_reset_from_a_snapshot_then_continues(nodes: Start) -> None:
    kv = kv_pb2.KeyValue(key=b"k1", value=b"v", create_revision=3, mod_revision=40, version=2)
    wf = workflow_pb2.Workflow(id="w1", status="RUNNING", version=3)

    def script(c: pb.WatchCreateRequest) -> tuple[list[pb.WatchResponse], Any]:
        if c.start_revision < 51:
            return [created(60), compacted(45, 60)], EOF
        return [created(c.start_revision - 1), events(52, put_event(52, "k2"))], HANG

    chunks = [
        pb.WatchSnapshotResponse(revision=50, objects=[pb.WatchObject(kv=kv)]),
        pb.WatchSnapshotResponse(revision=50, objects=[pb.WatchObject(workflow=wf)], done=True),
    ]
    a = await nodes(script, snapshot=chunks)
    async with client(a) as c:
        w = c.watch(cairn.KvSelector("k"), cairn.WorkflowSelector(id="w1"), start_revision=2)
        try:
            reset = await next_item(w)
            after = await next_item(w)
        finally:
            await w.aclose()
    assert isinstance(reset, cairn.WatchReset) and reset.revision == 50
    assert reset.objects[0] == cairn.KeyValue(b"k1", b"v", 3, 40, 2)
    assert isinstance(reset.objects[1], cairn.Workflow) and reset.objects[1].id == "w1"
    assert revisions([after]) == [52]
    assert [s.create.start_revision for s in a.sessions] == [2, 51]
    assert a.snapshots == 1


async def test_a_slow_consumer_cancel_resumes_at_once(nodes: Start) -> None:
    def script(c: pb.WatchCreateRequest) -> tuple[list[pb.WatchResponse], Any]:
        if c.start_revision == 1:
            return [created(0), events(1, put_event(1, "a")), canceled(1)], EOF
        return [created(c.start_revision - 1), events(2, put_event(2, "b"))], HANG

    a = await nodes(script)
    async with client(a) as c, c.watch(cairn.KvSelector(""), start_revision=1) as w:
        items = [await next_item(w) for _ in range(2)]
    assert revisions(items) == [1, 2]
    assert [s.create.start_revision for s in a.sessions] == [1, 2]


async def test_progress_is_reported_and_a_silent_stream_is_left(nodes: Start) -> None:
    # The first node reports progress once, then goes silent (a dead path, no status ever).
    a = await nodes(lambda _c: ([created(7), progress(9)], HANG))
    b = await nodes(
        lambda c: ([created(c.start_revision - 1), events(10, put_event(10, "x"))], HANG)
    )
    async with (
        client(a, b, request_timeout=0.3) as c,
        c.watch(cairn.KvSelector(""), progress_notify=0.05) as w,
    ):
        assert a.sessions[0].create.progress_notify_ms == 50
        first = await next_item(w)
        assert first == cairn.WatchProgress(9)
        second = await next_item(w)
    assert revisions([second]) == [10]
    assert b.sessions[0].create.start_revision == 10
    await wait_for("the silent stream cancelled", a.sessions[0].cancelled.is_set)


async def test_a_permanent_refusal_is_raised_and_ends_the_stream(nodes: Start) -> None:
    a = await nodes(lambda _c: ([], (grpc.StatusCode.INVALID_ARGUMENT, "filter: bad selector")))
    async with client(a) as c:
        w = c.watch(cairn.KvSelector(""))
        with pytest.raises(cairn.InvalidArgument, match="bad selector"):
            await next_item(w)
        with pytest.raises(StopAsyncIteration):
            await next_item(w)
        assert len(a.sessions) == 1
        # As a context manager, the refusal comes out of `async with` itself.
        with pytest.raises(cairn.PermissionDenied):
            a.watch = lambda _c: ([], (grpc.StatusCode.PERMISSION_DENIED, "not yours"))
            async with c.watch(cairn.KvSelector("")):
                pass


async def test_closing_cancels_the_server_stream(nodes: Start) -> None:
    a = await nodes(lambda _c: ([created(3)], HANG))
    async with client(a) as c:
        w = c.watch(cairn.KvSelector(""))
        consumer = asyncio.ensure_future(w.__anext__())
        await wait_for("the watch to open", lambda: len(a.sessions) == 1)
        await w.aclose()
        # The consumer blocked in another task ends cleanly, and the server saw the cancel.
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(consumer, 5)
        await wait_for("the server stream cancelled", a.sessions[0].cancelled.is_set)
        assert w.closed and w.endpoint is None
        with pytest.raises(StopAsyncIteration):
            await w.__anext__()
        await w.aclose()  # idempotent


async def test_breaking_out_of_the_context_cancels_the_server_stream(nodes: Start) -> None:
    a = await nodes(lambda _c: ([created(3), events(4, put_event(4, "a"))], HANG))
    async with client(a) as c:
        async with c.watch(cairn.KvSelector("")) as w:
            async for item in w:
                assert revisions([item]) == [4]
                break
        await wait_for("the server stream cancelled", a.sessions[0].cancelled.is_set)
        assert len(a.sessions) == 1


async def test_a_refused_endpoint_is_skipped(nodes: Start) -> None:
    from .cluster import free_port

    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    b = await nodes(lambda c: ([created(20), events(21, put_event(21, "a"))], HANG))
    async with (
        cairn.Client([dead, b.addr], backoff_base=0.01, backoff_max=0.05) as c,
        c.watch(cairn.KvSelector("")) as w,
    ):
        assert w.endpoint == b.addr
        assert revisions([await next_item(w)]) == [21]
        assert w.last_failure, "the refused endpoint was tried first"


async def test_a_closed_client_ends_its_watches(nodes: Start) -> None:
    a = await nodes(lambda _c: ([created(1)], EOF))
    c = client(a)
    w = c.watch(cairn.KvSelector(""))
    await c.close()
    with pytest.raises(cairn.Unavailable, match="closed"):
        await next_item(w)


async def test_a_caller_that_stops_waiting_loses_nothing(nodes: Start) -> None:
    a = await nodes(
        lambda _c: (
            [created(1), 0.3, events(2, put_event(2, "a")), events(3, put_event(3, "b"))],
            HANG,
        )
    )
    async with client(a) as c, c.watch(cairn.KvSelector("")) as w:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(w.__anext__(), 0.05)
        # The step went on: the next call gets the item it was waiting for, then the next.
        items = [await next_item(w), await next_item(w)]
    assert revisions(items) == [2, 3]
    assert len(a.sessions) == 1, "no reconnect: the stream survived the timeout"


# ---- progress on request ----


async def test_progress_requests_go_on_the_current_stream(nodes: Start) -> None:
    # The first node answers progress requests, then breaks; the second answers them too.
    a = await nodes(
        lambda _c: ([created(10), events(11, put_event(11, "a"))], HANG),
        on_progress=lambda s: [progress(15)],
    )
    b = await nodes(
        lambda c: ([created(c.start_revision - 1)], HANG),
        on_progress=lambda s: [progress(20 + s.progress_requests)],
    )
    async with client(a, b) as c:
        w = c.watch(cairn.KvSelector(""), progress_notify=None)
        assert not await w.request_progress(), "not connected yet: nothing to send it on"
        async with w:
            assert w.endpoint == a.addr
            assert revisions([await next_item(w)]) == [11]
            assert await w.request_progress()
            assert await next_item(w) == cairn.WatchProgress(15)
            assert w.last_revision == 15
            assert a.sessions[0].progress_requests == 1
            # An answer that reports nothing new yields nothing (15 was reported already).
            assert await w.request_progress()
            await wait_for("the second request", lambda: a.sessions[0].progress_requests == 2)

            # The node goes away; the watch resumes on the other one, where requests now go.
            await a.stop()
            item = asyncio.ensure_future(next_item(w))
            # Live there (its Created seen), so the next request has a stream to go on.
            await wait_for("the watch on the second node", lambda: w.reconnects == 1)
            assert w.endpoint == b.addr
            assert b.sessions[0].create.start_revision == 16
            assert await w.request_progress()
            assert await item == cairn.WatchProgress(21)
            assert w.last_revision == 21
        assert not await w.request_progress(), "closed: nothing is sent"
    assert [s.progress_requests for s in b.sessions] == [1]


async def test_a_caller_that_stops_waiting_for_its_request_breaks_nothing(nodes: Start) -> None:
    a = await nodes(lambda _c: ([created(3)], HANG), on_progress=lambda s: [progress(4)])
    async with client(a) as c, c.watch(cairn.KvSelector(""), progress_notify=None) as w:
        # Cancelled at once: the write goes on in its own task, the stream survives.
        t = asyncio.ensure_future(w.request_progress())
        await asyncio.sleep(0)
        t.cancel()
        assert await next_item(w) == cairn.WatchProgress(4)
        # Concurrent requests share one write at a time.
        sent = await asyncio.gather(*(w.request_progress() for _ in range(5)))
        assert all(sent)
        await wait_for("the requests", lambda: a.sessions[0].progress_requests >= 2)
    assert len(a.sessions) == 1, "no reconnect"
