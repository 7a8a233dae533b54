"""Writes whose outcome is unknown (``cairn_client::PendingWrite``).

When every retry of a write failed transiently, the write may or may not have been applied:
the caller gets :class:`~cairn.errors.OutcomeUnknown` holding a :class:`PendingWrite`, and
``await client.resume(pending)`` sends it again with its original idempotency key, so the
cluster applies it at most once (within its dedup window, 10 minutes by default) and answers
with the first attempt's result if that one was applied.

While a pending write exists its sequence counts as in flight, so the cluster keeps its reply
(``first_incomplete`` stays at or below it). It stops counting once the write is resumed to a
definite answer, :meth:`PendingWrite.release` is called, or the object is garbage collected.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from google.protobuf.message import Message

T = TypeVar("T")

__all__ = ["PendingWrite"]


class PendingWrite(Generic[T]):
    """A write that may or may not have been applied. Resume it with ``client.resume``; it
    returns what the original call would have returned."""

    def __init__(
        self,
        *,
        op: str,
        request: Message,
        client_id: str,
        sequence: int,
        cause: str,
        send: Callable[[], Awaitable[T]],
        release: Callable[[int], None],
    ) -> None:
        self.op = op
        #: The last failure seen before the retries ran out.
        self.cause = cause
        self._request = request
        self._client_id = client_id
        self._sequence = sequence
        self._send = send
        # Runs at most once: on release(), on a definite answer to resume(), or when collected.
        self._hold = weakref.finalize(self, release, sequence)

    @property
    def idempotency_key(self) -> tuple[str, int]:
        """``(client_id, sequence)``: what every attempt of this write carries."""
        return self._client_id, self._sequence

    @property
    def request(self) -> Message:
        """The request as sent (header included); a copy, so it cannot be changed."""
        copy = type(self._request)()
        copy.CopyFrom(self._request)
        return copy

    @property
    def released(self) -> bool:
        return not self._hold.alive

    def release(self) -> None:
        """Gives the write up: its sequence stops counting as in flight, so the cluster may
        forget its reply. It can no longer be resumed."""
        self._hold()

    def __repr__(self) -> str:
        return (
            f"PendingWrite(op={self.op!r}, key=({self._client_id!r}, {self._sequence}), "
            f"cause={self.cause!r})"
        )
