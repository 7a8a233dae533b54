"""What the coordination modules (:mod:`cairn.leases`, :mod:`cairn.locks`,
:mod:`cairn.elections`) share: durations on the wire, the wait chunk of blocking calls, the
two streaming RPCs, background tasks that outlive the call that started them, and the lease
keeper (``cairn_client::coord::keeper``).

The keeper renews one lease over one KeepAlive stream (reopened on another node when it
breaks), every third of the TTL, the first renewal a third of the TTL after the start. It
reports the lease lost as soon as the cluster answers that the lease no longer exists, or when
no renewal has succeeded for a whole TTL: past that point the lease may have ended, and a
holder must assume it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import grpc
import grpc.aio

from cairn import _meta as meta
from cairn._backoff import Backoff
from cairn._classify import status_of
from cairn._core import ClientCore
from cairn._endpoints import Node
from cairn._proto.cairn.v1 import coord_pb2 as pb
from cairn.errors import CairnError, InvalidArgument

_log = logging.getLogger(__name__)

#: Shortest interval between renewals, whatever the TTL.
MIN_RENEW_INTERVAL = 0.05

#: The longest wait one blocking acquire or campaign asks the cluster for (the Rust client's
#: ``WAIT_CHUNK``); a longer wait repeats the call.
MAX_WAIT_CHUNK = 60.0

_KEEP_ALIVE_PATH = "/cairn.v1.Leases/KeepAlive"
_OBSERVE_PATH = "/cairn.v1.Elections/Observe"

# Checked against the descriptors at import, like cairn._rpc.unary does for unary methods.
_ka = pb.DESCRIPTOR.services_by_name["Leases"].methods_by_name["KeepAlive"]
_ob = pb.DESCRIPTOR.services_by_name["Elections"].methods_by_name["Observe"]
assert _ka.input_type.full_name == pb.LeaseKeepAliveRequest.DESCRIPTOR.full_name
assert _ka.output_type.full_name == pb.LeaseKeepAliveResponse.DESCRIPTOR.full_name
assert _ob.input_type.full_name == pb.ObserveRequest.DESCRIPTOR.full_name
assert _ob.output_type.full_name == pb.ObserveResponse.DESCRIPTOR.full_name


def millis(what: str, seconds: float) -> int:
    """A duration in seconds as whole milliseconds on the wire (refused when negative)."""
    if seconds < 0:
        raise InvalidArgument(f"{what} must not be negative, got {seconds}")
    return round(seconds * 1000)


def wait_chunk(core: ClientCore) -> float:
    """The longest wait one blocking call asks for (a longer wait repeats the call, as the
    Rust client does)."""
    return MAX_WAIT_CHUNK


def wait_timeouts(core: ClientCore, wait: float) -> dict[str, float]:
    """The attempt timeout and retry budget of a write the server may hold for ``wait``
    seconds: the configured ones plus the wait (the Rust client's ``per_try + wait``)."""
    cfg = core.config
    return {
        "request_timeout": cfg.request_timeout + wait,
        "retry_deadline": cfg.retry_deadline + wait,
    }


def new_owner(core: ClientCore) -> str:
    """A lock owner or candidate id unique per acquire: ``<client id>/<random>``."""
    return f"{core.client_id}/{secrets.token_hex(8)}"


def closed(core: ClientCore) -> bool:
    return core._closed


def running_loop() -> bool:
    """Whether this thread runs an event loop (so a background task can be started)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def cancelling() -> bool:
    """Whether the current task was asked to stop (Python 3.11+; always False before)."""
    task = asyncio.current_task()
    fn = getattr(task, "cancelling", None)
    return bool(fn()) if fn is not None else False


async def login_token(core: ClientCore, node: Node, timeout: float) -> str | None:
    login = core._login
    return None if login is None else await login.token(node, timeout)


def token_metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    return ((meta.TOKEN, token),) if token is not None else None


def forget_token(core: ClientCore, err: grpc.aio.AioRpcError, token: str | None) -> None:
    """An expired token is forgotten, so the next stream logs in again."""
    if core._login is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED:
        core._login.forget(token)


def keep_alive_call(
    node: Node, metadata: tuple[tuple[str, str], ...] | None
) -> grpc.aio.StreamStreamCall[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]:
    mc = node.channel().stream_stream(
        _KEEP_ALIVE_PATH,
        request_serializer=pb.LeaseKeepAliveRequest.SerializeToString,
        response_deserializer=pb.LeaseKeepAliveResponse.FromString,
    )
    return cast(
        "grpc.aio.StreamStreamCall[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]",
        mc(metadata=metadata),
    )


def observe_call(
    node: Node, request: pb.ObserveRequest, metadata: tuple[tuple[str, str], ...] | None
) -> grpc.aio.UnaryStreamCall[pb.ObserveRequest, pb.ObserveResponse]:
    mc = node.channel().unary_stream(
        _OBSERVE_PATH,
        request_serializer=pb.ObserveRequest.SerializeToString,
        response_deserializer=pb.ObserveResponse.FromString,
    )
    return cast(
        "grpc.aio.UnaryStreamCall[pb.ObserveRequest, pb.ObserveResponse]",
        mc(request, metadata=metadata),
    )


# ---- background tasks ----

#: Tasks nobody awaits (releases on exit or collection): referenced here until they finish,
#: since the event loop keeps only weak references to tasks.
_BACKGROUND: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    task.add_done_callback(_consume)
    return task


def _consume(task: asyncio.Task[Any]) -> None:
    # A background release's failure is reported by the lease ending; keep asyncio quiet.
    if not task.cancelled():
        task.exception()


async def end_on_exit(end: Callable[[], Coroutine[Any, Any, Any]], what: str) -> None:
    """Runs ``end()`` (a release or a resignation) to completion even if the caller is
    cancelled meanwhile; a refusal is logged, not raised over the block's own outcome (as the
    Rust client's drop does)."""
    task = spawn(end())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        raise
    except CairnError as e:
        _log.debug("%s on exit: %s", what, e)


def end_in_background(
    core: ClientCore, keeper: LeaseKeeper | None, end: Callable[[], Coroutine[Any, Any, Any]]
) -> None:
    """A guard or leadership collected without being ended: stop its keeper and send ``end()``
    if anything still can (else its lease ends after its TTL)."""
    if keeper is not None:
        keeper.stop()
    if running_loop() and not closed(core):
        spawn(end())


def cancel_task(task: asyncio.Task[Any]) -> None:
    """Cancels ``task``; a no-op when its loop is closed already."""
    with contextlib.suppress(RuntimeError):
        task.cancel()


# ---- the lease keeper ----


@dataclass
class _KeepState:
    #: Loop time until which the lease is known to be valid.
    until: float
    #: Stopped by its owner (not lost).
    stopped: bool = False


class LeaseKeeper:
    """Keeps one lease alive in the background until :meth:`stop` (or until collected).
    ``lost`` is set when the lease ended or could not be renewed for a whole TTL."""

    __slots__ = ("__weakref__", "_state", "_task", "lease_id", "lost")

    def __init__(self, core: ClientCore, lease_id: int, ttl: float, valid_until: float) -> None:
        self.lease_id = lease_id
        self.lost = asyncio.Event()
        self._state = _KeepState(valid_until)
        self._task = asyncio.get_running_loop().create_task(
            _keep(core, lease_id, ttl, self._state, self.lost)
        )
        weakref.finalize(self, _stop, self._state, self._task).atexit = False

    @property
    def valid_until(self) -> float:
        """Loop time (``loop.time()``) until which the lease is known to be valid."""
        return self._state.until

    def stop(self) -> None:
        """Stops renewing; the lease then ends one TTL after the last renewal."""
        _stop(self._state, self._task)


def _stop(state: _KeepState, task: asyncio.Task[None]) -> None:
    state.stopped = True
    cancel_task(task)


@dataclass
class _Broken:
    leader: str | None


_GONE = object()


async def _keep(
    core: ClientCore, lease_id: int, ttl: float, state: _KeepState, lost: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    every = max(ttl / 3, MIN_RENEW_INTERVAL)
    cfg = core.config
    backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
    first_renewal = loop.time() + every
    try:
        while not closed(core):
            if loop.time() >= state.until:
                break
            idx, node = core._endpoints.pick()
            ended = await _renew_over_stream(core, node, lease_id, ttl, every, first_renewal, state)
            if ended is _GONE or closed(core):
                break
            assert isinstance(ended, _Broken)
            core._endpoints.on_failure(idx, ended.leader)
            pause = min(backoff.next_delay(), max(0.0, state.until - loop.time()))
            await asyncio.sleep(pause)
            # After a failure, renew at once on the new stream.
            first_renewal = loop.time()
    except asyncio.CancelledError:
        if state.stopped:
            raise
        # Not stopped by its owner: the client closed its channels under the stream (or the
        # loop is shutting down). Nobody renews the lease any more.
    lost.set()


async def _renew_over_stream(
    core: ClientCore,
    node: Node,
    lease_id: int,
    ttl: float,
    every: float,
    first_renewal: float,
    state: _KeepState,
) -> object:
    """Renews over one stream until it breaks (``_Broken``) or the lease is gone (``_GONE``);
    moves ``state.until`` to (send time of each successful renewal) + TTL."""
    loop = asyncio.get_running_loop()
    timeout = core.config.request_timeout
    await asyncio.sleep(max(0.0, min(first_renewal, state.until) - loop.time()))
    if closed(core):
        return _Broken(None)
    request = pb.LeaseKeepAliveRequest(id=lease_id)
    call = None
    token: str | None = None
    try:
        try:
            token = await asyncio.wait_for(login_token(core, node, timeout), timeout)
            call = keep_alive_call(node, token_metadata(token))
            sent = loop.time()
            await asyncio.wait_for(call.write(request), timeout)
            while True:
                left = max(0.0, state.until - loop.time())
                answer = await asyncio.wait_for(call.read(), min(timeout, left))
                if not isinstance(answer, pb.LeaseKeepAliveResponse):
                    return _Broken(None)  # EOF: the node ended the stream
                if not answer.HasField("lease"):
                    return _GONE
                state.until = sent + ttl
                await asyncio.sleep(every)
                sent = loop.time()
                await asyncio.wait_for(call.write(request), timeout)
        except asyncio.TimeoutError:
            return _Broken(None)
        except grpc.aio.AioRpcError as e:
            forget_token(core, e, token)
            return _Broken(status_of(e).meta(meta.LEADER) or None)
        except asyncio.InvalidStateError:
            # Writing to a call that already ended.
            return _Broken(None)
    finally:
        if call is not None:
            call.cancel()
