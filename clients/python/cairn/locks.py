"""Distributed locks with fencing tokens (``cairn_client`` ``coord::lock``).

::

    async with client.lock("jobs/reindex", ttl=10.0) as guard:
        await client.put("jobs/reindex/progress", "42%", fence=guard.fence)
        if guard.lost.is_set():
            ...  # the lease could not be renewed in time: stop acting as the holder

- :meth:`LocksApi.lock` waits in the lock's FIFO line (as long as ``wait`` allows:
  WaitTimeout then) and :meth:`LocksApi.try_lock` tries once (None when held). Both return a
  :class:`LockGuard`, awaited or as ``async with`` (released on exit, also on cancellation).
- The guard keeps the lock's lease alive in the background and sets ``guard.lost`` when it
  could not (the cluster says the lease ended, or no renewal succeeded for a whole TTL).
- ``guard.fence`` is the lock's fencing token: writes that carry it (``fence=``) are refused
  with StaleFence, writing nothing, once the lock has moved on to another holder.
- Locks are not re-entrant: the same owner asking again for a lock it holds gets the same
  grant (same token), and one release frees it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cairn import _methods as m
from cairn._coord import (
    LeaseKeeper,
    end_in_background,
    end_on_exit,
    millis,
    new_owner,
    wait_chunk,
    wait_timeouts,
)
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import coord_pb2 as pb
from cairn.errors import WaitTimeout
from cairn.fence import Fence
from cairn.leases import LeaseInfo, LeasesApi, lease_of

__all__ = ["Holder", "LockGuard", "LockState", "LocksApi"]

_log = logging.getLogger(__name__)

#: Default TTL of the lease made for a lock or candidacy, in seconds.
DEFAULT_TTL = 10.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Holder:
    """The holder of a lock or leader of an election, or one waiting in line."""

    #: Lock owner or election candidate.
    owner: str
    lease_id: int
    #: Fencing token (lock) or term (election); 0 while waiting.
    token: int
    #: The election value (empty for locks).
    value: bytes = b""
    #: When it got the lock or leadership, or joined the line (leader's clock, ms).
    since_ms: int = 0

    @classmethod
    def from_pb(cls, h: pb.Holder) -> Holder:
        return cls(h.owner, h.lease_id, h.token, h.value, h.since_ms)


@dataclass(frozen=True, slots=True)
class LockState:
    """A lock's holder and its line of waiters (next first)."""

    name: str
    holder: Holder | None
    waiters: list[Holder] = field(default_factory=list)

    @classmethod
    def from_pb(cls, lock: pb.Lock) -> LockState:
        holder = Holder.from_pb(lock.holder) if lock.HasField("holder") else None
        return cls(lock.name, holder, [Holder.from_pb(w) for w in lock.waiters])


@dataclass(frozen=True, slots=True)
class _Acquired:
    token: int
    lease_id: int


class LockGuard:
    """A held lock. Leave ``async with`` or call :meth:`release` to release it; a guard that
    is collected unreleased is released in the background (like the Rust guard's drop)."""

    def __init__(
        self,
        client: LocksApi,
        name: str,
        owner: str,
        token: int,
        lease_id: int,
        keeper: LeaseKeeper | None,
    ) -> None:
        self._client = client
        self._name = name
        self._owner = owner
        self._token = token
        self._lease_id = lease_id
        # The lease was made for this lock: the guard keeps it alive, and releasing revokes
        # it (which releases the lock in the same step).
        self._keeper = keeper
        self._lost = keeper.lost if keeper is not None else asyncio.Event()
        self._released = False
        self._finalizer = weakref.finalize(
            self,
            end_in_background,
            client,
            keeper,
            functools.partial(_release, client, name, owner, token, self._own_lease()),
        )
        self._finalizer.atexit = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def token(self) -> int:
        """The fencing token: strictly larger for every grant of this lock."""
        return self._token

    @property
    def lease_id(self) -> int:
        return self._lease_id

    @property
    def fence(self) -> Fence:
        """The fence for writes made under this lock (``fence=`` of put, transition, ...)."""
        return Fence.for_lock(self._name, self._token)

    @property
    def lost(self) -> asyncio.Event:
        """Set when the lock may have been lost: its lease ended, or could not be renewed for
        a whole TTL. Never set for a lock on the caller's own lease (``lease=``), which the
        caller keeps alive."""
        return self._lost

    def is_lost(self) -> bool:
        return self._lost.is_set()

    @property
    def released(self) -> bool:
        return self._released

    def _own_lease(self) -> int | None:
        return self._lease_id if self._keeper is not None else None

    async def release(self) -> None:
        """Releases the lock now (revoking its own lease, or releasing it from the caller's
        lease). NotHolder or LeaseNotFound mean it had been lost already. A second call does
        nothing."""
        if self._released:
            return
        self._released = True
        self._finalizer.detach()
        own = self._own_lease()
        if self._keeper is not None:
            self._keeper.stop()
        await _release(self._client, self._name, self._owner, self._token, own)

    async def __aenter__(self) -> LockGuard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._release_on_exit()

    async def _release_on_exit(self) -> None:
        """Release on leaving ``async with``: shielded, so a cancellation of the caller (the
        usual way to get here with an exception) cannot cut it short; a failure is logged,
        not raised over the body's own outcome (an unreleased lease ends after its TTL)."""
        if not self._released:
            await end_on_exit(self.release, f"releasing lock {self._name}")

    def __repr__(self) -> str:
        return (
            f"LockGuard(name={self._name!r}, owner={self._owner!r}, token={self._token}, "
            f"lease_id={self._lease_id}, lost={self.is_lost()}, released={self._released})"
        )


async def _release(
    client: LocksApi, name: str, owner: str, token: int, own_lease: int | None
) -> None:
    if own_lease is not None:
        await client.revoke_lease(own_lease)
    else:
        await client.release_lock(name, owner, token)


class LockAcquire(Generic[T]):
    """What :meth:`LocksApi.lock` and :meth:`LocksApi.try_lock` return: ``await`` it for the
    guard, or use it as ``async with`` to hold the lock for the block."""

    __slots__ = ("_coro", "_guard")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._guard: LockGuard | None = None

    def __await__(self) -> Generator[Any, None, T]:
        result: T = yield from self._coro.__await__()
        return result

    async def __aenter__(self) -> T:
        result: T = await self._coro
        if isinstance(result, LockGuard):
            self._guard = result
        return result

    async def __aexit__(self, *exc: object) -> None:
        if self._guard is not None:
            await self._guard._release_on_exit()


class LocksApi(LeasesApi):
    def lock(
        self,
        name: str,
        *,
        ttl: float = DEFAULT_TTL,
        wait: float | None = None,
        lease: int | None = None,
        owner: str | None = None,
    ) -> LockAcquire[LockGuard]:
        """Acquires lock ``name``, waiting in line (FIFO) up to ``wait`` seconds (None: until
        granted; WaitTimeout when it passes). ``ttl``: the lease made for the lock (if this
        client stops renewing it, the lock is released this long after the last renewal);
        ``lease``: bind the lock to this existing lease instead (the caller keeps it alive);
        ``owner``: the owner id (default: unique per acquire)."""
        return LockAcquire(self._lock(name, ttl, wait, lease, owner))

    def try_lock(
        self,
        name: str,
        *,
        ttl: float = DEFAULT_TTL,
        lease: int | None = None,
        owner: str | None = None,
    ) -> LockAcquire[LockGuard | None]:
        """Acquires lock ``name`` if nobody holds it; None when someone does. Options as for
        :meth:`lock`."""
        return LockAcquire(self._try_lock(name, ttl, lease, owner))

    async def _lock(
        self, name: str, ttl: float, wait: float | None, lease: int | None, owner: str | None
    ) -> LockGuard:
        who = owner if owner is not None else new_owner(self)
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + millis("wait", wait) / 1000
        while True:
            chunk = wait_chunk(self)
            if deadline is not None:
                chunk = min(chunk, deadline - loop.time())
            started = loop.time()
            try:
                got = await self._acquire(name, who, ttl, lease, max(chunk, 0.001))
            except WaitTimeout:
                if deadline is None or loop.time() < deadline:
                    continue
                raise
            if isinstance(got, _Acquired):
                return self._guard(name, who, got, ttl, lease, started)
            # A blocking acquire is granted or times out; "busy" is for try-once only.
            raise bad_reply(f"lock {name}: busy, to a blocking acquire")

    async def _try_lock(
        self, name: str, ttl: float, lease: int | None, owner: str | None
    ) -> LockGuard | None:
        who = owner if owner is not None else new_owner(self)
        started = asyncio.get_running_loop().time()
        got = await self._acquire(name, who, ttl, lease, 0.0)
        if isinstance(got, _Acquired):
            return self._guard(name, who, got, ttl, lease, started)
        return None

    def _guard(
        self,
        name: str,
        owner: str,
        got: _Acquired,
        ttl: float,
        lease: int | None,
        asked_at: float,
    ) -> LockGuard:
        keeper = None
        if lease is None:
            now = asyncio.get_running_loop().time()
            # The lease was made no earlier than we asked, and while we waited in line the
            # node renewed it at least every third of its TTL.
            valid = max(asked_at + ttl, now + ttl - ttl / 3)
            keeper = LeaseKeeper(self, got.lease_id, ttl, valid)
        return LockGuard(self, name, owner, got.token, got.lease_id, keeper)

    async def _acquire(
        self, name: str, owner: str, ttl: float, lease: int | None, wait: float
    ) -> _Acquired | Holder:
        """One Acquire: wait 0 tries once (a Holder when busy)."""
        wait_ms = millis("wait", wait)
        ttl_ms = millis("ttl", ttl)

        def build(h: Any) -> pb.AcquireLockRequest:
            req = pb.AcquireLockRequest(header=h, name=name, owner=owner, wait_timeout_ms=wait_ms)
            if lease is not None:
                req.lease_id = lease
            else:
                req.ttl_ms = ttl_ms
            return req

        def convert(r: pb.AcquireLockResponse) -> _Acquired | Holder:
            if not r.acquired and r.HasField("holder"):
                return Holder.from_pb(r.holder)
            return _Acquired(r.token, r.lease_id)

        return await self._write(
            "acquire_lock", m.ACQUIRE_LOCK, build, convert, **wait_timeouts(self, wait)
        )

    async def release_lock(self, name: str, owner: str, token: int) -> Holder | None:
        """Releases lock ``name`` held by ``owner`` with ``token``; returns who holds it now
        (the next in line), if anyone. NotHolder if that is not (or no longer) the case."""
        return await self._write(
            "release_lock",
            m.RELEASE_LOCK,
            lambda h: pb.ReleaseLockRequest(header=h, name=name, owner=owner, token=token),
            lambda r: Holder.from_pb(r.next) if r.HasField("next") else None,
        )

    async def refresh_lock(self, name: str, owner: str, token: int) -> LeaseInfo:
        """Renews the lease of lock ``name`` if ``owner`` still holds it with ``token``
        (NotHolder otherwise)."""
        return await self._write(
            "refresh_lock",
            m.REFRESH_LOCK,
            lambda h: pb.RefreshLockRequest(header=h, name=name, owner=owner, token=token),
            lambda r: lease_of(r.lease if r.HasField("lease") else None),
        )

    async def lock_state(self, name: str, *, serializable: bool = False) -> LockState | None:
        """Lock ``name``'s holder and waiters; None when nobody holds or waits for it."""
        req = pb.LockHolderRequest(name=name, serializable=serializable)
        resp = await self._call("lock_holder", m.LOCK_HOLDER, req)
        return LockState.from_pb(resp.lock) if resp.HasField("lock") else None

    async def locks(
        self, prefix: str = "", *, limit: int = 0, serializable: bool = False
    ) -> list[LockState]:
        """Up to ``limit`` locks whose names start with ``prefix`` (0: the server's page size,
        1000), in name order."""
        req = pb.ListLocksRequest(prefix=prefix, limit=limit, serializable=serializable)
        resp = await self._call("list_locks", m.LIST_LOCKS, req)
        return [LockState.from_pb(lock) for lock in resp.locks]
