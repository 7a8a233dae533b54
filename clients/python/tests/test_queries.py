"""The query API's conversions without a cluster: lists across namespaces with task progress,
counts across namespaces and of orphans, the list of namespaces, and history in a time range.
The requests are checked as an in-process fake node receives them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import cairn
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.config import ClientSettings

from .fakes import COUNT_WORKFLOWS, GET_HISTORY, LIST_NAMESPACES, LIST_WORKFLOWS, FakeNode, Ok

FAST: ClientSettings = {"backoff_base": 0.001, "backoff_max": 0.01, "request_timeout": 1.0}


@pytest.fixture
async def node() -> AsyncIterator[FakeNode]:
    n = await FakeNode().start()
    yield n
    await n.stop()


def test_namespace_quota_from_a_listed_message() -> None:
    q = cairn.NamespaceQuota.from_msg(
        pb.NamespaceQuota(
            namespace="etl",
            limits=pb.NamespaceLimits(max_workflows=10),
            usage=pb.NamespaceUsage(workflows=3, checkpoint_bytes=512),
        )
    )
    assert q == cairn.NamespaceQuota(
        "etl", cairn.NamespaceLimits(max_workflows=10), cairn.NamespaceUsage(3, 512)
    )
    # No limits at all: every limit None, usage zero.
    bare = cairn.NamespaceQuota.from_msg(pb.NamespaceQuota(namespace="x"))
    assert bare == cairn.NamespaceQuota("x", cairn.NamespaceLimits(), cairn.NamespaceUsage(0, 0))


def test_workflow_page_progress_pairs_with_workflows() -> None:
    resp = pb.ListWorkflowsResponse(
        workflows=[pb.Workflow(id="a", namespace="n1"), pb.Workflow(id="b", namespace="n2")],
        progress=[
            pb.WorkflowProgress(),
            pb.WorkflowProgress(total=2, pending=1, running=1, duration_ms=7),
        ],
        next_cursor=b"c",
        revision=9,
    )
    page = cairn.WorkflowPage.from_pb(resp, with_progress=True)
    assert [w.id for w in page.workflows] == ["a", "b"]
    assert (page.next_cursor, page.count, page.revision) == (b"c", None, 9)
    assert page.progress[0] == cairn.Progress(0, 0, 0, 0, 0, 0, 0, None, 0)
    assert page.progress[1] == cairn.Progress(2, 1, 1, 0, 0, 0, 0, None, 7)
    # Not asked for: none, and a page made by hand has none either.
    plain = cairn.WorkflowPage.from_pb(pb.ListWorkflowsResponse(workflows=[pb.Workflow(id="a")]))
    assert plain.progress == [] and plain.next_cursor is None
    assert cairn.WorkflowPage([], None, None, 1).progress == []
    # Asked for but missing (a node that does not know the field), or not one per workflow.
    for progress in ([], [pb.WorkflowProgress()]):
        bad = pb.ListWorkflowsResponse(workflows=resp.workflows, progress=progress)
        with pytest.raises(cairn.RpcError) as info:
            cairn.WorkflowPage.from_pb(bad, with_progress=True)
        assert info.value.code == grpc.StatusCode.INTERNAL


async def test_lists_across_namespaces_with_progress_follow_cursors(node: FakeNode) -> None:
    def pages(req: Any, md: dict[str, str]) -> Ok:
        first = req.cursor == b""
        ids = ["a", "b"] if first else ["c"]
        return Ok(
            pb.ListWorkflowsResponse(
                workflows=[pb.Workflow(id=i, namespace=f"ns-{i}") for i in ids],
                progress=(
                    [pb.WorkflowProgress(total=len(i), running=1) for i in ids]
                    if req.with_progress
                    else []
                ),
                next_cursor=b"page-2" if first else b"",
            )
        )

    node.handlers[LIST_WORKFLOWS] = pages
    async with cairn.Client([node.addr], **FAST) as c:
        got = [
            (w.id, w.namespace, p.running)
            async for w, p in c.iter_workflows_with_progress(all_namespaces=True, page_size=2)
        ]
        assert got == [("a", "ns-a", 1), ("b", "ns-b", 1), ("c", "ns-c", 1)]
        reqs = [s.request for s in node.calls(LIST_WORKFLOWS)]
        assert [(r.cursor, r.limit, r.with_progress, r.all_namespaces) for r in reqs] == [
            (b"", 2, True, True),
            (b"page-2", 2, True, True),
        ]
        ids = [w.id async for w in c.iter_workflows(all_namespaces=True, statuses=["RUNNING"])]
        assert ids == ["a", "b", "c"]
        r = node.calls(LIST_WORKFLOWS)[-1].request
        assert (r.with_progress, r.all_namespaces, list(r.statuses)) == (False, True, ["RUNNING"])
        page = await c.list_workflows(namespace="ns-a", with_progress=True)
        assert [p.total for p in page.progress] == [1, 1]
        r = node.calls(LIST_WORKFLOWS)[-1].request
        assert (r.namespace, r.with_progress, r.all_namespaces) == ("ns-a", True, False)


async def test_counts_across_namespaces_and_of_orphans(node: FakeNode) -> None:
    node.handlers[COUNT_WORKFLOWS] = lambda req, md: Ok(pb.CountWorkflowsResponse(count=4))
    async with cairn.Client([node.addr], **FAST) as c:
        assert await c.count_workflows(all_namespaces=True, orphaned_only=True) == 4
        assert await c.count_workflows(namespace="x") == 4
        reqs = [s.request for s in node.calls(COUNT_WORKFLOWS)]
        assert [(r.namespace, r.all_namespaces, r.orphaned_only) for r in reqs] == [
            ("", True, True),
            ("x", False, False),
        ]


async def test_namespaces_lists_quotas_by_name(node: FakeNode) -> None:
    node.handlers[LIST_NAMESPACES] = lambda req, md: Ok(
        pb.ListNamespacesResponse(
            namespaces=[
                pb.NamespaceQuota(namespace="a", usage=pb.NamespaceUsage(workflows=3)),
                pb.NamespaceQuota(
                    namespace="b", limits=pb.NamespaceLimits(max_checkpoint_bytes=1024)
                ),
            ],
            revision=5,
        )
    )
    async with cairn.Client([node.addr], **FAST) as c:
        got = await c.namespaces(serializable=True)
        assert [(q.namespace, q.usage.workflows, q.limits.max_checkpoint_bytes) for q in got] == [
            ("a", 3, None),
            ("b", 0, 1024),
        ]
        assert node.calls(LIST_NAMESPACES)[0].request.serializable


async def test_history_in_a_time_range_pages_with_the_range(node: FakeNode) -> None:
    def event(version: int) -> pb.HistoryEvent:
        return pb.HistoryEvent(version=version, kind=pb.HISTORY_KIND_TRANSITION)

    def history(req: Any, md: dict[str, str]) -> Ok:
        if req.from_version <= 1:
            return Ok(pb.GetHistoryResponse(events=[event(2)], next_version=3))
        return Ok(pb.GetHistoryResponse(events=[event(4)]))

    node.handlers[GET_HISTORY] = history
    async with cairn.Client([node.addr], **FAST) as c:
        got = await c.history_between("w", since_ms=1_000, until_ms=2_000)
        assert [e.version for e in got] == [2, 4]
        reqs = [s.request for s in node.calls(GET_HISTORY)]
        assert [(r.from_version, r.since_ms, r.until_ms) for r in reqs] == [
            (1, 1_000, 2_000),
            (3, 1_000, 2_000),
        ]
        # Unbounded ends are not sent at all (0 would be a bound).
        await c.history("w", since_ms=0)
        r = node.calls(GET_HISTORY)[-1].request
        assert r.HasField("since_ms") and r.since_ms == 0 and not r.HasField("until_ms")
        await c.history_all("w")
        r = node.calls(GET_HISTORY)[-1].request
        assert not r.HasField("since_ms") and not r.HasField("until_ms")
        sent = len(node.seen)
        with pytest.raises(cairn.InvalidArgument):
            await c.history_between("w", since_ms=-1)
        with pytest.raises(cairn.InvalidArgument):
            await c.history("w", until_ms=-5)
        assert len(node.seen) == sent
