"""Elections against a real 3-node cluster: campaign, leader, proclaim, resign, wait timeout,
observe as an async iterator, and failover: the leader's client closes (or its lease is
revoked), the next candidate is elected with a larger term, observers see it, and the old
term's fenced writes are refused."""

from __future__ import annotations

import asyncio

import pytest

import cairn

from .cluster import Cluster
from .test_cluster_leases import eventually


async def next_change(obs: cairn.ElectionObserver, timeout: float = 10.0) -> cairn.LeaderChange:
    return await asyncio.wait_for(obs.next(), timeout)


async def test_campaign_leader_proclaim_resign(client: cairn.Client, name: str) -> None:
    async with client.observe(name) as obs:
        first = await next_change(obs)
        assert first.leader is None
        leadership = await client.campaign(name, b"node-1", ttl=5.0, candidate="c1")
        assert leadership.is_leader() and not leadership.lost.is_set()
        assert leadership.candidate == "c1" and leadership.term > 0
        assert leadership.fence == cairn.Fence.for_election(name, leadership.term)
        state = await client.leader(name)
        assert state.leader is not None and state.candidates == []
        assert (state.leader.owner, state.leader.token, state.leader.value) == (
            "c1",
            leadership.term,
            b"node-1",
        )
        change = await next_change(obs)
        assert change.leader is not None and change.leader.owner == "c1"
        assert change.leader.value == b"node-1"

        await leadership.proclaim("node-1 v2")
        change = await next_change(obs)
        assert change.leader is not None
        assert (change.leader.token, change.leader.value) == (leadership.term, b"node-1 v2")
        state = await client.leader(name)
        assert state.leader is not None and state.leader.value == b"node-1 v2"
        # Fenced writes as the leader go through.
        await client.put(f"{name}/plan", "p", fence=leadership.fence)

        await leadership.resign()
        assert not leadership.is_leader()
        change = await next_change(obs)
        assert change.leader is None
        assert (await client.leader(name)).leader is None
        with pytest.raises(cairn.StaleFence):
            await client.put(f"{name}/plan", "q", fence=leadership.fence)
        with pytest.raises(cairn.NotHolder):
            await client.proclaim(name, "c1", leadership.term, b"x")


async def test_campaign_wait_timeout_and_line(cluster: Cluster, name: str) -> None:
    async with cairn.Client(cluster.endpoints()) as a, cairn.Client(cluster.endpoints()) as b:
        async with await a.campaign(name, b"a", ttl=5.0) as lead:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(cairn.WaitTimeout):
                await b.campaign(name, b"b", ttl=5.0, wait=0.6)
            assert loop.time() - started >= 0.59
            state = await b.leader(name)
            assert state.leader is not None and state.leader.owner == lead.candidate
            assert state.candidates == []  # the timed-out candidate left the line
        # Resigned on exit.
        assert not lead.is_leader()
        assert (await b.leader(name)).leader is None


async def test_failover_when_the_leaders_client_closes(cluster: Cluster, name: str) -> None:
    a = cairn.Client(cluster.endpoints())
    b = cairn.Client(cluster.endpoints())
    c = cairn.Client(cluster.endpoints())
    try:
        obs = c.observe(name)
        assert (await next_change(obs)).leader is None
        lead_a = await a.campaign(name, b"a", ttl=1.5, candidate="a")
        change = await next_change(obs)
        assert change.leader is not None and change.leader.owner == "a"
        campaign_b = asyncio.create_task(b.campaign(name, b"b", ttl=5.0, candidate="b"))

        async def b_in_line() -> bool | None:
            s = await c.leader(name)
            return True if [x.owner for x in s.candidates] == ["b"] else None

        await eventually("b in line", b_in_line)
        assert not campaign_b.done()
        # a's process goes away: its lease is no longer renewed and ends within its TTL.
        await a.close()
        lead_b = await asyncio.wait_for(campaign_b, 15.0)
        assert lead_b.is_leader() and lead_b.term > lead_a.term
        change = await next_change(obs)
        assert change.leader is not None
        assert (change.leader.owner, change.leader.token, change.leader.value) == (
            "b",
            lead_b.term,
            b"b",
        )
        print(
            "DBG",
            lead_a._monitor,
            lead_a._keeper._task if lead_a._keeper else None,
            lead_a._keeper.lost.is_set() if lead_a._keeper else None,
        )
        assert not lead_a.is_leader()
        # The old leader's fence is refused; the new one's is not.
        with pytest.raises(cairn.StaleFence) as e:
            await c.put(f"{name}/plan", "old", fence=lead_a.fence)
        assert e.value.current == lead_b.term
        await c.put(f"{name}/plan", "new", fence=lead_b.fence)
        await lead_b.resign()
        assert (await next_change(obs)).leader is None
        await obs.aclose()
    finally:
        for x in (a, b, c):
            await x.close()


async def test_failover_when_the_leaders_lease_is_revoked(cluster: Cluster, name: str) -> None:
    async with cairn.Client(cluster.endpoints()) as a, cairn.Client(cluster.endpoints()) as b:
        lead_a = await a.campaign(name, b"a", ttl=10.0)
        campaign_b = asyncio.create_task(b.campaign(name, b"b", ttl=10.0))
        seen: list[cairn.LeaderChange] = []

        async def follow() -> None:
            async for change in b.observe(name):
                seen.append(change)
                if change.leader is not None and change.leader.value == b"b":
                    return

        follower = asyncio.create_task(follow())

        async def a_seen() -> bool | None:
            return True if seen and seen[0].leader is not None else None

        await eventually("the observer's first change", a_seen)
        assert seen[0].leader is not None and seen[0].leader.token == lead_a.term
        await b.revoke_lease(lead_a.lease_id)
        # The leadership notices: the keeper hears the lease is gone, the monitor sees b.
        await asyncio.wait_for(lead_a.lost.wait(), 10.0)
        assert not lead_a.is_leader()
        lead_b = await asyncio.wait_for(campaign_b, 10.0)
        await asyncio.wait_for(follower, 10.0)
        assert [c.leader.value if c.leader else None for c in seen] == [b"a", b"b"]
        assert seen[-1].leader is not None and seen[-1].leader.token == lead_b.term
        await lead_b.resign()
        # a's lease is gone already: resigning finds nothing to end, and says so.
        with pytest.raises(cairn.LeaseNotFound):
            await lead_a.resign()


async def test_campaign_on_own_lease(client: cairn.Client, name: str) -> None:
    lease = await client.grant_lease(5.0)
    async with client.keep_alive(lease):
        async with await client.campaign(name, "v", lease=lease.id, candidate="own") as lead:
            assert lead.lease_id == lease.id and lead.is_leader()
        assert (await client.leader(name)).leader is None
        assert await client.lease_time_to_live(lease.id) is not None
    await client.revoke_lease(lease.id)
