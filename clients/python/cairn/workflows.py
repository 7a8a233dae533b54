"""The workflow API: create/upsert, read with tasks and progress, list (a page, or an async
iterator over cursors; one namespace or every readable one, optionally with each workflow's
task progress), count, transition by status or event, update (JSON merge patch, labels,
fields), delete, history (optionally in a time range) and its compaction, and ownership under
a lease.

An orchestrator adopts its workflows under its lease (:meth:`WorkflowsApi.adopt_workflow`)
and fences its writes with the adoption's epoch (``Adoption.fence``). If its lease ends the
workflows are orphaned (``list_workflows(orphaned_only=True)``, :meth:`orphaned_workflows`)
and another orchestrator adopts them; the old owner's fenced writes are then refused
(StaleFence), and adopting one that someone owns under a live lease raises Owned.

Writes carry idempotency headers like every write; reads are linearizable unless
``serializable``. Rejections are typed: NotFound, AlreadyExists, IllegalTransition (with the
current status and the legal targets), VersionConflict (with the current version),
FailedPrecondition, InvalidArgument, ResourceExhausted (a namespace limit), StaleFence,
Owned, LeaseNotFound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from cairn import _json
from cairn import _methods as m
from cairn._core import ClientCore, with_header
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.errors import InvalidArgument
from cairn.fence import Fence, fence_pb
from cairn.tasks import Task
from cairn.workflow_types import (
    Adoption,
    CreatedWorkflow,
    DeletedWorkflow,
    HistoryEvent,
    HistoryPage,
    Progress,
    SortBy,
    Workflow,
    WorkflowDetails,
    WorkflowPage,
    WorkflowRef,
    workflow_ref,
)

if TYPE_CHECKING:
    # Only for the checker: Python 3.10 has no typing.Unpack, and the runtime needs nothing.
    from typing_extensions import Unpack

__all__ = ["WorkflowFields", "WorkflowsApi"]


class WorkflowFields(TypedDict, total=False):
    """The fields :meth:`WorkflowsApi.upsert_workflow` passes on to ``create_workflow``."""

    namespace: str | None
    definition: str | None
    definition_version: int | None
    metadata: Mapping[str, Any] | None
    labels: Mapping[str, str] | None
    owner_id: str
    routing_strategy: str
    max_concurrent: int
    total_tasks: int
    actor: str
    fence: Fence | None


#: Page size of history_all / iter_history.
HISTORY_PAGE = 500


# The requests of the workflow writes, without their idempotency header (the write sets it),
# built the same way for the RPCs here and for the parts of an atomic step (cairn.steps).


def create_workflow_request(
    id: str,
    *,
    namespace: str | None = None,
    definition: str | None = None,
    definition_version: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    owner_id: str = "",
    routing_strategy: str = "",
    max_concurrent: int = 0,
    total_tasks: int = 0,
    upsert: bool = False,
    actor: str = "",
    fence: Fence | None = None,
) -> pb.CreateWorkflowRequest:
    """A CreateWorkflow request (``id`` empty: the cluster names the workflow)."""
    return pb.CreateWorkflowRequest(
        id=id,
        namespace=namespace or "",
        definition=definition or "",
        definition_version=definition_version,
        metadata="" if metadata is None else _json.dumps("metadata", dict(metadata)),
        labels=dict(labels or {}),
        owner_id=owner_id,
        routing_strategy=routing_strategy,
        max_concurrent=max_concurrent,
        total_tasks=total_tasks,
        upsert=upsert,
        actor=actor,
        fence=fence_pb(fence),
    )


def check_target(status: str | None, event: str | None) -> None:
    """A transition names exactly one of a status and an event."""
    if (status is None) == (event is None):
        raise InvalidArgument("transition takes exactly one of status= and event=")


def transition_request(
    id: str,
    *,
    status: str | None = None,
    event: str | None = None,
    expected_version: int | None = None,
    actor: str = "",
    reason: str = "",
    fence: Fence | None = None,
) -> pb.TransitionWorkflowRequest:
    """A TransitionWorkflow request, to ``status`` or along ``event`` (exactly one)."""
    check_target(status, event)
    return pb.TransitionWorkflowRequest(
        id=id,
        status=status,
        event=event,
        expected_version=expected_version,
        actor=actor,
        reason=reason,
        fence=fence_pb(fence),
    )


def update_workflow_request(
    id: str,
    *,
    expected_version: int | None = None,
    metadata_patch: Mapping[str, Any] | None = None,
    set_labels: Mapping[str, str] | None = None,
    remove_labels: Iterable[str] = (),
    owner_id: str | None = None,
    routing_strategy: str | None = None,
    max_concurrent: int | None = None,
    total_tasks: int | None = None,
    actor: str = "",
    reason: str = "",
    fence: Fence | None = None,
) -> pb.UpdateWorkflowRequest:
    """An UpdateWorkflow request (fields left None are not sent)."""
    patch = None if metadata_patch is None else _json.dumps("metadata_patch", dict(metadata_patch))
    return pb.UpdateWorkflowRequest(
        id=id,
        expected_version=expected_version,
        metadata_patch=patch,
        set_labels=dict(set_labels or {}),
        remove_labels=list(remove_labels),
        owner_id=owner_id,
        routing_strategy=routing_strategy,
        max_concurrent=max_concurrent,
        total_tasks=total_tasks,
        actor=actor,
        reason=reason,
        fence=fence_pb(fence),
    )


class WorkflowsApi(ClientCore):
    async def create_workflow(
        self,
        id: str | None = None,
        *,
        namespace: str | None = None,
        definition: str | None = None,
        definition_version: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        owner_id: str = "",
        routing_strategy: str = "",
        max_concurrent: int = 0,
        total_tasks: int = 0,
        upsert: bool = False,
        actor: str = "",
        fence: Fence | None = None,
    ) -> CreatedWorkflow:
        """Creates a workflow in its definition's initial status. ``id`` None lets the
        cluster name it (``wf-<revision>``); namespace and definition default to
        ``"default"``. AlreadyExists if the id is taken, unless ``upsert``: then the existing
        workflow's metadata, labels and fields are replaced (``created`` is False)."""
        req = create_workflow_request(
            id or "",
            namespace=namespace,
            definition=definition,
            definition_version=definition_version,
            metadata=metadata,
            labels=labels,
            owner_id=owner_id,
            routing_strategy=routing_strategy,
            max_concurrent=max_concurrent,
            total_tasks=total_tasks,
            upsert=upsert,
            actor=actor,
            fence=fence,
        )
        return await self._write(
            "create_workflow",
            m.CREATE_WORKFLOW,
            lambda h: with_header(req, h),
            CreatedWorkflow.from_pb,
        )

    async def upsert_workflow(self, id: str, **fields: Unpack[WorkflowFields]) -> CreatedWorkflow:
        """:meth:`create_workflow` with ``upsert=True``: creates ``id`` or replaces its
        metadata, labels and fields."""
        return await self.create_workflow(id, upsert=True, **fields)

    async def get_workflow(
        self, id: str, *, include_tasks: bool = False, serializable: bool = False
    ) -> WorkflowDetails | None:
        """A workflow with its progress (and its tasks if ``include_tasks``); None when it
        does not exist."""
        req = pb.GetWorkflowRequest(id=id, include_tasks=include_tasks, serializable=serializable)
        resp = await self._call("get_workflow", m.GET_WORKFLOW, req)
        if not resp.HasField("workflow"):
            return None
        return WorkflowDetails(
            workflow=Workflow.from_pb(resp.workflow),
            progress=Progress.from_pb(resp.progress),
            tasks=[Task.from_pb(t) for t in resp.tasks],
            revision=resp.revision,
        )

    async def list_workflows(
        self,
        *,
        namespace: str | None = None,
        statuses: Iterable[str] = (),
        definition: str | None = None,
        labels: Mapping[str, str] | None = None,
        sort: SortBy = SortBy.CREATED,
        descending: bool = False,
        limit: int = 0,
        cursor: bytes | None = None,
        with_count: bool = False,
        orphaned_only: bool = False,
        with_progress: bool = False,
        all_namespaces: bool = False,
        serializable: bool = False,
    ) -> WorkflowPage:
        """One page of the workflows matching the filters (any of ``statuses``; every label
        in ``labels``; with ``orphaned_only``, only those whose owner's lease ended and that
        nobody adopted since). ``limit`` 0: 100, at most 1000. Pass the page's
        ``next_cursor`` as ``cursor`` for the next one; :meth:`iter_workflows` does that for
        you. With ``all_namespaces``, every namespace the caller may read (``namespace`` is
        ignored), merged in sort order; with ``with_progress``, the page's ``progress`` holds
        each workflow's task progress, in the same order."""
        req = pb.ListWorkflowsRequest(
            namespace=namespace or "",
            statuses=list(statuses),
            definition=definition,
            labels=dict(labels or {}),
            sort=SortBy(sort).to_pb(),
            descending=descending,
            limit=limit,
            cursor=cursor or b"",
            with_count=with_count,
            orphaned_only=orphaned_only,
            with_progress=with_progress,
            all_namespaces=all_namespaces,
            serializable=serializable,
        )
        resp = await self._call("list_workflows", m.LIST_WORKFLOWS, req)
        return WorkflowPage.from_pb(resp, with_progress=with_progress)

    async def iter_workflows(
        self,
        *,
        namespace: str | None = None,
        statuses: Iterable[str] = (),
        definition: str | None = None,
        labels: Mapping[str, str] | None = None,
        sort: SortBy = SortBy.CREATED,
        descending: bool = False,
        page_size: int = 0,
        orphaned_only: bool = False,
        all_namespaces: bool = False,
        serializable: bool = False,
    ) -> AsyncIterator[Workflow]:
        """Every workflow matching the filters, following cursors page by page (across every
        readable namespace with ``all_namespaces``). Each page is consistent on its own; a
        workflow changed between pages may be seen in either."""
        async for page in self._workflow_pages(
            namespace=namespace,
            statuses=list(statuses),
            definition=definition,
            labels=labels,
            sort=sort,
            descending=descending,
            page_size=page_size,
            orphaned_only=orphaned_only,
            with_progress=False,
            all_namespaces=all_namespaces,
            serializable=serializable,
        ):
            for w in page.workflows:
                yield w

    async def iter_workflows_with_progress(
        self,
        *,
        namespace: str | None = None,
        statuses: Iterable[str] = (),
        definition: str | None = None,
        labels: Mapping[str, str] | None = None,
        sort: SortBy = SortBy.CREATED,
        descending: bool = False,
        page_size: int = 0,
        orphaned_only: bool = False,
        all_namespaces: bool = False,
        serializable: bool = False,
    ) -> AsyncIterator[tuple[Workflow, Progress]]:
        """:meth:`iter_workflows` with each workflow's task progress: ``(workflow, progress)``
        pairs, the progress read with the workflow's page."""
        async for page in self._workflow_pages(
            namespace=namespace,
            statuses=list(statuses),
            definition=definition,
            labels=labels,
            sort=sort,
            descending=descending,
            page_size=page_size,
            orphaned_only=orphaned_only,
            with_progress=True,
            all_namespaces=all_namespaces,
            serializable=serializable,
        ):
            for pair in zip(page.workflows, page.progress, strict=True):
                yield pair

    async def _workflow_pages(
        self,
        *,
        namespace: str | None,
        statuses: list[str],
        definition: str | None,
        labels: Mapping[str, str] | None,
        sort: SortBy,
        descending: bool,
        page_size: int,
        orphaned_only: bool,
        with_progress: bool,
        all_namespaces: bool,
        serializable: bool,
    ) -> AsyncIterator[WorkflowPage]:
        cursor: bytes | None = None
        while True:
            page = await self.list_workflows(
                namespace=namespace,
                statuses=statuses,
                definition=definition,
                labels=labels,
                sort=sort,
                descending=descending,
                limit=page_size,
                cursor=cursor,
                orphaned_only=orphaned_only,
                with_progress=with_progress,
                all_namespaces=all_namespaces,
                serializable=serializable,
            )
            yield page
            if page.next_cursor is None:
                return
            if page.next_cursor == cursor:
                raise bad_reply("workflow list cursor did not advance")
            cursor = page.next_cursor

    async def orphaned_workflows(self, namespace: str | None = None) -> list[Workflow]:
        """Every orphaned workflow of ``namespace`` (default ``"default"``): its owner's lease
        ended and nobody adopted it since, so :meth:`adopt_workflow` may take it over."""
        return [w async for w in self.iter_workflows(namespace=namespace, orphaned_only=True)]

    async def count_workflows(
        self,
        *,
        namespace: str | None = None,
        statuses: Iterable[str] = (),
        definition: str | None = None,
        labels: Mapping[str, str] | None = None,
        orphaned_only: bool = False,
        all_namespaces: bool = False,
        serializable: bool = False,
    ) -> int:
        """How many workflows match the filters (those :meth:`list_workflows` would list
        with the same ones): in ``namespace``, or with ``all_namespaces`` in every namespace
        the caller may read; with ``orphaned_only``, only orphans."""
        req = pb.CountWorkflowsRequest(
            namespace=namespace or "",
            statuses=list(statuses),
            definition=definition,
            labels=dict(labels or {}),
            orphaned_only=orphaned_only,
            all_namespaces=all_namespaces,
            serializable=serializable,
        )
        resp = await self._call("count_workflows", m.COUNT_WORKFLOWS, req)
        return resp.count

    async def transition(
        self,
        id: str,
        *,
        status: str | None = None,
        event: str | None = None,
        expected_version: int | None = None,
        actor: str = "",
        reason: str = "",
        fence: Fence | None = None,
    ) -> WorkflowRef:
        """Moves workflow ``id`` to ``status``, or along the edge named ``event``, if its
        definition allows that from the current status, and (with ``expected_version``) only
        at that version. IllegalTransition or VersionConflict otherwise; nothing changes."""
        req = transition_request(
            id,
            status=status,
            event=event,
            expected_version=expected_version,
            actor=actor,
            reason=reason,
            fence=fence,
        )
        return await self._write(
            "transition_workflow",
            m.TRANSITION_WORKFLOW,
            lambda h: with_header(req, h),
            workflow_ref,
        )

    async def adopt_workflow(
        self,
        id: str,
        owner_id: str,
        lease_id: int,
        *,
        expected_version: int | None = None,
        reason: str = "",
    ) -> Adoption:
        """Owns workflow ``id`` as ``owner_id`` under lease ``lease_id``: allowed while nobody
        owns it under a live lease (never owned, or orphaned), or the caller already does
        (then the current epoch is answered again). Otherwise Owned; LeaseNotFound if the
        lease is gone; VersionConflict if ``expected_version`` is set and differs. Starts a
        new epoch: writes fenced with the previous owner's (``Fence.for_owner``) are refused
        from now on. When the lease ends the workflow is orphaned."""
        return await self._write(
            "adopt_workflow",
            m.ADOPT_WORKFLOW,
            lambda h: pb.AdoptWorkflowRequest(
                header=h,
                id=id,
                owner_id=owner_id,
                lease_id=lease_id,
                expected_version=expected_version,
                reason=reason,
            ),
            Adoption.from_pb,
        )

    async def pause_workflow(self, id: str, *, reason: str = "") -> WorkflowRef:
        """The ``pause`` event (RUNNING -> PAUSED in the default definition)."""
        return await self.transition(id, event="pause", reason=reason)

    async def resume_workflow(self, id: str, *, reason: str = "") -> WorkflowRef:
        """The ``resume`` event (PAUSED -> RUNNING in the default definition)."""
        return await self.transition(id, event="resume", reason=reason)

    async def cancel_workflow(self, id: str, *, reason: str = "") -> WorkflowRef:
        """The ``cancel`` event, recording ``reason``."""
        return await self.transition(id, event="cancel", reason=reason)

    async def update_workflow(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        metadata_patch: Mapping[str, Any] | None = None,
        set_labels: Mapping[str, str] | None = None,
        remove_labels: Iterable[str] = (),
        owner_id: str | None = None,
        routing_strategy: str | None = None,
        max_concurrent: int | None = None,
        total_tasks: int | None = None,
        actor: str = "",
        reason: str = "",
        fence: Fence | None = None,
    ) -> WorkflowRef:
        """Changes workflow ``id``: ``metadata_patch`` is an RFC 7386 JSON merge patch (a
        ``None`` member deletes that key), labels are set or removed, fields left None stay."""
        req = update_workflow_request(
            id,
            expected_version=expected_version,
            metadata_patch=metadata_patch,
            set_labels=set_labels,
            remove_labels=remove_labels,
            owner_id=owner_id,
            routing_strategy=routing_strategy,
            max_concurrent=max_concurrent,
            total_tasks=total_tasks,
            actor=actor,
            reason=reason,
            fence=fence,
        )
        return await self._write(
            "update_workflow",
            m.UPDATE_WORKFLOW,
            lambda h: with_header(req, h),
            workflow_ref,
        )

    async def delete_workflow(
        self, id: str, *, force: bool = False, fence: Fence | None = None
    ) -> DeletedWorkflow:
        """Deletes workflow ``id`` with its tasks and history. Without ``force`` it must be
        in a terminal status (FailedPrecondition otherwise)."""
        f = fence_pb(fence)
        return await self._write(
            "delete_workflow",
            m.DELETE_WORKFLOW,
            lambda h: pb.DeleteWorkflowRequest(header=h, id=id, force=force, fence=f),
            lambda r: DeletedWorkflow(r.id, r.tasks, r.revision),
        )

    async def history(
        self,
        id: str,
        *,
        from_version: int = 0,
        limit: int = 0,
        since_ms: int | None = None,
        until_ms: int | None = None,
        serializable: bool = False,
    ) -> HistoryPage:
        """Up to ``limit`` history events of workflow ``id`` from version ``from_version``
        (0: the server's page size, 100). With ``since_ms`` / ``until_ms`` (ms since the Unix
        epoch, the cluster leader's clock), only the events with ``since_ms <= time_ms <
        until_ms``; ``next_version`` still continues the listing."""
        _check_times(since_ms, until_ms)
        req = pb.GetHistoryRequest(
            workflow_id=id,
            from_version=from_version,
            limit=limit,
            since_ms=since_ms,
            until_ms=until_ms,
            serializable=serializable,
        )
        resp = await self._call("get_history", m.GET_HISTORY, req)
        return HistoryPage(
            events=[HistoryEvent.from_pb(e) for e in resp.events],
            next_version=resp.next_version if resp.HasField("next_version") else None,
            revision=resp.revision,
            compacted_before=resp.compacted_before,
        )

    async def iter_history(
        self,
        id: str,
        *,
        from_version: int = 1,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> AsyncIterator[HistoryEvent]:
        """The history of workflow ``id`` from ``from_version``, page by page (only the
        events in ``[since_ms, until_ms)`` when given, as in :meth:`history`)."""
        _check_times(since_ms, until_ms)
        version = from_version
        while True:
            page = await self.history(
                id, from_version=version, limit=HISTORY_PAGE, since_ms=since_ms, until_ms=until_ms
            )
            for e in page.events:
                yield e
            if page.next_version is None:
                return
            if page.next_version <= version:
                raise bad_reply("history continuation did not advance")
            version = page.next_version

    async def history_all(self, id: str) -> list[HistoryEvent]:
        """The whole (uncompacted) history of workflow ``id``."""
        return [e async for e in self.iter_history(id)]

    async def history_between(
        self, id: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[HistoryEvent]:
        """The events of workflow ``id`` at or after ``since_ms`` and before ``until_ms`` (ms
        since the Unix epoch, the cluster leader's clock; None: unbounded), every page: e.g.
        its changes in the last hour, ``history_between(id, now_ms - 3_600_000)``."""
        return [e async for e in self.iter_history(id, since_ms=since_ms, until_ms=until_ms)]

    async def compact_history(self, id: str, keep_last: int) -> int:
        """Forgets the oldest history events of workflow ``id``, keeping the last
        ``keep_last`` versions' (at least 1); repeats until done. Returns the new floor:
        events below that version are gone. Safe to retry as it is (compacting to the same
        point twice changes nothing), so, as in the Rust client, it carries no idempotency
        header."""
        req = pb.CompactHistoryRequest(workflow_id=id, keep_last=keep_last)
        while True:
            resp = await self._call("compact_history", m.COMPACT_HISTORY, req)
            if resp.done:
                return resp.floor


def _check_times(since_ms: int | None, until_ms: int | None) -> None:
    for name, t in (("since_ms", since_ms), ("until_ms", until_ms)):
        if t is not None and t < 0:
            raise InvalidArgument(f"{name} must be ms since the Unix epoch (>= 0), not {t}")
