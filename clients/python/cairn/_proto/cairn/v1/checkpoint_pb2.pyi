from cairn._proto.cairn.v1 import kv_pb2 as _kv_pb2
from cairn._proto.cairn.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckpointKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKPOINT_KIND_AUTO: _ClassVar[CheckpointKind]
    CHECKPOINT_KIND_MANUAL: _ClassVar[CheckpointKind]
    CHECKPOINT_KIND_ERROR_RECOVERY: _ClassVar[CheckpointKind]

class CheckpointCodec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKPOINT_CODEC_RAW: _ClassVar[CheckpointCodec]
    CHECKPOINT_CODEC_ZSTD: _ClassVar[CheckpointCodec]
CHECKPOINT_KIND_AUTO: CheckpointKind
CHECKPOINT_KIND_MANUAL: CheckpointKind
CHECKPOINT_KIND_ERROR_RECOVERY: CheckpointKind
CHECKPOINT_CODEC_RAW: CheckpointCodec
CHECKPOINT_CODEC_ZSTD: CheckpointCodec

class Checkpoint(_message.Message):
    __slots__ = ("workflow_id", "id", "revision", "created_ms", "kind", "label", "metadata", "parent", "delta", "codec", "raw_size", "stored_size", "checksum", "chunks", "workflow_status", "workflow_version", "workflow_metadata", "sealed")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    RAW_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_METADATA_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    id: str
    revision: int
    created_ms: int
    kind: CheckpointKind
    label: str
    metadata: str
    parent: str
    delta: bool
    codec: CheckpointCodec
    raw_size: int
    stored_size: int
    checksum: int
    chunks: int
    workflow_status: str
    workflow_version: int
    workflow_metadata: str
    sealed: bool
    def __init__(self, workflow_id: _Optional[str] = ..., id: _Optional[str] = ..., revision: _Optional[int] = ..., created_ms: _Optional[int] = ..., kind: _Optional[_Union[CheckpointKind, str]] = ..., label: _Optional[str] = ..., metadata: _Optional[str] = ..., parent: _Optional[str] = ..., delta: bool = ..., codec: _Optional[_Union[CheckpointCodec, str]] = ..., raw_size: _Optional[int] = ..., stored_size: _Optional[int] = ..., checksum: _Optional[int] = ..., chunks: _Optional[int] = ..., workflow_status: _Optional[str] = ..., workflow_version: _Optional[int] = ..., workflow_metadata: _Optional[str] = ..., sealed: bool = ...) -> None: ...

class CheckpointFields(_message.Message):
    __slots__ = ("workflow_id", "kind", "label", "metadata", "parent", "delta")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    kind: CheckpointKind
    label: str
    metadata: str
    parent: str
    delta: bool
    def __init__(self, workflow_id: _Optional[str] = ..., kind: _Optional[_Union[CheckpointKind, str]] = ..., label: _Optional[str] = ..., metadata: _Optional[str] = ..., parent: _Optional[str] = ..., delta: bool = ...) -> None: ...

class SaveCheckpointRequest(_message.Message):
    __slots__ = ("header", "fields", "payload", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    fields: CheckpointFields
    payload: bytes
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., fields: _Optional[_Union[CheckpointFields, _Mapping]] = ..., payload: _Optional[bytes] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class SaveCheckpointResponse(_message.Message):
    __slots__ = ("id", "raw_size", "stored_size", "revision")
    ID_FIELD_NUMBER: _ClassVar[int]
    RAW_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    id: str
    raw_size: int
    stored_size: int
    revision: int
    def __init__(self, id: _Optional[str] = ..., raw_size: _Optional[int] = ..., stored_size: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class UploadCheckpointStart(_message.Message):
    __slots__ = ("header", "fields", "total_size", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    fields: CheckpointFields
    total_size: int
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., fields: _Optional[_Union[CheckpointFields, _Mapping]] = ..., total_size: _Optional[int] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class UploadCheckpointRequest(_message.Message):
    __slots__ = ("start", "data")
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    start: UploadCheckpointStart
    data: bytes
    def __init__(self, start: _Optional[_Union[UploadCheckpointStart, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("workflow_id", "id", "serializable")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    id: str
    serializable: bool
    def __init__(self, workflow_id: _Optional[str] = ..., id: _Optional[str] = ..., serializable: bool = ...) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "revision")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    checkpoint: Checkpoint
    revision: int
    def __init__(self, checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class LoadCheckpointRequest(_message.Message):
    __slots__ = ("workflow_id", "id", "materialize", "serializable")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MATERIALIZE_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    id: str
    materialize: bool
    serializable: bool
    def __init__(self, workflow_id: _Optional[str] = ..., id: _Optional[str] = ..., materialize: bool = ..., serializable: bool = ...) -> None: ...

class LoadCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "data", "size", "revision")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    checkpoint: Checkpoint
    data: bytes
    size: int
    revision: int
    def __init__(self, checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., data: _Optional[bytes] = ..., size: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class LatestCheckpointRequest(_message.Message):
    __slots__ = ("workflow_id", "serializable")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    serializable: bool
    def __init__(self, workflow_id: _Optional[str] = ..., serializable: bool = ...) -> None: ...

class LatestCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "revision")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    checkpoint: Checkpoint
    revision: int
    def __init__(self, checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListCheckpointsRequest(_message.Message):
    __slots__ = ("workflow_id", "after", "limit", "serializable")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    after: str
    limit: int
    serializable: bool
    def __init__(self, workflow_id: _Optional[str] = ..., after: _Optional[str] = ..., limit: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class ListCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints", "next_after", "revision")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[Checkpoint]
    next_after: str
    revision: int
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[Checkpoint, _Mapping]]] = ..., next_after: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class RollbackWorkflowRequest(_message.Message):
    __slots__ = ("header", "workflow_id", "checkpoint_id", "expected_version", "force", "actor", "reason", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    workflow_id: str
    checkpoint_id: str
    expected_version: int
    force: bool
    actor: str
    reason: str
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., workflow_id: _Optional[str] = ..., checkpoint_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., force: bool = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class RollbackWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "revision")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.WorkflowRef
    revision: int
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.WorkflowRef, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class RetentionPolicy(_message.Message):
    __slots__ = ("keep_last", "max_age_ms")
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    keep_last: int
    max_age_ms: int
    def __init__(self, keep_last: _Optional[int] = ..., max_age_ms: _Optional[int] = ...) -> None: ...

class SetRetentionRequest(_message.Message):
    __slots__ = ("header", "workflow_id", "namespace", "policy")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    workflow_id: str
    namespace: str
    policy: RetentionPolicy
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., workflow_id: _Optional[str] = ..., namespace: _Optional[str] = ..., policy: _Optional[_Union[RetentionPolicy, _Mapping]] = ...) -> None: ...

class SetRetentionResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...
