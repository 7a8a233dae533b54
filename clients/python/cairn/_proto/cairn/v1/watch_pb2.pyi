from cairn._proto.cairn.v1 import coord_pb2 as _coord_pb2
from cairn._proto.cairn.v1 import kv_pb2 as _kv_pb2
from cairn._proto.cairn.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KvSelector(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: bytes
    def __init__(self, prefix: _Optional[bytes] = ...) -> None: ...

class WorkflowSelector(_message.Message):
    __slots__ = ("id", "namespace", "statuses")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    id: str
    namespace: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., namespace: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskSelector(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class CheckpointSelector(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class LockSelector(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class ElectionSelector(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class VarsSelector(_message.Message):
    __slots__ = ("scope", "namespace")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    scope: _workflow_pb2.VarScope
    namespace: str
    def __init__(self, scope: _Optional[_Union[_workflow_pb2.VarScope, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class WatchSelector(_message.Message):
    __slots__ = ("kv", "workflows", "tasks", "checkpoints", "locks", "elections", "vars")
    KV_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    LOCKS_FIELD_NUMBER: _ClassVar[int]
    ELECTIONS_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    kv: KvSelector
    workflows: WorkflowSelector
    tasks: TaskSelector
    checkpoints: CheckpointSelector
    locks: LockSelector
    elections: ElectionSelector
    vars: VarsSelector
    def __init__(self, kv: _Optional[_Union[KvSelector, _Mapping]] = ..., workflows: _Optional[_Union[WorkflowSelector, _Mapping]] = ..., tasks: _Optional[_Union[TaskSelector, _Mapping]] = ..., checkpoints: _Optional[_Union[CheckpointSelector, _Mapping]] = ..., locks: _Optional[_Union[LockSelector, _Mapping]] = ..., elections: _Optional[_Union[ElectionSelector, _Mapping]] = ..., vars: _Optional[_Union[VarsSelector, _Mapping]] = ...) -> None: ...

class WatchFilter(_message.Message):
    __slots__ = ("selectors",)
    SELECTORS_FIELD_NUMBER: _ClassVar[int]
    selectors: _containers.RepeatedCompositeFieldContainer[WatchSelector]
    def __init__(self, selectors: _Optional[_Iterable[_Union[WatchSelector, _Mapping]]] = ...) -> None: ...

class WatchCreateRequest(_message.Message):
    __slots__ = ("filter", "start_revision", "progress_notify_ms", "watch_id")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_NOTIFY_MS_FIELD_NUMBER: _ClassVar[int]
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    filter: WatchFilter
    start_revision: int
    progress_notify_ms: int
    watch_id: int
    def __init__(self, filter: _Optional[_Union[WatchFilter, _Mapping]] = ..., start_revision: _Optional[int] = ..., progress_notify_ms: _Optional[int] = ..., watch_id: _Optional[int] = ...) -> None: ...

class WatchCancelRequest(_message.Message):
    __slots__ = ("watch_id",)
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    watch_id: int
    def __init__(self, watch_id: _Optional[int] = ...) -> None: ...

class WatchProgressRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("create", "cancel", "progress")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    create: WatchCreateRequest
    cancel: WatchCancelRequest
    progress: WatchProgressRequest
    def __init__(self, create: _Optional[_Union[WatchCreateRequest, _Mapping]] = ..., cancel: _Optional[_Union[WatchCancelRequest, _Mapping]] = ..., progress: _Optional[_Union[WatchProgressRequest, _Mapping]] = ...) -> None: ...

class KvPutChange(_message.Message):
    __slots__ = ("kv", "prev_kv")
    KV_FIELD_NUMBER: _ClassVar[int]
    PREV_KV_FIELD_NUMBER: _ClassVar[int]
    kv: _kv_pb2.KeyValue
    prev_kv: _kv_pb2.KeyValue
    def __init__(self, kv: _Optional[_Union[_kv_pb2.KeyValue, _Mapping]] = ..., prev_kv: _Optional[_Union[_kv_pb2.KeyValue, _Mapping]] = ...) -> None: ...

class KvDeleteChange(_message.Message):
    __slots__ = ("key", "prev_kv")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PREV_KV_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    prev_kv: _kv_pb2.KeyValue
    def __init__(self, key: _Optional[bytes] = ..., prev_kv: _Optional[_Union[_kv_pb2.KeyValue, _Mapping]] = ...) -> None: ...

class WorkflowChange(_message.Message):
    __slots__ = ("workflow", "prev_status", "history")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    PREV_STATUS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.Workflow
    prev_status: str
    history: _workflow_pb2.HistoryEvent
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.Workflow, _Mapping]] = ..., prev_status: _Optional[str] = ..., history: _Optional[_Union[_workflow_pb2.HistoryEvent, _Mapping]] = ...) -> None: ...

class WorkflowDeleteChange(_message.Message):
    __slots__ = ("workflow",)
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.Workflow
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.Workflow, _Mapping]] = ...) -> None: ...

class TaskChange(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _workflow_pb2.Task
    def __init__(self, task: _Optional[_Union[_workflow_pb2.Task, _Mapping]] = ...) -> None: ...

class TaskDeleteChange(_message.Message):
    __slots__ = ("workflow_id", "task_id")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    task_id: str
    def __init__(self, workflow_id: _Optional[str] = ..., task_id: _Optional[str] = ...) -> None: ...

class CheckpointInfo(_message.Message):
    __slots__ = ("workflow_id", "id", "revision", "created_ms", "kind", "label", "metadata", "parent", "delta", "raw_size", "stored_size", "workflow_status", "workflow_version")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RAW_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    id: str
    revision: int
    created_ms: int
    kind: str
    label: str
    metadata: str
    parent: str
    delta: bool
    raw_size: int
    stored_size: int
    workflow_status: str
    workflow_version: int
    def __init__(self, workflow_id: _Optional[str] = ..., id: _Optional[str] = ..., revision: _Optional[int] = ..., created_ms: _Optional[int] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., metadata: _Optional[str] = ..., parent: _Optional[str] = ..., delta: bool = ..., raw_size: _Optional[int] = ..., stored_size: _Optional[int] = ..., workflow_status: _Optional[str] = ..., workflow_version: _Optional[int] = ...) -> None: ...

class CheckpointChange(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: CheckpointInfo
    def __init__(self, checkpoint: _Optional[_Union[CheckpointInfo, _Mapping]] = ...) -> None: ...

class CheckpointDeleteChange(_message.Message):
    __slots__ = ("workflow_id", "checkpoint_id")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    checkpoint_id: str
    def __init__(self, workflow_id: _Optional[str] = ..., checkpoint_id: _Optional[str] = ...) -> None: ...

class LockChange(_message.Message):
    __slots__ = ("lock",)
    LOCK_FIELD_NUMBER: _ClassVar[int]
    lock: _coord_pb2.Lock
    def __init__(self, lock: _Optional[_Union[_coord_pb2.Lock, _Mapping]] = ...) -> None: ...

class LockDeleteChange(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ElectionChange(_message.Message):
    __slots__ = ("election",)
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    election: _coord_pb2.Lock
    def __init__(self, election: _Optional[_Union[_coord_pb2.Lock, _Mapping]] = ...) -> None: ...

class ElectionDeleteChange(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class VarsChange(_message.Message):
    __slots__ = ("scope", "namespace", "vars")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    scope: _workflow_pb2.VarScope
    namespace: str
    vars: _workflow_pb2.Vars
    def __init__(self, scope: _Optional[_Union[_workflow_pb2.VarScope, _Mapping]] = ..., namespace: _Optional[str] = ..., vars: _Optional[_Union[_workflow_pb2.Vars, _Mapping]] = ...) -> None: ...

class VarsDeleteChange(_message.Message):
    __slots__ = ("scope", "namespace")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    scope: _workflow_pb2.VarScope
    namespace: str
    def __init__(self, scope: _Optional[_Union[_workflow_pb2.VarScope, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("revision", "kv_put", "kv_delete", "workflow", "workflow_delete", "task", "task_delete", "checkpoint", "checkpoint_delete", "lock", "lock_delete", "election", "election_delete", "vars", "vars_delete")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    KV_PUT_FIELD_NUMBER: _ClassVar[int]
    KV_DELETE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_DELETE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TASK_DELETE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_DELETE_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    LOCK_DELETE_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    ELECTION_DELETE_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    VARS_DELETE_FIELD_NUMBER: _ClassVar[int]
    revision: int
    kv_put: KvPutChange
    kv_delete: KvDeleteChange
    workflow: WorkflowChange
    workflow_delete: WorkflowDeleteChange
    task: TaskChange
    task_delete: TaskDeleteChange
    checkpoint: CheckpointChange
    checkpoint_delete: CheckpointDeleteChange
    lock: LockChange
    lock_delete: LockDeleteChange
    election: ElectionChange
    election_delete: ElectionDeleteChange
    vars: VarsChange
    vars_delete: VarsDeleteChange
    def __init__(self, revision: _Optional[int] = ..., kv_put: _Optional[_Union[KvPutChange, _Mapping]] = ..., kv_delete: _Optional[_Union[KvDeleteChange, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowChange, _Mapping]] = ..., workflow_delete: _Optional[_Union[WorkflowDeleteChange, _Mapping]] = ..., task: _Optional[_Union[TaskChange, _Mapping]] = ..., task_delete: _Optional[_Union[TaskDeleteChange, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointChange, _Mapping]] = ..., checkpoint_delete: _Optional[_Union[CheckpointDeleteChange, _Mapping]] = ..., lock: _Optional[_Union[LockChange, _Mapping]] = ..., lock_delete: _Optional[_Union[LockDeleteChange, _Mapping]] = ..., election: _Optional[_Union[ElectionChange, _Mapping]] = ..., election_delete: _Optional[_Union[ElectionDeleteChange, _Mapping]] = ..., vars: _Optional[_Union[VarsChange, _Mapping]] = ..., vars_delete: _Optional[_Union[VarsDeleteChange, _Mapping]] = ...) -> None: ...

class WatchCreated(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class WatchEvents(_message.Message):
    __slots__ = ("events", "revision")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[WatchEvent]
    revision: int
    def __init__(self, events: _Optional[_Iterable[_Union[WatchEvent, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class WatchProgress(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class WatchCompacted(_message.Message):
    __slots__ = ("compact_revision", "current_revision")
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_REVISION_FIELD_NUMBER: _ClassVar[int]
    compact_revision: int
    current_revision: int
    def __init__(self, compact_revision: _Optional[int] = ..., current_revision: _Optional[int] = ...) -> None: ...

class WatchCanceled(_message.Message):
    __slots__ = ("reason", "revision")
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    reason: str
    revision: int
    def __init__(self, reason: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("watch_id", "created", "events", "progress", "compacted", "canceled")
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_FIELD_NUMBER: _ClassVar[int]
    CANCELED_FIELD_NUMBER: _ClassVar[int]
    watch_id: int
    created: WatchCreated
    events: WatchEvents
    progress: WatchProgress
    compacted: WatchCompacted
    canceled: WatchCanceled
    def __init__(self, watch_id: _Optional[int] = ..., created: _Optional[_Union[WatchCreated, _Mapping]] = ..., events: _Optional[_Union[WatchEvents, _Mapping]] = ..., progress: _Optional[_Union[WatchProgress, _Mapping]] = ..., compacted: _Optional[_Union[WatchCompacted, _Mapping]] = ..., canceled: _Optional[_Union[WatchCanceled, _Mapping]] = ...) -> None: ...

class WatchSnapshotRequest(_message.Message):
    __slots__ = ("filter", "serializable")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    filter: WatchFilter
    serializable: bool
    def __init__(self, filter: _Optional[_Union[WatchFilter, _Mapping]] = ..., serializable: bool = ...) -> None: ...

class WatchObject(_message.Message):
    __slots__ = ("kv", "workflow", "task", "checkpoint", "lock", "election", "vars")
    KV_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    kv: _kv_pb2.KeyValue
    workflow: _workflow_pb2.Workflow
    task: _workflow_pb2.Task
    checkpoint: CheckpointInfo
    lock: _coord_pb2.Lock
    election: _coord_pb2.Lock
    vars: VarsChange
    def __init__(self, kv: _Optional[_Union[_kv_pb2.KeyValue, _Mapping]] = ..., workflow: _Optional[_Union[_workflow_pb2.Workflow, _Mapping]] = ..., task: _Optional[_Union[_workflow_pb2.Task, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointInfo, _Mapping]] = ..., lock: _Optional[_Union[_coord_pb2.Lock, _Mapping]] = ..., election: _Optional[_Union[_coord_pb2.Lock, _Mapping]] = ..., vars: _Optional[_Union[VarsChange, _Mapping]] = ...) -> None: ...

class WatchSnapshotResponse(_message.Message):
    __slots__ = ("revision", "objects", "done")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    revision: int
    objects: _containers.RepeatedCompositeFieldContainer[WatchObject]
    done: bool
    def __init__(self, revision: _Optional[int] = ..., objects: _Optional[_Iterable[_Union[WatchObject, _Mapping]]] = ..., done: bool = ...) -> None: ...
