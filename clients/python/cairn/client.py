""":class:`Client`: the whole API on one handle, assembled from one mixin per area. A new area
(transactions, checkpoints, leases, locks, elections, watch, variables, steps) is a module with
its own ``...Api`` mixin, added to the bases here."""

from __future__ import annotations

from cairn.cache import CacheApi
from cairn.checkpoints import CheckpointsApi
from cairn.definitions import DefinitionsApi
from cairn.elections import ElectionsApi
from cairn.kv import KvApi
from cairn.leases import LeasesApi
from cairn.locks import LocksApi
from cairn.namespaces import NamespacesApi
from cairn.steps import StepsApi
from cairn.tasks import TasksApi
from cairn.txn import TxnApi
from cairn.vars import VarsApi
from cairn.watch import WatchApi
from cairn.workflows import WorkflowsApi

__all__ = ["Client"]


class Client(
    KvApi,
    TxnApi,
    DefinitionsApi,
    WorkflowsApi,
    TasksApi,
    NamespacesApi,
    VarsApi,
    StepsApi,
    LocksApi,
    ElectionsApi,
    LeasesApi,
    CheckpointsApi,
    CacheApi,
    WatchApi,
):
    """An asyncio client for a Cairn cluster.

    ::

        async with cairn.Client(["127.0.0.1:7001", "127.0.0.1:7002"]) as client:
            rev = await client.put("greeting", "hello")
            wf = (await client.create_workflow(metadata={"job": 7})).workflow
            wf = await client.transition(wf.id, event="start", expected_version=wf.version)

    Calls go to the node that last answered (or the leader a node named); transient failures
    (no leader, a node down, a dropped connection) are retried with jittered backoff within
    ``ClientConfig.retry_deadline``. Every write carries an idempotency key that all its
    retries share, so the cluster applies it exactly once; when retries run out the write
    raises OutcomeUnknown, and ``await client.resume(err.pending)`` finishes it safely.

    One client serves many concurrent tasks of one event loop; create it (or first use it)
    inside that loop.
    """
