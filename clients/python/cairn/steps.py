"""Atomic steps: what an orchestrator does at one step of a workflow (change the workflow,
upsert its tasks, set its variables, save a checkpoint) in one write, applied all or nothing
at one revision; a batch of up to 128 steps, of many workflows, is one write too.

A :class:`Step` names its workflow and carries any of: one change (:class:`WorkflowCreate`,
:class:`WorkflowTransition` or :class:`WorkflowUpdate`, each what the method of the same name
takes), ``tasks`` (:class:`~cairn.tasks.TaskSpec`), ``vars`` (:class:`VarsUpdate`; the step's
workflow's variables unless it names a scope), ``checkpoint`` (:class:`StepCheckpoint`, a full
one of at most 64 KiB) and a ``fence``. Each part means what its own RPC means; parts apply in
that order, each seeing the ones before (a checkpoint records the status the change set), and
steps in batch order. :meth:`StepsApi.apply_steps` answers one :class:`StepResult` per step,
all at the batch's revision; :meth:`StepsApi.step` applies one step.

A refused part refuses the whole batch, and nothing is written: the error is the one that
part's own RPC raises (IllegalTransition, VersionConflict, Immutable, StaleFence, NotFound,
InvalidArgument, ...), with ``step`` (the step's index in the batch) and ``step_part``
(``"change"``, ``"tasks"``, ``"vars"``, ``"checkpoint"`` or ``"fence"``) set. The batch is a
write with one idempotency header, shared by every retry (and by ``client.resume`` after
OutcomeUnknown), so it is applied once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cairn import _json
from cairn import _methods as m
from cairn._core import ClientCore, with_header
from cairn._json import Json, bad_reply
from cairn._proto.cairn.v1 import step_pb2 as pb
from cairn.checkpoint_types import CheckpointKind, SavedCheckpoint
from cairn.checkpoints import Payload, checkpoint_fields, payload_bytes
from cairn.errors import InvalidArgument
from cairn.fence import Fence, fence_pb
from cairn.tasks import TaskRef, TaskSpec, upsert_tasks_request
from cairn.vars import VarScope, VarsWritten, update_vars_request
from cairn.workflow_types import WorkflowRef
from cairn.workflows import (
    check_target,
    create_workflow_request,
    transition_request,
    update_workflow_request,
)

__all__ = [
    "MAX_STEPS",
    "MAX_STEP_CHECKPOINT",
    "Step",
    "StepCheckpoint",
    "StepResult",
    "StepsApi",
    "StepsResult",
    "VarsUpdate",
    "WorkflowCreate",
    "WorkflowTransition",
    "WorkflowUpdate",
]

T = TypeVar("T")

#: The most steps one batch carries.
MAX_STEPS = 128
#: The largest checkpoint payload a step carries (larger ones: ``client.save_checkpoint``).
MAX_STEP_CHECKPOINT = 64 * 1024


def _names(field: str, names: Sequence[str]) -> None:
    """A list of names, not one name (which would be taken letter by letter)."""
    if isinstance(names, (str, bytes)):
        raise InvalidArgument(f"{field} is a list of names, not {names!r}")


@dataclass(frozen=True)
class WorkflowCreate:
    """A step's change that creates its workflow (named by the step), as
    :meth:`~cairn.workflows.WorkflowsApi.create_workflow` does; with ``upsert`` an existing one
    has its metadata, labels and fields replaced."""

    namespace: str | None = None
    definition: str | None = None
    definition_version: int | None = None
    metadata: Mapping[str, Any] | None = None
    labels: Mapping[str, str] | None = None
    owner_id: str = ""
    routing_strategy: str = ""
    max_concurrent: int = 0
    total_tasks: int = 0
    upsert: bool = False
    actor: str = ""


@dataclass(frozen=True)
class WorkflowTransition:
    """A step's change that moves its workflow to ``status`` or along ``event`` (exactly
    one), as :meth:`~cairn.workflows.WorkflowsApi.transition` does."""

    status: str | None = None
    event: str | None = None
    expected_version: int | None = None
    actor: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        check_target(self.status, self.event)


@dataclass(frozen=True)
class WorkflowUpdate:
    """A step's change of its workflow's metadata (an RFC 7386 merge patch), labels and
    fields, as :meth:`~cairn.workflows.WorkflowsApi.update_workflow` does (None: left
    alone)."""

    expected_version: int | None = None
    metadata_patch: Mapping[str, Any] | None = None
    set_labels: Mapping[str, str] | None = None
    remove_labels: Sequence[str] = ()
    owner_id: str | None = None
    routing_strategy: str | None = None
    max_concurrent: int | None = None
    total_tasks: int | None = None
    actor: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        _names("remove_labels", self.remove_labels)


@dataclass(frozen=True)
class VarsUpdate:
    """A step's new version of variables, as :meth:`~cairn.vars.VarsApi.update_vars` writes:
    of the step's workflow, or of ``scope`` when given."""

    set: Mapping[str, Json] | None = None
    delete: Sequence[str] = ()
    immutable: Sequence[str] = ()
    expected_version: int | None = None
    keep_versions: int | None = None
    actor: str = ""
    reason: str = ""
    #: None: the step's workflow's variables.
    scope: VarScope | None = None

    def __post_init__(self) -> None:
        _names("delete", self.delete)
        _names("immutable", self.immutable)
        if self.scope is not None and not isinstance(self.scope, VarScope):
            raise InvalidArgument(f"a variable scope is a VarScope, not {self.scope!r}")


@dataclass(frozen=True)
class StepCheckpoint:
    """A step's checkpoint of its workflow: a full one (not a delta) of at most
    :data:`MAX_STEP_CHECKPOINT` bytes. ``payload`` is bytes, a str (sent as UTF-8) or a
    JSON-able mapping (sent as compact JSON); the rest as
    :meth:`~cairn.checkpoints.CheckpointsApi.save_checkpoint` takes it."""

    payload: Payload | Mapping[str, Any]
    kind: CheckpointKind | str = CheckpointKind.AUTO
    label: str = ""
    metadata: Mapping[str, Any] | None = None
    parent: str | None = None

    def __post_init__(self) -> None:
        self.payload_bytes()
        CheckpointKind.parse(self.kind)

    def payload_bytes(self) -> bytes:
        """The payload as sent; InvalidArgument when it is over the limit."""
        if isinstance(self.payload, Mapping):
            data = _json.dumps("checkpoint payload", dict(self.payload)).encode()
        else:
            data = payload_bytes(self.payload)
        if len(data) > MAX_STEP_CHECKPOINT:
            raise InvalidArgument(
                f"a step's checkpoint payload is {len(data)} bytes; the limit is "
                f"{MAX_STEP_CHECKPOINT} (save larger ones with save_checkpoint)"
            )
        return data


_PARTS: tuple[tuple[str, type], ...] = (
    ("create", WorkflowCreate),
    ("transition", WorkflowTransition),
    ("update", WorkflowUpdate),
    ("vars", VarsUpdate),
    ("checkpoint", StepCheckpoint),
    ("fence", Fence),
)


@dataclass(frozen=True)
class Step:
    """One step of workflow ``workflow_id``: at most one change (``create``, ``transition``
    or ``update``), then ``tasks``, ``vars`` and ``checkpoint``, each optional (but one at
    least) and all applied together or not at all; with ``fence``, only while that lock
    token, election term or owner's epoch is current. The parts' workflow is the step's."""

    workflow_id: str
    create: WorkflowCreate | None = None
    transition: WorkflowTransition | None = None
    update: WorkflowUpdate | None = None
    #: Tasks to create or change (None: no tasks part).
    tasks: Sequence[TaskSpec] | None = None
    vars: VarsUpdate | None = None
    checkpoint: StepCheckpoint | None = None
    fence: Fence | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.workflow_id, str) or not self.workflow_id:
            raise InvalidArgument(f"a step names its workflow, not {self.workflow_id!r}")
        changes = [c for c in (self.create, self.transition, self.update) if c is not None]
        if len(changes) > 1:
            raise InvalidArgument(
                "a step makes at most one change: create=, transition= or update="
            )
        for field, cls in _PARTS:
            part = getattr(self, field)
            if part is not None and not isinstance(part, cls):
                raise InvalidArgument(f"a step's {field} is a {cls.__name__}, not {part!r}")
        if isinstance(self.tasks, (str, bytes)):
            raise InvalidArgument("a step's tasks are a sequence of TaskSpec")
        if not changes and self.tasks is None and self.vars is None and self.checkpoint is None:
            raise InvalidArgument(
                "a step has a part: a change (create=, transition=, update=), tasks=, vars= "
                "or checkpoint="
            )

    def to_pb(self) -> pb.Step:
        """The step as sent. The step's workflow is named once, by its change (else by its
        tasks part); the other parts leave their workflow empty (the vars part its scope
        unset), which the cluster reads as the step's workflow. Without a change or tasks,
        each part names the workflow itself."""
        wid = self.workflow_id
        msg = pb.Step(fence=fence_pb(self.fence))
        if self.create is not None:
            c = self.create
            msg.create.CopyFrom(
                create_workflow_request(
                    wid,
                    namespace=c.namespace,
                    definition=c.definition,
                    definition_version=c.definition_version,
                    metadata=c.metadata,
                    labels=c.labels,
                    owner_id=c.owner_id,
                    routing_strategy=c.routing_strategy,
                    max_concurrent=c.max_concurrent,
                    total_tasks=c.total_tasks,
                    upsert=c.upsert,
                    actor=c.actor,
                )
            )
        elif self.transition is not None:
            t = self.transition
            msg.transition.CopyFrom(
                transition_request(
                    wid,
                    status=t.status,
                    event=t.event,
                    expected_version=t.expected_version,
                    actor=t.actor,
                    reason=t.reason,
                )
            )
        elif self.update is not None:
            u = self.update
            msg.update.CopyFrom(
                update_workflow_request(
                    wid,
                    expected_version=u.expected_version,
                    metadata_patch=u.metadata_patch,
                    set_labels=u.set_labels,
                    remove_labels=u.remove_labels,
                    owner_id=u.owner_id,
                    routing_strategy=u.routing_strategy,
                    max_concurrent=u.max_concurrent,
                    total_tasks=u.total_tasks,
                    actor=u.actor,
                    reason=u.reason,
                )
            )
        # Who names the step's workflow: its change, else its tasks part.
        named = msg.WhichOneof("change") is not None
        if self.tasks is not None:
            msg.tasks.CopyFrom(upsert_tasks_request("" if named else wid, self.tasks))
            named = True
        own = "" if named else wid
        if self.vars is not None:
            v = self.vars
            scope = v.scope or (VarScope.workflow(own) if own else None)
            msg.vars.CopyFrom(
                update_vars_request(
                    None if scope is None else scope.to_pb(),
                    set=v.set,
                    delete=v.delete,
                    immutable=v.immutable,
                    expected_version=v.expected_version,
                    keep_versions=v.keep_versions,
                    actor=v.actor,
                    reason=v.reason,
                )
            )
        if self.checkpoint is not None:
            k = self.checkpoint
            msg.checkpoint.CopyFrom(
                pb.StepCheckpoint(
                    fields=checkpoint_fields(
                        own, kind=k.kind, label=k.label, metadata=k.metadata, parent=k.parent
                    ),
                    payload=k.payload_bytes(),
                )
            )
        return msg


@dataclass(frozen=True)
class StepResult:
    """What one step did; a part the step did not have is None (``tasks`` empty). Every
    revision in it is the batch's."""

    #: The workflow after the step's change.
    workflow: WorkflowRef | None
    #: The change was a create that made a new workflow (False: an upsert changed an
    #: existing one, or no create).
    created: bool
    #: The tasks as the tasks part left them.
    tasks: list[TaskRef]
    vars: VarsWritten | None
    checkpoint: SavedCheckpoint | None
    #: The revision of the batch.
    revision: int

    @classmethod
    def from_pb(cls, r: pb.StepResult, revision: int) -> StepResult:
        workflow = None
        if r.HasField("workflow"):
            w = r.workflow
            workflow = WorkflowRef(w.id, w.status, w.version, revision)
        written = None
        if r.HasField("vars"):
            written = VarsWritten(r.vars.version, r.vars.checksum, revision)
        saved = None
        if r.HasField("checkpoint"):
            c = r.checkpoint
            saved = SavedCheckpoint(c.id, c.raw_size, c.stored_size, revision)
        return cls(
            workflow=workflow,
            created=r.created,
            tasks=[TaskRef.from_pb(t) for t in r.tasks],
            vars=written,
            checkpoint=saved,
            revision=revision,
        )


@dataclass(frozen=True)
class StepsResult:
    """What a batch did: one result per step, in order, all at one revision."""

    results: list[StepResult]
    revision: int

    @classmethod
    def from_pb(cls, r: pb.ApplyStepsResponse, steps: int) -> StepsResult:
        if len(r.results) != steps:
            raise bad_reply(f"{len(r.results)} step results for {steps} steps")
        return cls([StepResult.from_pb(s, r.revision) for s in r.results], r.revision)


def _steps_pb(steps: Iterable[Step]) -> list[pb.Step]:
    batch = []
    for s in steps:
        if not isinstance(s, Step):
            raise InvalidArgument(f"a batch holds Steps, not {s!r}")
        batch.append(s.to_pb())
    if not 1 <= len(batch) <= MAX_STEPS:
        raise InvalidArgument(f"a batch holds 1 to {MAX_STEPS} steps, not {len(batch)}")
    return batch


class StepsApi(ClientCore):
    async def apply_steps(self, steps: Iterable[Step]) -> StepsResult:
        """Applies ``steps`` (1 to :data:`MAX_STEPS`, of any workflows) as one write, all or
        nothing, at one revision; the results come one per step, in order. A refused part
        raises what its own RPC raises, with ``step`` and ``step_part`` set, and nothing is
        written. Every retry carries the same idempotency header, so the batch is applied
        once."""
        return await self._apply(steps, lambda r: r)

    async def step(self, step: Step) -> StepResult:
        """Applies one step (:meth:`apply_steps` of a batch of one): its result, with the
        revision of the write."""
        return await self._apply([step], lambda r: r.results[0])

    async def _apply(self, steps: Iterable[Step], pick: Callable[[StepsResult], T]) -> T:
        batch = _steps_pb(steps)
        req = pb.ApplyStepsRequest(steps=batch)
        n = len(batch)
        return await self._write(
            "apply_steps",
            m.APPLY_STEPS,
            lambda h: with_header(req, h),
            lambda r: pick(StepsResult.from_pb(r, n)),
        )
