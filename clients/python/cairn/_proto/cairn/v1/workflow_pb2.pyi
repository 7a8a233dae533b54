from cairn._proto.cairn.v1 import kv_pb2 as _kv_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkflowSort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKFLOW_SORT_CREATED: _ClassVar[WorkflowSort]
    WORKFLOW_SORT_UPDATED: _ClassVar[WorkflowSort]

class HistoryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HISTORY_KIND_UNSPECIFIED: _ClassVar[HistoryKind]
    HISTORY_KIND_CREATED: _ClassVar[HistoryKind]
    HISTORY_KIND_TRANSITION: _ClassVar[HistoryKind]
    HISTORY_KIND_UPDATED: _ClassVar[HistoryKind]
    HISTORY_KIND_ROLLBACK: _ClassVar[HistoryKind]
    HISTORY_KIND_ORPHANED: _ClassVar[HistoryKind]
    HISTORY_KIND_ADOPTED: _ClassVar[HistoryKind]
WORKFLOW_SORT_CREATED: WorkflowSort
WORKFLOW_SORT_UPDATED: WorkflowSort
HISTORY_KIND_UNSPECIFIED: HistoryKind
HISTORY_KIND_CREATED: HistoryKind
HISTORY_KIND_TRANSITION: HistoryKind
HISTORY_KIND_UPDATED: HistoryKind
HISTORY_KIND_ROLLBACK: HistoryKind
HISTORY_KIND_ORPHANED: HistoryKind
HISTORY_KIND_ADOPTED: HistoryKind

class WorkflowTransition(_message.Message):
    __slots__ = ("to", "event")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    to: str
    event: str
    def __init__(self, to: _Optional[str] = ..., event: _Optional[str] = ..., **kwargs) -> None: ...

class WorkflowDefinition(_message.Message):
    __slots__ = ("name", "states", "initial", "terminal", "transitions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    states: _containers.RepeatedScalarFieldContainer[str]
    initial: str
    terminal: _containers.RepeatedScalarFieldContainer[str]
    transitions: _containers.RepeatedCompositeFieldContainer[WorkflowTransition]
    def __init__(self, name: _Optional[str] = ..., states: _Optional[_Iterable[str]] = ..., initial: _Optional[str] = ..., terminal: _Optional[_Iterable[str]] = ..., transitions: _Optional[_Iterable[_Union[WorkflowTransition, _Mapping]]] = ...) -> None: ...

class VersionedDefinition(_message.Message):
    __slots__ = ("version", "definition")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    version: int
    definition: WorkflowDefinition
    def __init__(self, version: _Optional[int] = ..., definition: _Optional[_Union[WorkflowDefinition, _Mapping]] = ...) -> None: ...

class RegisterDefinitionRequest(_message.Message):
    __slots__ = ("header", "definition")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    definition: WorkflowDefinition
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., definition: _Optional[_Union[WorkflowDefinition, _Mapping]] = ...) -> None: ...

class RegisterDefinitionResponse(_message.Message):
    __slots__ = ("name", "version", "created", "unreachable", "dead_ends", "revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    DEAD_ENDS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    created: bool
    unreachable: _containers.RepeatedScalarFieldContainer[str]
    dead_ends: _containers.RepeatedScalarFieldContainer[str]
    revision: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., created: bool = ..., unreachable: _Optional[_Iterable[str]] = ..., dead_ends: _Optional[_Iterable[str]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetDefinitionRequest(_message.Message):
    __slots__ = ("name", "version", "serializable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    serializable: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class GetDefinitionResponse(_message.Message):
    __slots__ = ("definition", "revision")
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    definition: VersionedDefinition
    revision: int
    def __init__(self, definition: _Optional[_Union[VersionedDefinition, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListDefinitionsRequest(_message.Message):
    __slots__ = ("serializable",)
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    serializable: bool
    def __init__(self, serializable: bool = ...) -> None: ...

class ListDefinitionsResponse(_message.Message):
    __slots__ = ("definitions", "revision")
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    definitions: _containers.RepeatedCompositeFieldContainer[VersionedDefinition]
    revision: int
    def __init__(self, definitions: _Optional[_Iterable[_Union[VersionedDefinition, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class Workflow(_message.Message):
    __slots__ = ("id", "namespace", "definition", "definition_version", "status", "version", "create_revision", "mod_revision", "created_ms", "updated_ms", "started_ms", "finished_ms", "metadata", "labels", "owner_id", "routing_strategy", "max_concurrent", "total_tasks", "owner_lease", "owner_epoch", "orphaned_ms")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_MS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    OWNER_LEASE_FIELD_NUMBER: _ClassVar[int]
    OWNER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    namespace: str
    definition: str
    definition_version: int
    status: str
    version: int
    create_revision: int
    mod_revision: int
    created_ms: int
    updated_ms: int
    started_ms: int
    finished_ms: int
    metadata: str
    labels: _containers.ScalarMap[str, str]
    owner_id: str
    routing_strategy: str
    max_concurrent: int
    total_tasks: int
    owner_lease: int
    owner_epoch: int
    orphaned_ms: int
    def __init__(self, id: _Optional[str] = ..., namespace: _Optional[str] = ..., definition: _Optional[str] = ..., definition_version: _Optional[int] = ..., status: _Optional[str] = ..., version: _Optional[int] = ..., create_revision: _Optional[int] = ..., mod_revision: _Optional[int] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., started_ms: _Optional[int] = ..., finished_ms: _Optional[int] = ..., metadata: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner_id: _Optional[str] = ..., routing_strategy: _Optional[str] = ..., max_concurrent: _Optional[int] = ..., total_tasks: _Optional[int] = ..., owner_lease: _Optional[int] = ..., owner_epoch: _Optional[int] = ..., orphaned_ms: _Optional[int] = ...) -> None: ...

class WorkflowRef(_message.Message):
    __slots__ = ("id", "status", "version", "revision")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    version: int
    revision: int
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., version: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class WorkflowProgress(_message.Message):
    __slots__ = ("total", "pending", "running", "completed", "failed", "skipped", "cancelled", "success_rate", "duration_ms")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    total: int
    pending: int
    running: int
    completed: int
    failed: int
    skipped: int
    cancelled: int
    success_rate: float
    duration_ms: int
    def __init__(self, total: _Optional[int] = ..., pending: _Optional[int] = ..., running: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., skipped: _Optional[int] = ..., cancelled: _Optional[int] = ..., success_rate: _Optional[float] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class CreateWorkflowRequest(_message.Message):
    __slots__ = ("header", "id", "namespace", "definition", "definition_version", "metadata", "labels", "owner_id", "routing_strategy", "max_concurrent", "total_tasks", "upsert", "actor", "fence")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    id: str
    namespace: str
    definition: str
    definition_version: int
    metadata: str
    labels: _containers.ScalarMap[str, str]
    owner_id: str
    routing_strategy: str
    max_concurrent: int
    total_tasks: int
    upsert: bool
    actor: str
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., id: _Optional[str] = ..., namespace: _Optional[str] = ..., definition: _Optional[str] = ..., definition_version: _Optional[int] = ..., metadata: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner_id: _Optional[str] = ..., routing_strategy: _Optional[str] = ..., max_concurrent: _Optional[int] = ..., total_tasks: _Optional[int] = ..., upsert: bool = ..., actor: _Optional[str] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class CreateWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "created", "revision")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow: WorkflowRef
    created: bool
    revision: int
    def __init__(self, workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., created: bool = ..., revision: _Optional[int] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("id", "include_tasks", "serializable")
    ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TASKS_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    include_tasks: bool
    serializable: bool
    def __init__(self, id: _Optional[str] = ..., include_tasks: bool = ..., serializable: bool = ...) -> None: ...

class GetWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "progress", "tasks", "revision")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow: Workflow
    progress: WorkflowProgress
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    revision: int
    def __init__(self, workflow: _Optional[_Union[Workflow, _Mapping]] = ..., progress: _Optional[_Union[WorkflowProgress, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("namespace", "statuses", "definition", "labels", "sort", "descending", "limit", "cursor", "with_count", "serializable", "orphaned_only", "with_progress", "all_namespaces")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    WITH_COUNT_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_ONLY_FIELD_NUMBER: _ClassVar[int]
    WITH_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ALL_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    definition: str
    labels: _containers.ScalarMap[str, str]
    sort: WorkflowSort
    descending: bool
    limit: int
    cursor: bytes
    with_count: bool
    serializable: bool
    orphaned_only: bool
    with_progress: bool
    all_namespaces: bool
    def __init__(self, namespace: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ..., definition: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., sort: _Optional[_Union[WorkflowSort, str]] = ..., descending: bool = ..., limit: _Optional[int] = ..., cursor: _Optional[bytes] = ..., with_count: bool = ..., serializable: bool = ..., orphaned_only: bool = ..., with_progress: bool = ..., all_namespaces: bool = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("workflows", "progress", "next_cursor", "count", "revision")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[Workflow]
    progress: _containers.RepeatedCompositeFieldContainer[WorkflowProgress]
    next_cursor: bytes
    count: int
    revision: int
    def __init__(self, workflows: _Optional[_Iterable[_Union[Workflow, _Mapping]]] = ..., progress: _Optional[_Iterable[_Union[WorkflowProgress, _Mapping]]] = ..., next_cursor: _Optional[bytes] = ..., count: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class CountWorkflowsRequest(_message.Message):
    __slots__ = ("namespace", "statuses", "definition", "labels", "serializable", "all_namespaces", "orphaned_only")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    ALL_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_ONLY_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    definition: str
    labels: _containers.ScalarMap[str, str]
    serializable: bool
    all_namespaces: bool
    orphaned_only: bool
    def __init__(self, namespace: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ..., definition: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., serializable: bool = ..., all_namespaces: bool = ..., orphaned_only: bool = ...) -> None: ...

class CountWorkflowsResponse(_message.Message):
    __slots__ = ("count", "revision")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    count: int
    revision: int
    def __init__(self, count: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class TransitionWorkflowRequest(_message.Message):
    __slots__ = ("header", "id", "status", "event", "expected_version", "actor", "reason", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    id: str
    status: str
    event: str
    expected_version: int
    actor: str
    reason: str
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., id: _Optional[str] = ..., status: _Optional[str] = ..., event: _Optional[str] = ..., expected_version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class TransitionWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "revision")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow: WorkflowRef
    revision: int
    def __init__(self, workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class UpdateWorkflowRequest(_message.Message):
    __slots__ = ("header", "id", "expected_version", "metadata_patch", "set_labels", "remove_labels", "owner_id", "routing_strategy", "max_concurrent", "total_tasks", "actor", "reason", "fence")
    class SetLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_PATCH_FIELD_NUMBER: _ClassVar[int]
    SET_LABELS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    id: str
    expected_version: int
    metadata_patch: str
    set_labels: _containers.ScalarMap[str, str]
    remove_labels: _containers.RepeatedScalarFieldContainer[str]
    owner_id: str
    routing_strategy: str
    max_concurrent: int
    total_tasks: int
    actor: str
    reason: str
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., id: _Optional[str] = ..., expected_version: _Optional[int] = ..., metadata_patch: _Optional[str] = ..., set_labels: _Optional[_Mapping[str, str]] = ..., remove_labels: _Optional[_Iterable[str]] = ..., owner_id: _Optional[str] = ..., routing_strategy: _Optional[str] = ..., max_concurrent: _Optional[int] = ..., total_tasks: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class UpdateWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "revision")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow: WorkflowRef
    revision: int
    def __init__(self, workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class DeleteWorkflowRequest(_message.Message):
    __slots__ = ("header", "id", "force", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    id: str
    force: bool
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., id: _Optional[str] = ..., force: bool = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class DeleteWorkflowResponse(_message.Message):
    __slots__ = ("id", "tasks", "revision")
    ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    id: str
    tasks: int
    revision: int
    def __init__(self, id: _Optional[str] = ..., tasks: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class HistoryEvent(_message.Message):
    __slots__ = ("version", "revision", "time_ms", "kind", "to", "event", "actor", "reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    version: int
    revision: int
    time_ms: int
    kind: HistoryKind
    to: str
    event: str
    actor: str
    reason: str
    def __init__(self, version: _Optional[int] = ..., revision: _Optional[int] = ..., time_ms: _Optional[int] = ..., kind: _Optional[_Union[HistoryKind, str]] = ..., to: _Optional[str] = ..., event: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., **kwargs) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("workflow_id", "from_version", "limit", "serializable", "since_ms", "until_ms")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    from_version: int
    limit: int
    serializable: bool
    since_ms: int
    until_ms: int
    def __init__(self, workflow_id: _Optional[str] = ..., from_version: _Optional[int] = ..., limit: _Optional[int] = ..., serializable: bool = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("events", "next_version", "revision", "compacted_before")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[HistoryEvent]
    next_version: int
    revision: int
    compacted_before: int
    def __init__(self, events: _Optional[_Iterable[_Union[HistoryEvent, _Mapping]]] = ..., next_version: _Optional[int] = ..., revision: _Optional[int] = ..., compacted_before: _Optional[int] = ...) -> None: ...

class CompactHistoryRequest(_message.Message):
    __slots__ = ("header", "workflow_id", "keep_last")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    workflow_id: str
    keep_last: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., workflow_id: _Optional[str] = ..., keep_last: _Optional[int] = ...) -> None: ...

class CompactHistoryResponse(_message.Message):
    __slots__ = ("floor", "removed", "done", "revision")
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    floor: int
    removed: int
    done: bool
    revision: int
    def __init__(self, floor: _Optional[int] = ..., removed: _Optional[int] = ..., done: bool = ..., revision: _Optional[int] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("workflow_id", "id", "name", "kind", "status", "agent_id", "dependencies", "input", "output", "error", "attempts", "version", "mod_revision", "created_ms", "updated_ms", "started_ms", "finished_ms", "lease_id", "claim", "retry", "ready_ms")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    READY_MS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    id: str
    name: str
    kind: str
    status: str
    agent_id: str
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    input: str
    output: str
    error: str
    attempts: int
    version: int
    mod_revision: int
    created_ms: int
    updated_ms: int
    started_ms: int
    finished_ms: int
    lease_id: int
    claim: int
    retry: RetryPolicy
    ready_ms: int
    def __init__(self, workflow_id: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., agent_id: _Optional[str] = ..., dependencies: _Optional[_Iterable[str]] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., version: _Optional[int] = ..., mod_revision: _Optional[int] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., started_ms: _Optional[int] = ..., finished_ms: _Optional[int] = ..., lease_id: _Optional[int] = ..., claim: _Optional[int] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., ready_ms: _Optional[int] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "backoff_ms")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MS_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    backoff_ms: int
    def __init__(self, max_attempts: _Optional[int] = ..., backoff_ms: _Optional[int] = ...) -> None: ...

class TaskDependencies(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskSpec(_message.Message):
    __slots__ = ("id", "name", "kind", "status", "agent_id", "dependencies", "input", "output", "error", "expected_version", "retry")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: str
    status: str
    agent_id: str
    dependencies: TaskDependencies
    input: str
    output: str
    error: str
    expected_version: int
    retry: RetryPolicy
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., agent_id: _Optional[str] = ..., dependencies: _Optional[_Union[TaskDependencies, _Mapping]] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., error: _Optional[str] = ..., expected_version: _Optional[int] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ...) -> None: ...

class TaskRef(_message.Message):
    __slots__ = ("id", "status", "version", "attempts")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    version: int
    attempts: int
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., version: _Optional[int] = ..., attempts: _Optional[int] = ...) -> None: ...

class UpsertTasksRequest(_message.Message):
    __slots__ = ("header", "workflow_id", "tasks", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    workflow_id: str
    tasks: _containers.RepeatedCompositeFieldContainer[TaskSpec]
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., workflow_id: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[TaskSpec, _Mapping]]] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class UpsertTasksResponse(_message.Message):
    __slots__ = ("workflow_id", "tasks", "revision")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    tasks: _containers.RepeatedCompositeFieldContainer[TaskRef]
    revision: int
    def __init__(self, workflow_id: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[TaskRef, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("workflow_id", "statuses", "ready_only", "serializable")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    READY_ONLY_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    ready_only: bool
    serializable: bool
    def __init__(self, workflow_id: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ..., ready_only: bool = ..., serializable: bool = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "revision")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    revision: int
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class ClaimTaskRequest(_message.Message):
    __slots__ = ("header", "namespace", "workflow_id", "kinds", "agent_id", "lease_id")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    namespace: str
    workflow_id: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    agent_id: str
    lease_id: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., namespace: _Optional[str] = ..., workflow_id: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., agent_id: _Optional[str] = ..., lease_id: _Optional[int] = ...) -> None: ...

class ClaimTaskResponse(_message.Message):
    __slots__ = ("task", "next_ready_ms", "revision")
    TASK_FIELD_NUMBER: _ClassVar[int]
    NEXT_READY_MS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    task: Task
    next_ready_ms: int
    revision: int
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., next_ready_ms: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class FinishTaskRequest(_message.Message):
    __slots__ = ("header", "workflow_id", "task_id", "claim", "failed", "output", "error")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    workflow_id: str
    task_id: str
    claim: int
    failed: bool
    output: str
    error: str
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., workflow_id: _Optional[str] = ..., task_id: _Optional[str] = ..., claim: _Optional[int] = ..., failed: bool = ..., output: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class FinishTaskResponse(_message.Message):
    __slots__ = ("task", "revision")
    TASK_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    task: TaskRef
    revision: int
    def __init__(self, task: _Optional[_Union[TaskRef, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class AdoptWorkflowRequest(_message.Message):
    __slots__ = ("header", "id", "owner_id", "lease_id", "expected_version", "reason")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    id: str
    owner_id: str
    lease_id: int
    expected_version: int
    reason: str
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., id: _Optional[str] = ..., owner_id: _Optional[str] = ..., lease_id: _Optional[int] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class AdoptWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "epoch", "previous_owner", "revision")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_OWNER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    workflow: WorkflowRef
    epoch: int
    previous_owner: str
    revision: int
    def __init__(self, workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., epoch: _Optional[int] = ..., previous_owner: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class VarScope(_message.Message):
    __slots__ = ("workflow", "namespace")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow: str
    namespace: str
    def __init__(self, workflow: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class UpdateVarsRequest(_message.Message):
    __slots__ = ("header", "scope", "expected_version", "set", "delete", "immutable", "keep_versions", "actor", "reason", "fence")
    class SetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    IMMUTABLE_FIELD_NUMBER: _ClassVar[int]
    KEEP_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    scope: VarScope
    expected_version: int
    set: _containers.ScalarMap[str, str]
    delete: _containers.RepeatedScalarFieldContainer[str]
    immutable: _containers.RepeatedScalarFieldContainer[str]
    keep_versions: int
    actor: str
    reason: str
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., scope: _Optional[_Union[VarScope, _Mapping]] = ..., expected_version: _Optional[int] = ..., set: _Optional[_Mapping[str, str]] = ..., delete: _Optional[_Iterable[str]] = ..., immutable: _Optional[_Iterable[str]] = ..., keep_versions: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class UpdateVarsResponse(_message.Message):
    __slots__ = ("version", "checksum", "revision")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    version: int
    checksum: int
    revision: int
    def __init__(self, version: _Optional[int] = ..., checksum: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class RollbackVarsRequest(_message.Message):
    __slots__ = ("header", "scope", "to_version", "expected_version", "actor", "reason", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    scope: VarScope
    to_version: int
    expected_version: int
    actor: str
    reason: str
    fence: _kv_pb2.Fence
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., scope: _Optional[_Union[VarScope, _Mapping]] = ..., to_version: _Optional[int] = ..., expected_version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class Vars(_message.Message):
    __slots__ = ("version", "values", "immutable", "keep_versions", "floor", "mod_revision", "updated_ms", "updated_by", "checksum")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    IMMUTABLE_FIELD_NUMBER: _ClassVar[int]
    KEEP_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    version: int
    values: _containers.ScalarMap[str, str]
    immutable: _containers.RepeatedScalarFieldContainer[str]
    keep_versions: int
    floor: int
    mod_revision: int
    updated_ms: int
    updated_by: str
    checksum: int
    def __init__(self, version: _Optional[int] = ..., values: _Optional[_Mapping[str, str]] = ..., immutable: _Optional[_Iterable[str]] = ..., keep_versions: _Optional[int] = ..., floor: _Optional[int] = ..., mod_revision: _Optional[int] = ..., updated_ms: _Optional[int] = ..., updated_by: _Optional[str] = ..., checksum: _Optional[int] = ...) -> None: ...

class GetVarsRequest(_message.Message):
    __slots__ = ("scope", "version", "serializable")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    scope: VarScope
    version: int
    serializable: bool
    def __init__(self, scope: _Optional[_Union[VarScope, _Mapping]] = ..., version: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class GetVarsResponse(_message.Message):
    __slots__ = ("vars", "revision")
    VARS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    vars: Vars
    revision: int
    def __init__(self, vars: _Optional[_Union[Vars, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class VarChange(_message.Message):
    __slots__ = ("key", "value", "previous")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    previous: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ..., previous: _Optional[str] = ...) -> None: ...

class VarVersion(_message.Message):
    __slots__ = ("version", "revision", "time_ms", "actor", "reason", "changes", "checksum", "rolled_back_to")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_TO_FIELD_NUMBER: _ClassVar[int]
    version: int
    revision: int
    time_ms: int
    actor: str
    reason: str
    changes: _containers.RepeatedCompositeFieldContainer[VarChange]
    checksum: int
    rolled_back_to: int
    def __init__(self, version: _Optional[int] = ..., revision: _Optional[int] = ..., time_ms: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[VarChange, _Mapping]]] = ..., checksum: _Optional[int] = ..., rolled_back_to: _Optional[int] = ...) -> None: ...

class VarHistoryRequest(_message.Message):
    __slots__ = ("scope", "from_version", "limit", "serializable")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    scope: VarScope
    from_version: int
    limit: int
    serializable: bool
    def __init__(self, scope: _Optional[_Union[VarScope, _Mapping]] = ..., from_version: _Optional[int] = ..., limit: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class VarHistoryResponse(_message.Message):
    __slots__ = ("versions", "next_version", "revision")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VarVersion]
    next_version: int
    revision: int
    def __init__(self, versions: _Optional[_Iterable[_Union[VarVersion, _Mapping]]] = ..., next_version: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class NamespaceLimits(_message.Message):
    __slots__ = ("max_workflows", "max_checkpoint_bytes")
    MAX_WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHECKPOINT_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_workflows: int
    max_checkpoint_bytes: int
    def __init__(self, max_workflows: _Optional[int] = ..., max_checkpoint_bytes: _Optional[int] = ...) -> None: ...

class NamespaceUsage(_message.Message):
    __slots__ = ("workflows", "checkpoint_bytes")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_BYTES_FIELD_NUMBER: _ClassVar[int]
    workflows: int
    checkpoint_bytes: int
    def __init__(self, workflows: _Optional[int] = ..., checkpoint_bytes: _Optional[int] = ...) -> None: ...

class NamespaceQuota(_message.Message):
    __slots__ = ("namespace", "limits", "usage")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    limits: NamespaceLimits
    usage: NamespaceUsage
    def __init__(self, namespace: _Optional[str] = ..., limits: _Optional[_Union[NamespaceLimits, _Mapping]] = ..., usage: _Optional[_Union[NamespaceUsage, _Mapping]] = ...) -> None: ...

class SetNamespaceLimitsRequest(_message.Message):
    __slots__ = ("header", "namespace", "limits")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    namespace: str
    limits: NamespaceLimits
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., namespace: _Optional[str] = ..., limits: _Optional[_Union[NamespaceLimits, _Mapping]] = ...) -> None: ...

class SetNamespaceLimitsResponse(_message.Message):
    __slots__ = ("quota", "revision")
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    quota: NamespaceQuota
    revision: int
    def __init__(self, quota: _Optional[_Union[NamespaceQuota, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetNamespaceQuotaRequest(_message.Message):
    __slots__ = ("namespace", "serializable")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    serializable: bool
    def __init__(self, namespace: _Optional[str] = ..., serializable: bool = ...) -> None: ...

class GetNamespaceQuotaResponse(_message.Message):
    __slots__ = ("quota", "revision")
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    quota: NamespaceQuota
    revision: int
    def __init__(self, quota: _Optional[_Union[NamespaceQuota, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListNamespacesRequest(_message.Message):
    __slots__ = ("serializable",)
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    serializable: bool
    def __init__(self, serializable: bool = ...) -> None: ...

class ListNamespacesResponse(_message.Message):
    __slots__ = ("namespaces", "revision")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[NamespaceQuota]
    revision: int
    def __init__(self, namespaces: _Optional[_Iterable[_Union[NamespaceQuota, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...
