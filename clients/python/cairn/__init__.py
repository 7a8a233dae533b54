"""Cairn: an asyncio client for the Raft-replicated state store for workflow orchestrators.

::

    import cairn

    async with cairn.Client("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003") as client:
        created = await client.create_workflow(metadata={"job": 7})
        wf = await client.transition(created.workflow.id, event="start",
                                     expected_version=created.workflow.version)
        try:
            await client.transition(wf.id, status="PENDING")
        except cairn.IllegalTransition as e:
            print(e.current, e.allowed)          # RUNNING ['PAUSED', 'COMPLETED', ...]

The same protocol as the Rust client (``cairn_client``): failover across endpoints following
the ``cairn-leader`` hint, jittered exponential backoff within a retry budget, and one
idempotency key per logical write shared by all its retries, so every write is applied
exactly once.

Module map (public modules first; ``_``-modules are internal):

==========================  ==========================================================
``cairn.client``            :class:`Client`: the API mixins below on one handle
``cairn.config``            :class:`ClientConfig` (and its keyword form ``ClientSettings``),
                            :class:`TlsOptions`, :class:`Credentials`
``cairn.errors``            :class:`CairnError` and every typed error under it
``cairn.pending``           :class:`PendingWrite` (carried by :class:`OutcomeUnknown`)
``cairn.fence``             :class:`Fence`: a lock token, election term or workflow owner's
                            epoch a write carries
``cairn.kv``                KV API (put/get/delete/range/scan) and its result types
``cairn.txn``               transactions: compare-and-swap over several keys in one write
                            (Txn, Compare, TxnOp, txn -> TxnResult)
``cairn.definitions``       workflow definitions: types and register/get/list
``cairn.workflows``         workflows API: create/upsert, get, list/iterate, count (one
                            namespace or all, with task progress), transition, update,
                            delete, history (in a time range), compaction; adoption under a
                            lease, orphaned workflows
``cairn.workflow_types``    what the workflows API returns (Workflow, WorkflowRef,
                            Adoption, ...)
``cairn.tasks``             tasks: TaskSpec/Task/TaskStatus/RetryPolicy, bulk upsert, list,
                            ready; claimed runs under a lease (claim_task -> Claimed,
                            finish_task)
``cairn.namespaces``        namespace limits and quota; the list of namespaces
``cairn.vars``              versioned variables of a workflow or namespace (VarScope): update
                            (CAS on the version, immutable keys, retention), read now or as
                            of a kept version, history, rollback
``cairn.steps``             atomic steps: a workflow's change, tasks, variables and checkpoint
                            in one write; batches of steps of many workflows, all or nothing
                            (Step, apply_steps -> StepsResult, step -> StepResult)
``cairn.leases``            leases: grant, revoke, keep-alive in the background (KeepAlive),
                            time-to-live with attachments, list
``cairn.locks``             locks: ``async with client.lock(name, ttl=...) as guard``
                            (LockGuard: fence, lost, release), try_lock, holder, list
``cairn.elections``         elections: campaign (Leadership: is_leader, lost, proclaim,
                            resign), leader, observe (an async iterator of changes)
``cairn.checkpoints``       checkpoints API: save (streamed over 1 MiB, exactly once),
                            load (CRC-32 checked), get, list, latest (valid), rollback,
                            retention
``cairn.checkpoint_types``  what the checkpoints API takes and returns (CheckpointInfo, ...)
``cairn.watch``             watch: ``client.watch(...)``, an async iterator of ordered changes
                            that resumes on another node with no gap or duplicate;
                            ``watch_snapshot``
``cairn.watch_types``       watch selectors and filter, the items (WatchEvents, WatchReset,
                            WatchProgress) and changes (KvPut, WorkflowChanged, ...)
``cairn.cache``             :class:`WorkflowCache`: a namespace's workflows and variables
                            kept locally by a watch (``client.workflow_cache(ns)``; ``sync``,
                            ``wait_for``)
``cairn.checkpoint_policy`` :class:`CheckpointPolicy`: checkpoint every N seconds, every P of
                            progress or on named events, whichever first (``maybe_save``)
``cairn.circuit_breaker``   :class:`CircuitBreaker`: fail fast (:class:`CircuitOpen`) while
                            the cluster is unavailable, probe it back (``breaker.call``)
``cairn.compat``            migration facades: :class:`~cairn.compat.StateManager`
                            (``save_workflow_state``, ..., ``resume_from_checkpoint``),
                            ``DistributedLock``, ``LeaderElection`` (import from it)
``cairn._core``             ClientCore: endpoints, retry loop, the write path
``cairn._classify``         gRPC status + metadata -> typed error or retry
``cairn._endpoints``        endpoint parsing, channels, leader-hint preference
``cairn._sequence``         idempotency headers (client id, sequence, first_incomplete)
``cairn._backoff``          jittered exponential backoff
``cairn._login``            etcd Authenticate login and token refresh
``cairn._rpc``              typed unary method descriptors; ``cairn._methods``: the table
``cairn._coord``            lease keeper, coordination streams, blocking-wait chunks
``cairn._transfer``         checkpoint Upload/Load streams and their retry loop
``cairn._json``             JSON fields to and from text
``cairn._meta``             metadata keys and error kinds the server sends
``cairn._proto``            generated protobuf modules (scripts/gen_protos.py)
==========================  ==========================================================

The migration facades of ``cairn.compat`` wrap a client (they are not mixins of it) and
are not re-exported here: ``from cairn.compat import StateManager``.
"""

from __future__ import annotations

from cairn.cache import WorkflowCache, WorkflowCacheOpen
from cairn.checkpoint_policy import CheckpointPolicy
from cairn.checkpoint_types import (
    CheckpointInfo,
    CheckpointKind,
    CheckpointPage,
    Codec,
    LoadedCheckpoint,
    RetentionPolicy,
    SavedCheckpoint,
)
from cairn.circuit_breaker import BreakerState, CircuitBreaker, CircuitOpen
from cairn.client import Client
from cairn.config import ClientConfig, ClientSettings, Credentials, TlsOptions
from cairn.definitions import Definition, RegisteredDefinition, Transition, VersionedDefinition
from cairn.elections import ElectionObserver, LeaderChange, Leadership, LeaderState
from cairn.errors import (
    AlreadyExists,
    CairnError,
    DataLoss,
    FailedPrecondition,
    IllegalTransition,
    Immutable,
    InvalidArgument,
    InvalidEndpoint,
    LeaseNotFound,
    NotFound,
    NotHolder,
    NotWaiting,
    OutcomeUnknown,
    Owned,
    PermissionDenied,
    ResourceExhausted,
    RevisionMismatch,
    RpcError,
    StaleClaim,
    StaleFence,
    Timeout,
    Unauthenticated,
    Unavailable,
    VersionConflict,
    WaitTimeout,
)
from cairn.fence import Fence
from cairn.kv import DeleteResult, KeyValue, RangePage
from cairn.leases import KeepAlive, LeaseAttachment, LeaseDetails, LeaseInfo
from cairn.locks import Holder, LockAcquire, LockGuard, LockState
from cairn.namespaces import NamespaceLimits, NamespaceQuota, NamespaceUsage
from cairn.pending import PendingWrite
from cairn.steps import (
    Step,
    StepCheckpoint,
    StepResult,
    StepsResult,
    VarsUpdate,
    WorkflowCreate,
    WorkflowTransition,
    WorkflowUpdate,
)
from cairn.tasks import Claimed, RetryPolicy, Task, TaskRef, TaskSpec, TaskStatus, UpsertedTasks
from cairn.txn import (
    Compare,
    CompareOp,
    Txn,
    TxnDeleteResult,
    TxnGetResult,
    TxnOp,
    TxnOpResult,
    TxnPutResult,
    TxnResult,
)
from cairn.vars import ABSENT, Absent, VarChange, Vars, VarScope, VarsWritten, VarVersion
from cairn.watch import WatchSnapshot, WatchStream
from cairn.watch_types import (
    CheckpointDeleted,
    CheckpointMeta,
    CheckpointSaved,
    CheckpointSelector,
    ElectionChanged,
    ElectionDeleted,
    ElectionSelector,
    ElectionState,
    KvDelete,
    KvPut,
    KvSelector,
    LockChanged,
    LockDeleted,
    LockSelector,
    ScopedVars,
    TaskChanged,
    TaskDeleted,
    TaskSelector,
    VarsChanged,
    VarsDeleted,
    VarsSelector,
    WatchChange,
    WatchEvent,
    WatchEvents,
    WatchFilter,
    WatchItem,
    WatchObject,
    WatchProgress,
    WatchReset,
    WatchSelector,
    WorkflowChanged,
    WorkflowDeleted,
    WorkflowSelector,
)
from cairn.workflow_types import (
    Adoption,
    CreatedWorkflow,
    DeletedWorkflow,
    HistoryEvent,
    HistoryKind,
    HistoryPage,
    Progress,
    SortBy,
    Workflow,
    WorkflowDetails,
    WorkflowPage,
    WorkflowRef,
)

__version__ = "0.1.0"

__all__ = [
    "ABSENT",
    "Absent",
    "Adoption",
    "AlreadyExists",
    "BreakerState",
    "CairnError",
    "CheckpointDeleted",
    "CheckpointInfo",
    "CheckpointKind",
    "CheckpointMeta",
    "CheckpointPage",
    "CheckpointPolicy",
    "CheckpointSaved",
    "CheckpointSelector",
    "CircuitBreaker",
    "CircuitOpen",
    "Claimed",
    "Client",
    "ClientConfig",
    "ClientSettings",
    "Codec",
    "Compare",
    "CompareOp",
    "CreatedWorkflow",
    "Credentials",
    "DataLoss",
    "Definition",
    "DeleteResult",
    "DeletedWorkflow",
    "ElectionChanged",
    "ElectionDeleted",
    "ElectionObserver",
    "ElectionSelector",
    "ElectionState",
    "FailedPrecondition",
    "Fence",
    "HistoryEvent",
    "HistoryKind",
    "HistoryPage",
    "Holder",
    "IllegalTransition",
    "Immutable",
    "InvalidArgument",
    "InvalidEndpoint",
    "KeepAlive",
    "KeyValue",
    "KvDelete",
    "KvPut",
    "KvSelector",
    "LeaderChange",
    "LeaderState",
    "Leadership",
    "LeaseAttachment",
    "LeaseDetails",
    "LeaseInfo",
    "LeaseNotFound",
    "LoadedCheckpoint",
    "LockAcquire",
    "LockChanged",
    "LockDeleted",
    "LockGuard",
    "LockSelector",
    "LockState",
    "NamespaceLimits",
    "NamespaceQuota",
    "NamespaceUsage",
    "NotFound",
    "NotHolder",
    "NotWaiting",
    "OutcomeUnknown",
    "Owned",
    "PendingWrite",
    "PermissionDenied",
    "Progress",
    "RangePage",
    "RegisteredDefinition",
    "ResourceExhausted",
    "RetentionPolicy",
    "RetryPolicy",
    "RevisionMismatch",
    "RpcError",
    "SavedCheckpoint",
    "ScopedVars",
    "SortBy",
    "StaleClaim",
    "StaleFence",
    "Step",
    "StepCheckpoint",
    "StepResult",
    "StepsResult",
    "Task",
    "TaskChanged",
    "TaskDeleted",
    "TaskRef",
    "TaskSelector",
    "TaskSpec",
    "TaskStatus",
    "Timeout",
    "TlsOptions",
    "Transition",
    "Txn",
    "TxnDeleteResult",
    "TxnGetResult",
    "TxnOp",
    "TxnOpResult",
    "TxnPutResult",
    "TxnResult",
    "Unauthenticated",
    "Unavailable",
    "UpsertedTasks",
    "VarChange",
    "VarScope",
    "VarVersion",
    "Vars",
    "VarsChanged",
    "VarsDeleted",
    "VarsSelector",
    "VarsUpdate",
    "VarsWritten",
    "VersionConflict",
    "VersionedDefinition",
    "WaitTimeout",
    "WatchChange",
    "WatchEvent",
    "WatchEvents",
    "WatchFilter",
    "WatchItem",
    "WatchObject",
    "WatchProgress",
    "WatchReset",
    "WatchSelector",
    "WatchSnapshot",
    "WatchStream",
    "Workflow",
    "WorkflowCache",
    "WorkflowCacheOpen",
    "WorkflowChanged",
    "WorkflowCreate",
    "WorkflowDeleted",
    "WorkflowDetails",
    "WorkflowPage",
    "WorkflowRef",
    "WorkflowSelector",
    "WorkflowTransition",
    "WorkflowUpdate",
    "__version__",
]
