"""The workflow cache against real clusters: after ``sync()`` every workflow and variable set
of the namespace equals a direct linearizable read (20 workflows, variables on some and on the
namespace, deletes taking workflows and their variables away), ``wait_for(r)`` reads a
transition's own write back, other namespaces never appear, the cache survives the kill -9 of
the node serving its watch and still converges, and ``sync()`` on a quiet cluster returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import cairn

from .cluster import Cluster

#: How long a test gives one sync or wait (the cache's own limit is the request timeout).
DEADLINE = 30.0


async def assert_matches(client: cairn.Client, cache: cairn.WorkflowCache, ns: str) -> None:
    """The cache equals linearizable reads of the namespace's workflows and variables (made
    after the cache synced, with nothing written since)."""
    page = await client.list_workflows(namespace=ns, limit=1000)
    direct = {w.id: w for w in page.workflows}
    assert {w.id: w for w in cache.workflows()} == direct
    assert [w.id for w in cache.workflows()] == sorted(direct), "by id"
    for wid in direct:
        scope = cairn.VarScope.workflow(wid)
        assert cache.vars(scope) == await client.vars(scope), wid
    ns_scope = cairn.VarScope.namespace(ns)
    assert cache.vars(ns_scope) == await client.vars(ns_scope)


async def test_the_cache_equals_linearizable_reads_after_sync(
    client: cairn.Client, name: str
) -> None:
    ns = f"{name}-ns"
    ns_scope = cairn.VarScope.namespace(ns)
    # Before the cache: in its snapshot.
    await client.update_vars(ns_scope, set={"mode": "fast"})
    pre = [f"{name}-pre-{i}" for i in range(3)]
    for wid in pre:
        await client.create_workflow(wid, namespace=ns)
    await client.update_vars(cairn.VarScope.workflow(pre[0]), set={"cursor": 0})

    async with client.workflow_cache(ns) as cache:
        assert sorted(w.id for w in cache.workflows()) == pre
        snap_vars = cache.vars(ns_scope)
        assert snap_vars is not None and snap_vars.values == {"mode": "fast"}

        ids = [f"{name}-{i:02d}" for i in range(20)]
        await asyncio.gather(
            *(
                client.create_workflow(wid, namespace=ns, metadata={"i": i}, labels={"n": str(i)})
                for i, wid in enumerate(ids)
            )
        )
        for i, wid in enumerate(ids[::3]):
            await client.update_vars(cairn.VarScope.workflow(wid), set={"i": i, "tag": wid})
        for wid in ids[:8]:
            await client.transition(wid, event="start")
        await client.update_workflow(ids[1], metadata_patch={"progress": 0.5})
        await client.update_vars(ns_scope, set={"mode": "safe", "limit": 3}, delete=["x"])
        await client.update_vars(cairn.VarScope.workflow(ids[0]), delete=["tag"])

        r = await asyncio.wait_for(cache.sync(), DEADLINE)
        assert cache.revision >= r
        assert len(cache) == 23
        await assert_matches(client, cache, ns)
        w1 = cache.workflow(ids[1])
        assert w1 is not None and w1.status == "RUNNING" and w1.metadata["progress"] == 0.5

        # Deletes take the workflows and their variables away.
        gone = ids[:6]
        for wid in gone:
            await client.delete_workflow(wid, force=True)
        await client.delete_workflow(pre[0], force=True)
        await asyncio.wait_for(cache.sync(), DEADLINE)
        for wid in [*gone, pre[0]]:
            assert cache.workflow(wid) is None
            assert cache.vars(cairn.VarScope.workflow(wid)) is None
        assert len(cache) == 16
        await assert_matches(client, cache, ns)
    assert cache.closed


async def test_wait_for_reads_your_own_writes(cluster: Cluster, name: str) -> None:
    ns, wid = f"{name}-ns", f"{name}-wf"
    # Writer and cache on different clients, the cache's watch on whichever node answers.
    async with (
        cairn.Client(cluster.endpoints()) as writer,
        cairn.Client(list(reversed(cluster.endpoints()))) as reader,
    ):
        created = await writer.create_workflow(wid, namespace=ns)
        async with reader.workflow_cache(ns) as cache:
            await asyncio.wait_for(cache.wait_for(created.revision), DEADLINE)
            assert cache.workflow(wid) is not None
            for event, status in [
                ("start", "RUNNING"),
                ("pause", "PAUSED"),
                ("resume", "RUNNING"),
                ("finish", "COMPLETED"),
            ]:
                ref = await writer.transition(wid, event=event)
                await asyncio.wait_for(cache.wait_for(ref.revision), DEADLINE)
                assert cache.revision >= ref.revision
                got = cache.workflow(wid)
                assert got is not None and (got.status, got.version) == (status, ref.version)
            for n in range(3):
                written = await writer.update_vars(cairn.VarScope.workflow(wid), set={"n": n})
                await asyncio.wait_for(cache.wait_for(written.revision), DEADLINE)
                v = cache.vars(cairn.VarScope.workflow(wid))
                assert v is not None and (v.version, v.values) == (written.version, {"n": n})
                assert v.checksum == written.checksum


async def test_other_namespaces_never_appear(client: cairn.Client, name: str) -> None:
    ns = f"{name}-ns"
    # Names that share a prefix with the cached namespace, and the default namespace.
    others = [f"{ns}-other", f"{name}-n", "default"]
    async with client.workflow_cache(ns) as cache:
        mine = await client.create_workflow(f"{name}-mine", namespace=ns)
        await client.update_vars(cairn.VarScope.workflow(mine.workflow.id), set={"a": 1})
        foreign: list[str] = []
        for i, other in enumerate(others):
            wid = f"{name}-foreign-{i}"
            await client.create_workflow(wid, namespace=other)
            await client.transition(wid, event="start")
            await client.update_vars(cairn.VarScope.workflow(wid), set={"b": 2})
            await client.update_vars(cairn.VarScope.namespace(other), set={"c": 3})
            foreign.append(wid)
        await asyncio.wait_for(cache.sync(), DEADLINE)
        assert [w.id for w in cache.workflows()] == [mine.workflow.id]
        assert all(w.namespace == ns for w in cache.workflows())
        for wid in foreign:
            assert cache.workflow(wid) is None
            assert cache.vars(cairn.VarScope.workflow(wid)) is None
        for other in others:
            assert cache.vars(cairn.VarScope.namespace(other)) is None
        assert cache.vars(cairn.VarScope.workflow(mine.workflow.id)) is not None
        assert cache.vars(cairn.VarScope.namespace(ns)) is None


async def test_sync_on_a_quiet_cluster_returns(client: cairn.Client, name: str) -> None:
    ns = f"{name}-ns"
    await client.create_workflow(f"{name}-wf", namespace=ns)
    async with client.workflow_cache(ns) as cache:
        await asyncio.sleep(1.0)  # nothing written for a while: the watch has nothing to send
        r = await asyncio.wait_for(cache.sync(), DEADLINE)
        assert cache.revision >= r
        # Again at once, and a wait for what is already there.
        r2 = await asyncio.wait_for(cache.sync(), DEADLINE)
        assert r2 >= r and cache.revision >= r2
        await asyncio.wait_for(cache.wait_for(r2), DEADLINE)
        assert [w.id for w in cache.workflows()] == [f"{name}-wf"]


def node_of(cluster: Cluster, addr: str | None) -> int:
    for p in cluster.nodes:
        if p.client_addr == addr:
            return p.id
    raise AssertionError(f"{addr} is not a node of the cluster")


async def test_the_cache_survives_the_death_of_its_watch_node(
    new_cluster: Callable[..., Cluster],
) -> None:
    cluster = new_cluster()
    ns = "survivor"
    async with (
        cairn.Client(cluster.endpoints(), retry_deadline=30.0) as writer,
        cairn.Client(cluster.endpoints(), retry_deadline=30.0) as reader,
    ):
        await writer.update_vars(cairn.VarScope.namespace(ns), set={"phase": 0})
        for i in range(10):
            await writer.create_workflow(f"wf-{i:02d}", namespace=ns)
        async with reader.workflow_cache(ns) as cache:
            for i in range(10, 20):
                await writer.create_workflow(f"wf-{i:02d}", namespace=ns)
            await asyncio.wait_for(cache.sync(), DEADLINE)
            await assert_matches(writer, cache, ns)

            victim = node_of(cluster, cache.endpoint)
            await asyncio.to_thread(cluster.kill, victim)

            # More writes while the watch moves to another node (and, if the victim led,
            # while a new leader is elected).
            for i in range(20, 30):
                await writer.create_workflow(f"wf-{i:02d}", namespace=ns)
            for i in range(0, 30, 4):
                await writer.transition(f"wf-{i:02d}", event="start")
                await writer.update_vars(cairn.VarScope.workflow(f"wf-{i:02d}"), set={"i": i})
            for i in range(25, 30):
                await writer.delete_workflow(f"wf-{i:02d}", force=True)
            await writer.update_vars(cairn.VarScope.namespace(ns), set={"phase": 1})

            await asyncio.wait_for(cache.sync(), DEADLINE)
            assert cache.endpoint is not None
            assert node_of(cluster, cache.endpoint) != victim
            assert cache.reconnects >= 1
            assert len(cache) == 25
            await assert_matches(writer, cache, ns)
            phase = cache.vars(cairn.VarScope.namespace(ns))
            assert phase is not None and phase.values == {"phase": 1}
