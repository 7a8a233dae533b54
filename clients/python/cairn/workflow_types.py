"""What the workflow API returns: records, references, progress, pages and history, as plain
dataclasses built from the protobuf answers. Metadata is a dict (a JSON object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from cairn import _json
from cairn._json import JsonObject, bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.fence import Fence
from cairn.tasks import Task

__all__ = [
    "Adoption",
    "CreatedWorkflow",
    "DeletedWorkflow",
    "HistoryEvent",
    "HistoryKind",
    "HistoryPage",
    "Progress",
    "SortBy",
    "Workflow",
    "WorkflowDetails",
    "WorkflowPage",
    "WorkflowRef",
]


class SortBy(str, Enum):
    """Order of a workflow listing."""

    CREATED = "created"
    UPDATED = "updated"

    def to_pb(self) -> pb.WorkflowSort:
        return pb.WORKFLOW_SORT_UPDATED if self is SortBy.UPDATED else pb.WORKFLOW_SORT_CREATED


class HistoryKind(str, Enum):
    CREATED = "created"
    TRANSITION = "transition"
    UPDATED = "updated"
    ROLLBACK = "rollback"
    #: The owner's lease ended (the workflow is orphaned).
    ORPHANED = "orphaned"
    #: An adoption handed ownership over.
    ADOPTED = "adopted"

    @classmethod
    def from_pb(cls, k: int) -> HistoryKind:
        kind = _HISTORY_KINDS.get(k)
        if kind is None:
            raise bad_reply(f"unknown history kind {k}")
        return kind


_HISTORY_KINDS: dict[int, HistoryKind] = {
    pb.HISTORY_KIND_CREATED: HistoryKind.CREATED,
    pb.HISTORY_KIND_TRANSITION: HistoryKind.TRANSITION,
    pb.HISTORY_KIND_UPDATED: HistoryKind.UPDATED,
    pb.HISTORY_KIND_ROLLBACK: HistoryKind.ROLLBACK,
    pb.HISTORY_KIND_ORPHANED: HistoryKind.ORPHANED,
    pb.HISTORY_KIND_ADOPTED: HistoryKind.ADOPTED,
}


@dataclass(frozen=True)
class WorkflowRef:
    """What a write returns about the workflow it changed: enough to chain an expected
    version."""

    id: str
    status: str
    version: int
    revision: int

    @classmethod
    def from_pb(cls, r: pb.WorkflowRef) -> WorkflowRef:
        return cls(r.id, r.status, r.version, r.revision)


def workflow_ref(
    msg: pb.CreateWorkflowResponse
    | pb.TransitionWorkflowResponse
    | pb.UpdateWorkflowResponse
    | pb.AdoptWorkflowResponse,
) -> WorkflowRef:
    if not msg.HasField("workflow"):
        raise bad_reply("workflow missing")
    return WorkflowRef.from_pb(msg.workflow)


@dataclass(frozen=True)
class CreatedWorkflow:
    workflow: WorkflowRef
    #: False when an upsert updated an existing workflow.
    created: bool
    revision: int

    @classmethod
    def from_pb(cls, r: pb.CreateWorkflowResponse) -> CreatedWorkflow:
        return cls(workflow_ref(r), r.created, r.revision)


@dataclass(frozen=True)
class Workflow:
    """A workflow record."""

    id: str
    namespace: str
    definition: str
    definition_version: int
    status: str
    #: 1 at creation, +1 per change of the workflow (task changes do not count).
    version: int
    create_revision: int
    mod_revision: int
    created_ms: int
    updated_ms: int
    started_ms: int | None
    finished_ms: int | None
    metadata: JsonObject
    labels: dict[str, str]
    owner_id: str
    routing_strategy: str
    max_concurrent: int
    total_tasks: int
    #: The lease its owner holds it under (0: not owned under a lease, or orphaned).
    owner_lease: int = 0
    #: The owner's fencing token (``Fence.for_owner(id, owner_epoch)``).
    owner_epoch: int = 0
    #: While orphaned: when the owner's lease ended (ms since the Unix epoch).
    orphaned_ms: int | None = None

    @classmethod
    def from_pb(cls, w: pb.Workflow) -> Workflow:
        return cls(
            id=w.id,
            namespace=w.namespace,
            definition=w.definition,
            definition_version=w.definition_version,
            status=w.status,
            version=w.version,
            create_revision=w.create_revision,
            mod_revision=w.mod_revision,
            created_ms=w.created_ms,
            updated_ms=w.updated_ms,
            started_ms=w.started_ms if w.HasField("started_ms") else None,
            finished_ms=w.finished_ms if w.HasField("finished_ms") else None,
            metadata=_json.loads_object("metadata", w.metadata),
            labels=dict(w.labels),
            owner_id=w.owner_id,
            routing_strategy=w.routing_strategy,
            max_concurrent=w.max_concurrent,
            total_tasks=w.total_tasks,
            owner_lease=w.owner_lease,
            owner_epoch=w.owner_epoch,
            orphaned_ms=w.orphaned_ms if w.HasField("orphaned_ms") else None,
        )


@dataclass(frozen=True)
class Adoption:
    """The answer of :meth:`~cairn.workflows.WorkflowsApi.adopt_workflow`: the caller owns
    the workflow from ``epoch`` on."""

    workflow: WorkflowRef
    #: The fencing token of this ownership: present it as :attr:`fence` on the owner's writes.
    epoch: int
    #: Who owned it before ("" when nobody did).
    previous_owner: str
    revision: int

    @property
    def fence(self) -> Fence:
        """``Fence.for_owner(workflow id, epoch)``: writes carrying it are refused once
        someone else adopted the workflow or it was orphaned."""
        return Fence.for_owner(self.workflow.id, self.epoch)

    @classmethod
    def from_pb(cls, r: pb.AdoptWorkflowResponse) -> Adoption:
        return cls(workflow_ref(r), r.epoch, r.previous_owner, r.revision)


@dataclass(frozen=True)
class Progress:
    """Task counts of a workflow and derived metrics."""

    total: int
    pending: int
    running: int
    completed: int
    failed: int
    skipped: int
    cancelled: int
    #: completed / (completed + failed); None before any task finished.
    success_rate: float | None
    #: Finished (or now) minus created.
    duration_ms: int

    @classmethod
    def from_pb(cls, p: pb.WorkflowProgress) -> Progress:
        return cls(
            p.total,
            p.pending,
            p.running,
            p.completed,
            p.failed,
            p.skipped,
            p.cancelled,
            p.success_rate if p.HasField("success_rate") else None,
            p.duration_ms,
        )


@dataclass(frozen=True)
class WorkflowDetails:
    """A workflow with its progress and, when asked for, its tasks (ordered by id)."""

    workflow: Workflow
    progress: Progress
    tasks: list[Task]
    #: Last revision applied on the node that served the read.
    revision: int


@dataclass(frozen=True)
class WorkflowPage:
    workflows: list[Workflow]
    #: Set when more may follow: pass it as ``cursor``.
    next_cursor: bytes | None
    #: With ``with_count``: how many match in all.
    count: int | None
    revision: int
    #: With ``with_progress``: each workflow's task progress, in the same order as
    #: ``workflows`` (else empty).
    progress: list[Progress] = field(default_factory=list)

    @classmethod
    def from_pb(cls, r: pb.ListWorkflowsResponse, *, with_progress: bool = False) -> WorkflowPage:
        """Refuses (as a bad reply) a page asked ``with_progress`` whose progress does not
        pair up with its workflows, e.g. from a node that does not know the field."""
        if with_progress and len(r.progress) != len(r.workflows):
            raise bad_reply(
                f"workflow list with {len(r.workflows)} workflows but "
                f"{len(r.progress)} progress entries"
            )
        return cls(
            workflows=[Workflow.from_pb(w) for w in r.workflows],
            next_cursor=r.next_cursor or None,
            count=r.count if r.HasField("count") else None,
            revision=r.revision,
            progress=[Progress.from_pb(p) for p in r.progress],
        )


@dataclass(frozen=True)
class DeletedWorkflow:
    id: str
    #: Tasks deleted with it.
    tasks: int
    revision: int


@dataclass(frozen=True)
class HistoryEvent:
    """One change of a workflow."""

    #: The workflow version this change produced (a history is 1..current, gap-free).
    version: int
    revision: int
    time_ms: int
    kind: HistoryKind
    #: Empty on creation.
    from_: str
    to: str
    #: The event name, when the transition was requested by event.
    event: str | None
    actor: str
    reason: str

    @classmethod
    def from_pb(cls, e: pb.HistoryEvent) -> HistoryEvent:
        return cls(
            version=e.version,
            revision=e.revision,
            time_ms=e.time_ms,
            kind=HistoryKind.from_pb(e.kind),
            from_=getattr(e, "from"),
            to=e.to,
            event=e.event or None,
            actor=e.actor,
            reason=e.reason,
        )


@dataclass(frozen=True)
class HistoryPage:
    events: list[HistoryEvent]
    #: Set when more may follow: ask again from this version.
    next_version: int | None
    revision: int
    #: Events of versions below this were compacted away (0: none, or none asked for).
    compacted_before: int
