"""What a watch follows (selectors, :class:`WatchFilter`) and what it yields (:data:`WatchItem`:
:class:`WatchEvents`, :class:`WatchReset`, :class:`WatchProgress`), mirroring
``cairn_client::watch::types``. Changed objects are the API's own types (:class:`KeyValue`,
:class:`Workflow`, :class:`Task`, :class:`HistoryEvent`, :class:`~cairn.vars.Vars`);
checkpoints, locks and elections come as :class:`CheckpointMeta`,
:class:`~cairn.locks.LockState` (the locks API's type) and :class:`ElectionState`, and a
variable set in a snapshot as :class:`ScopedVars` (the set with its scope and namespace).

Every change type is a frozen dataclass, so ``match`` reads naturally::

    match event.change:
        case cairn.KvPut(kv=kv):
            ...
        case cairn.WorkflowChanged(workflow=wf, prev_status=before):
            ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cairn._json import bad_reply
from cairn._proto.cairn.v1 import coord_pb2
from cairn._proto.cairn.v1 import watch_pb2 as pb
from cairn.kv import Bytes, KeyValue, to_bytes
from cairn.locks import Holder, LockState
from cairn.tasks import Task
from cairn.vars import Vars, VarScope
from cairn.workflow_types import HistoryEvent, Workflow

__all__ = [
    "CheckpointDeleted",
    "CheckpointMeta",
    "CheckpointSaved",
    "CheckpointSelector",
    "ElectionChanged",
    "ElectionDeleted",
    "ElectionSelector",
    "ElectionState",
    "KvDelete",
    "KvPut",
    "KvSelector",
    "LockChanged",
    "LockDeleted",
    "LockSelector",
    "ScopedVars",
    "TaskChanged",
    "TaskDeleted",
    "TaskSelector",
    "VarsChanged",
    "VarsDeleted",
    "VarsSelector",
    "WatchChange",
    "WatchEvent",
    "WatchEvents",
    "WatchFilter",
    "WatchItem",
    "WatchObject",
    "WatchProgress",
    "WatchReset",
    "WatchSelector",
    "WorkflowChanged",
    "WorkflowDeleted",
    "WorkflowSelector",
]

# ---- selectors ----


@dataclass(frozen=True)
class KvSelector:
    """Keys starting with ``prefix`` (empty: every key)."""

    prefix: bytes = b""

    def __init__(self, prefix: Bytes = b"") -> None:
        object.__setattr__(self, "prefix", to_bytes("prefix", prefix))

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(kv=pb.KvSelector(prefix=self.prefix))


@dataclass(frozen=True)
class WorkflowSelector:
    """Workflows; each set field narrows. With ``statuses``, a change matches if the workflow's
    old or new status is among them, so a watcher sees workflows enter and leave the set.
    Watching every workflow (no id, no namespace) needs root."""

    id: str | None = None
    namespace: str | None = None
    statuses: tuple[str, ...] = ()

    def __init__(
        self, id: str | None = None, namespace: str | None = None, statuses: Iterable[str] = ()
    ) -> None:
        if isinstance(statuses, str):
            statuses = (statuses,)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "statuses", tuple(str(s) for s in statuses))

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(
            workflows=pb.WorkflowSelector(
                id=self.id or "", namespace=self.namespace or "", statuses=self.statuses
            )
        )


@dataclass(frozen=True)
class TaskSelector:
    """Tasks of one workflow (None: of every workflow, which needs root)."""

    workflow_id: str | None = None

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(tasks=pb.TaskSelector(workflow_id=self.workflow_id or ""))


@dataclass(frozen=True)
class CheckpointSelector:
    """Checkpoint metadata of one workflow (None: of every workflow, which needs root)."""

    workflow_id: str | None = None

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(
            checkpoints=pb.CheckpointSelector(workflow_id=self.workflow_id or "")
        )


@dataclass(frozen=True)
class LockSelector:
    """Locks whose name starts with ``prefix`` (empty: every lock): holders and lines."""

    prefix: str = ""

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(locks=pb.LockSelector(prefix=self.prefix))


@dataclass(frozen=True)
class ElectionSelector:
    """Elections whose name starts with ``prefix`` (empty: every election): leaders, terms,
    values and candidates."""

    prefix: str = ""

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(elections=pb.ElectionSelector(prefix=self.prefix))


@dataclass(frozen=True)
class VarsSelector:
    """Versioned variables; each set field narrows: of one ``scope`` (a workflow's, which
    needs read on the workflow, or a namespace's), of a ``namespace`` and every workflow in it
    (read on the namespace), or of every scope (neither, which needs root)."""

    scope: VarScope | None = None
    namespace: str | None = None

    def __post_init__(self) -> None:
        if self.scope is not None and not isinstance(self.scope, VarScope):
            raise TypeError(f"scope is a VarScope, not {self.scope!r}")

    def to_pb(self) -> pb.WatchSelector:
        return pb.WatchSelector(
            vars=pb.VarsSelector(
                scope=self.scope.to_pb() if self.scope is not None else None,
                namespace=self.namespace or "",
            )
        )


WatchSelector = (
    KvSelector
    | WorkflowSelector
    | TaskSelector
    | CheckpointSelector
    | LockSelector
    | ElectionSelector
    | VarsSelector
)
_SELECTOR_TYPES = (
    KvSelector,
    WorkflowSelector,
    TaskSelector,
    CheckpointSelector,
    LockSelector,
    ElectionSelector,
    VarsSelector,
)


@dataclass(frozen=True)
class WatchFilter:
    """What a watch follows: a change is delivered if any selector matches it; the same
    selectors choose the objects of a :class:`WatchReset`. Immutable: each builder method
    returns a new filter::

        f = cairn.WatchFilter().kv_prefix("jobs/").workflows_in("payments", ["FAILED"])
    """

    selectors: tuple[WatchSelector, ...] = ()

    def __init__(self, *selectors: WatchSelector) -> None:
        for s in selectors:
            if not isinstance(s, _SELECTOR_TYPES):
                raise TypeError(f"not a watch selector: {s!r}")
        object.__setattr__(self, "selectors", tuple(selectors))

    @classmethod
    def everything(cls) -> WatchFilter:
        """Every key, workflow, task, checkpoint, lock, election and variable set (needs
        root)."""
        return cls(
            KvSelector(),
            WorkflowSelector(),
            TaskSelector(),
            CheckpointSelector(),
            LockSelector(),
            ElectionSelector(),
            VarsSelector(),
        )

    def with_(self, *selectors: WatchSelector) -> WatchFilter:
        """This filter plus ``selectors``."""
        return WatchFilter(*self.selectors, *selectors)

    def kv_prefix(self, prefix: Bytes) -> WatchFilter:
        """Keys starting with ``prefix`` ("" for all keys)."""
        return self.with_(KvSelector(prefix))

    def workflow(self, id: str) -> WatchFilter:
        """One workflow."""
        return self.with_(WorkflowSelector(id=id))

    def workflows_in(self, namespace: str, statuses: Iterable[str] = ()) -> WatchFilter:
        """Workflows of a namespace, optionally only those entering or leaving ``statuses``."""
        return self.with_(WorkflowSelector(namespace=namespace, statuses=statuses))

    def all_workflows(self) -> WatchFilter:
        return self.with_(WorkflowSelector())

    def tasks_of(self, workflow_id: str) -> WatchFilter:
        return self.with_(TaskSelector(workflow_id))

    def all_tasks(self) -> WatchFilter:
        return self.with_(TaskSelector())

    def checkpoints_of(self, workflow_id: str) -> WatchFilter:
        return self.with_(CheckpointSelector(workflow_id))

    def all_checkpoints(self) -> WatchFilter:
        return self.with_(CheckpointSelector())

    def locks_prefix(self, prefix: str) -> WatchFilter:
        return self.with_(LockSelector(prefix))

    def elections_prefix(self, prefix: str) -> WatchFilter:
        return self.with_(ElectionSelector(prefix))

    def vars_of(self, scope: VarScope) -> WatchFilter:
        """The variables of one scope."""
        return self.with_(VarsSelector(scope=scope))

    def vars_in(self, namespace: str) -> WatchFilter:
        """The variables of a namespace and of every workflow in it."""
        return self.with_(VarsSelector(namespace=namespace))

    def all_vars(self) -> WatchFilter:
        """Every scope's variables (needs root)."""
        return self.with_(VarsSelector())

    def to_pb(self) -> pb.WatchFilter:
        return pb.WatchFilter(selectors=[s.to_pb() for s in self.selectors])


# ---- objects without a type elsewhere in the client ----


@dataclass(frozen=True)
class CheckpointMeta:
    """A checkpoint's metadata as a watch reports it (its payload is loaded separately)."""

    workflow_id: str
    id: str
    revision: int
    created_ms: int
    #: AUTO, MANUAL or ERROR_RECOVERY.
    kind: str
    label: str
    #: JSON object text, as stored.
    metadata: str
    parent: str | None
    delta: bool
    raw_size: int
    stored_size: int
    workflow_status: str
    workflow_version: int

    @classmethod
    def from_pb(cls, c: pb.CheckpointInfo) -> CheckpointMeta:
        return cls(
            workflow_id=c.workflow_id,
            id=c.id,
            revision=c.revision,
            created_ms=c.created_ms,
            kind=c.kind,
            label=c.label,
            metadata=c.metadata,
            parent=c.parent if c.HasField("parent") else None,
            delta=c.delta,
            raw_size=c.raw_size,
            stored_size=c.stored_size,
            workflow_status=c.workflow_status,
            workflow_version=c.workflow_version,
        )


@dataclass(frozen=True)
class ScopedVars:
    """A scope's variables in a snapshot (a :class:`WatchReset` or ``watch_snapshot``), with
    the namespace they belong to (the scope's own, or its workflow's)."""

    scope: VarScope
    namespace: str
    vars: Vars


@dataclass(frozen=True)
class ElectionState:
    """An election's leader (its ``token`` is the term) and the candidates in line."""

    name: str
    leader: Holder | None
    candidates: list[Holder] = field(default_factory=list)

    @classmethod
    def from_pb(cls, lock: coord_pb2.Lock) -> ElectionState:
        s = LockState.from_pb(lock)
        return cls(s.name, s.holder, s.waiters)


# ---- changes ----


@dataclass(frozen=True)
class KvPut:
    """A key was written; ``prev`` is its record before (None: created by this write)."""

    kv: KeyValue
    prev: KeyValue | None


@dataclass(frozen=True)
class KvDelete:
    """A key was deleted; ``prev`` is its last record."""

    key: bytes
    prev: KeyValue | None


@dataclass(frozen=True)
class WorkflowChanged:
    """A workflow was created (``prev_status`` None) or changed; ``history`` says what
    happened."""

    workflow: Workflow
    prev_status: str | None
    history: HistoryEvent | None


@dataclass(frozen=True)
class WorkflowDeleted:
    """A workflow was deleted or purged (its tasks' and checkpoints' deletions come first, in
    the same revision)."""

    workflow: Workflow


@dataclass(frozen=True)
class TaskChanged:
    """A task was created or changed."""

    task: Task


@dataclass(frozen=True)
class TaskDeleted:
    """A task was removed with its workflow."""

    workflow_id: str
    task_id: str


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint was saved."""

    checkpoint: CheckpointMeta


@dataclass(frozen=True)
class CheckpointDeleted:
    """A checkpoint was purged or removed with its workflow."""

    workflow_id: str
    checkpoint_id: str


@dataclass(frozen=True)
class LockChanged:
    """A lock's holder or line changed (its whole new state)."""

    lock: LockState


@dataclass(frozen=True)
class LockDeleted:
    """A lock became free with nobody waiting."""

    name: str


@dataclass(frozen=True)
class ElectionChanged:
    """An election's leader, term, value or candidates changed (its whole new state)."""

    election: ElectionState


@dataclass(frozen=True)
class ElectionDeleted:
    """An election has no leader and no candidates."""

    name: str


@dataclass(frozen=True)
class VarsChanged:
    """A new version of a scope's variables: ``vars`` is the whole set. ``namespace`` is the
    scope's own, or its workflow's."""

    scope: VarScope
    namespace: str
    vars: Vars


@dataclass(frozen=True)
class VarsDeleted:
    """A scope's variables were removed (with their workflow)."""

    scope: VarScope
    namespace: str


WatchChange = (
    KvPut
    | KvDelete
    | WorkflowChanged
    | WorkflowDeleted
    | TaskChanged
    | TaskDeleted
    | CheckpointSaved
    | CheckpointDeleted
    | LockChanged
    | LockDeleted
    | ElectionChanged
    | ElectionDeleted
    | VarsChanged
    | VarsDeleted
)

#: An object of a :class:`WatchReset`.
WatchObject = KeyValue | Workflow | Task | CheckpointMeta | LockState | ElectionState | ScopedVars


@dataclass(frozen=True)
class WatchEvent:
    """A change and the revision of the write that made it."""

    revision: int
    change: WatchChange


# ---- items ----


@dataclass(frozen=True)
class WatchEvents:
    """The matching changes of one or more whole revisions, in revision order. Every revision
    up to ``revision`` has now been delivered."""

    revision: int
    events: list[WatchEvent]


@dataclass(frozen=True)
class WatchReset:
    """The watch could not resume where it was (the history it needed is gone), so it
    restarted from a consistent snapshot: replace your view with ``objects``, every matching
    object as of ``revision``. Events after ``revision`` follow."""

    revision: int
    objects: list[WatchObject]


@dataclass(frozen=True)
class WatchProgress:
    """Nothing matched up to ``revision``."""

    revision: int


#: What a watch yields; every item's ``revision`` says all revisions up to it were delivered.
WatchItem = WatchEvents | WatchReset | WatchProgress


# ---- decoding ----


def event_from_pb(e: pb.WatchEvent) -> WatchEvent:
    """A change as the client's types; a malformed one is a server fault (RpcError)."""
    which = e.WhichOneof("change")
    change: WatchChange
    if which == "kv_put":
        p = e.kv_put
        if not p.HasField("kv"):
            raise bad_reply("put without a key")
        prev = KeyValue.from_pb(p.prev_kv) if p.HasField("prev_kv") else None
        change = KvPut(KeyValue.from_pb(p.kv), prev)
    elif which == "kv_delete":
        d = e.kv_delete
        change = KvDelete(d.key, KeyValue.from_pb(d.prev_kv) if d.HasField("prev_kv") else None)
    elif which == "workflow":
        w = e.workflow
        if not w.HasField("workflow"):
            raise bad_reply("change without a workflow")
        change = WorkflowChanged(
            Workflow.from_pb(w.workflow),
            w.prev_status if w.HasField("prev_status") else None,
            HistoryEvent.from_pb(w.history) if w.HasField("history") else None,
        )
    elif which == "workflow_delete":
        if not e.workflow_delete.HasField("workflow"):
            raise bad_reply("delete without a workflow")
        change = WorkflowDeleted(Workflow.from_pb(e.workflow_delete.workflow))
    elif which == "task":
        if not e.task.HasField("task"):
            raise bad_reply("change without a task")
        change = TaskChanged(Task.from_pb(e.task.task))
    elif which == "task_delete":
        change = TaskDeleted(e.task_delete.workflow_id, e.task_delete.task_id)
    elif which == "checkpoint":
        if not e.checkpoint.HasField("checkpoint"):
            raise bad_reply("change without a checkpoint")
        change = CheckpointSaved(CheckpointMeta.from_pb(e.checkpoint.checkpoint))
    elif which == "checkpoint_delete":
        d2 = e.checkpoint_delete
        change = CheckpointDeleted(d2.workflow_id, d2.checkpoint_id)
    elif which == "lock":
        if not e.lock.HasField("lock"):
            raise bad_reply("change without a lock")
        change = LockChanged(LockState.from_pb(e.lock.lock))
    elif which == "lock_delete":
        change = LockDeleted(e.lock_delete.name)
    elif which == "election":
        if not e.election.HasField("election"):
            raise bad_reply("change without an election")
        change = ElectionChanged(ElectionState.from_pb(e.election.election))
    elif which == "election_delete":
        change = ElectionDeleted(e.election_delete.name)
    elif which == "vars":
        v = _scoped_vars(e.vars)
        change = VarsChanged(v.scope, v.namespace, v.vars)
    elif which == "vars_delete":
        if not e.vars_delete.HasField("scope"):
            raise bad_reply("variables deleted without a scope")
        change = VarsDeleted(VarScope.from_pb(e.vars_delete.scope), e.vars_delete.namespace)
    else:
        raise bad_reply("event without a change")
    return WatchEvent(e.revision, change)


def object_from_pb(o: pb.WatchObject) -> WatchObject:
    """A snapshot object as the client's types."""
    which = o.WhichOneof("object")
    if which == "kv":
        return KeyValue.from_pb(o.kv)
    if which == "workflow":
        return Workflow.from_pb(o.workflow)
    if which == "task":
        return Task.from_pb(o.task)
    if which == "checkpoint":
        return CheckpointMeta.from_pb(o.checkpoint)
    if which == "lock":
        return LockState.from_pb(o.lock)
    if which == "election":
        return ElectionState.from_pb(o.election)
    if which == "vars":
        return _scoped_vars(o.vars)
    raise bad_reply("empty snapshot object")


def _scoped_vars(v: pb.VarsChange) -> ScopedVars:
    if not v.HasField("scope") or not v.HasField("vars"):
        raise bad_reply("variables without their scope or set")
    return ScopedVars(VarScope.from_pb(v.scope), v.namespace, Vars.from_pb(v.vars))
