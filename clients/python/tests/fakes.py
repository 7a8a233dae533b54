"""In-process fake Cairn nodes (grpc.aio servers in the test's own event loop) that answer
what a test scripts, and record every request and its metadata. They drive the retry loop,
failover and idempotency paths without a real cluster."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from cairn._proto.cairn.v1 import checkpoint_pb2, kv_pb2, step_pb2, workflow_pb2
from cairn._proto.etcd.etcdserverpb import auth_pb2


@dataclass
class Fail:
    """An answer that fails with ``code``, ``details`` and trailing ``metadata``."""

    code: grpc.StatusCode
    details: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass
class Ok:
    """A successful answer, optionally with initial (header) metadata."""

    response: Message
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Seen:
    method: str
    request: Any
    metadata: dict[str, str]


Script = Callable[[Any, dict[str, str]], Awaitable[Ok | Fail] | Ok | Fail]


@dataclass
class FakeNode:
    """One fake node. ``handlers`` maps ``Service/Method`` to a script returning Ok or Fail."""

    handlers: dict[str, Script] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    server: grpc.aio.Server | None = None
    port: int = 0

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def calls(self, method: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method]

    async def start(self) -> FakeNode:
        self.server = grpc.aio.server()
        services: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
        for full, (req_type, resp_type) in _METHODS.items():
            service, method = full.split("/")
            services.setdefault(service, {})[method] = grpc.unary_unary_rpc_method_handler(
                self._handler(full),
                request_deserializer=req_type.FromString,
                response_serializer=resp_type.SerializeToString,
            )
        for service, methods in services.items():
            self.server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, methods),)
            )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)

    def _handler(self, full: str) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Any]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            md = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            self.seen.append(Seen(full, request, md))
            script = self.handlers.get(full)
            if script is None:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"fake: no script for {full}")
            answer = script(request, md)
            if not isinstance(answer, (Ok, Fail)):
                answer = await answer
            if isinstance(answer, Fail):
                context.set_trailing_metadata(answer.metadata)
                await context.abort(answer.code, answer.details)
            if answer.headers:
                await context.send_initial_metadata(answer.headers)
            return answer.response

        return handle


_METHODS: dict[str, tuple[type[Message], type[Message]]] = {
    "cairn.v1.KV/Put": (kv_pb2.PutRequest, kv_pb2.PutResponse),
    "cairn.v1.KV/Get": (kv_pb2.GetRequest, kv_pb2.GetResponse),
    "cairn.v1.KV/Delete": (kv_pb2.DeleteRequest, kv_pb2.DeleteResponse),
    "cairn.v1.KV/Txn": (kv_pb2.TxnRequest, kv_pb2.TxnResponse),
    "cairn.v1.Workflows/CreateWorkflow": (
        workflow_pb2.CreateWorkflowRequest,
        workflow_pb2.CreateWorkflowResponse,
    ),
    "cairn.v1.Workflows/UpdateWorkflow": (
        workflow_pb2.UpdateWorkflowRequest,
        workflow_pb2.UpdateWorkflowResponse,
    ),
    "cairn.v1.Workflows/UpsertTasks": (
        workflow_pb2.UpsertTasksRequest,
        workflow_pb2.UpsertTasksResponse,
    ),
    "cairn.v1.Checkpoints/Save": (
        checkpoint_pb2.SaveCheckpointRequest,
        checkpoint_pb2.SaveCheckpointResponse,
    ),
    "cairn.v1.Steps/Apply": (
        step_pb2.ApplyStepsRequest,
        step_pb2.ApplyStepsResponse,
    ),
    "cairn.v1.Workflows/TransitionWorkflow": (
        workflow_pb2.TransitionWorkflowRequest,
        workflow_pb2.TransitionWorkflowResponse,
    ),
    "cairn.v1.Workflows/ClaimTask": (
        workflow_pb2.ClaimTaskRequest,
        workflow_pb2.ClaimTaskResponse,
    ),
    "cairn.v1.Workflows/FinishTask": (
        workflow_pb2.FinishTaskRequest,
        workflow_pb2.FinishTaskResponse,
    ),
    "cairn.v1.Workflows/ListWorkflows": (
        workflow_pb2.ListWorkflowsRequest,
        workflow_pb2.ListWorkflowsResponse,
    ),
    "cairn.v1.Workflows/CountWorkflows": (
        workflow_pb2.CountWorkflowsRequest,
        workflow_pb2.CountWorkflowsResponse,
    ),
    "cairn.v1.Workflows/GetHistory": (
        workflow_pb2.GetHistoryRequest,
        workflow_pb2.GetHistoryResponse,
    ),
    "cairn.v1.Workflows/ListNamespaces": (
        workflow_pb2.ListNamespacesRequest,
        workflow_pb2.ListNamespacesResponse,
    ),
    "cairn.v1.Workflows/UpdateVars": (
        workflow_pb2.UpdateVarsRequest,
        workflow_pb2.UpdateVarsResponse,
    ),
    "cairn.v1.Workflows/RollbackVars": (
        workflow_pb2.RollbackVarsRequest,
        workflow_pb2.UpdateVarsResponse,
    ),
    "cairn.v1.Workflows/GetVars": (
        workflow_pb2.GetVarsRequest,
        workflow_pb2.GetVarsResponse,
    ),
    "cairn.v1.Workflows/VarHistory": (
        workflow_pb2.VarHistoryRequest,
        workflow_pb2.VarHistoryResponse,
    ),
    "etcdserverpb.Auth/Authenticate": (
        auth_pb2.AuthenticateRequest,
        auth_pb2.AuthenticateResponse,
    ),
}

PUT = "cairn.v1.KV/Put"
GET = "cairn.v1.KV/Get"
TXN = "cairn.v1.KV/Txn"
CREATE_WORKFLOW = "cairn.v1.Workflows/CreateWorkflow"
UPDATE_WORKFLOW = "cairn.v1.Workflows/UpdateWorkflow"
UPSERT_TASKS = "cairn.v1.Workflows/UpsertTasks"
SAVE_CHECKPOINT = "cairn.v1.Checkpoints/Save"
APPLY_STEPS = "cairn.v1.Steps/Apply"
TRANSITION = "cairn.v1.Workflows/TransitionWorkflow"
CLAIM_TASK = "cairn.v1.Workflows/ClaimTask"
FINISH_TASK = "cairn.v1.Workflows/FinishTask"
LIST_WORKFLOWS = "cairn.v1.Workflows/ListWorkflows"
COUNT_WORKFLOWS = "cairn.v1.Workflows/CountWorkflows"
GET_HISTORY = "cairn.v1.Workflows/GetHistory"
LIST_NAMESPACES = "cairn.v1.Workflows/ListNamespaces"
UPDATE_VARS = "cairn.v1.Workflows/UpdateVars"
ROLLBACK_VARS = "cairn.v1.Workflows/RollbackVars"
GET_VARS = "cairn.v1.Workflows/GetVars"
VAR_HISTORY = "cairn.v1.Workflows/VarHistory"
AUTHENTICATE = "etcdserverpb.Auth/Authenticate"
