"""A client-side circuit breaker: fails fast while the cluster is unavailable and probes it
back, instead of letting every call spend the client's whole retry budget.

::

    breaker = cairn.CircuitBreaker(failure_threshold=3, reset_timeout=5.0)
    kv = await breaker.call(client.get, "config/mode")
    async with breaker:
        await client.transition(wf_id, event="start")

Closed: calls pass; ``failure_threshold`` consecutive failures of the tripping kinds
(:class:`Unavailable`, :class:`Timeout`, :class:`OutcomeUnknown` by default: the cluster did
not answer) open it. Open: calls raise :class:`CircuitOpen` at once, without touching the
cluster, for ``reset_timeout`` seconds. Then half-open: one call goes through as a probe (the
others still fail fast); its success closes the breaker, its failure opens it for another
cool-down. Any definite answer from the cluster (a value, or an error such as NotFound or
VersionConflict) counts as success: the cluster is there.

The breaker wraps calls and needs no client or config of its own, so one breaker can guard
several clients, or one client's calls to one cluster from many tasks. Time comes from
``clock`` (monotonic seconds) so tests can drive it.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

from cairn.errors import InvalidArgument, OutcomeUnknown, Timeout, Unavailable

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpen"]

P = ParamSpec("P")
T = TypeVar("T")


class CircuitOpen(Unavailable):
    """The circuit breaker is open: the call was not sent. ``retry_after`` is how many seconds
    remain until a probe may go through (0 when a probe is already in flight)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, kind="circuit_open")
        self.retry_after = retry_after


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


DEFAULT_TRIP_ON: tuple[type[BaseException], ...] = (Unavailable, Timeout, OutcomeUnknown)


class CircuitBreaker:
    """See the module docs. ``trip_on``: the exception types that count as the cluster being
    unavailable (a :class:`CircuitOpen` from a nested breaker never counts)."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        *,
        trip_on: tuple[type[BaseException], ...] = DEFAULT_TRIP_ON,
        clock: Callable[[], float] = time.monotonic,
        name: str = "cairn",
    ) -> None:
        if failure_threshold < 1:
            raise InvalidArgument("failure_threshold must be at least 1")
        if not reset_timeout > 0:
            raise InvalidArgument("reset_timeout must be positive")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.trip_on = trip_on
        self.name = name
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe: object | None = None
        #: How many times the breaker opened, and how many calls it refused.
        self.opened_count = 0
        self.rejected_count = 0
        self.last_failure: BaseException | None = None

    # ---- state ----

    @property
    def state(self) -> BreakerState:
        """The current state; OPEN turns HALF_OPEN once the cool-down is over (the next call
        is the probe)."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive tripping failures counted while closed."""
        return self._failures

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_timeout

    def reset(self) -> None:
        """Closes the breaker and forgets the failures."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe = None

    # ---- the protocol: admit, then record ----

    def _admit(self, owner: object) -> bool:
        """Lets a call through (True: as the probe) or raises CircuitOpen."""
        if self._state is BreakerState.CLOSED:
            return False
        if self._state is BreakerState.OPEN and self._cooled_down():
            self._state = BreakerState.HALF_OPEN
        if self._state is BreakerState.HALF_OPEN and self._probe is None:
            self._probe = owner
            return True
        self.rejected_count += 1
        if self._state is BreakerState.OPEN:
            left = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
            raise CircuitOpen(
                f"circuit {self.name} open after {self.failure_threshold} consecutive failures "
                f"(last: {self.last_failure}); next probe in {left:.2f}s",
                retry_after=left,
            )
        raise CircuitOpen(f"circuit {self.name} half-open: a probe is in flight", retry_after=0.0)

    def _trips(self, exc: BaseException) -> bool:
        return isinstance(exc, self.trip_on) and not isinstance(exc, CircuitOpen)

    def _record(self, probe: bool, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(exc, Exception):
            # Cancelled (or exiting): no verdict on the cluster; free the probe slot.
            if probe:
                self._probe = None
            return
        failed = exc is not None and self._trips(exc)
        if probe:
            self._probe = None
            if failed:
                self.last_failure = exc
                self._open()
            else:
                self.reset()
            return
        if self._state is not BreakerState.CLOSED:
            # A call admitted before the breaker opened: only the probe decides now.
            return
        if failed:
            self.last_failure = exc
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()
        else:
            self._failures = 0

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0
        self.opened_count += 1

    # ---- wrappers ----

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """``await fn(*args, **kwargs)`` through the breaker: CircuitOpen at once while open,
        otherwise the call's own result or exception (which the breaker counts)."""
        token = object()
        probe = self._admit(token)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as e:
            self._record(probe, e)
            raise
        self._record(probe, None)
        return result

    def wrap(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """``fn`` with every call going through :meth:`call` (a decorator, too)."""

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(fn, *args, **kwargs)

        return guarded

    async def __aenter__(self) -> CircuitBreaker:
        owner = asyncio.current_task()
        probe = self._admit(owner)
        del probe  # the probe is recognised on exit by its task
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        probe = self._probe is not None and self._probe is asyncio.current_task()
        self._record(probe, exc)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(name={self.name!r}, state={self.state}, "
            f"failures={self._failures}/{self.failure_threshold})"
        )
