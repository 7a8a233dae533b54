"""Fences: a write's proof that its sender still holds a lock (its fencing token) or leads an
election (its term). The cluster refuses a fenced write, writing nothing, with
:class:`~cairn.errors.StaleFence` unless that token or term is current."""

from __future__ import annotations

from dataclasses import dataclass

from cairn._proto.cairn.v1 import kv_pb2
from cairn.errors import InvalidArgument

__all__ = ["Fence"]


@dataclass(frozen=True)
class Fence:
    """Exactly one of ``lock`` and ``election`` names the target; ``token`` is the lock's
    fencing token or the election's term."""

    token: int
    lock: str | None = None
    election: str | None = None

    def __post_init__(self) -> None:
        if (self.lock is None) == (self.election is None):
            raise InvalidArgument("a fence names exactly one lock or one election")
        if self.token < 0:
            raise InvalidArgument("a fence token is not negative")

    @classmethod
    def for_lock(cls, lock: str, token: int) -> Fence:
        return cls(token=token, lock=lock)

    @classmethod
    def for_election(cls, election: str, term: int) -> Fence:
        return cls(token=term, election=election)

    def to_pb(self) -> kv_pb2.Fence:
        if self.lock is not None:
            return kv_pb2.Fence(lock=self.lock, token=self.token)
        return kv_pb2.Fence(election=self.election, token=self.token)


def fence_pb(fence: Fence | None) -> kv_pb2.Fence | None:
    return None if fence is None else fence.to_pb()
