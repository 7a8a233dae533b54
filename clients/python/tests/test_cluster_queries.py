"""The queries orchestrators run, against a real cluster (the Python side of
cluster-tests/tests/queries.rs): lists across namespaces (paged, merged in creation order) with
task progress, counts across namespaces and of orphans, the namespaces with their usage and
limits, and a workflow's history in a time range.

The cluster is shared with the other API tests, so every assertion about "all namespaces" is
narrowed to this test's own namespaces (or its own label), or compares two answers that both
span all of them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

import cairn
from cairn import TaskSpec, TaskStatus

from .cluster import eventually


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def clock_past(t: int) -> Callable[[], Awaitable[bool | None]]:
    """A probe for :func:`eventually`: true once the wall clock is past ``t`` (ms)."""

    async def probe() -> bool | None:
        return True if now_ms() > t else None

    return probe


async def test_lists_and_counts_span_namespaces_with_progress(
    client: cairn.Client, name: str
) -> None:
    ns_a, ns_b, ns_c = f"{name}-a", f"{name}-b", f"{name}-c"
    mine = {ns_a, ns_b}
    suite = {"suite": name}
    created = []
    for ns, n in ((ns_a, 3), (ns_b, 2)):
        for i in range(n):
            wid = f"{ns}-{i}"
            await client.create_workflow(wid, namespace=ns, labels=suite)
            created.append(wid)
    busy = f"{ns_b}-1"
    await client.upsert_tasks(busy, [TaskSpec("x", status=TaskStatus.RUNNING), TaskSpec("y")])

    # Every namespace, two per page, merged in creation order; progress with each workflow.
    seen: list[tuple[str, tuple[int, int, int]]] = []
    listed = 0
    cursor: bytes | None = None
    while True:
        page = await client.list_workflows(
            all_namespaces=True, with_progress=True, limit=2, cursor=cursor
        )
        assert len(page.workflows) <= 2
        assert len(page.progress) == len(page.workflows)
        listed += len(page.workflows)
        seen += [
            (w.id, (p.total, p.running, p.pending))
            for w, p in zip(page.workflows, page.progress, strict=True)
            if w.namespace in mine
        ]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [wid for wid, _ in seen] == created, "pages across namespaces, in creation order"
    for wid, counts in seen:
        assert counts == ((2, 1, 1) if wid == busy else (0, 0, 0)), wid
    # Both span every namespace (other tests' too): the count matches the listing.
    assert await client.count_workflows(all_namespaces=True) == listed

    # Narrowed by a label, exactly this test's workflows, in either order.
    first = await client.list_workflows(all_namespaces=True, labels=suite, limit=2)
    assert [w.id for w in first.workflows] == created[:2] and first.next_cursor is not None
    assert first.progress == [], "progress only when asked"
    ids = [
        w.id async for w in client.iter_workflows(all_namespaces=True, labels=suite, page_size=2)
    ]
    assert ids == created
    desc = [
        w.id
        async for w in client.iter_workflows(
            all_namespaces=True, labels=suite, descending=True, page_size=2
        )
    ]
    assert desc == created[::-1]
    pairs = {
        w.id: (p.total, p.running, p.pending)
        async for w, p in client.iter_workflows_with_progress(
            all_namespaces=True, labels=suite, page_size=2
        )
    }
    assert pairs == {wid: (2, 1, 1) if wid == busy else (0, 0, 0) for wid in created}
    assert await client.count_workflows(all_namespaces=True, labels=suite) == 5
    assert (
        await client.count_workflows(all_namespaces=True, labels=suite, statuses=["PENDING"]) == 5
    )
    # One namespace still lists and counts only its own.
    only_b = await client.list_workflows(namespace=ns_b)
    assert [w.id for w in only_b.workflows] == created[3:] and only_b.progress == []
    assert await client.count_workflows(namespace=ns_b) == 2

    # Orphans, counted in one namespace and across all of them.
    orphan = f"{ns_a}-2"
    lease = await client.grant_lease(30.0)
    await client.adopt_workflow(orphan, "orch", lease.id)
    assert await client.count_workflows(namespace=ns_a, orphaned_only=True) == 0
    await client.revoke_lease(lease.id)
    assert await client.count_workflows(namespace=ns_a, orphaned_only=True) == 1
    assert await client.count_workflows(namespace=ns_b, orphaned_only=True) == 0
    assert await client.count_workflows(all_namespaces=True, orphaned_only=True, labels=suite) == 1
    orphans = [
        w.id
        async for w in client.iter_workflows(all_namespaces=True, orphaned_only=True, labels=suite)
    ]
    assert orphans == [orphan]

    # Namespaces by name, with usage and limits: one that holds nothing but has limits too.
    await client.set_namespace_limits(ns_c, cairn.NamespaceLimits(max_workflows=7))
    namespaces = await client.namespaces()
    names = [q.namespace for q in namespaces]
    assert names == sorted(set(names)), "by name, each once"
    ours = [
        (q.namespace, q.usage.workflows, q.limits.max_workflows)
        for q in namespaces
        if q.namespace in (ns_a, ns_b, ns_c)
    ]
    assert ours == [(ns_a, 3, None), (ns_b, 2, None), (ns_c, 0, 7)]
    assert namespaces[names.index(ns_a)] == await client.namespace_quota(ns_a)
    assert [q.namespace for q in await client.namespaces(serializable=True)] != []


async def test_history_in_a_time_range(client: cairn.Client, name: str) -> None:
    wid = f"{name}-hist"
    await client.create_workflow(wid, namespace=f"{name}-h")
    # Each change waits for the clock to move past the previous event's time (the leader's
    # clock is this host's), so the events have distinct times.
    for event in ("start", "pause", "resume", "pause", "resume"):
        last = (await client.history_all(wid))[-1].time_ms
        await eventually("the clock to move past the last event", clock_past(last))
        await client.transition(wid, event=event)
    events = await client.history_all(wid)
    assert [e.version for e in events] == [1, 2, 3, 4, 5, 6]
    times = [e.time_ms for e in events]
    assert times == sorted(set(times)), "distinct, increasing times"

    since, until = times[2], times[4]
    ranged = await client.history_between(wid, since, until)
    assert ranged == [e for e in events if since <= e.time_ms < until] == events[2:4]
    assert await client.history_between(wid, since_ms=since) == events[2:]
    assert await client.history_between(wid, until_ms=until) == events[:4]
    assert await client.history_between(wid) == events
    assert [e async for e in client.iter_history(wid, from_version=4, since_ms=since)] == events[3:]
    # A range still pages by next_version: one event per page.
    pages: list[list[int]] = []
    version = 0
    while True:
        page = await client.history(
            wid, from_version=version, limit=1, since_ms=times[1], until_ms=times[5]
        )
        pages.append([e.version for e in page.events])
        if page.next_version is None:
            break
        version = page.next_version
    assert pages == [[2], [3], [4], [5]]
    # Nothing in the future, nothing in an empty range; a missing workflow is still NotFound.
    assert await client.history_between(wid, now_ms() + 3_600_000) == []
    assert await client.history_between(wid, times[3], times[3]) == []
    with pytest.raises(cairn.NotFound):
        await client.history_between(f"{name}-missing", since_ms=0)
