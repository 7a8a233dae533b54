"""Exponential backoff with jitter for the retry loop (``cairn_client::retry::Backoff``).

Jitter matters because many clients see the same leader loss at the same instant; without it
they would all hammer the new leader in lock-step.
"""

from __future__ import annotations

import random


class Backoff:
    """Backoff state for one logical call. The ceiling of attempt ``n`` is
    ``min(max, base * 2**n)``; the delay is drawn uniformly from ``[ceiling / 2, ceiling]``
    ("equal jitter"), which spreads clients out while still guaranteeing some wait."""

    __slots__ = ("_attempt", "_base", "_max", "_rng")

    def __init__(self, base: float, max_: float, rng: random.Random | None = None) -> None:
        # A max below base would make the ceiling shrink; treat base as the floor instead.
        self._base = base
        self._max = max(max_, base)
        self._attempt = 0
        self._rng = rng if rng is not None else random.Random()

    def ceiling(self) -> float:
        """The ceiling for the current attempt, without jitter."""
        # Past 2**16 the ceiling is certainly clamped; capping the exponent avoids overflow.
        return float(min(self._base * (1 << min(self._attempt, 16)), self._max))

    def next_delay(self) -> float:
        """The delay before the next attempt; advances the attempt counter."""
        ceiling = self.ceiling()
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)
