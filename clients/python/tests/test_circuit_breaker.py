"""The circuit breaker with an injected clock and fake failures: closed -> open after K
consecutive unavailability failures, fast CircuitOpen while open, one probe when half-open,
closed again on success."""

from __future__ import annotations

import asyncio

import pytest

import cairn
from cairn.circuit_breaker import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """An async call that fails with ``error`` while ``down``, and counts how often it ran."""

    def __init__(self) -> None:
        self.down = False
        self.error: BaseException = cairn.Unavailable("cluster unavailable")
        self.calls = 0

    async def __call__(self, key: str, *, suffix: str = "") -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.down:
            raise self.error
        return key + suffix


def _breaker(clock: Clock, k: int = 3) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=k, reset_timeout=5.0, clock=clock)


async def test_opens_after_k_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    b = _breaker(clock)
    fn = Flaky()
    assert await b.call(fn, "a", suffix="!") == "a!"
    fn.down = True
    for i in range(3):
        assert b.state is BreakerState.CLOSED
        with pytest.raises(cairn.Unavailable) as ei:
            await b.call(fn, "a")
        assert not isinstance(ei.value, CircuitOpen)
        assert b.failures == (i + 1) % 3
    assert b.state is BreakerState.OPEN and b.opened_count == 1
    with pytest.raises(CircuitOpen) as open_err:
        await b.call(fn, "a")
    assert fn.calls == 4  # not sent
    assert open_err.value.retry_after == pytest.approx(5.0)
    assert isinstance(open_err.value, cairn.Unavailable) and open_err.value.kind == "circuit_open"
    clock.now += 4.0
    with pytest.raises(CircuitOpen) as open_err:
        await b.call(fn, "a")
    assert open_err.value.retry_after == pytest.approx(1.0)
    assert b.rejected_count == 2


async def test_success_resets_the_count_and_definite_errors_are_success() -> None:
    clock = Clock()
    b = _breaker(clock)
    fn = Flaky()
    fn.down = True
    for _ in range(2):
        with pytest.raises(cairn.Unavailable):
            await b.call(fn, "a")
    fn.error = cairn.NotFound("no such workflow")
    with pytest.raises(cairn.NotFound):
        await b.call(fn, "a")
    assert b.failures == 0 and b.state is BreakerState.CLOSED
    for err in (cairn.Timeout("slow"), cairn.Unavailable("x"), cairn.Timeout("slow")):
        fn.error = err
        with pytest.raises(cairn.CairnError):
            await b.call(fn, "a")
    assert b.state is BreakerState.OPEN


async def test_outcome_unknown_trips() -> None:
    clock = Clock()
    b = _breaker(clock, k=1)

    async def write() -> None:
        raise cairn.OutcomeUnknown.__new__(cairn.OutcomeUnknown)

    with pytest.raises(cairn.OutcomeUnknown):
        await b.call(write)
    assert b.state is BreakerState.OPEN


async def test_half_open_lets_one_probe_through() -> None:
    clock = Clock()
    b = _breaker(clock, k=1)
    fn = Flaky()
    fn.down = True
    with pytest.raises(cairn.Unavailable):
        await b.call(fn, "a")
    clock.now += 5.0
    assert b.state is BreakerState.HALF_OPEN
    # The probe fails: open again, for a whole new cool-down.
    with pytest.raises(cairn.Unavailable) as ei:
        await b.call(fn, "a")
    assert not isinstance(ei.value, CircuitOpen)
    assert b.state is BreakerState.OPEN and b.opened_count == 2
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        await b.call(fn, "a")
    clock.now += 0.1
    # One probe in flight; a concurrent call fails fast.
    fn.down = False
    gate = asyncio.Event()

    async def slow(key: str) -> str:
        await gate.wait()
        return key

    probe = asyncio.create_task(b.call(slow, "p"))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpen) as ei2:
        await b.call(fn, "other")
    assert ei2.value.retry_after == 0.0
    gate.set()
    assert await probe == "p"
    assert b.state is BreakerState.CLOSED
    assert await b.call(fn, "b") == "b"


async def test_cancelled_probe_frees_the_slot() -> None:
    clock = Clock()
    b = _breaker(clock, k=1)
    fn = Flaky()
    fn.down = True
    with pytest.raises(cairn.Unavailable):
        await b.call(fn, "a")
    clock.now += 5

    async def hang() -> None:
        await asyncio.Event().wait()

    t = asyncio.create_task(b.call(hang))
    await asyncio.sleep(0)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    fn.down = False
    assert await b.call(fn, "x") == "x"
    assert b.state is BreakerState.CLOSED


async def test_async_with_and_wrap() -> None:
    clock = Clock()
    b = _breaker(clock, k=2)
    fn = Flaky()
    guarded = b.wrap(fn)
    assert await guarded("w") == "w"
    fn.down = True
    for _ in range(2):
        with pytest.raises(cairn.Unavailable):
            async with b:
                await fn("a")
    assert b.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        async with b:
            raise AssertionError("the body must not run while open")
    with pytest.raises(CircuitOpen):
        await guarded("w")
    clock.now += 5
    fn.down = False
    async with b:
        assert await fn("probe") == "probe"
    assert b.state is BreakerState.CLOSED
    b2 = _breaker(clock, k=1)
    with pytest.raises(cairn.Unavailable):
        async with b2:
            raise cairn.Unavailable("x")
    b2.reset()
    assert b2.state is BreakerState.CLOSED
    assert "closed" in repr(b2)


def test_invalid_settings() -> None:
    with pytest.raises(cairn.InvalidArgument):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(cairn.InvalidArgument):
        CircuitBreaker(reset_timeout=0)
