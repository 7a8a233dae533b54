"""Migration facades: the method names of the state managers Python orchestrators write today
on PostgreSQL, Redis or files, backed by a :class:`cairn.Client`.

* :class:`StateManager` — ``save_workflow_state`` / ``load_workflow_state`` /
  ``save_checkpoint`` / ``load_checkpoint`` / ``list_active_workflows`` (the Kaizen
  ``OrchestrationStateManager`` style) and ``save_pipeline_state`` / ``load_pipeline_state`` /
  ``create_checkpoint`` / ``resume_from_checkpoint`` (the pipeline ``StateManager`` style).
* :class:`DistributedLock` — ``async with DistributedLock(client, name, ttl=...)``, or
  ``acquire()`` / ``release()``.
* :class:`LeaderElection` — ``await election.is_leader()``, ``campaign`` / ``start``,
  ``resign`` / ``stop``.

Where Cairn's semantics differ from a row or key written at will (see the migration page in
the README): a status is changed by a transition that the workflow's definition must allow
(``IllegalTransition`` otherwise, with the status left as it was); workflow metadata is
updated as a JSON merge patch; a checkpoint id returned here is ``"<workflow id>/<checkpoint
id>"``, so that ``load_checkpoint(checkpoint_id)`` needs nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from cairn.client import Client
from cairn.elections import Leadership
from cairn.errors import AlreadyExists, CairnError, InvalidArgument, NotFound, WaitTimeout
from cairn.fence import Fence
from cairn.locks import LockGuard
from cairn.workflow_types import Progress, Workflow
from cairn.workflows import WorkflowFields

__all__ = [
    "ACTIVE_STATUSES",
    "CheckpointNotFoundError",
    "DistributedLock",
    "LeaderElection",
    "StateManager",
    "WorkflowNotFoundError",
]

_log = logging.getLogger(__name__)

#: What :meth:`StateManager.list_active_workflows` lists by default (as Kaizen's does).
ACTIVE_STATUSES = ("PENDING", "RUNNING")


class WorkflowNotFoundError(NotFound):
    """No workflow (pipeline) with that id: a :class:`cairn.NotFound`."""


class CheckpointNotFoundError(NotFound):
    """No checkpoint with that id: a :class:`cairn.NotFound`."""


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _workflow_dict(w: Workflow, progress: Progress | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": w.id,
        "workflow_id": w.id,
        "namespace": w.namespace,
        "definition": w.definition,
        "status": w.status,
        "version": w.version,
        "metadata": dict(w.metadata),
        "labels": dict(w.labels),
        "runtime_id": w.owner_id,
        "routing_strategy": w.routing_strategy,
        "max_concurrent": w.max_concurrent,
        "total_tasks": w.total_tasks,
        "created_at": _time(w.created_ms),
        "updated_at": _time(w.updated_ms),
        "start_time": _time(w.started_ms),
        "end_time": _time(w.finished_ms),
    }
    if progress is not None:
        d["completed_tasks"] = progress.completed
        d["failed_tasks"] = progress.failed
        d["success_rate"] = progress.success_rate
        d["duration_ms"] = progress.duration_ms
    return d


def _split_checkpoint_id(checkpoint_id: str, workflow_id: str | None) -> tuple[str, str]:
    wf, sep, cp = checkpoint_id.rpartition("/")
    if sep:
        if workflow_id is not None and workflow_id != wf:
            raise InvalidArgument(f"checkpoint {checkpoint_id!r} is not one of {workflow_id!r}")
        return wf, cp
    if workflow_id is None:
        raise InvalidArgument(
            f"checkpoint id {checkpoint_id!r} names no workflow: "
            "pass the '<workflow id>/<checkpoint id>' this facade returns, or workflow_id="
        )
    return workflow_id, checkpoint_id


def _encode(what: str, data: Any) -> bytes:
    try:
        return json.dumps(data, separators=(",", ":"), default=str).encode()
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what} is not JSON-serializable: {e}") from e


class StateManager:
    """A workflow/pipeline state manager backed by Cairn: workflow records for the state,
    Cairn checkpoints (JSON-encoded payloads) for the checkpoints. ``namespace`` (default
    ``"default"``) is where new workflows go; ``definition`` the definition they follow
    (default: the built-in one, PENDING -> RUNNING -> PAUSED / COMPLETED / FAILED,
    PENDING/RUNNING/PAUSED -> CANCELLED).

    The client is the caller's: closing the state manager does not close it."""

    def __init__(
        self, client: Client, *, namespace: str | None = None, definition: str | None = None
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.definition = definition

    # ---- workflow style (Kaizen's OrchestrationStateManager) ------------------------------

    async def save_workflow_state(
        self,
        workflow_id: str,
        status: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        runtime_id: str | None = None,
        routing_strategy: str | None = None,
        max_concurrent: int | None = None,
        total_tasks: int | None = None,
        labels: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> str:
        """Creates workflow ``workflow_id`` (in the definition's initial status, PENDING) or
        updates it, then moves it to ``status`` if that differs from its current status.
        Returns the workflow id (the record's id is the workflow id).

        Differences from an upsert of a row: ``metadata`` is merged into the existing
        metadata as a JSON merge patch (a ``None`` member deletes a key, keys not named are
        kept); ``labels`` are set (others kept). A status change is one transition that the
        definition must allow from the current status: an illegal one (RUNNING -> PENDING,
        anything out of COMPLETED) raises :class:`cairn.IllegalTransition` with the legal
        targets, and nothing of this call is written for an existing workflow (the status is
        checked first); a new workflow stays created in PENDING. The status change and the
        metadata update are two writes (each exactly once), not one transaction."""
        current = await self.client.get_workflow(workflow_id)
        if current is None:
            try:
                created = await self.client.create_workflow(
                    workflow_id,
                    namespace=self.namespace,
                    definition=self.definition,
                    metadata=metadata,
                    labels=labels,
                    owner_id=runtime_id or "",
                    routing_strategy=routing_strategy or "",
                    max_concurrent=max_concurrent or 0,
                    total_tasks=total_tasks or 0,
                )
            except AlreadyExists:
                pass  # created meanwhile by someone else: update it below
            else:
                if status is not None and status.upper() != created.workflow.status:
                    await self.client.transition(
                        workflow_id,
                        status=status.upper(),
                        expected_version=created.workflow.version,
                        reason=reason,
                    )
                return workflow_id
        ref_status = None if current is None else current.workflow.status
        if status is not None and status.upper() != ref_status:
            await self.client.transition(workflow_id, status=status.upper(), reason=reason)
        if (
            metadata is not None
            or labels
            or runtime_id is not None
            or routing_strategy is not None
            or max_concurrent is not None
            or total_tasks is not None
        ):
            await self.client.update_workflow(
                workflow_id,
                metadata_patch=metadata,
                set_labels=labels,
                owner_id=runtime_id,
                routing_strategy=routing_strategy,
                max_concurrent=max_concurrent,
                total_tasks=total_tasks,
                reason=reason,
            )
        return workflow_id

    async def load_workflow_state(
        self, workflow_id: str, include_records: bool = True
    ) -> dict[str, Any]:
        """``{"workflow_state": {...}, "agent_records": [...]}``: the workflow record as a
        dict (status, metadata as a dict, labels, progress counts, times as UTC datetimes)
        and, with ``include_records``, its tasks (Cairn's agent execution records) as dicts.
        :class:`WorkflowNotFoundError` when it does not exist."""
        details = await self.client.get_workflow(workflow_id, include_tasks=include_records)
        if details is None:
            raise WorkflowNotFoundError(f"workflow {workflow_id!r} not found")
        out: dict[str, Any] = {"workflow_state": _workflow_dict(details.workflow, details.progress)}
        if include_records:
            out["agent_records"] = [
                {
                    "id": t.id,
                    "workflow_id": t.workflow_id,
                    "agent_id": t.agent_id,
                    "name": t.name,
                    "status": t.status.value,
                    "input": t.input,
                    "result": t.output,
                    "error": t.error,
                    "attempts": t.attempts,
                }
                for t in details.tasks
            ]
        return out

    async def save_checkpoint(
        self,
        workflow_id: str,
        checkpoint_data: Any,
        checkpoint_type: str = "AUTO",
        parent_checkpoint_id: str | None = None,
        *,
        label: str = "",
        metadata: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> str:
        """Saves ``checkpoint_data`` (JSON-encoded) as a checkpoint of ``workflow_id``, which
        must exist (:class:`WorkflowNotFoundError` otherwise). ``checkpoint_type``: AUTO,
        MANUAL or ERROR_RECOVERY. ``parent_checkpoint_id`` links it to an earlier checkpoint;
        the payload is still the full state (not a delta). Compression and the CRC-32 check
        are the cluster's. Returns ``"<workflow id>/<checkpoint id>"``."""
        parent = None
        if parent_checkpoint_id is not None:
            parent = _split_checkpoint_id(parent_checkpoint_id, workflow_id)[1]
        try:
            saved = await self.client.save_checkpoint(
                workflow_id,
                _encode("checkpoint_data", checkpoint_data),
                kind=checkpoint_type,
                label=label,
                metadata=metadata,
                parent=parent,
                fence=fence,
            )
        except NotFound as e:
            raise WorkflowNotFoundError(e.message, kind=e.kind, code=e.code) from e
        return f"{workflow_id}/{saved.id}"

    async def load_checkpoint(self, checkpoint_id: str, *, workflow_id: str | None = None) -> Any:
        """The data saved by :meth:`save_checkpoint` (decoded from JSON). ``checkpoint_id`` is
        what it returned, or a bare Cairn checkpoint id with ``workflow_id``.
        :class:`CheckpointNotFoundError` when there is no such checkpoint; a damaged one
        raises :class:`cairn.DataLoss`."""
        wf, cp = _split_checkpoint_id(checkpoint_id, workflow_id)
        try:
            loaded = await self.client.load_checkpoint(wf, cp, materialize=True)
        except NotFound as e:
            raise CheckpointNotFoundError(e.message, kind=e.kind, code=e.code) from e
        return json.loads(loaded.payload)

    async def list_active_workflows(
        self, statuses: Iterable[str] = ACTIVE_STATUSES, *, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The workflows of the namespace in ``statuses`` (PENDING or RUNNING by default),
        oldest first, as dicts like ``load_workflow_state``'s ``workflow_state`` (without the
        progress counts, which need one read per workflow)."""
        return [
            _workflow_dict(w)
            async for w in self.client.iter_workflows(
                namespace=self.namespace, statuses=[s.upper() for s in statuses], labels=labels
            )
        ]

    # ---- pipeline style -----------------------------------------------------------------

    async def save_pipeline_state(
        self, pipeline_id: str, state: Mapping[str, Any], *, status: str | None = None
    ) -> None:
        """Stores ``state`` (a JSON object) as pipeline ``pipeline_id``'s state: the whole
        metadata of workflow ``pipeline_id``, replaced (an upsert; the workflow is created in
        PENDING on first save; its labels and fields are kept, as read just before: a
        concurrent change of those between the read and the upsert is overwritten). A
        ``"status"`` key inside ``state`` is data, nothing more; to change the workflow's
        status pass ``status=`` (a transition the definition must allow;
        :class:`cairn.IllegalTransition` otherwise, raised after the state was stored)."""
        current = await self.client.get_workflow(pipeline_id)
        fields: WorkflowFields = {
            "namespace": self.namespace,
            "definition": self.definition,
            "metadata": dict(state),
        }
        if current is not None:
            w = current.workflow
            fields["labels"] = w.labels
            fields["owner_id"] = w.owner_id
            fields["routing_strategy"] = w.routing_strategy
            fields["max_concurrent"] = w.max_concurrent
            fields["total_tasks"] = w.total_tasks
        saved = await self.client.upsert_workflow(pipeline_id, **fields)
        if status is not None and saved.workflow.status != status.upper():
            await self.client.transition(
                pipeline_id, status=status.upper(), expected_version=saved.workflow.version
            )

    async def load_pipeline_state(self, pipeline_id: str) -> dict[str, Any] | None:
        """The state last stored by :meth:`save_pipeline_state` (or put back by
        :meth:`resume_from_checkpoint`); None when the pipeline does not exist."""
        details = await self.client.get_workflow(pipeline_id)
        return None if details is None else dict(details.workflow.metadata)

    async def create_checkpoint(
        self,
        pipeline_id: str,
        checkpoint_data: Any = None,
        *,
        checkpoint_type: str = "AUTO",
        label: str = "",
    ) -> str:
        """A checkpoint of pipeline ``pipeline_id``: ``checkpoint_data`` JSON-encoded as its
        payload, and the pipeline's current state (and status) saved with it by the cluster,
        so that :meth:`resume_from_checkpoint` can put both back. Returns
        ``"<pipeline id>/<checkpoint id>"``."""
        return await self.save_checkpoint(
            pipeline_id, checkpoint_data, checkpoint_type, label=label
        )

    async def resume_from_checkpoint(
        self, pipeline_id: str, checkpoint_id: str | None = None, *, force: bool = False
    ) -> Any:
        """Puts pipeline ``pipeline_id`` back to the state and status saved with
        ``checkpoint_id`` (default: the newest checkpoint whose chain verifies) and returns
        that checkpoint's data. The status change must be legal in the definition
        (:class:`cairn.IllegalTransition` otherwise, nothing changed): out of FAILED or
        another terminal status the default definition has no edge, so pass ``force=True``
        to resume a failed pipeline (recorded in its history as a forced rollback).
        :class:`CheckpointNotFoundError` when there is no such checkpoint (or none at all)."""
        if checkpoint_id is None:
            try:
                latest = await self.client.latest_valid_checkpoint(pipeline_id)
            except NotFound as e:
                raise WorkflowNotFoundError(e.message, kind=e.kind, code=e.code) from e
            if latest is None:
                raise CheckpointNotFoundError(f"pipeline {pipeline_id!r} has no valid checkpoint")
            cp = latest.id
        else:
            cp = _split_checkpoint_id(checkpoint_id, pipeline_id)[1]
        try:
            await self.client.rollback_workflow(pipeline_id, cp, force=force)
        except NotFound as e:
            raise CheckpointNotFoundError(e.message, kind=e.kind, code=e.code) from e
        return await self.load_checkpoint(cp, workflow_id=pipeline_id)


class DistributedLock:
    """A lock shaped like the seeds' ``DistributedLock(name=..., ttl=...)``, backed by
    :meth:`cairn.Client.lock`::

        async with DistributedLock(client, f"resource_{rid}", ttl=300) as lock:
            await client.put(key, value, fence=lock.fence)

    Waiting is FIFO in the cluster (no polling): ``retry_interval`` is accepted for
    compatibility and unused. ``wait`` bounds how long ``async with`` waits
    (:class:`cairn.WaitTimeout`); None waits until granted. The lock's lease is renewed in
    the background; if that fails for a whole ``ttl``, :attr:`lost` is set and another holder
    may already have it: check it, and pass :attr:`fence` with the writes it protects."""

    def __init__(
        self,
        client: Client,
        name: str,
        ttl: float = 30.0,
        retry_interval: float = 1.0,
        *,
        wait: float | None = None,
        owner: str | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.ttl = ttl
        self.retry_interval = retry_interval
        self.wait = wait
        self.owner = owner
        self._guard: LockGuard | None = None

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Takes the lock: True once held. ``blocking=False`` tries once; ``timeout``
        (default: the constructor's ``wait``) bounds the wait. False when not acquired.
        Acquiring a lock this object already holds raises :class:`cairn.InvalidArgument`."""
        if self.locked():
            raise InvalidArgument(f"lock {self.name!r} is held by this object already")
        if not blocking:
            self._guard = await self.client.try_lock(self.name, ttl=self.ttl, owner=self.owner)
            return self._guard is not None
        wait = self.wait if timeout is None else timeout
        try:
            self._guard = await self.client.lock(
                self.name, ttl=self.ttl, wait=wait, owner=self.owner
            )
        except WaitTimeout:
            return False
        return True

    async def release(self) -> None:
        """Releases the lock (revoking its lease). Does nothing when not held."""
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.release()

    def locked(self) -> bool:
        """Whether this object holds the lock (and has not seen it lost)."""
        return self._guard is not None and not self._guard.released and not self._guard.is_lost()

    @property
    def guard(self) -> LockGuard | None:
        return self._guard

    @property
    def fence(self) -> Fence:
        """The fence of the current hold (for writes that must fail once it is over)."""
        if self._guard is None:
            raise InvalidArgument(f"lock {self.name!r} is not held")
        return self._guard.fence

    @property
    def lost(self) -> asyncio.Event:
        if self._guard is None:
            raise InvalidArgument(f"lock {self.name!r} is not held")
        return self._guard.lost

    async def __aenter__(self) -> DistributedLock:
        if not await self.acquire():
            raise WaitTimeout(f"lock {self.name!r}: not acquired within {self.wait} s")
        return self

    async def __aexit__(self, *exc: object) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.__aexit__(*exc)  # releases, also when the block was cancelled


class LeaderElection:
    """Leader election shaped like the seeds' ``LeaderElection(name=..., node_id=...,
    ttl=...)``, backed by :meth:`cairn.Client.campaign`::

        election = LeaderElection(client, "pipeline_coordinator", node_id="node-1", ttl=30)
        while True:
            if await election.is_leader():   # joins the election on first call
                await coordinate(fence=election.fence)
            await asyncio.sleep(10)

    :meth:`start` campaigns in the background (and again whenever leadership is lost);
    :meth:`campaign` waits until elected; :meth:`resign` steps down (a running background
    campaign rejoins the line at its end); :meth:`stop` steps down and leaves. ``node_id``
    is the candidate id others see in :meth:`leader` (default: unique)."""

    def __init__(
        self,
        client: Client,
        name: str,
        node_id: str | None = None,
        ttl: float = 30.0,
        *,
        value: bytes | str = b"",
        retry_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.name = name
        self.node_id = node_id or f"node-{uuid.uuid4().hex[:12]}"
        self.ttl = ttl
        self.value = value.encode() if isinstance(value, str) else value
        self.retry_interval = retry_interval
        self._leadership: Leadership | None = None
        self._task: asyncio.Task[None] | None = None
        self._stepped_down = asyncio.Event()
        self._stopped = False

    async def is_leader(self) -> bool:
        """Whether this node leads now. Starts the background campaign on first call (not
        after :meth:`stop`: then only :meth:`start` or :meth:`campaign` rejoin)."""
        if self._task is None and not self._stopped:
            self.start()
            await asyncio.sleep(0)
        lead = self._leadership
        return lead is not None and lead.is_leader()

    @property
    def leadership(self) -> Leadership | None:
        return self._leadership

    @property
    def fence(self) -> Fence:
        """The fence of the current term (writes carrying it fail once the term is over)."""
        if self._leadership is None or not self._leadership.is_leader():
            raise InvalidArgument(f"not the leader of {self.name!r}")
        return self._leadership.fence

    async def leader(self) -> str | None:
        """The node id of the current leader, if any."""
        state = await self.client.leader(self.name)
        return None if state.leader is None else state.leader.owner

    async def campaign(self, wait: float | None = None) -> Leadership:
        """Waits in line until elected (up to ``wait`` seconds, :class:`cairn.WaitTimeout`
        after); returns the leadership. Already leading: returns it."""
        lead = self._leadership
        if lead is not None and lead.is_leader():
            return lead
        lead = await self.client.campaign(
            self.name, self.value, ttl=self.ttl, wait=wait, candidate=self.node_id
        )
        self._leadership = lead
        self._stepped_down.clear()
        return lead

    def start(self) -> None:
        """Campaigns in the background, again after every loss of leadership, until
        :meth:`stop`. Needs a running event loop."""
        self._stopped = False
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                lead = await self.campaign()
            except CairnError as e:
                _log.warning("campaign in %s: %s; retrying", self.name, e)
                await asyncio.sleep(self.retry_interval)
                continue
            lost = asyncio.ensure_future(lead.lost.wait())
            down = asyncio.ensure_future(self._stepped_down.wait())
            try:
                await asyncio.wait({lost, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                down.cancel()
            if lead.lost.is_set():
                with contextlib.suppress(CairnError):
                    await lead.resign()  # drop what may be left of the old candidacy

    async def resign(self) -> None:
        """Steps down (the next candidate in line is elected). A background campaign
        started by :meth:`start` or :meth:`is_leader` joins the line again."""
        lead, self._leadership = self._leadership, None
        if lead is not None:
            self._stepped_down.set()
            await lead.resign()

    async def stop(self) -> None:
        """Stops the background campaign and steps down. A campaign cancelled in flight may
        have been granted by the cluster all the same: any leadership or place in line
        held under this ``node_id`` is then resigned too (and its lease revoked), so
        ``node_id`` must be this object's alone."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.resign()
        if task is None:
            return
        state = await self.client.leader(self.name)
        held = [h for h in [state.leader, *state.candidates] if h and h.owner == self.node_id]
        for h in held:
            with contextlib.suppress(CairnError):
                await self.client.resign(self.name, self.node_id, h.token)
            with contextlib.suppress(CairnError):
                await self.client.revoke_lease(h.lease_id)

    async def __aenter__(self) -> LeaderElection:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
