"""Leases (``cairn_client`` ``coord::lease``, ``coord::keeper``): grant, revoke, keep alive in
the background, time-to-live with what a lease keeps alive, and the list of live leases.

A lease lives until it is revoked or until it is not renewed for its TTL; ending it releases
everything attached to it (locks held or waited for, leaderships and candidacies) at once,
retries or fails the task runs claimed under it, and orphans the workflows owned under it.
Grant and revoke are writes with idempotency headers like every write.

::

    lease = await client.grant_lease(10.0)
    async with client.keep_alive(lease) as ka:     # renewed every third of the TTL
        ...                                         # ka.lost fires if it could not be
    await client.revoke_lease(lease.id)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from cairn import _methods as m
from cairn._coord import LeaseKeeper, millis
from cairn._core import ClientCore
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import coord_pb2 as pb

__all__ = ["KeepAlive", "LeaseAttachment", "LeaseDetails", "LeaseInfo", "LeasesApi"]


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease as the cluster answered it."""

    id: int
    #: The TTL, in seconds.
    ttl: float
    #: The cluster leader's clock (ms since the Unix epoch) after which the lease may end.
    expires_ms: int
    #: Seconds left when the answering node looked (by its clock).
    remaining: float

    @classmethod
    def from_pb(cls, lease: pb.Lease) -> LeaseInfo:
        return cls(lease.id, lease.ttl_ms / 1000, lease.expires_ms, lease.remaining_ms / 1000)


@dataclass(frozen=True, slots=True)
class LeaseAttachment:
    """Something a lease keeps alive: exactly one of ``lock``, ``election`` (with ``owner``,
    the lock owner or election candidate), ``key`` (put with the lease through the etcd
    API), ``task`` (a claimed run, as ``"<workflow id>/<task id>"``) and ``workflow`` (owned
    under the lease) is set."""

    lock: str | None = None
    election: str | None = None
    key: bytes | None = None
    owner: str = ""
    task: str | None = None
    workflow: str | None = None

    @classmethod
    def from_pb(cls, a: pb.LeaseAttachment) -> LeaseAttachment | None:
        which = a.WhichOneof("target")
        if which == "lock":
            return cls(lock=a.lock, owner=a.owner)
        if which == "election":
            return cls(election=a.election, owner=a.owner)
        if which == "key":
            return cls(key=a.key)
        if which == "task":
            return cls(task=a.task)
        if which == "workflow":
            return cls(workflow=a.workflow)
        return None


@dataclass(frozen=True, slots=True)
class LeaseDetails:
    """A lease and what it keeps alive."""

    lease: LeaseInfo
    attached: list[LeaseAttachment] = field(default_factory=list)
    #: Last revision applied on the node that answered.
    revision: int = 0


def lease_of(resp_lease: pb.Lease | None) -> LeaseInfo:
    if resp_lease is None:
        raise bad_reply("answer without its lease")
    return LeaseInfo.from_pb(resp_lease)


class KeepAlive:
    """A lease kept alive in the background (:meth:`LeasesApi.keep_alive`). :meth:`stop` (or
    leaving ``async with``) stops the renewals; the lease then ends one TTL after the last one.
    ``lost`` is set when the lease is lost: the cluster says it ended, or no renewal succeeded
    for a whole TTL."""

    __slots__ = ("_keeper",)

    def __init__(self, keeper: LeaseKeeper) -> None:
        self._keeper = keeper

    @property
    def lease_id(self) -> int:
        return self._keeper.lease_id

    @property
    def lost(self) -> asyncio.Event:
        return self._keeper.lost

    def is_lost(self) -> bool:
        return self._keeper.lost.is_set()

    def stop(self) -> None:
        self._keeper.stop()

    async def __aenter__(self) -> KeepAlive:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KeepAlive(lease_id={self.lease_id}, lost={self.is_lost()})"


class LeasesApi(ClientCore):
    async def grant_lease(self, ttl: float, *, id: int = 0) -> LeaseInfo:
        """Grants a lease with this TTL in seconds (within the cluster's bounds, 1 s - 1 h by
        default). It lives until revoked or until it is not kept alive for ``ttl`` (see
        :meth:`keep_alive`). ``id`` 0 lets the cluster choose it."""
        ttl_ms = millis("ttl", ttl)
        return await self._write(
            "grant_lease",
            m.GRANT_LEASE,
            lambda h: pb.LeaseGrantRequest(header=h, ttl_ms=ttl_ms, id=id),
            lambda r: lease_of(r.lease if r.HasField("lease") else None),
        )

    async def revoke_lease(self, id: int) -> int:
        """Ends lease ``id`` now, releasing every lock and leadership it holds (the next in
        line gets each) and leaving every line it waits in; returns the revision.
        LeaseNotFound if it is gone."""
        return await self._write(
            "revoke_lease",
            m.REVOKE_LEASE,
            lambda h: pb.LeaseRevokeRequest(header=h, id=id),
            lambda r: r.revision,
        )

    async def lease_time_to_live(
        self, id: int, *, serializable: bool = False
    ) -> LeaseDetails | None:
        """Lease ``id`` and what it keeps alive; None when it does not exist (expired,
        revoked or never granted)."""
        req = pb.LeaseTimeToLiveRequest(id=id, serializable=serializable)
        resp = await self._call("lease_time_to_live", m.LEASE_TIME_TO_LIVE, req)
        if not resp.HasField("lease"):
            return None
        attached = [a for a in map(LeaseAttachment.from_pb, resp.attached) if a is not None]
        return LeaseDetails(LeaseInfo.from_pb(resp.lease), attached, resp.revision)

    async def leases(self, *, serializable: bool = False) -> list[LeaseInfo]:
        """Every live lease."""
        resp = await self._call(
            "list_leases", m.LIST_LEASES, pb.LeaseListRequest(serializable=serializable)
        )
        return [LeaseInfo.from_pb(lease) for lease in resp.leases]

    def keep_alive(self, lease: LeaseInfo) -> KeepAlive:
        """Keeps ``lease`` alive in the background (call inside the running event loop) until
        the returned handle is stopped or collected: one renewal every third of the TTL over a
        KeepAlive stream that moves to another node when it breaks. The lease is taken as
        valid for ``lease.remaining`` from now."""
        loop = asyncio.get_running_loop()
        valid = loop.time() + min(lease.remaining, lease.ttl)
        return KeepAlive(LeaseKeeper(self, lease.id, lease.ttl, valid))
