"""The unary RPCs the client calls, each typed with its request and response messages."""

from __future__ import annotations

from cairn._proto.cairn.v1 import admin_pb2 as admin
from cairn._proto.cairn.v1 import checkpoint_pb2 as ckpt
from cairn._proto.cairn.v1 import coord_pb2 as coord
from cairn._proto.cairn.v1 import kv_pb2 as kv
from cairn._proto.cairn.v1 import step_pb2 as step
from cairn._proto.cairn.v1 import workflow_pb2 as wf
from cairn._proto.etcd.etcdserverpb import auth_pb2 as etcd_auth
from cairn._rpc import unary

_KV = kv.DESCRIPTOR
_WF = wf.DESCRIPTOR

KV_PUT = unary(_KV, "KV", "Put", kv.PutRequest, kv.PutResponse)
KV_GET = unary(_KV, "KV", "Get", kv.GetRequest, kv.GetResponse)
KV_DELETE = unary(_KV, "KV", "Delete", kv.DeleteRequest, kv.DeleteResponse)
KV_RANGE = unary(_KV, "KV", "Range", kv.RangeRequest, kv.RangeResponse)
KV_TXN = unary(_KV, "KV", "Txn", kv.TxnRequest, kv.TxnResponse)

REGISTER_DEFINITION = unary(
    _WF,
    "Workflows",
    "RegisterDefinition",
    wf.RegisterDefinitionRequest,
    wf.RegisterDefinitionResponse,
)
GET_DEFINITION = unary(
    _WF, "Workflows", "GetDefinition", wf.GetDefinitionRequest, wf.GetDefinitionResponse
)
LIST_DEFINITIONS = unary(
    _WF, "Workflows", "ListDefinitions", wf.ListDefinitionsRequest, wf.ListDefinitionsResponse
)
CREATE_WORKFLOW = unary(
    _WF, "Workflows", "CreateWorkflow", wf.CreateWorkflowRequest, wf.CreateWorkflowResponse
)
GET_WORKFLOW = unary(_WF, "Workflows", "GetWorkflow", wf.GetWorkflowRequest, wf.GetWorkflowResponse)
LIST_WORKFLOWS = unary(
    _WF, "Workflows", "ListWorkflows", wf.ListWorkflowsRequest, wf.ListWorkflowsResponse
)
COUNT_WORKFLOWS = unary(
    _WF, "Workflows", "CountWorkflows", wf.CountWorkflowsRequest, wf.CountWorkflowsResponse
)
TRANSITION_WORKFLOW = unary(
    _WF,
    "Workflows",
    "TransitionWorkflow",
    wf.TransitionWorkflowRequest,
    wf.TransitionWorkflowResponse,
)
UPDATE_WORKFLOW = unary(
    _WF, "Workflows", "UpdateWorkflow", wf.UpdateWorkflowRequest, wf.UpdateWorkflowResponse
)
DELETE_WORKFLOW = unary(
    _WF, "Workflows", "DeleteWorkflow", wf.DeleteWorkflowRequest, wf.DeleteWorkflowResponse
)
GET_HISTORY = unary(_WF, "Workflows", "GetHistory", wf.GetHistoryRequest, wf.GetHistoryResponse)
COMPACT_HISTORY = unary(
    _WF, "Workflows", "CompactHistory", wf.CompactHistoryRequest, wf.CompactHistoryResponse
)
UPSERT_TASKS = unary(_WF, "Workflows", "UpsertTasks", wf.UpsertTasksRequest, wf.UpsertTasksResponse)
LIST_TASKS = unary(_WF, "Workflows", "ListTasks", wf.ListTasksRequest, wf.ListTasksResponse)
CLAIM_TASK = unary(_WF, "Workflows", "ClaimTask", wf.ClaimTaskRequest, wf.ClaimTaskResponse)
FINISH_TASK = unary(_WF, "Workflows", "FinishTask", wf.FinishTaskRequest, wf.FinishTaskResponse)
ADOPT_WORKFLOW = unary(
    _WF, "Workflows", "AdoptWorkflow", wf.AdoptWorkflowRequest, wf.AdoptWorkflowResponse
)
SET_NAMESPACE_LIMITS = unary(
    _WF,
    "Workflows",
    "SetNamespaceLimits",
    wf.SetNamespaceLimitsRequest,
    wf.SetNamespaceLimitsResponse,
)
GET_NAMESPACE_QUOTA = unary(
    _WF,
    "Workflows",
    "GetNamespaceQuota",
    wf.GetNamespaceQuotaRequest,
    wf.GetNamespaceQuotaResponse,
)
LIST_NAMESPACES = unary(
    _WF, "Workflows", "ListNamespaces", wf.ListNamespacesRequest, wf.ListNamespacesResponse
)
UPDATE_VARS = unary(_WF, "Workflows", "UpdateVars", wf.UpdateVarsRequest, wf.UpdateVarsResponse)
ROLLBACK_VARS = unary(
    _WF, "Workflows", "RollbackVars", wf.RollbackVarsRequest, wf.UpdateVarsResponse
)
GET_VARS = unary(_WF, "Workflows", "GetVars", wf.GetVarsRequest, wf.GetVarsResponse)
VAR_HISTORY = unary(_WF, "Workflows", "VarHistory", wf.VarHistoryRequest, wf.VarHistoryResponse)

# Checkpoints (unary; the Upload and Load streams are cairn._transfer's).
_CKPT = ckpt.DESCRIPTOR
SAVE_CHECKPOINT = unary(
    _CKPT, "Checkpoints", "Save", ckpt.SaveCheckpointRequest, ckpt.SaveCheckpointResponse
)
GET_CHECKPOINT = unary(
    _CKPT, "Checkpoints", "Get", ckpt.GetCheckpointRequest, ckpt.GetCheckpointResponse
)
LATEST_CHECKPOINT = unary(
    _CKPT, "Checkpoints", "Latest", ckpt.LatestCheckpointRequest, ckpt.LatestCheckpointResponse
)
LATEST_VALID_CHECKPOINT = unary(
    _CKPT,
    "Checkpoints",
    "LatestValid",
    ckpt.LatestCheckpointRequest,
    ckpt.LatestCheckpointResponse,
)
LIST_CHECKPOINTS = unary(
    _CKPT, "Checkpoints", "List", ckpt.ListCheckpointsRequest, ckpt.ListCheckpointsResponse
)
ROLLBACK_WORKFLOW = unary(
    _CKPT, "Checkpoints", "Rollback", ckpt.RollbackWorkflowRequest, ckpt.RollbackWorkflowResponse
)
SET_RETENTION = unary(
    _CKPT, "Checkpoints", "SetRetention", ckpt.SetRetentionRequest, ckpt.SetRetentionResponse
)

# Atomic steps: many parts of many workflows' writes in one entry, all or nothing.
APPLY_STEPS = unary(
    step.DESCRIPTOR, "Steps", "Apply", step.ApplyStepsRequest, step.ApplyStepsResponse
)

_COORD = coord.DESCRIPTOR

GRANT_LEASE = unary(_COORD, "Leases", "Grant", coord.LeaseGrantRequest, coord.LeaseGrantResponse)
REVOKE_LEASE = unary(
    _COORD, "Leases", "Revoke", coord.LeaseRevokeRequest, coord.LeaseRevokeResponse
)
LEASE_TIME_TO_LIVE = unary(
    _COORD, "Leases", "TimeToLive", coord.LeaseTimeToLiveRequest, coord.LeaseTimeToLiveResponse
)
LIST_LEASES = unary(_COORD, "Leases", "List", coord.LeaseListRequest, coord.LeaseListResponse)
ACQUIRE_LOCK = unary(
    _COORD, "Locks", "Acquire", coord.AcquireLockRequest, coord.AcquireLockResponse
)
RELEASE_LOCK = unary(
    _COORD, "Locks", "Release", coord.ReleaseLockRequest, coord.ReleaseLockResponse
)
REFRESH_LOCK = unary(
    _COORD, "Locks", "Refresh", coord.RefreshLockRequest, coord.RefreshLockResponse
)
LOCK_HOLDER = unary(_COORD, "Locks", "Holder", coord.LockHolderRequest, coord.LockHolderResponse)
LIST_LOCKS = unary(_COORD, "Locks", "List", coord.ListLocksRequest, coord.ListLocksResponse)
CAMPAIGN = unary(_COORD, "Elections", "Campaign", coord.CampaignRequest, coord.CampaignResponse)
LEADER = unary(_COORD, "Elections", "Leader", coord.LeaderRequest, coord.LeaderResponse)
RESIGN = unary(_COORD, "Elections", "Resign", coord.ResignRequest, coord.ResignResponse)
PROCLAIM = unary(_COORD, "Elections", "Proclaim", coord.ProclaimRequest, coord.ProclaimResponse)

ADMIN_STATUS = unary(admin.DESCRIPTOR, "Admin", "Status", admin.StatusRequest, admin.StatusResponse)

AUTHENTICATE = unary(
    etcd_auth.DESCRIPTOR,
    "Auth",
    "Authenticate",
    etcd_auth.AuthenticateRequest,
    etcd_auth.AuthenticateResponse,
)
