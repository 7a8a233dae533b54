"""Tasks of a workflow (agent execution records with dependencies), and their API: bulk
upsert applied all or nothing, listing, the ready tasks to start next, and claimed runs.

A worker holds one lease (kept alive with :meth:`~cairn.leases.LeasesApi.keep_alive`), claims
ready tasks under it (:meth:`TasksApi.claim_task`) and ends each run with the claim's token
(:meth:`TasksApi.finish_task`). If the worker dies its lease ends and the cluster itself retries
or fails its runs, as each task's :class:`RetryPolicy` says. Claims and finishes are writes
with an idempotency key: a retried claim returns the task its first attempt claimed, never a
second one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from cairn import _json
from cairn import _methods as m
from cairn._core import ClientCore, with_header
from cairn._json import Json, bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.errors import InvalidArgument
from cairn.fence import Fence, fence_pb

__all__ = [
    "Claimed",
    "RetryPolicy",
    "Task",
    "TaskRef",
    "TaskSpec",
    "TaskStatus",
    "TasksApi",
    "UpsertedTasks",
]


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
class RetryPolicy:
    """How a claimed run that fails (finished as failed, or its worker's lease ended) is
    retried: PENDING again after ``backoff_ms * 2**(attempts - 1)`` (at most an hour) while
    ``attempts < max_attempts``, else FAILED. The default is one attempt, no retry."""

    max_attempts: int = 1
    backoff_ms: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 0 or self.backoff_ms < 0:
            raise InvalidArgument("a retry policy's max_attempts and backoff_ms are not negative")

    @classmethod
    def from_pb(cls, r: pb.RetryPolicy) -> RetryPolicy:
        return cls(r.max_attempts, r.backoff_ms)

    def to_pb(self) -> pb.RetryPolicy:
        return pb.RetryPolicy(max_attempts=self.max_attempts, backoff_ms=self.backoff_ms)


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
    #: The lease of the worker running it (0: not claimed).
    lease_id: int = 0
    #: The claim that started the current run: :meth:`TasksApi.finish_task`'s token.
    claim: int = 0
    retry: RetryPolicy = RetryPolicy()
    #: Claims skip it before this time (ms since the Unix epoch; a retry's backoff).
    ready_ms: int = 0

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
            lease_id=t.lease_id,
            claim=t.claim,
            retry=RetryPolicy.from_pb(t.retry) if t.HasField("retry") else RetryPolicy(),
            ready_ms=t.ready_ms,
        )


@dataclass(frozen=True)
class TaskSpec:
    """A task to create or change: fields left None are left alone (a new task starts
    PENDING). ``dependencies`` replaces the dependencies when set. ``expected_version``: the
    task's current version must be this (0: it must not exist yet). ``retry``: how a claimed
    run of it that fails is retried (:class:`RetryPolicy`)."""

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
    retry: RetryPolicy | None = None

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
            retry=None if self.retry is None else self.retry.to_pb(),
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

    @classmethod
    def from_pb(cls, t: pb.TaskRef) -> TaskRef:
        return cls(t.id, TaskStatus.parse(t.status), t.version, t.attempts)


def task_ref(msg: pb.FinishTaskResponse) -> TaskRef:
    if not msg.HasField("task"):
        raise bad_reply("task missing")
    return TaskRef.from_pb(msg.task)


@dataclass(frozen=True)
class Claimed:
    """The answer of :meth:`TasksApi.claim_task`."""

    #: The task now RUNNING under the caller's lease (its ``claim`` finishes it), or None
    #: when no task was ready.
    task: Task | None
    #: With no task: when the earliest backed-off task becomes claimable (ms since the Unix
    #: epoch); None when no task waits for its backoff either.
    next_ready_ms: int | None
    revision: int

    @classmethod
    def from_pb(cls, r: pb.ClaimTaskResponse) -> Claimed:
        return cls(
            Task.from_pb(r.task) if r.HasField("task") else None,
            r.next_ready_ms if r.HasField("next_ready_ms") else None,
            r.revision,
        )


@dataclass(frozen=True)
class UpsertedTasks:
    workflow_id: str
    tasks: list[TaskRef]
    revision: int

    @classmethod
    def from_pb(cls, r: pb.UpsertTasksResponse) -> UpsertedTasks:
        return cls(
            r.workflow_id,
            [TaskRef.from_pb(t) for t in r.tasks],
            r.revision,
        )


def upsert_tasks_request(
    workflow_id: str, tasks: Iterable[TaskSpec], *, fence: Fence | None = None
) -> pb.UpsertTasksRequest:
    """An UpsertTasks request without its idempotency header (also a step's tasks part)."""
    specs = []
    for t in tasks:
        if not isinstance(t, TaskSpec):
            raise InvalidArgument(f"a task to upsert is a TaskSpec, not {t!r}")
        specs.append(t.to_pb())
    return pb.UpsertTasksRequest(workflow_id=workflow_id, tasks=specs, fence=fence_pb(fence))


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
        req = upsert_tasks_request(workflow_id, tasks, fence=fence)
        return await self._write(
            "upsert_tasks", m.UPSERT_TASKS, lambda h: with_header(req, h), UpsertedTasks.from_pb
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

    async def claim_task(
        self,
        agent_id: str,
        lease_id: int,
        *,
        namespace: str | None = None,
        workflow_id: str | None = None,
        kinds: Iterable[str] = (),
    ) -> Claimed:
        """Claims the oldest ready task (PENDING, dependencies completed, past its backoff,
        its workflow not terminal and under ``max_concurrent``) of ``namespace`` (default
        ``"default"``), or only of ``workflow_id``, and only of ``kinds`` when given, for
        ``agent_id`` under lease ``lease_id``: it becomes RUNNING, its ``claim`` the token
        that finishes the run. Concurrent claims never get the same task; every retry of one
        claim carries the same idempotency header, so it answers the task the first attempt
        claimed. ``Claimed.task`` is None when nothing was ready. LeaseNotFound if the lease
        is gone."""
        kind_list = list(kinds)
        return await self._write(
            "claim_task",
            m.CLAIM_TASK,
            lambda h: pb.ClaimTaskRequest(
                header=h,
                namespace=namespace or "",
                workflow_id=workflow_id,
                kinds=kind_list,
                agent_id=agent_id,
                lease_id=lease_id,
            ),
            Claimed.from_pb,
        )

    async def finish_task(
        self,
        workflow_id: str,
        task_id: str,
        claim: int,
        *,
        output: Json | None = None,
        error: Json | None = None,
    ) -> TaskRef:
        """Ends the run that claim ``claim`` started: COMPLETED with ``output``, or, with
        ``error`` (any JSON value but None), failed: PENDING again after the task's retry
        backoff while attempts remain, else FAILED with that error. StaleClaim if the task no
        longer runs under that claim (its lease ended, it was changed or claimed again): the
        result is not stored."""
        if output is not None and error is not None:
            raise InvalidArgument("finish_task takes output= (completed) or error= (failed)")
        failed = error is not None
        out_text = "" if output is None else _json.dumps("output", output)
        err_text = "" if error is None else _json.dumps("error", error)
        return await self._write(
            "finish_task",
            m.FINISH_TASK,
            lambda h: pb.FinishTaskRequest(
                header=h,
                workflow_id=workflow_id,
                task_id=task_id,
                claim=claim,
                failed=failed,
                output=out_text,
                error=err_text,
            ),
            task_ref,
        )
