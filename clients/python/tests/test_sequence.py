"""Idempotency headers: one (client_id, sequence) per logical write, first_incomplete = the
lowest sequence still in flight (client/src/pending.rs's test, in Python)."""

from __future__ import annotations

import re

from cairn._sequence import Sequencer


def test_client_ids_are_random_128_bit_hex() -> None:
    ids = {Sequencer().client_id for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_first_incomplete_is_the_oldest_unfinished_write() -> None:
    s = Sequencer()
    h1 = s.next_header()
    assert (h1.sequence, h1.first_incomplete) == (1, 1)
    assert h1.client_id == s.client_id
    h2 = s.next_header()
    assert (h2.sequence, h2.first_incomplete) == (2, 1)
    s.finish(h1.sequence)
    h3 = s.next_header()
    assert (h3.sequence, h3.first_incomplete) == (3, 2)
    # Finishing out of order: 3 done while 2 is still in flight keeps 2 the floor.
    s.finish(h3.sequence)
    assert s.next_header().first_incomplete == 2
    s.finish(h2.sequence)
    s.finish(4)
    h5 = s.next_header()
    assert (h5.sequence, h5.first_incomplete) == (5, 5)
    # Finishing twice is harmless.
    s.finish(h2.sequence)
    assert s.first_incomplete() == 5


def test_nothing_in_flight_reports_the_next_sequence() -> None:
    s = Sequencer()
    assert s.first_incomplete() == 1
    h = s.next_header()
    s.finish(h.sequence)
    assert s.first_incomplete() == 2
    assert s.in_flight() == frozenset()


def test_a_long_held_sequence_keeps_the_floor_and_the_heap_stays_small() -> None:
    s = Sequencer()
    held = s.next_header().sequence
    for _ in range(10_000):
        h = s.next_header()
        assert h.first_incomplete == held
        s.finish(h.sequence)
    assert s.in_flight() == frozenset({held})
    assert len(s._heap) < 200
    s.finish(held)
    assert s.first_incomplete() == 10_002
