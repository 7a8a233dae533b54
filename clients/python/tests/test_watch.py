"""The watch's resume bookkeeping and its reconnect logic, against in-process fake nodes that
serve scripted Watch streams and snapshots (no cluster): resume from the last delivered
revision + 1 on another endpoint, duplicates a node re-sends dropped, Compacted turned into a
reset from a snapshot, a silent stream taken for dead, permanent errors raised, and closing
cancels the server's stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest

import cairn
from cairn._proto.cairn.v1 import coord_pb2, kv_pb2, workflow_pb2
from cairn._proto.cairn.v1 import watch_pb2 as pb
from cairn.watch import Resume
from cairn.watch_types import event_from_pb, object_from_pb

# ---- message helpers ----


def put_event(revision: int, key: str) -> pb.WatchEvent:
    kv = kv_pb2.KeyValue(
        key=key.encode(), value=b"v", create_revision=revision, mod_revision=revision, version=1
    )
    return pb.WatchEvent(revision=revision, kv_put=pb.KvPutChange(kv=kv))


def events(revision: int, *evs: pb.WatchEvent) -> pb.WatchResponse:
    return pb.WatchResponse(watch_id=1, events=pb.WatchEvents(events=evs, revision=revision))


def created(revision: int) -> pb.WatchResponse:
    return pb.WatchResponse(watch_id=1, created=pb.WatchCreated(revision=revision))


def progress(revision: int) -> pb.WatchResponse:
    return pb.WatchResponse(watch_id=1, progress=pb.WatchProgress(revision=revision))


def compacted(at: int, current: int) -> pb.WatchResponse:
    return pb.WatchResponse(
        watch_id=1, compacted=pb.WatchCompacted(compact_revision=at, current_revision=current)
    )


def canceled(revision: int) -> pb.WatchResponse:
    return pb.WatchResponse(
        watch_id=1, canceled=pb.WatchCanceled(reason="slow consumer", revision=revision)
    )


# ---- a fake node serving Watch and Snapshot ----

#: What a fake stream does after its scripted messages.
HANG = "hang"
EOF = "eof"


@dataclass
class Session:
    """One Watch stream as a fake node saw it."""

    create: pb.WatchCreateRequest
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


#: A watch script: the create request -> messages to send (a float: pause that many seconds),
#: then HANG, EOF or a (code, details) status to abort with.
WatchScript = Callable[[pb.WatchCreateRequest], tuple[list[Any], Any]]


@dataclass
class FakeWatchNode:
    watch: WatchScript
    snapshot: list[pb.WatchSnapshotResponse] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    snapshots: int = 0
    server: grpc.aio.Server | None = None
    port: int = 0

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FakeWatchNode:
        self.server = grpc.aio.server()
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            "Watch": grpc.stream_stream_rpc_method_handler(
                self._watch,
                request_deserializer=pb.WatchRequest.FromString,
                response_serializer=pb.WatchResponse.SerializeToString,
            ),
            "Snapshot": grpc.unary_stream_rpc_method_handler(
                self._snapshot,
                request_deserializer=pb.WatchSnapshotRequest.FromString,
                response_serializer=pb.WatchSnapshotResponse.SerializeToString,
            ),
        }
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("cairn.v1.Watch", handlers),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)

    async def _watch(self, _requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        req = await context.read()
        assert isinstance(req, pb.WatchRequest) and req.HasField("create")
        session = Session(req.create)
        self.sessions.append(session)
        messages, then = self.watch(req.create)
        try:
            for msg in messages:
                if isinstance(msg, float):
                    await asyncio.sleep(msg)  # a pause in the script
                else:
                    await context.write(msg)
            if then == HANG:
                await asyncio.Event().wait()
            elif then == EOF:
                return
            else:
                code, details = then
                await context.abort(code, details)
        except asyncio.CancelledError:
            session.cancelled.set()
            raise

    async def _snapshot(
        self, _req: pb.WatchSnapshotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        self.snapshots += 1
        for chunk in self.snapshot:
            await context.write(chunk)


async def wait_for(what: str, probe: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def next_item(w: cairn.WatchStream, timeout: float = 5.0) -> cairn.WatchItem:
    return await asyncio.wait_for(w.__anext__(), timeout)


def revisions(items: list[cairn.WatchItem]) -> list[int]:
    return [e.revision for i in items if isinstance(i, cairn.WatchEvents) for e in i.events]


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


Start = Callable[..., Awaitable[FakeWatchNode]]


def client(*nodes: FakeWatchNode, **kw: Any) -> cairn.Client:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return cairn.Client([n.addr for n in nodes], **kw)


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
    assert len(cairn.WatchFilter.everything().selectors) == 6
    with pytest.raises(TypeError):
        cairn.WatchFilter("jobs/")  # type: ignore[arg-type]


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
