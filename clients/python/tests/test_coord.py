"""Coordination internals against in-process fake nodes: every retry of a lock or lease write
carries one idempotency header, blocking acquires ask for waits that fit in one attempt, and
the lease keeper's timing (first renewal a third of the TTL after the start, then every third),
loss (the lease is gone; no answer for a whole TTL) and failover to the node a failure names."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest

import cairn
from cairn._proto.cairn.v1 import coord_pb2 as pb
from cairn.config import ClientSettings

C = grpc.StatusCode
FAST: ClientSettings = {"backoff_base": 0.001, "backoff_max": 0.01, "request_timeout": 1.0}

Unary = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
KeepAlive = Callable[
    [AsyncIterator[pb.LeaseKeepAliveRequest], grpc.aio.ServicerContext[Any, Any]],
    AsyncIterator[pb.LeaseKeepAliveResponse],
]


@dataclass
class CoordNode:
    """A fake node serving the coordination RPCs a test scripts."""

    unary: dict[str, Unary] = field(default_factory=dict)
    keep_alive: KeepAlive | None = None
    seen: list[tuple[str, Any]] = field(default_factory=list)
    renewals: list[float] = field(default_factory=list)
    server: grpc.aio.Server | None = None
    port: int = 0

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def calls(self, method: str) -> list[Any]:
        return [r for m, r in self.seen if m == method]

    async def start(self) -> CoordNode:
        self.server = grpc.aio.server()
        types = {
            "Locks/Acquire": (pb.AcquireLockRequest, pb.AcquireLockResponse),
            "Locks/Release": (pb.ReleaseLockRequest, pb.ReleaseLockResponse),
            "Leases/Grant": (pb.LeaseGrantRequest, pb.LeaseGrantResponse),
            "Leases/Revoke": (pb.LeaseRevokeRequest, pb.LeaseRevokeResponse),
        }
        by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
        for full, (req, resp) in types.items():
            service, method = full.split("/")
            by_service.setdefault(service, {})[method] = grpc.unary_unary_rpc_method_handler(
                self._unary(full),
                request_deserializer=req.FromString,
                response_serializer=resp.SerializeToString,
            )
        by_service["Leases"]["KeepAlive"] = grpc.stream_stream_rpc_method_handler(
            self._keep_alive,
            request_deserializer=pb.LeaseKeepAliveRequest.FromString,
            response_serializer=pb.LeaseKeepAliveResponse.SerializeToString,
        )
        for service, methods in by_service.items():
            self.server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(f"cairn.v1.{service}", methods),)
            )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)

    def _unary(self, full: str) -> Unary:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.seen.append((full, request))
            script = self.unary.get(full)
            if script is None:
                await context.abort(C.UNIMPLEMENTED, f"fake: no script for {full}")
            assert script is not None
            return await script(request, context)

        return handle

    async def _keep_alive(
        self,
        requests: AsyncIterator[pb.LeaseKeepAliveRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        if self.keep_alive is None:
            await context.abort(C.UNIMPLEMENTED, "fake: no keep-alive script")
        assert self.keep_alive is not None
        async for answer in self.keep_alive(self._record(requests), context):
            yield answer

    async def _record(
        self, requests: AsyncIterator[pb.LeaseKeepAliveRequest]
    ) -> AsyncIterator[pb.LeaseKeepAliveRequest]:
        loop = asyncio.get_running_loop()
        async for r in requests:
            self.renewals.append(loop.time())
            yield r


def renewing(ttl_ms: int) -> KeepAlive:
    async def script(
        requests: AsyncIterator[pb.LeaseKeepAliveRequest], context: Any
    ) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        async for r in requests:
            yield pb.LeaseKeepAliveResponse(
                id=r.id, lease=pb.Lease(id=r.id, ttl_ms=ttl_ms, remaining_ms=ttl_ms)
            )

    return script


@pytest.fixture
async def nodes() -> AsyncIterator[list[CoordNode]]:
    ns = [await CoordNode().start() for _ in range(2)]
    yield ns
    for n in ns:
        await n.stop()


def lease(id: int, ttl: float) -> cairn.LeaseInfo:
    return cairn.LeaseInfo(id=id, ttl=ttl, expires_ms=0, remaining=ttl)


def header(r: Any) -> tuple[str, int]:
    return r.header.client_id, r.header.sequence


async def test_retries_of_an_acquire_send_one_header(nodes: list[CoordNode]) -> None:
    n = nodes[0]
    left = [2]

    async def acquire(r: pb.AcquireLockRequest, ctx: Any) -> pb.AcquireLockResponse:
        if left[0] > 0:
            left[0] -= 1
            await ctx.abort(C.UNAVAILABLE, "node restarting")
        return pb.AcquireLockResponse(acquired=True, token=40, lease_id=40, revision=40)

    async def revoke(r: pb.LeaseRevokeRequest, ctx: Any) -> pb.LeaseRevokeResponse:
        return pb.LeaseRevokeResponse(revision=41)

    n.unary["Locks/Acquire"] = acquire
    n.unary["Leases/Revoke"] = revoke
    n.keep_alive = renewing(5000)
    async with cairn.Client([n.addr], **FAST) as c:
        guard = await c.try_lock("job", ttl=5.0, owner="me")
        assert guard is not None and (guard.token, guard.lease_id) == (40, 40)
        acquires = n.calls("Locks/Acquire")
        assert len(acquires) == 3
        assert {header(r) for r in acquires} == {(c.client_id, 1)}
        assert all(
            (r.name, r.owner, r.ttl_ms, r.wait_timeout_ms, r.WhichOneof("lease"))
            == ("job", "me", 5000, 0, "ttl_ms")
            for r in acquires
        )
        await guard.release()
        # Releasing a lock on its own lease revokes that lease: the next logical write.
        (revoke_req,) = n.calls("Leases/Revoke")
        assert revoke_req.id == 40 and header(revoke_req) == (c.client_id, 2)
        assert guard.released and not guard.lost.is_set()


async def test_blocking_acquire_waits_in_line_longer_than_one_attempt(
    nodes: list[CoordNode],
) -> None:
    n = nodes[0]
    refusals = [2]
    honour_wait = [False]

    async def acquire(r: pb.AcquireLockRequest, ctx: Any) -> pb.AcquireLockResponse:
        if refusals[0] > 0:
            refusals[0] -= 1
            if honour_wait[0]:
                await asyncio.sleep(r.wait_timeout_ms / 1000)
            await ctx.abort(C.DEADLINE_EXCEEDED, "not granted", trailing_metadata=_WAIT_TIMEOUT)
        # Granted after longer than request_timeout (1 s): the attempt waits for it, because
        # a held call's attempt timeout grows by the wait it asked for.
        await asyncio.sleep(1.5)
        return pb.AcquireLockResponse(acquired=True, token=9, lease_id=9)

    async def revoke(r: pb.LeaseRevokeRequest, ctx: Any) -> pb.LeaseRevokeResponse:
        return pb.LeaseRevokeResponse(revision=10)

    n.unary["Locks/Acquire"] = acquire
    n.unary["Leases/Revoke"] = revoke
    n.keep_alive = renewing(5000)
    async with cairn.Client([n.addr], **FAST) as c:
        guard = await c.lock("job", ttl=5.0)
        acquires = n.calls("Locks/Acquire")
        assert len(acquires) == 3
        # Each call asks to be held in line up to 60 s (the Rust client's chunk), and each is
        # a new write of the same owner.
        assert all(r.wait_timeout_ms == 60_000 for r in acquires)
        assert [header(r)[1] for r in acquires] == [1, 2, 3]
        assert len({r.owner for r in acquires}) == 1
        await guard.release()

        # A bounded wait ends with WaitTimeout, never asking past its deadline.
        refusals[0], honour_wait[0] = 100, True
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(cairn.WaitTimeout):
            await c.lock("job", ttl=5.0, wait=0.7)
        took = loop.time() - started
        assert 0.69 <= took < 1.5
        later = n.calls("Locks/Acquire")[3:]
        assert later and sum(r.wait_timeout_ms for r in later) <= 710


_WAIT_TIMEOUT = (("cairn-error", "wait_timeout"),)


async def test_keeper_renews_every_third_of_the_ttl(nodes: list[CoordNode]) -> None:
    n = nodes[0]
    n.keep_alive = renewing(600)
    async with cairn.Client([n.addr], **FAST) as c:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ka = c.keep_alive(lease(7, 0.6))
        while loop.time() < started + 1.35:
            assert not ka.is_lost()
            await asyncio.sleep(0.05)
        ka.stop()
        times = [t - started for t in n.renewals]
        # The first renewal a third of the TTL after the start, then one per third.
        assert 0.17 <= times[0] <= 0.35, times
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert 4 <= len(times) <= 7, times
        assert all(0.17 <= g <= 0.4 for g in gaps), gaps
        assert not ka.lost.is_set()


async def test_keeper_reports_a_gone_lease_lost(nodes: list[CoordNode]) -> None:
    n = nodes[0]

    async def gone(
        requests: AsyncIterator[pb.LeaseKeepAliveRequest], context: Any
    ) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        async for r in requests:
            yield pb.LeaseKeepAliveResponse(id=r.id)

    n.keep_alive = gone
    async with cairn.Client([n.addr], **FAST) as c:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ka = c.keep_alive(lease(7, 3.0))
        await asyncio.wait_for(ka.lost.wait(), 3.0)
        # At the first renewal (a third of the TTL), not at the end of the TTL.
        assert 0.9 <= loop.time() - started < 2.0
        assert len(n.renewals) == 1


async def test_keeper_reports_lost_after_a_ttl_without_answers(nodes: list[CoordNode]) -> None:
    n = nodes[0]

    async def silent(
        requests: AsyncIterator[pb.LeaseKeepAliveRequest], context: Any
    ) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        async for _ in requests:
            pass
        if False:  # an async generator that never answers
            yield pb.LeaseKeepAliveResponse()

    n.keep_alive = silent
    async with cairn.Client([n.addr], **FAST) as c:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ka = c.keep_alive(lease(7, 0.9))
        await asyncio.wait_for(ka.lost.wait(), 3.0)
        # Lost once the lease may have ended: a TTL after the last known renewal, not before.
        assert 0.85 <= loop.time() - started < 1.5
        assert n.renewals, "the keeper never tried"


async def test_keeper_follows_the_leader_hint_to_another_node(nodes: list[CoordNode]) -> None:
    bad, good = nodes

    async def refuse(
        requests: AsyncIterator[pb.LeaseKeepAliveRequest], context: Any
    ) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        async for _ in requests:
            context.set_trailing_metadata((("cairn-leader", good.addr),))
            await context.abort(C.UNAVAILABLE, "not the leader")
        yield pb.LeaseKeepAliveResponse()

    bad.keep_alive = refuse
    good.keep_alive = renewing(600)
    async with cairn.Client([bad.addr], **FAST) as c:
        loop = asyncio.get_running_loop()
        ka = c.keep_alive(lease(7, 0.6))
        end = loop.time() + 1.5
        while loop.time() < end:
            assert not ka.is_lost()
            await asyncio.sleep(0.05)
        ka.stop()
        assert len(bad.renewals) == 1
        assert len(good.renewals) >= 4
        assert good.addr in c.endpoints()
