"""What the checkpoint API takes and returns (``cairn_client::checkpoint::types``): kinds and
codecs, a checkpoint's metadata, save results, pages, a loaded payload and retention policies,
as plain dataclasses built from the protobuf answers. Metadata is a dict (a JSON object)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import NamedTuple

from cairn import _json
from cairn._json import JsonObject, bad_reply
from cairn._proto.cairn.v1 import checkpoint_pb2 as pb
from cairn.errors import InvalidArgument

__all__ = [
    "CheckpointInfo",
    "CheckpointKind",
    "CheckpointPage",
    "Codec",
    "LoadedCheckpoint",
    "RetentionPolicy",
    "SavedCheckpoint",
]


class CheckpointKind(str, Enum):
    """Why a checkpoint was taken (``AUTO`` by default)."""

    AUTO = "auto"
    MANUAL = "manual"
    ERROR_RECOVERY = "error_recovery"

    def to_pb(self) -> pb.CheckpointKind:
        return _KIND_TO_PB[self]

    @classmethod
    def parse(cls, kind: CheckpointKind | str) -> CheckpointKind:
        """A kind, or its name in any case (``"manual"``, ``"ERROR_RECOVERY"``)."""
        if isinstance(kind, CheckpointKind):
            return kind
        try:
            return cls(str(kind).lower())
        except ValueError:
            names = ", ".join(k.value for k in cls)
            raise InvalidArgument(f"unknown checkpoint kind {kind!r} (one of {names})") from None

    @classmethod
    def from_pb(cls, k: int) -> CheckpointKind:
        for kind, value in _KIND_TO_PB.items():
            if value == k:
                return kind
        raise bad_reply(f"unknown checkpoint kind {k}")


_KIND_TO_PB: dict[CheckpointKind, pb.CheckpointKind] = {
    CheckpointKind.AUTO: pb.CHECKPOINT_KIND_AUTO,
    CheckpointKind.MANUAL: pb.CHECKPOINT_KIND_MANUAL,
    CheckpointKind.ERROR_RECOVERY: pb.CHECKPOINT_KIND_ERROR_RECOVERY,
}


class Codec(str, Enum):
    """How the cluster stores a payload (a load decodes it; the client always gets raw
    bytes)."""

    RAW = "raw"
    ZSTD = "zstd"

    @classmethod
    def from_pb(cls, c: int) -> Codec:
        if c == pb.CHECKPOINT_CODEC_RAW:
            return cls.RAW
        if c == pb.CHECKPOINT_CODEC_ZSTD:
            return cls.ZSTD
        raise bad_reply(f"unknown checkpoint codec {c}")


@dataclass(frozen=True)
class SavedCheckpoint:
    """What a save returns."""

    #: ``ckpt-<revision>``: later checkpoints of a workflow sort after earlier ones.
    id: str
    raw_size: int
    stored_size: int
    revision: int

    @classmethod
    def from_pb(cls, r: pb.SaveCheckpointResponse) -> SavedCheckpoint:
        return cls(r.id, r.raw_size, r.stored_size, r.revision)


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint's metadata (its payload is read with ``load_checkpoint``)."""

    workflow_id: str
    id: str
    #: The revision of the entry that made it visible.
    revision: int
    created_ms: int
    kind: CheckpointKind
    #: Label or step name.
    label: str
    metadata: JsonObject
    parent: str | None
    #: The payload is a JSON merge patch (RFC 7386) over the parent's full state.
    delta: bool
    #: The stored encoding (the node removes its encryption first).
    codec: Codec
    #: Encrypted at rest by the node that saved it (``--encryption-key-file``).
    sealed: bool
    raw_size: int
    stored_size: int
    #: CRC-32 (IEEE, ``zlib.crc32``) of the raw payload (of the patch itself for a delta).
    checksum: int
    chunks: int
    #: The workflow's status and version when the checkpoint was saved (what a rollback
    #: restores).
    workflow_status: str
    workflow_version: int
    #: The workflow's metadata when the checkpoint was saved (None in listings).
    workflow_metadata: JsonObject | None

    @property
    def compression_ratio(self) -> float:
        """Raw size over stored size (1.0 for an empty payload)."""
        if self.stored_size == 0:
            return 1.0
        return self.raw_size / self.stored_size

    @classmethod
    def from_pb(cls, c: pb.Checkpoint) -> CheckpointInfo:
        wf_meta = _json.loads_opt("workflow_metadata", c.workflow_metadata)
        if wf_meta is not None and not isinstance(wf_meta, dict):
            raise bad_reply("workflow_metadata is not a JSON object")
        return cls(
            workflow_id=c.workflow_id,
            id=c.id,
            revision=c.revision,
            created_ms=c.created_ms,
            kind=CheckpointKind.from_pb(c.kind),
            label=c.label,
            metadata=_json.loads_object("metadata", c.metadata),
            parent=c.parent if c.HasField("parent") else None,
            delta=c.delta,
            codec=Codec.from_pb(c.codec),
            sealed=c.sealed,
            raw_size=c.raw_size,
            stored_size=c.stored_size,
            checksum=c.checksum,
            chunks=c.chunks,
            workflow_status=c.workflow_status,
            workflow_version=c.workflow_version,
            workflow_metadata=wf_meta,
        )


class LoadedCheckpoint(NamedTuple):
    """A loaded checkpoint: its metadata and its payload, verified (``info, payload =
    await client.load_checkpoint(...)`` unpacks it)."""

    info: CheckpointInfo
    payload: bytes


@dataclass(frozen=True)
class CheckpointPage:
    """One page of a workflow's checkpoints, oldest first."""

    checkpoints: list[CheckpointInfo]
    #: Pass as ``after`` for the next page; None on the last.
    next_after: str | None
    revision: int


@dataclass(frozen=True)
class RetentionPolicy:
    """Which checkpoints to keep; the leader purges the rest on its next sweep. Either rule
    keeps (the last ``keep_last``, or those younger than ``max_age``); the parent of a kept
    delta is kept too. ``max_age`` is a :class:`~datetime.timedelta` or seconds."""

    keep_last: int | None = None
    max_age: timedelta | float | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and not 0 <= self.keep_last < 2**32:
            raise InvalidArgument("keep_last must fit an unsigned 32-bit integer")
        if self.max_age is not None and self._max_age_ms() < 0:
            raise InvalidArgument("max_age must not be negative")

    def _max_age_ms(self) -> int:
        age = self.max_age
        seconds = age.total_seconds() if isinstance(age, timedelta) else float(age or 0)
        return round(seconds * 1000)

    def to_pb(self) -> pb.RetentionPolicy:
        return pb.RetentionPolicy(
            keep_last=self.keep_last,
            max_age_ms=None if self.max_age is None else self._max_age_ms(),
        )
