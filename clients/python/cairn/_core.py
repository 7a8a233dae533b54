"""The base every API mixin builds on: the endpoints, the idempotency identity, the login, and
the retry loop every RPC goes through (``cairn_client::Client::call`` and ``send_write``).

Every call goes to the preferred endpoint (the last one that answered, or the leader a node
named) and transient failures are retried with jittered backoff until the retry budget is
spent. Each logical write takes one ``(client_id, sequence)`` pair and every retry of it sends
that same pair, so the cluster applies it at most once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from cairn import _meta as meta
from cairn._backoff import Backoff
from cairn._classify import Status, classify, status_of
from cairn._endpoints import Endpoints, Node
from cairn._login import Login
from cairn._proto.cairn.v1 import kv_pb2
from cairn._rpc import Unary
from cairn._sequence import Sequencer
from cairn.config import ClientConfig, ClientSettings
from cairn.errors import CairnError, InvalidArgument, OutcomeUnknown, RpcError, Timeout, Unavailable
from cairn.pending import PendingWrite

if TYPE_CHECKING:
    # Only for the checker: Python 3.10 has no typing.Unpack, and the runtime needs nothing.
    from typing_extensions import Unpack

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
T = TypeVar("T")


class _Headed(Protocol):
    """A write request: it carries an idempotency header."""

    @property
    def header(self) -> kv_pb2.RequestHeader: ...


H = TypeVar("H", bound=_Headed)


def with_header(request: H, header: kv_pb2.RequestHeader) -> H:
    """``request``, built (and its input checked) before the write took its sequence, with
    the write's idempotency ``header`` set in place: what a ``build`` of
    :meth:`ClientCore._write` returns."""
    request.header.CopyFrom(header)
    return request


#: Call metadata an attempt sends (the auth token, when logged in).
Metadata = tuple[tuple[str, str], ...] | None
#: One try of a call on one node: its result and the leader a forwarding follower named.
Attempt = Callable[[Node, float, Metadata], Awaitable[tuple[T, str | None]]]


class AttemptFailed(Exception):
    """An attempt that failed on the client's side (a short or stalled stream, a bad
    checksum, a silent connection), as the status it is classified by: retried or final
    like any answer from a node."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message)
        self.status = status


#: How much later than the client's own per-attempt limit the server's deadline is set, so the
#: server still drops abandoned work but does not give up before the client does.
SERVER_DEADLINE_MARGIN = 0.1

#: Codes of a final answer that may still hide an applied write (a server fault after the
#: write, or a connection the library reports as broken).
_UNKNOWN_OUTCOME_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def _outcome_unknown(e: CairnError) -> bool:
    """Whether a write's failure leaves its outcome unknown (``pending::outcome_unknown``):
    exhausted retries, or a server fault that may have come after the apply."""
    if isinstance(e, (Unavailable, Timeout)):
        return True
    return isinstance(e, RpcError) and e.code in _UNKNOWN_OUTCOME_CODES


class ClientCore:
    """Connection state and the retry loop. Use :class:`cairn.Client`, which adds the API."""

    def __init__(
        self,
        endpoints: str | Iterable[str],
        config: ClientConfig | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        """``endpoints``: ``host:port`` (or ``http(s)://host:port``) of any nodes, as a list or
        a comma-separated string. ``settings`` override fields of ``config`` (e.g.
        ``request_timeout=2.0``). No connection is made here: each endpoint connects on first
        use, so this succeeds even while nodes are down."""
        if isinstance(endpoints, str):
            addrs = [a for a in endpoints.split(",") if a.strip()]
        else:
            addrs = list(endpoints)
        cfg = config if config is not None else ClientConfig()
        if settings:
            try:
                cfg = dataclasses.replace(cfg, **settings)
            except TypeError as e:
                raise InvalidArgument(f"unknown client setting: {e}") from e
        self._config = cfg
        self._endpoints = Endpoints(addrs, cfg)
        self._sequencer = Sequencer()
        self._login = Login(cfg.credentials) if cfg.credentials is not None else None
        self._closed = False

    @classmethod
    async def connect(
        cls: type[_C],
        endpoints: str | Iterable[str],
        config: ClientConfig | None = None,
        **settings: Unpack[ClientSettings],
    ) -> _C:
        """A client for ``endpoints`` (see ``__init__``). Makes no connection yet: channels
        connect on first use, so this succeeds while nodes are down."""
        return cls(endpoints, config, **settings)

    @property
    def client_id(self) -> str:
        """This client's idempotency identity (random per client)."""
        return self._sequencer.client_id

    @property
    def config(self) -> ClientConfig:
        return self._config

    def endpoints(self) -> list[str]:
        """The known endpoints (configured ones first, then leader hints)."""
        return self._endpoints.addrs()

    async def close(self) -> None:
        """Closes every connection. Calls after this fail."""
        self._closed = True
        await self._endpoints.close()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- the retry loop ----

    async def _call(
        self,
        op: str,
        method: Unary[Req, Resp],
        request: Req,
        *,
        request_timeout: float | None = None,
        retry_deadline: float | None = None,
    ) -> Resp:
        """Runs ``method(request)`` on the preferred endpoint until it succeeds, fails for
        good, or the retry budget is spent. Every attempt sends ``request`` unchanged (so a
        write's idempotency header is the same on every retry)."""

        async def attempt(node: Node, per_try: float, md: Metadata) -> tuple[Resp, str | None]:
            return await self._attempt(node, method, request, per_try, md)

        return await self._call_with(
            op, attempt, request_timeout=request_timeout, retry_deadline=retry_deadline
        )

    async def _call_with(
        self,
        op: str,
        attempt: Attempt[T],
        *,
        request_timeout: float | None = None,
        retry_deadline: float | None = None,
    ) -> T:
        """The retry loop of every call, unary or streamed: ``attempt(node, per_try,
        metadata)`` runs one try on a node and returns its result and the leader a forwarding
        follower named; a gRPC error or an :class:`AttemptFailed` is classified into a typed
        error or a retry (``cairn_client::Client::call_with``)."""
        if self._closed:
            raise Unavailable(f"{op}: the client is closed")
        cfg = self._config
        per_call = cfg.request_timeout if request_timeout is None else request_timeout
        budget = cfg.retry_deadline if retry_deadline is None else retry_deadline
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        backoff: Backoff | None = None
        last_failure: tuple[str, bool] | None = None
        just_redirected = False
        logged_in_again = False
        while True:
            started = loop.time()
            remaining = deadline - started
            if remaining <= 0:
                break
            per_try = min(per_call, remaining)
            idx, node = self._endpoints.pick()
            token: str | None = None
            try:
                if self._login is not None:
                    token = await self._login.token(node, per_try + SERVER_DEADLINE_MARGIN)
                md = ((meta.TOKEN, token),) if token is not None else None
                result, leader = await attempt(node, per_try, md)
            except grpc.aio.AioRpcError as e:
                error: Exception = e
                status = status_of(e)
            except AttemptFailed as e:
                error = e
                status = e.status
            else:
                # A follower that served the call by forwarding names the leader: go there
                # next time and save the extra hop.
                if leader:
                    self._endpoints.on_leader_hint(idx, leader)
                else:
                    self._endpoints.on_success(idx)
                return result
            # An expired or revoked token: log in again, once, at once.
            if (
                self._login is not None
                and status.code == grpc.StatusCode.UNAUTHENTICATED
                and not logged_in_again
            ):
                self._login.forget(token)
                logged_in_again = True
                continue
            verdict = classify(status)
            if isinstance(verdict, CairnError):
                # Chained, so a traceback still shows gRPC's own debug details.
                raise verdict from error
            # A node that answered UNAVAILABLE answered, however late: only a call that
            # produced no answer within its attempt counts as a timeout.
            timed_out = verdict.timed_out or (
                status.code != grpc.StatusCode.UNAVAILABLE and loop.time() - started >= per_try
            )
            nxt = self._endpoints.on_failure(idx, verdict.leader)
            last_failure = (f"{node.addr}: {verdict.cause}", timed_out)
            # A node that names the leader is usually right: go there at once, but only once
            # in a row, so two nodes pointing at each other still back off.
            if verdict.leader and nxt != idx and not just_redirected:
                just_redirected = True
                continue
            just_redirected = False
            if backoff is None:
                backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
            delay = min(backoff.next_delay(), max(0.0, deadline - loop.time()))
            await asyncio.sleep(delay)
        if last_failure is not None and not last_failure[1]:
            raise Unavailable(f"cluster unavailable (retries exhausted): {last_failure[0]}")
        cause = f": {last_failure[0]}" if last_failure is not None else ""
        raise Timeout(f"request timed out{cause}")

    async def _attempt(
        self,
        node: Node,
        method: Unary[Req, Resp],
        request: Req,
        per_try: float,
        metadata: Metadata,
    ) -> tuple[Resp, str | None]:
        """One attempt on one node: the response and the leader a forwarding follower named.
        gRPC enforces the deadline (per_try plus the margin) locally and sends it along."""
        call = node.method(method)(
            request, timeout=per_try + SERVER_DEADLINE_MARGIN, metadata=metadata
        )
        response = await call
        leader = None
        headers = await call.initial_metadata()
        if headers:
            value = headers.get(meta.LEADER)
            if isinstance(value, str) and value.strip():
                leader = value.strip()
        return response, leader

    # ---- writes ----

    async def _write(
        self,
        op: str,
        method: Unary[Req, Resp],
        build: Callable[[kv_pb2.RequestHeader], Req],
        convert: Callable[[Resp], T],
        *,
        request_timeout: float | None = None,
        retry_deadline: float | None = None,
    ) -> T:
        """One logical write: a fresh idempotency header, ``build`` makes the request around
        it, and the retry loop sends it unchanged until a definite answer. Exhausted retries
        (or a server fault) become OutcomeUnknown holding a resumable PendingWrite; the
        sequence stays in flight until that is resumed, released or dropped. A write the
        server may hold (a blocking acquire or campaign) passes longer ``request_timeout`` and
        ``retry_deadline`` than the configured ones."""
        timeouts = {"request_timeout": request_timeout, "retry_deadline": retry_deadline}
        header = self._sequencer.next_header()
        sequence = header.sequence
        try:
            request = build(header)
        except BaseException:
            self._sequencer.finish(sequence)
            raise
        try:
            response = await self._call(op, method, request, **timeouts)
        except CairnError as e:
            if not _outcome_unknown(e):
                self._sequencer.finish(sequence)
                raise
            pending = self._pending(op, method, request, sequence, convert, str(e), timeouts)
            raise OutcomeUnknown(pending) from e
        except BaseException:
            # Cancelled (or a bug): nobody will retry this write.
            self._sequencer.finish(sequence)
            raise
        self._sequencer.finish(sequence)
        return convert(response)

    def _pending(
        self,
        op: str,
        method: Unary[Req, Resp],
        request: Req,
        sequence: int,
        convert: Callable[[Resp], T],
        cause: str,
        timeouts: dict[str, float | None],
    ) -> PendingWrite[T]:
        async def send() -> T:
            return convert(await self._call(op, method, request, **timeouts))

        return PendingWrite(
            op=op,
            request=request,
            client_id=self._sequencer.client_id,
            sequence=sequence,
            cause=cause,
            send=send,
            release=self._sequencer.finish,
        )

    async def resume(self, pending: PendingWrite[T]) -> T:
        """Sends a write whose outcome was unknown again, with its original idempotency key:
        if an earlier attempt was applied, this returns that attempt's result instead of
        applying the write twice. Raises OutcomeUnknown (with the same pending write) if the
        outcome is still unknown."""
        if pending.released:
            raise InvalidArgument(f"{pending!r} was released; it can no longer be resumed")
        try:
            result = await pending._send()
        except CairnError as e:
            if not _outcome_unknown(e):
                pending.release()
                raise
            pending.cause = str(e)
            raise OutcomeUnknown(pending) from e
        except BaseException:
            pending.release()
            raise
        pending.release()
        return result


_C = TypeVar("_C", bound=ClientCore)
