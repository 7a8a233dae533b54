"""The circuit breaker against a real cluster: with every node killed it opens after K
failures and then refuses calls in milliseconds without touching the network; once the nodes
are back, a probe after the cool-down closes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

import cairn
from cairn.circuit_breaker import BreakerState, CircuitBreaker, CircuitOpen

from .cluster import Cluster


async def test_breaker_opens_on_dead_cluster_and_closes_after_restart(
    new_cluster: Callable[..., Cluster], name: str
) -> None:
    cluster = new_cluster()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=1.0)
    # A short retry budget, so each failure while the cluster is down takes ~0.5 s.
    async with cairn.Client(cluster.endpoints(), retry_deadline=0.5, request_timeout=0.25) as c:
        await breaker.call(c.put, f"{name}/k", "v1")
        assert breaker.state is BreakerState.CLOSED

        cluster.kill_all()
        slow: list[float] = []
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises((cairn.Unavailable, cairn.Timeout)) as ei:
                await breaker.call(c.get, f"{name}/k")
            assert not isinstance(ei.value, CircuitOpen)
            slow.append(time.monotonic() - started)
        assert breaker.state is BreakerState.OPEN
        assert min(slow) >= 0.3  # each spent the retry budget

        fast: list[float] = []
        for _ in range(50):
            started = time.monotonic()
            with pytest.raises(CircuitOpen):
                await breaker.call(c.get, f"{name}/k")
            fast.append(time.monotonic() - started)
        median, worst = sorted(fast)[len(fast) // 2], max(fast)
        print(f"failures took {slow}; open: median {median * 1e6:.0f} us, max {worst * 1e6:.0f} us")
        # Milliseconds at most (nothing is sent); typically microseconds.
        assert median < 0.001, fast
        assert worst < 0.02, fast
        assert breaker.rejected_count == 50

        for p in cluster.nodes:
            cluster.spawn(p.id)
        await asyncio.to_thread(cluster.leader, 30.0)

        # Probe until one succeeds: the cool-down passes, one call goes through, and its
        # success closes the breaker (a probe that still fails re-opens it for a cool-down).
        deadline = time.monotonic() + 30
        value: cairn.KeyValue | None = None
        while True:
            try:
                value = await breaker.call(c.get, f"{name}/k")
                break
            except CircuitOpen as e:
                await asyncio.sleep(e.retry_after + 0.01)
            except (cairn.Unavailable, cairn.Timeout):
                pass
            assert time.monotonic() < deadline, "the breaker never closed"
        assert breaker.state is BreakerState.CLOSED
        assert value is not None and value.value == b"v1"
        assert await breaker.call(c.put, f"{name}/k", "v2") > 0
