"""Fences: a write's proof that its sender still holds a lock (its fencing token), leads an
election (its term) or owns a workflow (the epoch of its adoption). The cluster refuses a
fenced write, writing nothing, with :class:`~cairn.errors.StaleFence` unless that token, term
or epoch is current."""

from __future__ import annotations

from dataclasses import dataclass

from cairn._proto.cairn.v1 import kv_pb2
from cairn.errors import InvalidArgument

__all__ = ["Fence"]


@dataclass(frozen=True)
class Fence:
    """Exactly one of ``lock``, ``election`` and ``workflow`` names the target; ``token`` is
    the lock's fencing token, the election's term, or the workflow owner's epoch
    (``Adoption.epoch``)."""

    token: int
    lock: str | None = None
    election: str | None = None
    workflow: str | None = None

    def __post_init__(self) -> None:
        if [self.lock, self.election, self.workflow].count(None) != 2:
            raise InvalidArgument("a fence names exactly one lock, election or workflow")
        if self.token < 0:
            raise InvalidArgument("a fence token is not negative")

    @classmethod
    def for_lock(cls, lock: str, token: int) -> Fence:
        return cls(token=token, lock=lock)

    @classmethod
    def for_election(cls, election: str, term: int) -> Fence:
        return cls(token=term, election=election)

    @classmethod
    def for_owner(cls, workflow_id: str, epoch: int) -> Fence:
        """The owner of ``workflow_id`` since the adoption that answered ``epoch``."""
        return cls(token=epoch, workflow=workflow_id)

    def to_pb(self) -> kv_pb2.Fence:
        if self.lock is not None:
            return kv_pb2.Fence(lock=self.lock, token=self.token)
        if self.workflow is not None:
            return kv_pb2.Fence(workflow=self.workflow, token=self.token)
        return kv_pb2.Fence(election=self.election, token=self.token)


def fence_pb(fence: Fence | None) -> kv_pb2.Fence | None:
    return None if fence is None else fence.to_pb()
