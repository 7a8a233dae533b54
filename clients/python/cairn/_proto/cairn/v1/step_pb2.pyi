from cairn._proto.cairn.v1 import kv_pb2 as _kv_pb2
from cairn._proto.cairn.v1 import workflow_pb2 as _workflow_pb2
from cairn._proto.cairn.v1 import checkpoint_pb2 as _checkpoint_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StepCheckpoint(_message.Message):
    __slots__ = ("fields", "payload")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    fields: _checkpoint_pb2.CheckpointFields
    payload: bytes
    def __init__(self, fields: _Optional[_Union[_checkpoint_pb2.CheckpointFields, _Mapping]] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("create", "transition", "update", "tasks", "vars", "checkpoint", "fence")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    create: _workflow_pb2.CreateWorkflowRequest
    transition: _workflow_pb2.TransitionWorkflowRequest
    update: _workflow_pb2.UpdateWorkflowRequest
    tasks: _workflow_pb2.UpsertTasksRequest
    vars: _workflow_pb2.UpdateVarsRequest
    checkpoint: StepCheckpoint
    fence: _kv_pb2.Fence
    def __init__(self, create: _Optional[_Union[_workflow_pb2.CreateWorkflowRequest, _Mapping]] = ..., transition: _Optional[_Union[_workflow_pb2.TransitionWorkflowRequest, _Mapping]] = ..., update: _Optional[_Union[_workflow_pb2.UpdateWorkflowRequest, _Mapping]] = ..., tasks: _Optional[_Union[_workflow_pb2.UpsertTasksRequest, _Mapping]] = ..., vars: _Optional[_Union[_workflow_pb2.UpdateVarsRequest, _Mapping]] = ..., checkpoint: _Optional[_Union[StepCheckpoint, _Mapping]] = ..., fence: _Optional[_Union[_kv_pb2.Fence, _Mapping]] = ...) -> None: ...

class ApplyStepsRequest(_message.Message):
    __slots__ = ("header", "steps")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    steps: _containers.RepeatedCompositeFieldContainer[Step]
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[Step, _Mapping]]] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("workflow", "created", "tasks", "vars", "checkpoint")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.WorkflowRef
    created: bool
    tasks: _containers.RepeatedCompositeFieldContainer[_workflow_pb2.TaskRef]
    vars: _workflow_pb2.UpdateVarsResponse
    checkpoint: _checkpoint_pb2.SaveCheckpointResponse
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.WorkflowRef, _Mapping]] = ..., created: bool = ..., tasks: _Optional[_Iterable[_Union[_workflow_pb2.TaskRef, _Mapping]]] = ..., vars: _Optional[_Union[_workflow_pb2.UpdateVarsResponse, _Mapping]] = ..., checkpoint: _Optional[_Union[_checkpoint_pb2.SaveCheckpointResponse, _Mapping]] = ...) -> None: ...

class ApplyStepsResponse(_message.Message):
    __slots__ = ("results", "revision")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[StepResult]
    revision: int
    def __init__(self, results: _Optional[_Iterable[_Union[StepResult, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...
