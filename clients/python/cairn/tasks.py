"""Tasks of a workflow (agent execution records with dependencies), and their API: bulk
upsert applied all or nothing, listing, and the ready tasks to start next."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from cairn import _json
from cairn import _methods as m
from cairn._core import ClientCore
from cairn._json import Json, bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.fence import Fence, fence_pb

__all__ = ["Task", "TaskRef", "TaskSpec", "TaskStatus", "TasksApi", "UpsertedTasks"]


class TaskStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, s: str) -> TaskStatus:
        try:
            return cls(s)
        except ValueError:
            raise bad_reply(f"unknown task status {s!r}") from None


@dataclass(frozen=True)
class Task:
    """A task (agent execution record) of a workflow. JSON fields are None when unset."""

    workflow_id: str
    id: str
    name: str
    kind: str
    status: TaskStatus
    agent_id: str
    dependencies: list[str]
    input: Json | None
    output: Json | None
    error: Json | None
    #: 1 on the first run; each retry adds one.
    attempts: int
    version: int
    mod_revision: int
    created_ms: int
    updated_ms: int
    started_ms: int | None
    finished_ms: int | None

    @classmethod
    def from_pb(cls, t: pb.Task) -> Task:
        return cls(
            workflow_id=t.workflow_id,
            id=t.id,
            name=t.name,
            kind=t.kind,
            status=TaskStatus.parse(t.status),
            agent_id=t.agent_id,
            dependencies=list(t.dependencies),
            input=_json.loads_opt("input", t.input),
            output=_json.loads_opt("output", t.output),
            error=_json.loads_opt("error", t.error),
            attempts=t.attempts,
            version=t.version,
            mod_revision=t.mod_revision,
            created_ms=t.created_ms,
            updated_ms=t.updated_ms,
            started_ms=t.started_ms if t.HasField("started_ms") else None,
            finished_ms=t.finished_ms if t.HasField("finished_ms") else None,
        )


@dataclass(frozen=True)
class TaskSpec:
    """A task to create or change: fields left None are left alone (a new task starts
    PENDING). ``dependencies`` replaces the dependencies when set. ``expected_version``: the
    task's current version must be this (0: it must not exist yet)."""

    id: str
    name: str | None = None
    kind: str | None = None
    status: TaskStatus | str | None = None
    agent_id: str | None = None
    dependencies: Sequence[str] | None = None
    input: Json | None = None
    output: Json | None = None
    error: Json | None = None
    expected_version: int | None = None

    def to_pb(self) -> pb.TaskSpec:
        def text(field: str, v: Json | None) -> str | None:
            return None if v is None else _json.dumps(field, v)

        spec = pb.TaskSpec(
            id=self.id,
            name=self.name,
            kind=self.kind,
            status=None if self.status is None else str(self.status),
            agent_id=self.agent_id,
            input=text("input", self.input),
            output=text("output", self.output),
            error=text("error", self.error),
            expected_version=self.expected_version,
        )
        if self.dependencies is not None:
            spec.dependencies.ids.extend(self.dependencies)
            spec.dependencies.SetInParent()
        return spec


@dataclass(frozen=True)
class TaskRef:
    """A task as an upsert left it."""

    id: str
    status: TaskStatus
    version: int
    attempts: int


@dataclass(frozen=True)
class UpsertedTasks:
    workflow_id: str
    tasks: list[TaskRef]
    revision: int

    @classmethod
    def from_pb(cls, r: pb.UpsertTasksResponse) -> UpsertedTasks:
        return cls(
            r.workflow_id,
            [TaskRef(t.id, TaskStatus.parse(t.status), t.version, t.attempts) for t in r.tasks],
            r.revision,
        )


class TasksApi(ClientCore):
    async def upsert_tasks(
        self,
        workflow_id: str,
        tasks: Iterable[TaskSpec],
        *,
        fence: Fence | None = None,
    ) -> UpsertedTasks:
        """Creates or changes tasks of ``workflow_id`` in one atomic write: every spec applies
        or none does (IllegalTransition, VersionConflict, InvalidArgument for a cycle or an
        unknown dependency, ...)."""
        specs = [t.to_pb() for t in tasks]
        f = fence_pb(fence)
        return await self._write(
            "upsert_tasks",
            m.UPSERT_TASKS,
            lambda h: pb.UpsertTasksRequest(
                header=h, workflow_id=workflow_id, tasks=specs, fence=f
            ),
            UpsertedTasks.from_pb,
        )

    async def list_tasks(
        self,
        workflow_id: str,
        *,
        statuses: Iterable[TaskStatus | str] = (),
        ready_only: bool = False,
        serializable: bool = False,
    ) -> list[Task]:
        """Tasks of ``workflow_id`` (any of ``statuses``; all when empty), ordered by id."""
        req = pb.ListTasksRequest(
            workflow_id=workflow_id,
            statuses=[str(s) for s in statuses],
            ready_only=ready_only,
            serializable=serializable,
        )
        resp = await self._call("list_tasks", m.LIST_TASKS, req)
        return [Task.from_pb(t) for t in resp.tasks]

    async def ready_tasks(self, workflow_id: str) -> list[Task]:
        """Pending tasks of ``workflow_id`` whose dependencies all completed: the ones to
        start."""
        return await self.list_tasks(workflow_id, ready_only=True)
