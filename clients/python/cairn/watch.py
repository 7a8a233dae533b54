"""Watch: ordered, resumable streams of changes to replicated state (``cairn_client::watch``).

:meth:`WatchApi.watch` follows the keys, workflows, tasks, checkpoints, locks, elections and
variable sets its selectors choose and yields :data:`~cairn.watch_types.WatchItem`\\ s. Every
change carries the revision of the write that made it; revisions strictly increase, a
revision's changes arrive in one item, and nothing is repeated or skipped, across reconnects
too: the stream survives the death, restart or loss of leadership of the node it is connected
to by resuming on another node from the last delivered revision + 1. If no node can resume
from there any more (their bounded history has moved past it), the stream yields a
:class:`~cairn.WatchReset` with the watched objects as of a revision R and continues with the
changes after R::

    async with client.watch(cairn.WorkflowSelector(namespace="payments", statuses=["FAILED"])) as w:
        async for item in w:
            if isinstance(item, cairn.WatchEvents):
                for e in item.events:
                    if isinstance(e.change, cairn.WorkflowChanged):
                        print(e.change.workflow.id, e.change.workflow.status, e.revision)

The stream is pulled: it reads from the server only while you wait for the next item, so a
consumer that falls far behind is cancelled by the server and simply resumes where it was.

:meth:`WatchStream.request_progress` asks the serving node to report, now, how far the watch
has delivered (etcd's RequestProgress): with a revision R from a linearizable read, once
``last_revision >= R`` the consumer has seen every change up to R. The local cache
(:class:`~cairn.WorkflowCache`) is built on it.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import grpc
import grpc.aio

from cairn import _meta as meta
from cairn._backoff import Backoff
from cairn._classify import Status, classify, metadata_dict, status_of
from cairn._core import SERVER_DEADLINE_MARGIN, AttemptFailed, ClientCore
from cairn._endpoints import Node
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import watch_pb2 as pb
from cairn.errors import CairnError, InvalidArgument, Timeout, Unavailable
from cairn.watch_types import (
    WatchEvents,
    WatchFilter,
    WatchItem,
    WatchObject,
    WatchProgress,
    WatchReset,
    WatchSelector,
    event_from_pb,
    object_from_pb,
)

__all__ = ["WatchApi", "WatchSnapshot", "WatchStream"]

T = TypeVar("T")

#: How often the server reports progress while nothing matches, by default (seconds).
DEFAULT_PROGRESS_NOTIFY = 5.0

#: Our one watch's id on its stream.
WATCH_ID = 1


def _method_path(name: str, client_streaming: bool) -> str:
    """``/cairn.v1.Watch/<name>``, checked against the generated descriptor (as
    :func:`cairn._rpc.unary` does), so a renamed RPC fails at import."""
    desc = pb.DESCRIPTOR.services_by_name["Watch"].methods_by_name[name]
    if not desc.server_streaming or desc.client_streaming != client_streaming:
        raise TypeError(f"Watch.{name} is not the streaming shape the client expects")
    return f"/{desc.containing_service.full_name}/{desc.name}"


WATCH_PATH = _method_path("Watch", client_streaming=True)
SNAPSHOT_PATH = _method_path("Snapshot", client_streaming=False)


@dataclass(frozen=True)
class WatchSnapshot:
    """The objects a filter selects, exactly as of ``revision``."""

    revision: int
    objects: list[WatchObject]


def _filter_of(selectors: tuple[WatchSelector | WatchFilter, ...]) -> WatchFilter:
    out: list[WatchSelector] = []
    for s in selectors:
        if isinstance(s, WatchFilter):
            out.extend(s.selectors)
        else:
            out.append(s)
    f = WatchFilter(*out)
    if not f.selectors:
        raise InvalidArgument("a watch needs at least one selector")
    return f


# ---- resume bookkeeping ----


class Resume:
    """What has been delivered, and so where to resume: every revision up to ``last``. None
    while watching from "now" and not yet told which revision that is."""

    __slots__ = ("last",)

    def __init__(self, start_revision: int) -> None:
        if start_revision < 0:
            raise InvalidArgument("start_revision must be >= 0")
        self.last: int | None = start_revision - 1 if start_revision > 0 else None

    def start_revision(self) -> int:
        """The revision a new connection asks for (0: from now)."""
        return 0 if self.last is None else self.last + 1

    def created(self, revision: int) -> None:
        """A connection says it is live after ``revision``: only pins a "from now" watch."""
        if self.last is None:
            self.last = revision

    def events(self, msg: pb.WatchEvents) -> WatchEvents | None:
        """The item for one events message: anything at or below ``last`` was delivered
        already and is dropped; None if nothing new is left."""
        last = self.last if self.last is not None else 0
        if msg.revision <= last:
            return None
        events = [event_from_pb(e) for e in msg.events if e.revision > last]
        revisions = [e.revision for e in events]
        if any(b < a for a, b in itertools.pairwise(revisions)) or (
            revisions and revisions[-1] > msg.revision
        ):
            raise bad_reply("watch events out of revision order")
        self.last = msg.revision
        return WatchEvents(msg.revision, events)

    def progress(self, revision: int) -> WatchProgress | None:
        if self.last is not None and revision <= self.last:
            return None
        self.last = revision
        return WatchProgress(revision)

    def reset(self, revision: int, objects: list[WatchObject]) -> WatchReset:
        self.last = revision
        return WatchReset(revision, objects)


# ---- how one connection ended ----


class _End(enum.Enum):
    COMPACTED = "compacted"
    CANCELED = "canceled"
    DISCONNECTED = "disconnected"


@dataclass
class _Ended:
    how: _End
    cause: str = ""
    status: Status | None = None


#: Marks the first Created seen (consumed by ``__aenter__``; never handed to a consumer).
_LIVE = object()


class WatchStream:
    """The items of one watch, in order: an async iterator and an async context manager
    (leaving it, or :meth:`aclose`, ends the watch and cancels its server stream).

    ``async with`` waits until the watch is live on a node, so every change made after the
    ``with`` line is delivered; plain ``async for`` connects on the first item. The stream
    ends only when closed or on a permanent error (an invalid filter, a refused permission),
    which it raises.
    """

    def __init__(
        self,
        core: WatchApi,
        filter: WatchFilter,
        start_revision: int,
        progress_notify: float | None,
    ) -> None:
        if progress_notify is not None and progress_notify <= 0:
            raise InvalidArgument("progress_notify must be positive (or None for never)")
        self._core = core
        self.filter = filter
        self._filter_pb = filter.to_pb()
        self._progress_notify = progress_notify
        self._resume = Resume(start_revision)
        self._endpoint: str | None = None
        self._connections = 0
        self._closed = False
        self._call: grpc.aio.StreamStreamCall[pb.WatchRequest, pb.WatchResponse] | None = None
        #: The call once its node said Created (the watch exists there): progress requests go
        #: on it.
        self._live_call: grpc.aio.StreamStreamCall[pb.WatchRequest, pb.WatchResponse] | None = None
        #: The progress request being written, if any (one at a time on a stream).
        self._progress_send: asyncio.Future[bool] | None = None
        self._gen: AsyncGenerator[WatchItem | object, None] = self._run()
        #: The driver step under way (see :meth:`_step`).
        self._pending: asyncio.Future[WatchItem | object] | None = None
        self._live = False
        #: Why the last connection ended (diagnostics; empty until one failed).
        self.last_failure = ""

    # ---- what a caller may observe ----

    @property
    def endpoint(self) -> str | None:
        """The node currently serving the watch, if connected."""
        return self._endpoint

    @property
    def reconnects(self) -> int:
        """How many times the watch was opened again after its first connection (node
        failures, slow-consumer cancels, catch-ups)."""
        return max(0, self._connections - 1)

    @property
    def last_revision(self) -> int | None:
        """Every revision up to this one has been delivered (None: watching from now and not
        connected yet). Pass ``last_revision + 1`` as ``start_revision`` to resume after your
        own restart."""
        return self._resume.last

    @property
    def closed(self) -> bool:
        return self._closed

    async def request_progress(self) -> bool:
        """Asks the node serving the watch for a progress report now (etcd's
        RequestProgress): it answers once it has delivered every matching change up to its
        applied revision at the time of the request, which the iteration then yields as a
        :class:`WatchProgress` (or nothing new, when the items already delivered reach that
        far). Either way, :attr:`last_revision` then says how far the watch has come: with a
        revision R from a linearizable read, ``last_revision >= R`` means every change up to R
        was delivered (a follower that has not applied R yet answers lower: ask again).

        The answer only arrives while the stream is being iterated. Returns whether the
        request was sent, on the watch's current stream; False while the watch is not
        connected (between nodes, or closed), when nothing is sent. Never breaks the stream:
        a write that fails is the connection's failure, which the iteration handles."""
        if self._closed:
            return False
        sending = self._progress_send
        if sending is None or sending.done():
            call = self._live_call
            if call is None:
                return False
            # A task of its own: grpcio cancels the whole call when a write is cancelled, so a
            # caller that stops waiting must not cancel the write.
            sending = self._progress_send = asyncio.ensure_future(_send_progress(call))
        return await asyncio.shield(sending)

    # ---- iteration ----

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchItem:
        while True:
            if self._closed:
                raise StopAsyncIteration
            item = await self._step()
            if item is _LIVE:
                continue
            assert isinstance(item, (WatchEvents, WatchReset, WatchProgress))
            return item

    async def _step(self) -> WatchItem | object:
        """The driver's next item. Cancel-safe: the step runs as a task of its own, so a
        caller that stops waiting (``asyncio.wait_for`` timing out, a cancelled task) loses
        nothing; the next call picks up the same step."""
        pending = self._pending
        if pending is None:
            pending = self._pending = asyncio.ensure_future(self._gen.__anext__())
        try:
            item = await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.done():
                raise  # our caller was cancelled: the step goes on for the next call
            self._pending = None
            if self._closed:
                raise StopAsyncIteration from None
            raise
        except BaseException:
            self._pending = None
            raise
        self._pending = None
        return item

    async def __aenter__(self) -> WatchStream:
        """Connects and waits until the watch is live (its first node said Created)."""
        if not self._live:
            try:
                item = await self._step()
            except BaseException:
                await self.aclose()
                raise
            assert item is _LIVE
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Ends the watch: cancels its server stream (a caller waiting for the next item
        gets the end of the iteration). Idempotent."""
        self._closed = True
        call, self._call = self._call, None
        self._live_call = None
        if call is not None:
            call.cancel()
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.cancel()
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved: the watch is over, whatever it was
        await self._gen.aclose()
        self._endpoint = None

    # ---- the driver ----

    async def _run(self) -> AsyncGenerator[WatchItem | object, None]:
        core = self._core
        cfg = core.config
        backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
        while not self._closed:
            if core._closed:
                raise Unavailable("watch: the client is closed")
            idx, node = core._endpoints.pick()
            progressed = False
            ended: _Ended | None = None
            token: str | None = None
            try:
                token = await self._login(node)
                call = await self._open(node, token)
                self._endpoint = node.addr
                idle = (
                    None
                    if self._progress_notify is None
                    else self._progress_notify * 3 + cfg.request_timeout
                )
                # The first message (Created) comes at once from a healthy node; after it,
                # with progress notices on, silence for several intervals means a dead path.
                limit: float | None = cfg.request_timeout
                while ended is None:
                    msg = await self._read(call, limit)
                    limit = idle
                    if msg is None:
                        return
                    kind = msg.WhichOneof("kind")
                    if kind == "created":
                        self._live_call = call
                        self._connections += 1
                        self._resume.created(msg.created.revision)
                        if not self._live:
                            self._live = True
                            yield _LIVE
                    elif kind == "events":
                        item = self._resume.events(msg.events)
                        if item is not None:
                            progressed = True
                            yield item
                    elif kind == "progress":
                        p = self._resume.progress(msg.progress.revision)
                        if p is not None:
                            progressed = True
                            yield p
                    elif kind == "compacted":
                        ended = _Ended(_End.COMPACTED)
                    elif kind == "canceled":
                        ended = _Ended(_End.CANCELED, msg.canceled.reason or "canceled")
            except grpc.aio.AioRpcError as e:
                ended = _Ended(_End.DISCONNECTED, status=status_of(e))
            except (_Silent, _Failed) as e:
                ended = _Ended(_End.DISCONNECTED, status=e.status)
            except asyncio.CancelledError:
                # Our own cancel of the call (aclose from another task) ends the watch;
                # anything else is the caller's cancellation.
                if self._stopped():
                    return
                raise
            finally:
                self._drop_call()
            if self._stopped():
                return
            assert ended is not None
            if progressed:
                backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
            cause: str
            if ended.how is _End.CANCELED:
                if progressed:
                    continue
                cause = ended.cause
            elif ended.how is _End.COMPACTED:
                try:
                    snap = await core._watch_snapshot(self._filter_pb, False)
                except (Unavailable, Timeout) as e:
                    cause = str(e)
                else:
                    if self._stopped():
                        return
                    yield self._resume.reset(snap.revision, snap.objects)
                    continue
            else:
                status = ended.status
                assert status is not None
                if (
                    core._login is not None
                    and status.code == grpc.StatusCode.UNAUTHENTICATED
                    and token is not None
                ):
                    # An expired token: log in again on the next connection.
                    core._login.forget(token)
                    cause = status.message
                else:
                    verdict = classify(status)
                    if isinstance(verdict, CairnError):
                        self._closed = True
                        raise verdict
                    # Any node serves watches: move on past the one that failed.
                    core._endpoints.on_failure(idx, None)
                    cause = verdict.cause
            self.last_failure = cause
            await asyncio.sleep(backoff.next_delay())

    async def _login(self, node: Node) -> str | None:
        login = self._core._login
        if login is None:
            return None
        timeout = self._core.config.request_timeout
        try:
            return await asyncio.wait_for(login.token(node, timeout), timeout)
        except asyncio.TimeoutError:
            raise _Silent("login timed out") from None

    async def _open(
        self, node: Node, token: str | None
    ) -> grpc.aio.StreamStreamCall[pb.WatchRequest, pb.WatchResponse]:
        """Opens the stream on ``node`` and sends the create request from ``last + 1``. The
        request side stays open while we watch: the server ends the watch when it closes."""
        notify = self._progress_notify
        create = pb.WatchRequest(
            create=pb.WatchCreateRequest(
                filter=self._filter_pb,
                start_revision=self._resume.start_revision(),
                progress_notify_ms=0
                if notify is None
                else min(max(1, round(notify * 1000)), 2**32 - 1),
                watch_id=WATCH_ID,
            )
        )
        metadata = ((meta.TOKEN, token),) if token is not None else None
        multi: grpc.aio.StreamStreamMultiCallable[pb.WatchRequest, pb.WatchResponse]
        multi = node.channel().stream_stream(
            WATCH_PATH,
            request_serializer=pb.WatchRequest.SerializeToString,
            response_deserializer=pb.WatchResponse.FromString,
        )
        call = multi(metadata=metadata)
        self._call = call
        try:
            await asyncio.wait_for(call.write(create), self._core.config.request_timeout)
        except asyncio.TimeoutError:
            raise _Silent("watch did not open in time") from None
        except asyncio.InvalidStateError:
            # The call failed (e.g. the node refused the connection) before the write.
            raise await _failure_of(call) from None
        return call

    async def _read(
        self,
        call: grpc.aio.StreamStreamCall[pb.WatchRequest, pb.WatchResponse],
        limit: float | None,
    ) -> pb.WatchResponse | None:
        """The next message, waiting at most ``limit`` seconds (None: no limit); None once
        the stream was closed by :meth:`aclose`."""
        try:
            if limit is None:
                msg = await call.read()
            else:
                msg = await asyncio.wait_for(call.read(), limit)
        except asyncio.TimeoutError:
            raise _Silent("watch stream silent past its progress interval") from None
        except asyncio.CancelledError:
            # A local cancel: ours (aclose) ends the watch; anything else is the caller's.
            if self._closed:
                return None
            raise
        if msg is grpc.aio.EOF:
            raise _Silent("watch stream ended by the server", grpc.StatusCode.UNAVAILABLE)
        assert isinstance(msg, pb.WatchResponse)
        if msg.watch_id not in (0, WATCH_ID):
            raise bad_reply(f"watch reply for unknown watch {msg.watch_id}")
        return msg

    def _stopped(self) -> bool:
        """Whether :meth:`aclose` ran (a method, so checkers do not narrow it away)."""
        return self._closed

    def _drop_call(self) -> None:
        call, self._call = self._call, None
        self._live_call = None
        self._endpoint = None
        if call is not None:
            call.cancel()


_PROGRESS_REQUEST = pb.WatchRequest(progress=pb.WatchProgressRequest())


async def _send_progress(
    call: grpc.aio.StreamStreamCall[pb.WatchRequest, pb.WatchResponse],
) -> bool:
    """Writes one progress request on ``call``; False if the call has ended (its reader sees
    why and moves the watch on)."""
    try:
        await call.write(_PROGRESS_REQUEST)
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError, asyncio.CancelledError):
        return False
    return True


class _Silent(AttemptFailed):
    """A connection that went quiet or ended without a status: retried like UNAVAILABLE."""

    def __init__(self, cause: str, code: grpc.StatusCode = grpc.StatusCode.DEADLINE_EXCEEDED):
        super().__init__(Status(code=code, message=cause))


async def _failure_of(call: grpc.aio.Call) -> _Failed:
    """The status a finished call ended with, for the classifier."""
    code = await call.code()
    details = await call.details()
    md = metadata_dict(await call.initial_metadata(), await call.trailing_metadata())
    return _Failed(Status(code=code, message=details or "", metadata=md))


class _Failed(Exception):
    """A call that ended with ``status`` outside a read (classified like any failure)."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message)
        self.status = status


class WatchApi(ClientCore):
    def watch(
        self,
        *selectors: WatchSelector | WatchFilter,
        start_revision: int = 0,
        progress_notify: float | None = DEFAULT_PROGRESS_NOTIFY,
    ) -> WatchStream:
        """Watches the changes the selectors choose (any of them matching: selectors and/or
        whole :class:`WatchFilter`\\ s) from ``start_revision`` on (0: from now, that is,
        after the serving node's current revision). Resume after your own restart with the
        last revision you processed + 1.

        ``progress_notify``: seconds of quiet after which the server reports progress (a
        :class:`WatchProgress` item, which also moves the resume point forward); None turns
        it off. With it on, a stream silent for three intervals is taken as dead and resumed
        on another node.

        Returns at once; the watch connects on ``async with`` (which waits until it is live)
        or on the first item. Use it as ``async with client.watch(...) as w: async for item in
        w: ...``.
        """
        return WatchStream(self, _filter_of(selectors), start_revision, progress_notify)

    async def watch_snapshot(
        self, *selectors: WatchSelector | WatchFilter, serializable: bool = False
    ) -> WatchSnapshot:
        """Every object the selectors choose, exactly as of one revision (what a
        :class:`WatchReset` carries): catch up with this, then watch from its revision + 1."""
        return await self._watch_snapshot(_filter_of(selectors).to_pb(), serializable)

    async def _watch_snapshot(self, filter_pb: pb.WatchFilter, serializable: bool) -> WatchSnapshot:
        req = pb.WatchSnapshotRequest(filter=filter_pb, serializable=serializable)
        revision, raw = await self._call_with(
            "watch_snapshot",
            lambda node, timeout, md: _snapshot_attempt(node, req, timeout, md),
        )
        return WatchSnapshot(revision, [object_from_pb(o) for o in raw])


async def _snapshot_attempt(
    node: Node,
    req: pb.WatchSnapshotRequest,
    per_try: float,
    metadata: tuple[tuple[str, str], ...] | None,
) -> tuple[tuple[int, list[pb.WatchObject]], str | None]:
    """One snapshot read on ``node``: every chunk up to the one marked done."""
    multi = node.channel().unary_stream(
        SNAPSHOT_PATH,
        request_serializer=pb.WatchSnapshotRequest.SerializeToString,
        response_deserializer=pb.WatchSnapshotResponse.FromString,
    )
    call = multi(req, timeout=per_try + SERVER_DEADLINE_MARGIN, metadata=metadata)
    try:
        objects: list[pb.WatchObject] = []
        revision: int | None = None
        while True:
            chunk = await call.read()
            if chunk is grpc.aio.EOF:
                raise _Silent("snapshot stream ended early", grpc.StatusCode.UNAVAILABLE)
            assert isinstance(chunk, pb.WatchSnapshotResponse)
            if revision is not None and chunk.revision != revision:
                raise bad_reply("snapshot chunks of different revisions")
            revision = chunk.revision
            objects.extend(chunk.objects)
            if chunk.done:
                break
        leader = None
        headers = await call.initial_metadata()
        if headers:
            value = headers.get(meta.LEADER)
            if isinstance(value, str) and value.strip():
                leader = value.strip()
        return (revision, objects), leader
    finally:
        call.cancel()
