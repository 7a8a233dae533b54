"""The idempotency identity of a client: its random id, the sequence of its logical writes,
and the set of sequences still waiting for a final answer (``Client::next_header`` and
``in_flight`` of the Rust client; Raft thesis 6.3).

Every logical write takes one ``RequestHeader{client_id, sequence, first_incomplete}`` and
every retry of it sends that same header, so the cluster applies it at most once and answers a
retry with the first result. ``first_incomplete`` is the lowest sequence still in flight: the
cluster may forget its replies below it.

A client is used from one event loop, so there is no lock: allocating a header never awaits.
"""

from __future__ import annotations

import heapq
import secrets

from cairn._proto.cairn.v1 import kv_pb2


class Sequencer:
    __slots__ = ("_heap", "_in_flight", "_next", "client_id")

    def __init__(self, client_id: str | None = None) -> None:
        # 128 random bits: two clients sharing an id would have one's writes taken for the
        # other's retries.
        self.client_id = client_id if client_id is not None else secrets.token_hex(16)
        # Start at 1 so 0 can never be mistaken for "no sequence".
        self._next = 1
        self._in_flight: set[int] = set()
        # Min-heap over the in-flight set, with finished entries dropped lazily.
        self._heap: list[int] = []

    def next_header(self) -> kv_pb2.RequestHeader:
        """A fresh header for one logical write; its sequence counts as in flight until
        :meth:`finish`."""
        sequence = self._next
        self._next += 1
        self._in_flight.add(sequence)
        heapq.heappush(self._heap, sequence)
        return kv_pb2.RequestHeader(
            client_id=self.client_id,
            sequence=sequence,
            first_incomplete=self.first_incomplete(),
        )

    def first_incomplete(self) -> int:
        """The lowest sequence still in flight (the next one to be handed out if none is)."""
        heap = self._heap
        while heap and heap[0] not in self._in_flight:
            heapq.heappop(heap)
        return heap[0] if heap else self._next

    def finish(self, sequence: int) -> None:
        """The write with ``sequence`` has its final answer (or was given up). Idempotent."""
        self._in_flight.discard(sequence)
        # Finished entries behind a long-held one would pile up in the heap: rebuild it when
        # they outnumber the live ones.
        if len(self._heap) > 2 * len(self._in_flight) + 64:
            self._heap = sorted(self._in_flight)

    def in_flight(self) -> frozenset[int]:
        return frozenset(self._in_flight)
