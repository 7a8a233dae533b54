"""Watch against real clusters: KV and workflow changes in revision order (with a namespace +
status selector seeing workflows enter and leave the set), a watch that survives the kill -9
and restart of the node serving it with exactly the written revisions delivered, a start
revision older than the nodes' history answered with a reset carrying the objects, and closing
a watch (aclose, leaving ``async with``, cancelling the consuming task) closing its server
stream."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cairn

from .cluster import Cluster, free_port

#: How long a test waits for the watch to deliver what was written.
DELIVERY_DEADLINE = 30.0


async def eventually(what: str, probe: Callable[[], bool], timeout: float = 30.0) -> None:
    """Waits (polling) until ``probe()`` holds, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not probe():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


async def collect_until(w: cairn.WatchStream, revision: int) -> list[cairn.WatchItem]:
    """Items until every revision up to ``revision`` was delivered (bounded in time)."""
    items: list[cairn.WatchItem] = []

    async def run() -> None:
        async for item in w:
            items.append(item)
            if item.revision >= revision:
                return

    await asyncio.wait_for(run(), DELIVERY_DEADLINE)
    return items


def event_list(items: list[cairn.WatchItem]) -> list[cairn.WatchEvent]:
    return [e for i in items if isinstance(i, cairn.WatchEvents) for e in i.events]


# ---- ordering and decoding, on the shared cluster ----


async def test_kv_and_workflow_changes_arrive_in_revision_order(
    client: cairn.Client, name: str
) -> None:
    ns, wid = f"{name}-ns", f"{name}-wf"
    base = await client.put(f"{name}/k/start", "0")
    all_changes = client.watch(
        cairn.KvSelector(f"{name}/k/"),
        cairn.WorkflowSelector(id=wid),
        cairn.TaskSelector(wid),
        start_revision=base + 1,
    )
    running = client.watch(
        cairn.WatchFilter().workflows_in(ns, ["RUNNING"]), start_revision=base + 1
    )
    async with all_changes as w, running as wr:
        expected: list[tuple[int, type]] = []
        expected.append((await client.put(f"{name}/k/a", "1"), cairn.KvPut))
        expected.append((await client.put(f"{name}/k/a", "2"), cairn.KvPut))
        await client.put(f"{name}/other", "not watched")
        created = await client.create_workflow(wid, namespace=ns, metadata={"n": 1})
        expected.append((created.revision, cairn.WorkflowChanged))
        started = await client.transition(wid, event="start", expected_version=1)
        expected.append((started.revision, cairn.WorkflowChanged))
        tasks = await client.upsert_tasks(wid, [cairn.TaskSpec("t1", name="fetch")])
        expected.append((tasks.revision, cairn.TaskChanged))
        paused = await client.pause_workflow(wid)
        expected.append((paused.revision, cairn.WorkflowChanged))
        deleted = await client.delete(f"{name}/k/a")
        expected.append((deleted.revision, cairn.KvDelete))

        got = event_list(await collect_until(w, deleted.revision))
        ns_got = event_list(await collect_until(wr, paused.revision))

    assert [(e.revision, type(e.change)) for e in got] == expected
    revs = [e.revision for e in got]
    assert revs == sorted(set(revs)), "strictly increasing, none twice"

    first, second = got[0].change, got[1].change
    assert isinstance(first, cairn.KvPut) and first.prev is None
    assert first.kv.key == f"{name}/k/a".encode() and first.kv.value == b"1"
    assert isinstance(second, cairn.KvPut) and second.prev is not None
    assert (second.prev.value, second.kv.value, second.kv.version) == (b"1", b"2", 2)
    created_change = got[2].change
    assert isinstance(created_change, cairn.WorkflowChanged)
    assert created_change.prev_status is None and created_change.workflow.metadata == {"n": 1}
    assert created_change.workflow.namespace == ns and created_change.workflow.version == 1
    assert created_change.history is not None
    assert created_change.history.kind == cairn.HistoryKind.CREATED
    start_change = got[3].change
    assert isinstance(start_change, cairn.WorkflowChanged)
    assert (start_change.prev_status, start_change.workflow.status) == ("PENDING", "RUNNING")
    assert start_change.history is not None and start_change.history.event == "start"
    task_change = got[4].change
    assert isinstance(task_change, cairn.TaskChanged)
    assert (task_change.task.id, task_change.task.name) == ("t1", "fetch")
    assert task_change.task.status == cairn.TaskStatus.PENDING
    delete_change = got[6].change
    assert isinstance(delete_change, cairn.KvDelete) and delete_change.prev is not None
    assert delete_change.prev.value == b"2"

    # The namespace watch saw the workflow enter RUNNING and leave it, not its creation.
    assert [e.revision for e in ns_got] == [started.revision, paused.revision]
    statuses = [
        (e.change.prev_status, e.change.workflow.status)
        for e in ns_got
        if isinstance(e.change, cairn.WorkflowChanged)
    ]
    assert statuses == [("PENDING", "RUNNING"), ("RUNNING", "PAUSED")]


async def test_locks_elections_and_checkpoints_are_watched(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid)
    base = await client.put(f"{name}/start", "0")
    async with client.watch(
        cairn.WatchFilter()
        .locks_prefix(f"{name}/")
        .elections_prefix(f"{name}/")
        .checkpoints_of(wid)
        .kv_prefix(f"{name}/end"),
        start_revision=base + 1,
    ) as w:
        async with client.lock(f"{name}/lock", ttl=5.0) as guard:
            token, owner = guard.token, guard.owner
        leadership = await client.campaign(f"{name}/election", b"v1", ttl=5.0)
        term = leadership.term
        await leadership.resign()
        saved = await client.save_checkpoint(wid, b"state", label="first")
        end = await client.put(f"{name}/end", "done")
        got = event_list(await collect_until(w, end))

    revs = [e.revision for e in got]
    assert revs == sorted(revs) and revs[-1] == end
    changes = [e.change for e in got]
    locks = [c for c in changes if isinstance(c, (cairn.LockChanged, cairn.LockDeleted))]
    assert isinstance(locks[0], cairn.LockChanged) and locks[0].lock.holder is not None
    assert (locks[0].lock.name, locks[0].lock.holder.owner) == (f"{name}/lock", owner)
    assert locks[0].lock.holder.token == token
    assert locks[-1] == cairn.LockDeleted(f"{name}/lock")
    elections = [
        c for c in changes if isinstance(c, (cairn.ElectionChanged, cairn.ElectionDeleted))
    ]
    assert isinstance(elections[0], cairn.ElectionChanged)
    leader = elections[0].election.leader
    assert leader is not None and (leader.value, leader.token) == (b"v1", term)
    assert elections[-1] == cairn.ElectionDeleted(f"{name}/election")
    checkpoints = [c for c in changes if isinstance(c, cairn.CheckpointSaved)]
    assert [(c.checkpoint.id, c.checkpoint.label) for c in checkpoints] == [(saved.id, "first")]
    assert checkpoints[0].checkpoint.workflow_id == wid
    assert checkpoints[0].checkpoint.raw_size == len(b"state")
    # Only what was selected: no event of the workflow itself, nor of other keys.
    assert not [c for c in changes if isinstance(c, (cairn.WorkflowChanged, cairn.TaskChanged))]


async def test_variables_are_watched_by_scope_and_namespace(
    client: cairn.Client, name: str
) -> None:
    ns, wid = f"{name}-ns", f"{name}-wf"
    await client.create_workflow(wid, namespace=ns)
    base = await client.put(f"{name}/start", "0")
    in_ns = client.watch(cairn.WatchFilter().vars_in(ns), start_revision=base + 1)
    of_wf = client.watch(
        cairn.VarsSelector(scope=cairn.VarScope.workflow(wid)), start_revision=base + 1
    )
    async with in_ns as w, of_wf as wf:
        on_ns = await client.update_vars(cairn.VarScope.namespace(ns), set={"x": 1})
        on_wf = await client.update_vars(cairn.VarScope.workflow(wid), set={"y": 2})
        await client.update_vars(cairn.VarScope.namespace(f"{ns}-other"), set={"z": 3})
        deleted = await client.delete_workflow(wid, force=True)
        got = event_list(await collect_until(w, deleted.revision))
        got_wf = event_list(await collect_until(wf, deleted.revision))

    assert [(e.revision, type(e.change)) for e in got] == [
        (on_ns.revision, cairn.VarsChanged),
        (on_wf.revision, cairn.VarsChanged),
        (deleted.revision, cairn.VarsDeleted),
    ]
    assert got_wf == got[1:], "one scope's watch: only the workflow's variables"
    first, second, gone = (e.change for e in got)
    assert isinstance(first, cairn.VarsChanged) and isinstance(second, cairn.VarsChanged)
    assert (first.scope, first.namespace) == (cairn.VarScope.namespace(ns), ns)
    assert (first.vars.version, first.vars.values) == (on_ns.version, {"x": 1})
    assert first.vars.checksum == on_ns.checksum
    assert (second.scope, second.namespace) == (cairn.VarScope.workflow(wid), ns)
    assert second.vars.values == {"y": 2} and second.vars.mod_revision == on_wf.revision
    assert gone == cairn.VarsDeleted(cairn.VarScope.workflow(wid), ns)

    # A snapshot of the same filter has the namespace's variables (the workflow's are gone).
    snap = await client.watch_snapshot(cairn.WatchFilter().vars_in(ns))
    assert snap.revision >= deleted.revision
    assert [(o.scope, o.namespace) for o in snap.objects if isinstance(o, cairn.ScopedVars)] == [
        (cairn.VarScope.namespace(ns), ns)
    ]
    assert len(snap.objects) == 1


async def test_requested_progress_reaches_a_linearizable_read(
    client: cairn.Client, name: str
) -> None:
    # No timer: every progress item answers a request.
    async with client.watch(cairn.KvSelector(f"{name}/watched/"), progress_notify=None) as w:
        start = w.last_revision
        assert start is not None
        # Writes the watch does not select move the cluster on; r is a linearizable read's.
        for i in range(5):
            await client.put(f"{name}/elsewhere/{i}", "x")
        r = (await client.range(f"{name}/elsewhere/")).revision
        assert r > start
        progress: list[cairn.WatchItem] = []

        async def until_there() -> None:
            while (w.last_revision or 0) < r:
                assert await w.request_progress()
                try:
                    progress.append(await asyncio.wait_for(w.__anext__(), 0.2))
                except asyncio.TimeoutError:
                    pass  # a lagging node answered lower: ask again

        await asyncio.wait_for(until_there(), DELIVERY_DEADLINE)
        assert progress and all(isinstance(p, cairn.WatchProgress) for p in progress)
        assert progress[-1].revision >= r and w.last_revision == progress[-1].revision


async def test_watch_from_now_starts_after_the_current_revision(
    client: cairn.Client, name: str
) -> None:
    before = await client.put(f"{name}/before", "x")
    async with client.watch(cairn.KvSelector(f"{name}/")) as w:
        # Live: the watch is pinned at or after `before`, so only later writes come.
        assert w.last_revision is not None and w.last_revision >= before
        after = await client.put(f"{name}/after", "y")
        got = event_list(await collect_until(w, after))
    assert [(e.revision, type(e.change)) for e in got] == [(after, cairn.KvPut)]


async def test_an_invalid_selector_is_refused(client: cairn.Client) -> None:
    with pytest.raises(cairn.InvalidArgument):
        async with client.watch(cairn.WorkflowSelector(namespace="x", statuses=[""])):
            pass


# ---- a node's death and restart ----


def node_of(cluster: Cluster, addr: str | None) -> int:
    for p in cluster.nodes:
        if p.client_addr == addr:
            return p.id
    raise AssertionError(f"{addr} is not a node of the cluster")


async def test_watch_survives_kill_and_restart_of_its_node(
    new_cluster: Callable[..., Cluster],
) -> None:
    cluster = new_cluster()
    prefix = "seq/"
    delivered: list[int] = []
    values: list[bytes] = []
    resets: list[cairn.WatchReset] = []
    async with (
        cairn.Client(cluster.endpoints(), retry_deadline=30.0) as writer,
        cairn.Client(cluster.endpoints()) as watcher,
    ):
        n = 0

        async def put_next() -> int:
            nonlocal n
            rev = await writer.put(f"{prefix}{n:04d}", str(n))
            n += 1
            return rev

        written = [await put_next()]
        async with watcher.watch(
            cairn.KvSelector(prefix), start_revision=written[0], progress_notify=0.2
        ) as w:

            async def consume() -> None:
                async for item in w:
                    if isinstance(item, cairn.WatchReset):
                        resets.append(item)
                    for e in item.events if isinstance(item, cairn.WatchEvents) else []:
                        assert isinstance(e.change, cairn.KvPut)
                        delivered.append(e.revision)
                        values.append(e.change.kv.value)

            consumer = asyncio.create_task(consume())
            try:
                for _ in range(20):
                    written.append(await put_next())
                await eventually("the first writes delivered", lambda: delivered == written)
                victim = node_of(cluster, w.endpoint)
                victim_addr = cluster.node(victim).client_addr

                await asyncio.to_thread(cluster.kill, victim)
                for _ in range(50):
                    written.append(await put_next())
                await eventually("the writes made while down", lambda: delivered == written)
                assert w.endpoint is not None and w.endpoint != victim_addr
                assert w.reconnects >= 1

                await asyncio.to_thread(cluster.spawn, victim)
                await asyncio.to_thread(cluster.leader, 30.0)
                for _ in range(20):
                    written.append(await put_next())
                await eventually("the writes after the restart", lambda: delivered == written)
                assert not consumer.done(), "the watch ended"
            finally:
                consumer.cancel()
    assert not resets, "the other nodes still had the history: no reset expected"
    assert delivered == written, "exactly the written revisions, in order: no gap, no duplicate"
    assert values == [str(i).encode() for i in range(len(written))]
    assert len(written) == 91


# ---- history compaction and closing, on a cluster with a short history and metrics ----


@dataclass
class MetricsCluster(Cluster):
    """A cluster whose nodes serve /metrics (node id -> HTTP address)."""

    http: dict[int, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def short_history(
    binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetricsCluster]:
    """A cluster whose nodes keep only 20 changed revisions for watchers, with /metrics."""
    http = {i: f"127.0.0.1:{free_port()}" for i in (1, 2, 3)}
    c = MetricsCluster(
        tmp_path_factory.mktemp("watch-history"),
        extra_args=("--watch-history-revisions", "20"),
        node_args=lambda i: ("--http-addr", http[i]),
        http=http,
    )
    c.start()
    yield c
    c.kill_all()


async def test_a_compacted_start_revision_yields_a_reset_with_the_objects(
    short_history: MetricsCluster,
) -> None:
    c = short_history
    async with cairn.Client(c.endpoints()) as client:
        last = 0
        for i in range(60):
            last = await client.put(f"c/{i % 25:02d}", str(i))
        last = (await client.delete("c/00")).revision
        wid = "compacted-wf"
        await client.create_workflow(wid, metadata={"k": "v"})
        last = (await client.transition(wid, event="start")).revision

        w = client.watch(cairn.KvSelector("c/"), cairn.WorkflowSelector(id=wid), start_revision=1)
        async with w:
            first = await asyncio.wait_for(w.__anext__(), DELIVERY_DEADLINE)
            assert isinstance(first, cairn.WatchReset), f"expected a reset, got {first!r}"
            assert first.revision >= last
            assert w.last_revision == first.revision
            kvs = [o for o in first.objects if isinstance(o, cairn.KeyValue)]
            wfs = [o for o in first.objects if isinstance(o, cairn.Workflow)]
            assert len(kvs) + len(wfs) == len(first.objects)
            expected = await client.range_all("c/")
            assert sorted(kvs, key=lambda kv: kv.key) == expected
            assert len(expected) == 24 and all(kv.key != b"c/00" for kv in kvs)
            assert [(x.id, x.status, x.metadata) for x in wfs] == [(wid, "RUNNING", {"k": "v"})]

            # Then the changes after the reset, none before it.
            after = await client.put("c/after", "x")
            got = event_list(await collect_until(w, after))
            assert [e.revision for e in got] == [after]


def watchers(cluster: MetricsCluster, node: int) -> float:
    """The node's ``cairn_watchers`` gauge (open watch streams)."""
    addr = cluster.http[node]
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("cairn_watchers ") or line.startswith("cairn_watchers{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def gauge_is(cluster: MetricsCluster, node: int, value: float) -> None:
    async def read() -> float:
        return await asyncio.to_thread(watchers, cluster, node)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (current := await read()) != value:
        if loop.time() > deadline:
            raise AssertionError(f"node {node} has {current} watch streams, expected {value}")
        await asyncio.sleep(0.05)


async def test_closing_a_watch_closes_its_server_stream(short_history: MetricsCluster) -> None:
    c = short_history
    async with cairn.Client(c.endpoints()) as client:
        # aclose() on a stream in use.
        w = client.watch(cairn.KvSelector("close/"))
        await w.__aenter__()
        node = node_of(c, w.endpoint)
        await gauge_is(c, node, 1)
        await w.aclose()
        await gauge_is(c, node, 0)
        with pytest.raises(StopAsyncIteration):
            await w.__anext__()

        # Leaving `async with` by a break out of the loop.
        rev = await client.put("close/a", "1")
        async with client.watch(cairn.KvSelector("close/"), start_revision=rev) as w:
            node = node_of(c, w.endpoint)
            async for item in w:
                assert item.revision == rev
                await gauge_is(c, node, 1)
                break
        await gauge_is(c, node, 0)

        # Cancelling the task that consumes it.
        seen = asyncio.Event()
        at: dict[str, Any] = {}

        async def consume() -> None:
            async with client.watch(cairn.KvSelector("close/"), start_revision=rev) as w:
                at["node"] = node_of(c, w.endpoint)
                async for _ in w:
                    seen.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(seen.wait(), DELIVERY_DEADLINE)
        await gauge_is(c, at["node"], 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gauge_is(c, at["node"], 0)
