"""Leader elections (``cairn_client`` ``coord::election``).

::

    leadership = await client.campaign("pipeline-coordinator", b"node-7", ttl=10.0)
    async with leadership:                        # resigns on exit
        while leadership.is_leader():
            await client.put("coordinator/plan", plan, fence=leadership.fence)
            ...

    async for change in client.observe("pipeline-coordinator"):
        print(change.leader)                      # a Holder, or None while nobody leads

- :meth:`ElectionsApi.campaign` waits in line until elected (as long as ``wait`` allows:
  WaitTimeout then) and returns a :class:`Leadership`: its lease is kept alive in the
  background, ``lost`` is set (and ``is_leader()`` turns False) when the lease is lost or
  another leader or term is observed, and its term is a fence for the leader's writes.
- :meth:`ElectionsApi.observe` follows an election: first the leadership at subscription,
  then one change per new leader, term, proclaimed value, or no leader. It reconnects to
  another node by itself and never repeats a change across a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from cairn import _methods as m
from cairn._backoff import Backoff
from cairn._classify import classify, status_of
from cairn._coord import (
    LeaseKeeper,
    cancel_task,
    cancelling,
    closed,
    end_in_background,
    end_on_exit,
    forget_token,
    login_token,
    millis,
    new_owner,
    observe_call,
    spawn,
    token_metadata,
    wait_chunk,
    wait_timeouts,
)
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import coord_pb2 as pb
from cairn.errors import CairnError, Timeout, Unavailable, WaitTimeout
from cairn.fence import Fence
from cairn.kv import Bytes, to_bytes
from cairn.leases import LeasesApi
from cairn.locks import DEFAULT_TTL, Holder

__all__ = ["ElectionObserver", "ElectionsApi", "LeaderChange", "LeaderState", "Leadership"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaderState:
    """An election's leader and the candidates in line (next first)."""

    leader: Holder | None
    candidates: list[Holder] = field(default_factory=list)
    #: Last revision applied on the node that answered.
    revision: int = 0


@dataclass(frozen=True, slots=True)
class LeaderChange:
    """One observed change of an election's leadership: a new leader (or term), a proclaimed
    value, or no leader (``leader`` None)."""

    leader: Holder | None
    #: The revision the observing node had applied when it saw the change.
    revision: int


_Seen = tuple[str, int, bytes] | None


class ElectionObserver:
    """An election's leader changes, as an async iterator (``async for change in ...``) or by
    :meth:`next`. Reconnects (to any node) by itself; fails only when the cluster stays
    unreachable past the client's retry deadline, or refuses the election name. Close it with
    :meth:`aclose` (or ``async with``) when done."""

    def __init__(self, client: ElectionsApi, election: str) -> None:
        self._client = client
        self._election = election
        self._call: grpc.aio.UnaryStreamCall[pb.ObserveRequest, pb.ObserveResponse] | None = None
        self._idx = 0
        self._first: pb.ObserveResponse | None = None
        # (leader, term, value) last returned, in a 1-tuple (None inside means "no leader").
        self._last: tuple[_Seen] | None = None
        self._closed = False

    @property
    def election(self) -> str:
        return self._election

    async def next(self) -> LeaderChange:
        """The next change (the first one is the leadership now)."""
        cfg = self._client.config
        backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
        while True:
            if self._closed:
                raise StopAsyncIteration
            try:
                if self._call is None:
                    await self._open()
                call = self._call
                assert call is not None
                if self._first is not None:
                    msg: object = self._first
                    self._first = None
                else:
                    msg = await call.read()
            except grpc.aio.AioRpcError as e:
                self._drop_call()
                verdict = classify(status_of(e))
                if isinstance(verdict, CairnError):
                    raise verdict from e
                self._client._endpoints.on_failure(self._idx, verdict.leader)
                await asyncio.sleep(backoff.next_delay())
                continue
            except asyncio.CancelledError:
                # A closed client cancels its streams: that is not the caller's cancellation.
                self._drop_call()
                if closed(self._client) and not cancelling():
                    raise Unavailable("observe: the client is closed") from None
                raise
            if msg is grpc.aio.EOF or not isinstance(msg, pb.ObserveResponse):
                self._drop_call()
                continue
            leader = Holder.from_pb(msg.leader) if msg.HasField("leader") else None
            seen: _Seen = None if leader is None else (leader.owner, leader.token, leader.value)
            if self._last != (seen,):
                self._last = (seen,)
                return LeaderChange(leader, msg.revision)

    async def _open(self) -> None:
        """Opens the stream on the preferred node, failing over like the retry loop, until
        its first message arrives or the retry deadline passes."""
        client = self._client
        if closed(client):
            raise Unavailable("observe: the client is closed")
        cfg = client.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.retry_deadline
        backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
        request = pb.ObserveRequest(election=self._election)
        last = "no attempt"
        timed_out = False
        logged_in_again = False
        while loop.time() < deadline:
            idx, node = client._endpoints.pick()
            per_try = min(cfg.request_timeout, max(0.001, deadline - loop.time()))
            token: str | None = None
            call = None
            leader: str | None = None
            try:
                token = await login_token(client, node, per_try)
                call = observe_call(node, request, token_metadata(token))
                first = await asyncio.wait_for(call.read(), per_try)
                if first is grpc.aio.EOF or not isinstance(first, pb.ObserveResponse):
                    raise bad_reply("observe stream ended before its first message")
            except grpc.aio.AioRpcError as e:
                if call is not None:
                    call.cancel()
                status = status_of(e)
                if (
                    client._login is not None
                    and status.code == grpc.StatusCode.UNAUTHENTICATED
                    and not logged_in_again
                ):
                    forget_token(client, e, token)
                    logged_in_again = True
                    continue
                verdict = classify(status)
                if isinstance(verdict, CairnError):
                    raise verdict from e
                leader, last, timed_out = verdict.leader, verdict.cause, verdict.timed_out
            except asyncio.TimeoutError:
                if call is not None:
                    call.cancel()
                last, timed_out = "no first message in time", True
            else:
                client._endpoints.on_success(idx)
                self._call, self._idx, self._first = call, idx, first
                return
            nxt = client._endpoints.on_failure(idx, leader)
            if leader and nxt != idx:
                continue
            await asyncio.sleep(min(backoff.next_delay(), max(0.0, deadline - loop.time())))
        if timed_out:
            raise Timeout(f"observe {self._election}: {last}")
        raise Unavailable(f"observe {self._election}: cluster unavailable: {last}")

    def _drop_call(self) -> None:
        call, self._call, self._first = self._call, None, None
        if call is not None:
            call.cancel()

    async def aclose(self) -> None:
        """Stops observing (the stream is cancelled)."""
        self._closed = True
        self._drop_call()

    def __aiter__(self) -> AsyncIterator[LeaderChange]:
        return self

    async def __anext__(self) -> LeaderChange:
        return await self.next()

    async def __aenter__(self) -> ElectionObserver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        call = self._call
        if call is not None:
            with contextlib.suppress(Exception):
                call.cancel()


class Leadership:
    """This candidate leads an election in one term. Leave ``async with`` or call
    :meth:`resign` to step down; a leadership collected without resigning resigns in the
    background (like the Rust one's drop)."""

    def __init__(
        self,
        client: ElectionsApi,
        election: str,
        candidate: str,
        term: int,
        lease_id: int,
        keeper: LeaseKeeper | None,
    ) -> None:
        self._client = client
        self._election = election
        self._candidate = candidate
        self._term = term
        self._lease_id = lease_id
        self._keeper = keeper
        self._lost = asyncio.Event()
        self._resigned = False
        self._monitor = spawn(
            _monitor(
                client.observe(election),
                keeper.lost if keeper is not None else None,
                candidate,
                term,
                self._lost,
            )
        )
        own = lease_id if keeper is not None else None
        self._finalizer = weakref.finalize(
            self,
            _resign_in_background,
            client,
            keeper,
            self._monitor,
            functools.partial(_resign, client, election, candidate, term, own),
        )
        self._finalizer.atexit = False

    @property
    def election(self) -> str:
        return self._election

    @property
    def candidate(self) -> str:
        return self._candidate

    @property
    def term(self) -> int:
        """The term: the fencing token of this leadership, larger for every new leader."""
        return self._term

    @property
    def lease_id(self) -> int:
        return self._lease_id

    @property
    def fence(self) -> Fence:
        """The fence for writes made as this leader (``fence=`` of put, transition, ...)."""
        return Fence.for_election(self._election, self._term)

    @property
    def lost(self) -> asyncio.Event:
        """Set when this leadership is over for sure or may be: its lease is lost (or could
        not be renewed for a whole TTL), or another leader or term was observed."""
        return self._lost

    def is_leader(self) -> bool:
        """False once ``lost`` is set or after :meth:`resign`."""
        return not self._lost.is_set() and not self._resigned

    def changes(self) -> ElectionObserver:
        """A new stream of the election's leader changes."""
        return self._client.observe(self._election)

    async def proclaim(self, value: Bytes) -> int:
        """Sets the value the leader publishes (seen by ``leader()`` and observers); returns
        the revision. NotHolder if this term is over."""
        return await self._client.proclaim(self._election, self._candidate, self._term, value)

    async def resign(self) -> None:
        """Steps down now (revoking the candidacy's own lease, or resigning from the
        caller's); the next candidate in line is elected. A second call does nothing."""
        if self._resigned:
            return
        self._resigned = True
        self._finalizer.detach()
        cancel_task(self._monitor)
        own = None
        if self._keeper is not None:
            self._keeper.stop()
            own = self._lease_id
        await _resign(self._client, self._election, self._candidate, self._term, own)

    async def __aenter__(self) -> Leadership:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._resigned:
            await end_on_exit(self.resign, f"resigning {self._election}")

    def __repr__(self) -> str:
        return (
            f"Leadership(election={self._election!r}, candidate={self._candidate!r}, "
            f"term={self._term}, lease_id={self._lease_id}, leader={self.is_leader()})"
        )


async def _resign(
    client: ElectionsApi, election: str, candidate: str, term: int, own_lease: int | None
) -> None:
    if own_lease is not None:
        # Revoking the candidacy's own lease ends the leadership in the same step.
        await client.revoke_lease(own_lease)
    else:
        await client.resign(election, candidate, term)


def _resign_in_background(
    client: ElectionsApi,
    keeper: LeaseKeeper | None,
    monitor: asyncio.Task[Any],
    end: Callable[[], Coroutine[Any, Any, Any]],
) -> None:
    """A leadership collected without resigning: stop watching it, then resign."""
    cancel_task(monitor)
    end_in_background(client, keeper, end)


async def _monitor(
    observer: ElectionObserver,
    lease_lost: asyncio.Event | None,
    candidate: str,
    term: int,
    lost: asyncio.Event,
) -> None:
    """Sets ``lost`` when the lease is lost or another leader or term shows up."""
    lease_gone = spawn(lease_lost.wait()) if lease_lost is not None else None
    change: asyncio.Task[LeaderChange] | None = None
    try:
        while True:
            change = spawn(observer.next())
            waiting: set[asyncio.Task[Any]] = {change}
            if lease_gone is not None:
                waiting.add(lease_gone)
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if change not in done:
                change.cancel()
                break
            failure = "cancelled" if change.cancelled() else change.exception()
            if failure is not None:
                # Only a final error gets here (the observer reconnects by itself; a closed
                # client cancels its stream): the lease keeper still decides.
                _log.debug("leadership monitor of %s: %s", observer.election, failure)
                if lease_gone is not None:
                    await lease_gone
                    break
                return
            h = change.result().leader
            if h is not None and h.owner == candidate and h.token == term:
                continue
            break
        lost.set()
    finally:
        for t in (change, lease_gone):
            if t is not None:
                t.cancel()
        await observer.aclose()


class ElectionsApi(LeasesApi):
    async def campaign(
        self,
        name: str,
        value: Bytes = b"",
        *,
        ttl: float = DEFAULT_TTL,
        wait: float | None = None,
        lease: int | None = None,
        candidate: str | None = None,
    ) -> Leadership:
        """Campaigns in election ``name`` with ``value`` and waits in line until elected (up
        to ``wait`` seconds; None: until elected; WaitTimeout when it passes). ``ttl``: the
        lease made for the candidacy (a leader that stops renewing it is replaced this long
        after its last renewal); ``lease``: bind it to this existing lease instead (the caller
        keeps it alive); ``candidate``: the candidate id (default: unique per campaign)."""
        v = to_bytes("value", value)
        who = candidate if candidate is not None else new_owner(self)
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + millis("wait", wait) / 1000
        while True:
            chunk = wait_chunk(self)
            if deadline is not None:
                chunk = min(chunk, deadline - loop.time())
            asked_at = loop.time()
            try:
                term, lease_id = await self._campaign_once(name, who, v, ttl, lease, chunk)
                break
            except WaitTimeout:
                if deadline is None or loop.time() < deadline:
                    continue
                raise
        keeper = None
        if lease is None:
            now = loop.time()
            # Made no earlier than we asked, renewed by the node every third of its TTL.
            valid = max(asked_at + ttl, now + ttl - ttl / 3)
            keeper = LeaseKeeper(self, lease_id, ttl, valid)
        return Leadership(self, name, who, term, lease_id, keeper)

    async def _campaign_once(
        self, name: str, candidate: str, value: bytes, ttl: float, lease: int | None, wait: float
    ) -> tuple[int, int]:
        # Never 0: that would ask for the server's maximum wait.
        wait_ms = max(1, millis("wait", max(wait, 0.0)))
        ttl_ms = millis("ttl", ttl)

        def build(h: Any) -> pb.CampaignRequest:
            req = pb.CampaignRequest(
                header=h, election=name, candidate=candidate, value=value, wait_timeout_ms=wait_ms
            )
            if lease is not None:
                req.lease_id = lease
            else:
                req.ttl_ms = ttl_ms
            return req

        return await self._write(
            "campaign",
            m.CAMPAIGN,
            build,
            lambda r: (r.term, r.lease_id),
            **wait_timeouts(self, wait),
        )

    async def leader(self, name: str, *, serializable: bool = False) -> LeaderState:
        """The leader of election ``name`` (if any) and the candidates in line."""
        req = pb.LeaderRequest(election=name, serializable=serializable)
        resp = await self._call("leader", m.LEADER, req)
        leader = Holder.from_pb(resp.leader) if resp.HasField("leader") else None
        return LeaderState(leader, [Holder.from_pb(c) for c in resp.candidates], resp.revision)

    def observe(self, name: str) -> ElectionObserver:
        """Follows election ``name``: the first change is the leadership now, then one per
        change. ``async for change in client.observe(name): ...``"""
        return ElectionObserver(self, name)

    async def resign(self, name: str, candidate: str, term: int) -> Holder | None:
        """Ends ``candidate``'s leadership of election ``name`` in ``term`` (the next in line
        is elected, and returned), or with term 0 withdraws its candidacy while it waits.
        NotHolder if it does not lead in that term."""
        return await self._write(
            "resign",
            m.RESIGN,
            lambda h: pb.ResignRequest(header=h, election=name, candidate=candidate, term=term),
            lambda r: Holder.from_pb(r.next) if r.HasField("next") else None,
        )

    async def proclaim(self, name: str, candidate: str, term: int, value: Bytes) -> int:
        """Sets the leader's value, if ``candidate`` leads election ``name`` in ``term``;
        returns the revision."""
        v = to_bytes("value", value)
        return await self._write(
            "proclaim",
            m.PROCLAIM,
            lambda h: pb.ProclaimRequest(
                header=h, election=name, candidate=candidate, term=term, value=v
            ),
            lambda r: r.revision,
        )
