"""Leases against a real 3-node cluster: grant, time-to-live with attachments, list, revoke,
and keep-alive in the background (renewed past several TTLs; lost when revoked; stopped
renewals let the lease end)."""

from __future__ import annotations

import asyncio

import pytest

import cairn

from .cluster import Cluster, eventually


async def test_grant_time_to_live_list_revoke(client: cairn.Client) -> None:
    lease = await client.grant_lease(5.0)
    assert lease.id > 0 and lease.ttl == 5.0 and 0 < lease.remaining <= 5.0
    details = await client.lease_time_to_live(lease.id)
    assert details is not None
    assert details.lease.id == lease.id and details.lease.ttl == 5.0
    assert details.attached == [] and details.revision >= lease.id
    assert lease.id in [x.id for x in await client.leases()]
    rev = await client.revoke_lease(lease.id)
    assert rev > lease.id
    assert await client.lease_time_to_live(lease.id) is None
    assert lease.id not in [x.id for x in await client.leases()]
    with pytest.raises(cairn.LeaseNotFound):
        await client.revoke_lease(lease.id)


async def test_bad_ttl_is_refused(client: cairn.Client) -> None:
    with pytest.raises(cairn.InvalidArgument):
        await client.grant_lease(0.1)  # below the cluster's 1 s minimum
    with pytest.raises(cairn.InvalidArgument):
        await client.grant_lease(-1.0)


async def test_keep_alive_outlives_the_ttl_and_stopping_ends_it(client: cairn.Client) -> None:
    # 2 s: renewals every third of it stay on time on a loaded 2-core machine.
    lease = await client.grant_lease(2.0)
    loop = asyncio.get_running_loop()
    async with client.keep_alive(lease) as ka:
        assert ka.lease_id == lease.id
        # Three TTLs: without renewals it would have ended twice over.
        end = loop.time() + 6.0
        while loop.time() < end:
            assert not ka.is_lost()
            assert await client.lease_time_to_live(lease.id) is not None, "lease ended"
            await asyncio.sleep(0.2)
    assert not ka.is_lost()

    async def gone() -> bool | None:
        return True if await client.lease_time_to_live(lease.id) is None else None

    # Renewals stopped: the lease ends about one TTL later.
    started = loop.time()
    await eventually("the lease to end after its keep-alive stopped", gone)
    assert loop.time() - started < 7.0


async def test_keep_alive_reports_a_revoked_lease_lost(cluster: Cluster) -> None:
    async with cairn.Client(cluster.endpoints()) as a, cairn.Client(cluster.endpoints()) as b:
        lease = await a.grant_lease(1.5)
        ka = a.keep_alive(lease)
        assert not ka.lost.is_set()
        await b.revoke_lease(lease.id)
        # The next renewal (a third of the TTL later) hears that the lease is gone.
        await asyncio.wait_for(ka.lost.wait(), 5.0)
        assert ka.is_lost()
        ka.stop()


async def test_lease_time_to_live_lists_what_it_keeps_alive(
    client: cairn.Client, name: str
) -> None:
    lease = await client.grant_lease(10.0)
    try:
        guard = await client.lock(f"{name}-lock", lease=lease.id, owner="me")
        leadership = await client.campaign(f"{name}-el", b"v", lease=lease.id, candidate="cand")
        details = await client.lease_time_to_live(lease.id)
        assert details is not None
        assert set(details.attached) == {
            cairn.LeaseAttachment(lock=f"{name}-lock", owner="me"),
            cairn.LeaseAttachment(election=f"{name}-el", owner="cand"),
        }
        await guard.release()
        await leadership.resign()
        details = await client.lease_time_to_live(lease.id)
        # Releasing from the caller's own lease leaves the lease alive.
        assert details is not None and details.attached == []
    finally:
        await client.revoke_lease(lease.id)
