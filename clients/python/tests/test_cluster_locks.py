"""Locks against a real 3-node cluster: ``async with client.lock(...)``, try-once and wait
timeouts, eight contending tasks doing fenced compare-and-set writes with no overlap, stale
fences refused, ``guard.lost`` when the lease is revoked or no longer renewed, and release on
exit, on cancellation and from a caller's own lease."""

from __future__ import annotations

import asyncio

import pytest

import cairn

from .cluster import Cluster
from .test_cluster_leases import eventually


async def test_lock_holds_fences_and_releases_on_exit(client: cairn.Client, name: str) -> None:
    async with client.lock(name, ttl=5.0) as guard:
        assert guard.name == name and guard.token > 0 and guard.lease_id > 0
        assert guard.fence == cairn.Fence.for_lock(name, guard.token)
        assert not guard.lost.is_set()
        state = await client.lock_state(name)
        assert state is not None and state.holder is not None
        assert (state.holder.owner, state.holder.token, state.holder.lease_id) == (
            guard.owner,
            guard.token,
            guard.lease_id,
        )
        assert state.waiters == []
        rev = await client.put(f"{name}/k", "v", fence=guard.fence)
        assert rev > guard.token
        assert name in [s.name for s in await client.locks(name)]
    assert guard.released
    assert await client.lock_state(name) is None
    # The lock's own lease was revoked with it.
    assert await client.lease_time_to_live(guard.lease_id) is None
    # A fence of a released lock is stale.
    with pytest.raises(cairn.StaleFence) as e:
        await client.put(f"{name}/k", "w", fence=guard.fence)
    assert e.value.current == 0
    kv = await client.get(f"{name}/k")
    assert kv is not None and kv.value == b"v"


async def test_try_lock_and_wait_timeout(cluster: Cluster, name: str) -> None:
    async with cairn.Client(cluster.endpoints()) as a, cairn.Client(cluster.endpoints()) as b:
        guard = await a.lock(name, ttl=5.0)
        assert await b.try_lock(name, ttl=5.0) is None
        async with b.try_lock(name) as nothing:
            assert nothing is None
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(cairn.WaitTimeout):
            await b.lock(name, ttl=5.0, wait=0.7)
        assert loop.time() - started >= 0.69
        # The timed-out waiter left the line.
        state = await a.lock_state(name)
        assert state is not None and state.waiters == []
        await guard.release()
        second = await b.try_lock(name, ttl=5.0)
        assert second is not None and second.token > guard.token
        await second.release()
        assert await a.lock_state(name) is None


async def test_waiters_are_served_in_line(cluster: Cluster, name: str) -> None:
    async with cairn.Client(cluster.endpoints()) as a, cairn.Client(cluster.endpoints()) as b:
        first = await a.lock(name, ttl=5.0)

        async def wait_in_line() -> cairn.LockGuard:
            return await b.lock(name, ttl=5.0, owner=f"{name}-b")

        waiting = asyncio.create_task(wait_in_line())

        async def queued() -> bool | None:
            s = await a.lock_state(name)
            return True if s is not None and [w.owner for w in s.waiters] == [f"{name}-b"] else None

        await eventually("b in line", queued)
        assert not waiting.done()
        await first.release()
        second = await asyncio.wait_for(waiting, 10.0)
        assert second.owner == f"{name}-b" and second.token > first.token
        await second.release()


async def test_same_owner_gets_the_same_grant(client: cairn.Client, name: str) -> None:
    g1 = await client.lock(name, ttl=5.0, owner="worker-1")
    g2 = await client.lock(name, ttl=5.0, owner="worker-1", wait=1.0)
    assert g2.token == g1.token
    with pytest.raises(cairn.NotHolder):
        await client.release_lock(name, "worker-1", g1.token + 1)
    lease = await client.refresh_lock(name, "worker-1", g1.token)
    assert lease.id == g1.lease_id
    with pytest.raises(cairn.NotHolder):
        await client.refresh_lock(name, "someone-else", g1.token)
    await g1.release()
    # g2 named the same lease, which is gone now: its release finds nothing to do.
    with pytest.raises(cairn.LeaseNotFound):
        await g2.release()


async def test_eight_tasks_contending_never_overlap(cluster: Cluster, name: str) -> None:
    rounds = 5
    tasks_n = 8
    counter = f"{name}/counter"
    clients = [cairn.Client(cluster.endpoints()) for _ in range(4)]
    holders = 0
    max_holders = 0
    tokens: list[int] = []
    try:
        await clients[0].put(counter, "0")

        async def worker(c: cairn.Client) -> None:
            nonlocal holders, max_holders
            for _ in range(rounds):
                async with c.lock(name, ttl=5.0, wait=60.0) as g:
                    holders += 1
                    max_holders = max(max_holders, holders)
                    try:
                        tokens.append(g.token)
                        kv = await c.get(counter)
                        assert kv is not None
                        # Let the others run (and queue up) while this one holds the lock.
                        await asyncio.sleep(0.01)
                        await c.put(
                            counter,
                            str(int(kv.value) + 1),
                            expected_revision=kv.mod_revision,
                            fence=g.fence,
                        )
                        assert holders == 1
                    finally:
                        holders -= 1

        await asyncio.wait_for(
            asyncio.gather(*(worker(clients[i % len(clients)]) for i in range(tasks_n))), 120.0
        )
        assert max_holders == 1
        kv = await clients[0].get(counter)
        assert kv is not None and int(kv.value) == rounds * tasks_n
        # Every grant has its own, larger token.
        assert tokens == sorted(tokens) and len(set(tokens)) == rounds * tasks_n

        # A holder of an older grant is fenced off while the lock is held again.
        async with clients[1].lock(name, ttl=5.0) as g:
            with pytest.raises(cairn.StaleFence) as e:
                await clients[2].put(counter, "stale", fence=cairn.Fence.for_lock(name, tokens[-1]))
            assert e.value.current == g.token
            with pytest.raises(cairn.StaleFence):
                await clients[2].delete(counter, fence=cairn.Fence.for_lock(name, tokens[0]))
        kv = await clients[0].get(counter)
        assert kv is not None and int(kv.value) == rounds * tasks_n
    finally:
        for c in clients:
            await c.close()


async def test_fenced_workflow_transitions(client: cairn.Client, name: str) -> None:
    wf = (await client.create_workflow(f"{name}-wf")).workflow
    async with client.lock(name, ttl=5.0) as old:
        ref = await client.transition(wf.id, event="start", fence=old.fence)
    async with client.lock(name, ttl=5.0) as new:
        assert new.token > old.token
        with pytest.raises(cairn.StaleFence) as e:
            await client.transition(wf.id, event="pause", fence=old.fence)
        assert e.value.current == new.token
        got = await client.get_workflow(wf.id)
        assert got is not None and got.workflow.version == ref.version
        await client.update_workflow(wf.id, metadata_patch={"by": "new"}, fence=new.fence)


async def test_lost_fires_when_the_lease_is_revoked(cluster: Cluster, name: str) -> None:
    async with cairn.Client(cluster.endpoints()) as a, cairn.Client(cluster.endpoints()) as b:
        async with a.lock(name, ttl=1.5) as guard:
            assert not guard.lost.is_set()
            await b.revoke_lease(guard.lease_id)
            await asyncio.wait_for(guard.lost.wait(), 5.0)
            assert guard.is_lost()
            with pytest.raises(cairn.StaleFence):
                await a.put(f"{name}/k", "v", fence=guard.fence)
            # Someone else gets the lock at once.
            other = await b.try_lock(name, ttl=5.0)
            assert other is not None and other.token > guard.token
            await other.release()
        # Leaving the block did not raise, though the release found the lease gone.
        assert guard.released


async def test_lost_fires_when_renewals_stop(cluster: Cluster, name: str) -> None:
    a = cairn.Client(cluster.endpoints())
    async with cairn.Client(cluster.endpoints()) as b:
        guard = await a.lock(name, ttl=1.0)
        loop = asyncio.get_running_loop()
        # Renewed: held past several TTLs.
        end = loop.time() + 2.5
        while loop.time() < end:
            s = await b.lock_state(name)
            assert s is not None and s.holder is not None and s.holder.token == guard.token
            assert not guard.lost.is_set()
            await asyncio.sleep(0.2)
        # The client goes away: nothing renews the lease any more, the guard says so, and
        # the cluster frees the lock about one TTL later.
        await a.close()
        await asyncio.wait_for(guard.lost.wait(), 5.0)
        got = await b.lock(name, ttl=5.0, wait=10.0)
        assert got.token > guard.token
        await got.release()


async def test_release_on_cancellation(client: cairn.Client, name: str) -> None:
    entered = asyncio.Event()

    async def holder() -> None:
        async with client.lock(name, ttl=30.0):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(holder())
    await asyncio.wait_for(entered.wait(), 10.0)
    assert await client.lock_state(name) is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def free() -> bool | None:
        return True if await client.lock_state(name) is None else None

    # Released at once, not after the 30 s TTL.
    await eventually("the lock released by the cancelled holder", free, timeout=5.0)


async def test_lock_on_own_lease(client: cairn.Client, name: str) -> None:
    lease = await client.grant_lease(5.0)
    async with client.keep_alive(lease):
        async with client.lock(name, lease=lease.id) as guard:
            assert guard.lease_id == lease.id
            assert not guard.lost.is_set()
        assert await client.lock_state(name) is None
        # Only the lock was released; the lease lives on.
        assert await client.lease_time_to_live(lease.id) is not None
    await client.revoke_lease(lease.id)


async def test_bad_names_are_refused(client: cairn.Client) -> None:
    with pytest.raises(cairn.InvalidArgument):
        await client.lock("bad name with spaces", ttl=5.0)
    with pytest.raises(cairn.InvalidArgument):
        await client.try_lock("ok-name", ttl=0.01)
