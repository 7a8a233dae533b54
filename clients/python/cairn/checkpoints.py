"""The checkpoint API (``cairn_client::checkpoint``): save workflow state beside its workflow
(compressed and checksummed by the cluster; payloads over one chunk, 1 MiB, stream
automatically), load it back verified (CRC-32 checked end to end; a delta materialized on
request), find the latest (valid) one, get and list, roll a workflow back to one, and set
retention per workflow or as a namespace default.

Writes share the idempotency protocol of every write: one header per logical save, sent by
every attempt, so a retried upload stream continues the same upload on the cluster and the
checkpoint is stored once; exhausted retries raise OutcomeUnknown, resumable with
``client.resume``. Reads are linearizable unless ``serializable``.

Rejections are typed: NotFound (workflow or checkpoint), InvalidArgument (unknown or foreign
parent, a delta without a parent, payload over the limit, a delta that is not JSON),
FailedPrecondition (a delta over a chain that does not materialize), DataLoss (stored or
received bytes fail verification), ResourceExhausted (a namespace limit), StaleFence, and for
rollback IllegalTransition / VersionConflict.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from cairn import _json, _transfer
from cairn import _methods as m
from cairn._core import ClientCore, _outcome_unknown
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import checkpoint_pb2 as pb
from cairn.checkpoint_types import (
    CheckpointInfo,
    CheckpointKind,
    CheckpointPage,
    LoadedCheckpoint,
    RetentionPolicy,
    SavedCheckpoint,
)
from cairn.errors import CairnError, InvalidArgument, OutcomeUnknown
from cairn.fence import Fence, fence_pb
from cairn.pending import PendingWrite
from cairn.workflow_types import WorkflowRef

__all__ = ["CheckpointsApi"]

#: Page size of :meth:`CheckpointsApi.list_checkpoints` when none is given.
DEFAULT_PAGE = 100
#: Page size of :meth:`CheckpointsApi.iter_checkpoints` (the server's maximum).
ITER_PAGE = 1000

Payload = bytes | bytearray | memoryview | str


def _rolled_back(r: pb.RollbackWorkflowResponse) -> WorkflowRef:
    if not r.HasField("workflow"):
        raise bad_reply("workflow missing")
    return WorkflowRef.from_pb(r.workflow)


def payload_bytes(payload: Payload) -> bytes:
    """A payload as sent: bytes, or a str as UTF-8."""
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise InvalidArgument(f"a checkpoint payload is bytes or str, not {type(payload).__name__}")


def checkpoint_fields(
    workflow_id: str,
    *,
    kind: CheckpointKind | str = CheckpointKind.AUTO,
    label: str = "",
    metadata: Mapping[str, Any] | None = None,
    parent: str | None = None,
    delta: bool = False,
) -> pb.CheckpointFields:
    """What a save says about its checkpoint (also a step's checkpoint part)."""
    return pb.CheckpointFields(
        workflow_id=workflow_id,
        kind=CheckpointKind.parse(kind).to_pb(),
        label=label,
        metadata="" if metadata is None else _json.dumps("metadata", dict(metadata)),
        parent=parent,
        delta=delta,
    )


class CheckpointsApi(ClientCore):
    async def save_checkpoint(
        self,
        workflow_id: str,
        payload: Payload,
        *,
        kind: CheckpointKind | str = CheckpointKind.AUTO,
        label: str = "",
        metadata: Mapping[str, Any] | None = None,
        parent: str | None = None,
        delta: bool = False,
        fence: Fence | None = None,
    ) -> SavedCheckpoint:
        """Saves ``payload`` (bytes; a str is sent as UTF-8) as a checkpoint of
        ``workflow_id``. ``parent`` names an earlier checkpoint of the same workflow; with
        ``delta`` the payload is a JSON merge patch (RFC 7386) over the parent's full state.
        Payloads over 1 MiB are streamed in 1 MiB chunks; every retry (also a
        ``client.resume`` after OutcomeUnknown) continues the same upload, and the checkpoint
        is created once. With ``fence``, saved only while that lock token or election term is
        current (StaleFence otherwise, nothing stored)."""
        data = payload_bytes(payload)
        fields = checkpoint_fields(
            workflow_id, kind=kind, label=label, metadata=metadata, parent=parent, delta=delta
        )
        f = fence_pb(fence)
        header = self._sequencer.next_header()
        save = _transfer.Save(header=header, fields=fields, payload=data, fence=f)
        op = "save_checkpoint" if len(data) <= _transfer.CHUNK else "upload_checkpoint"
        try:
            response = await _transfer.send_save(self, save)
        except CairnError as e:
            if not _outcome_unknown(e):
                self._sequencer.finish(header.sequence)
                raise
            raise OutcomeUnknown(self._pending_save(op, save, str(e))) from e
        except BaseException:
            # Cancelled (or a bug): nobody will retry this save.
            self._sequencer.finish(header.sequence)
            raise
        self._sequencer.finish(header.sequence)
        return SavedCheckpoint.from_pb(response)

    def _pending_save(
        self, op: str, save: _transfer.Save, cause: str
    ) -> PendingWrite[SavedCheckpoint]:
        async def send() -> SavedCheckpoint:
            return SavedCheckpoint.from_pb(await _transfer.send_save(self, save))

        request = save.request() if len(save.payload) <= _transfer.CHUNK else save.start()
        return PendingWrite(
            op=op,
            request=request,
            client_id=save.header.client_id,
            sequence=save.header.sequence,
            cause=cause,
            send=send,
            release=self._sequencer.finish,
        )

    async def load_checkpoint(
        self,
        workflow_id: str,
        id: str,
        *,
        materialize: bool = False,
        serializable: bool = False,
    ) -> LoadedCheckpoint:
        """A checkpoint's metadata and payload, streamed and verified: the payload must have
        the saved size and CRC-32 (DataLoss otherwise, naming the checkpoint). For a delta
        with ``materialize``: the full state (its chain applied by the cluster, which verifies
        every link). NotFound if it does not exist."""
        req = pb.LoadCheckpointRequest(
            workflow_id=workflow_id, id=id, materialize=materialize, serializable=serializable
        )
        info, payload = await _transfer.fetch(self, req)
        return LoadedCheckpoint(CheckpointInfo.from_pb(info), payload)

    async def get_checkpoint(
        self, workflow_id: str, id: str, *, serializable: bool = False
    ) -> CheckpointInfo | None:
        """A checkpoint's metadata (with the workflow metadata saved with it); None when it
        does not exist."""
        req = pb.GetCheckpointRequest(workflow_id=workflow_id, id=id, serializable=serializable)
        resp = await self._call("get_checkpoint", m.GET_CHECKPOINT, req)
        return CheckpointInfo.from_pb(resp.checkpoint) if resp.HasField("checkpoint") else None

    async def latest_checkpoint(
        self, workflow_id: str, *, serializable: bool = False
    ) -> CheckpointInfo | None:
        """The newest checkpoint of a workflow; None when it has none, NotFound when the
        workflow does not exist."""
        req = pb.LatestCheckpointRequest(workflow_id=workflow_id, serializable=serializable)
        resp = await self._call("latest_checkpoint", m.LATEST_CHECKPOINT, req)
        return CheckpointInfo.from_pb(resp.checkpoint) if resp.HasField("checkpoint") else None

    async def latest_valid_checkpoint(
        self, workflow_id: str, *, serializable: bool = False
    ) -> CheckpointInfo | None:
        """The newest checkpoint whose whole chain loads and verifies, skipping damaged ones:
        where to resume from after a crash. None when there is none."""
        req = pb.LatestCheckpointRequest(workflow_id=workflow_id, serializable=serializable)
        resp = await self._call("latest_valid_checkpoint", m.LATEST_VALID_CHECKPOINT, req)
        return CheckpointInfo.from_pb(resp.checkpoint) if resp.HasField("checkpoint") else None

    async def list_checkpoints(
        self,
        workflow_id: str,
        *,
        after: str | None = None,
        limit: int = 0,
        serializable: bool = False,
    ) -> CheckpointPage:
        """One page of a workflow's checkpoints, oldest first, after checkpoint ``after``
        (``limit`` 0: 100, at most 1000). Listings leave out the workflow metadata saved with
        each (``get_checkpoint`` has it). NotFound when the workflow does not exist."""
        req = pb.ListCheckpointsRequest(
            workflow_id=workflow_id,
            after=after or "",
            limit=limit if limit > 0 else DEFAULT_PAGE,
            serializable=serializable,
        )
        resp = await self._call("list_checkpoints", m.LIST_CHECKPOINTS, req)
        return CheckpointPage(
            checkpoints=[CheckpointInfo.from_pb(c) for c in resp.checkpoints],
            next_after=resp.next_after if resp.HasField("next_after") else None,
            revision=resp.revision,
        )

    async def iter_checkpoints(
        self, workflow_id: str, *, after: str | None = None, page_size: int = ITER_PAGE
    ) -> AsyncIterator[CheckpointInfo]:
        """Every checkpoint of a workflow after ``after``, oldest first, page by page."""
        cursor = after
        while True:
            page = await self.list_checkpoints(workflow_id, after=cursor, limit=page_size)
            for c in page.checkpoints:
                yield c
            if page.next_after is None:
                return
            if page.next_after == cursor:
                raise bad_reply("checkpoint list cursor did not advance")
            cursor = page.next_after

    async def list_all_checkpoints(self, workflow_id: str) -> list[CheckpointInfo]:
        """Every checkpoint of a workflow, oldest first (all pages)."""
        return [c async for c in self.iter_checkpoints(workflow_id)]

    async def rollback_workflow(
        self,
        workflow_id: str,
        checkpoint_id: str,
        *,
        expected_version: int | None = None,
        force: bool = False,
        actor: str = "",
        reason: str = "",
        fence: Fence | None = None,
    ) -> WorkflowRef:
        """Puts a workflow back to the status and metadata saved with ``checkpoint_id``
        (recorded in its history as a rollback). The status change must be legal in the
        workflow's definition unless ``force`` (IllegalTransition otherwise); with
        ``expected_version``, only at that version (VersionConflict otherwise)."""
        f = fence_pb(fence)
        return await self._write(
            "rollback_workflow",
            m.ROLLBACK_WORKFLOW,
            lambda h: pb.RollbackWorkflowRequest(
                header=h,
                workflow_id=workflow_id,
                checkpoint_id=checkpoint_id,
                expected_version=expected_version,
                force=force,
                actor=actor,
                reason=reason,
                fence=f,
            ),
            _rolled_back,
        )

    async def set_retention(
        self,
        policy: RetentionPolicy | None,
        *,
        workflow_id: str | None = None,
        namespace: str | None = None,
    ) -> int:
        """Sets (or with ``policy`` None clears) the checkpoint retention of one workflow, or
        the default of a namespace's workflows without their own (``namespace=""``: the
        default namespace). Exactly one of ``workflow_id`` and ``namespace``. Returns the
        revision of the change; the leader purges on its next sweep."""
        if (workflow_id is None) == (namespace is None):
            raise InvalidArgument("set_retention takes exactly one of workflow_id= and namespace=")
        p = None if policy is None else policy.to_pb()

        def build(h: Any) -> pb.SetRetentionRequest:
            req = pb.SetRetentionRequest(header=h, policy=p)
            if workflow_id is not None:
                req.workflow_id = workflow_id
            else:
                req.namespace = namespace or ""
            return req

        return await self._write("set_retention", m.SET_RETENTION, build, lambda r: int(r.revision))

    async def set_namespace_retention(self, namespace: str, policy: RetentionPolicy | None) -> int:
        """:meth:`set_retention` for a namespace's default."""
        return await self.set_retention(policy, namespace=namespace)
