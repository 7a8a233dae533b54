"""In-process fake nodes serving the Watch service (scripted Watch streams, snapshots, answers
to progress requests) and the one read a workflow cache makes (GetVars, for its read index),
with helpers to build watch messages: what tests/test_watch.py and tests/test_cache.py drive
the watch and the cache with, without a cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

import cairn
from cairn._proto.cairn.v1 import kv_pb2, workflow_pb2
from cairn._proto.cairn.v1 import watch_pb2 as pb

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


# ---- a fake node serving Watch, Snapshot and GetVars ----

#: What a fake stream does after its scripted messages.
HANG = "hang"
EOF = "eof"


@dataclass
class Session:
    """One Watch stream as a fake node saw it."""

    create: pb.WatchCreateRequest
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    #: Progress requests received on this stream.
    progress_requests: int = 0


#: A watch script: the create request -> messages to send (a float: pause that many seconds),
#: then HANG, EOF or a (code, details) status to abort with.
WatchScript = Callable[[pb.WatchCreateRequest], tuple[list[Any], Any]]


@dataclass
class FakeWatchNode:
    watch: WatchScript
    snapshot: list[pb.WatchSnapshotResponse] = field(default_factory=list)
    #: While a stream hangs after its script: the messages answering a progress request.
    on_progress: Callable[[Session], list[pb.WatchResponse]] | None = None
    #: The revision GetVars answers with (a linearizable read's read index); unset: no GetVars.
    read_index: Callable[[], int] | None = None
    sessions: list[Session] = field(default_factory=list)
    snapshots: int = 0
    get_vars: list[workflow_pb2.GetVarsRequest] = field(default_factory=list)
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
        get_vars = grpc.unary_unary_rpc_method_handler(
            self._get_vars,
            request_deserializer=workflow_pb2.GetVarsRequest.FromString,
            response_serializer=workflow_pb2.GetVarsResponse.SerializeToString,
        )
        self.server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler("cairn.v1.Watch", handlers),
                grpc.method_handlers_generic_handler("cairn.v1.Workflows", {"GetVars": get_vars}),
            )
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
                await self._serve_requests(session, context)
            elif then == EOF:
                return
            else:
                code, details = then
                await context.abort(code, details)
        except asyncio.CancelledError:
            session.cancelled.set()
            raise

    async def _serve_requests(
        self, session: Session, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Reads what the client sends on its stream (progress requests) until it goes."""
        while True:
            req = await context.read()
            if req is grpc.aio.EOF:
                await asyncio.Event().wait()
            assert isinstance(req, pb.WatchRequest) and req.HasField("progress"), req
            session.progress_requests += 1
            for msg in self.on_progress(session) if self.on_progress is not None else []:
                await context.write(msg)

    async def _get_vars(
        self, req: workflow_pb2.GetVarsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workflow_pb2.GetVarsResponse:
        self.get_vars.append(req)
        if self.read_index is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "fake: no GetVars")
        assert self.read_index is not None
        return workflow_pb2.GetVarsResponse(revision=self.read_index())

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


Start = Callable[..., Awaitable[FakeWatchNode]]


def client(*nodes: FakeWatchNode, **kw: Any) -> cairn.Client:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return cairn.Client([n.addr for n in nodes], **kw)
