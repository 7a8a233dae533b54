"""A local, watch-fed cache of one namespace's workflows and variables.

:meth:`CacheApi.workflow_cache` loads a consistent snapshot of the namespace's workflows, its
variables and its workflows' variables (one ``Watch.Snapshot`` at revision S), then follows a
watch of the same filter from S + 1, applying each item whole (a reset replaces everything).
Reads are local, with no RPC::

    async with client.workflow_cache("payments") as cache:
        wf = cache.workflow("job-42")          # as of cache.revision
        await cache.sync()                     # linearizable: every acknowledged write is in
        running = [w for w in cache.workflows() if w.status == "RUNNING"]
        written = await client.transition("job-42", event="finish")
        await cache.wait_for(written.revision) # read your own write
        assert cache.workflow("job-42").status == "COMPLETED"

Coherence: every read answers as of :attr:`WorkflowCache.revision` (every change up to it is
reflected, none after it). :meth:`WorkflowCache.sync` gets a read-index revision R from the
cluster (a linearizable ``GetVars`` of the namespace's scope) and asks the watch for progress
until the cache reaches R, so afterwards the reads reflect every write acknowledged before
the call. :meth:`WorkflowCache.wait_for` does the same for a revision you already have, such
as your own write's. Both give up after the client's ``request_timeout`` (``Timeout``, or
``Unavailable`` while the watch has no node) unless told otherwise.

The state is plain dicts that only the cache's watch task changes, one whole watch item at a
time with no await in between, so a reader (any task of the loop) never sees half an item.
The watch resumes on another node when its node fails (from the last revision + 1, so nothing
is missed or applied twice), and a reset after its history is gone replaces the whole view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any

from cairn import _methods as m
from cairn._proto.cairn.v1 import workflow_pb2
from cairn.errors import CairnError, InvalidArgument, Timeout, Unavailable
from cairn.vars import Vars, VarScope
from cairn.watch import WatchApi, WatchStream
from cairn.watch_types import (
    ScopedVars,
    VarsChanged,
    VarsDeleted,
    WatchEvents,
    WatchFilter,
    WatchItem,
    WatchObject,
    WatchProgress,
    WatchReset,
    WorkflowChanged,
    WorkflowDeleted,
)
from cairn.workflow_types import Workflow

__all__ = ["CacheApi", "WorkflowCache", "WorkflowCacheOpen"]

#: While :meth:`WorkflowCache.sync` or :meth:`WorkflowCache.wait_for` is behind: how often it
#: asks the watch for progress (seconds).
PROGRESS_EVERY = 0.05


def cache_filter(namespace: str) -> WatchFilter:
    """What a workflow cache follows: the namespace's workflows, and the variables of the
    namespace and of every workflow in it."""
    return WatchFilter().workflows_in(namespace).vars_in(namespace)


class WorkflowCache:
    """One namespace's workflows and variable sets, kept by a watch (see the module).
    Made by :meth:`CacheApi.workflow_cache`; close it (``async with`` or :meth:`close`) to end
    its watch."""

    def __init__(self, client: CacheApi, namespace: str) -> None:
        if not namespace:
            raise InvalidArgument("a workflow cache needs a namespace")
        self._client = client
        self.namespace = namespace
        self.filter = cache_filter(namespace)
        self._workflows: dict[str, Workflow] = {}
        self._vars: dict[VarScope, Vars] = {}
        self._revision = 0
        self._resets = 0
        self._watch: WatchStream | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Why the watch ended for good (a permanent refusal, the client closed).
        self._failure: BaseException | None = None
        #: Set (and replaced) whenever the revision moves, the watch fails or the cache closes.
        self._advanced = asyncio.Event()

    # ---- local reads, as of `revision` ----

    @property
    def revision(self) -> int:
        """Every change up to this revision is reflected in the reads, none after it."""
        return self._revision

    def workflow(self, id: str) -> Workflow | None:
        """The workflow ``id`` of the namespace as of :attr:`revision` (None: none such)."""
        return self._workflows.get(id)

    def workflows(self) -> list[Workflow]:
        """Every workflow of the namespace as of :attr:`revision`, by id."""
        return sorted(self._workflows.values(), key=lambda w: w.id)

    def vars(self, scope: VarScope) -> Vars | None:
        """The variables of ``scope`` (the namespace's, or one of its workflows') as of
        :attr:`revision` (None: the scope has none, or is not of this namespace)."""
        if not isinstance(scope, VarScope):
            raise InvalidArgument(f"scope is a VarScope, not {scope!r}")
        return self._vars.get(scope)

    def __len__(self) -> int:
        """How many workflows the namespace has, as of :attr:`revision`."""
        return len(self._workflows)

    # ---- the watch behind it ----

    @property
    def endpoint(self) -> str | None:
        """The node serving the cache's watch, if connected."""
        return self._watch.endpoint if self._watch is not None else None

    @property
    def reconnects(self) -> int:
        """How many times the watch moved to another connection."""
        return self._watch.reconnects if self._watch is not None else 0

    @property
    def resets(self) -> int:
        """How many times the watch could not resume and the view was replaced."""
        return self._resets

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- coherence ----

    async def sync(self, *, timeout: float | None = None) -> int:
        """Waits until the cache reflects every write acknowledged before this call
        (linearizable): gets a read-index revision R from the cluster, then asks the watch
        for progress until :attr:`revision` >= R; returns R. The read is retried as any
        read; the wait gives up after ``timeout`` seconds (default: the client's
        ``request_timeout``) with ``Timeout`` (``Unavailable`` if the watch has no node)."""
        self._check()
        # A linearizable read of the namespace's own variables: it needs only read on the
        # namespace, and its revision is the read index.
        req = workflow_pb2.GetVarsRequest(scope=VarScope.namespace(self.namespace).to_pb())
        resp = await self._client._call("workflow_cache.sync", m.GET_VARS, req)
        await self._wait(resp.revision, timeout)
        return resp.revision

    async def wait_for(self, revision: int, *, timeout: float | None = None) -> None:
        """Waits until the cache reflects every change up to ``revision`` (for example your
        own write's, to read it back), asking the watch for progress meanwhile; same
        ``timeout`` as :meth:`sync`."""
        if revision < 0:
            raise InvalidArgument(f"revision is not negative, not {revision}")
        self._check()
        await self._wait(revision, timeout)

    async def _wait(self, revision: int, timeout: float | None) -> None:
        if timeout is not None and timeout <= 0:
            raise InvalidArgument("timeout must be positive (or None for the request timeout)")
        limit = self._client.config.request_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        next_request = loop.time()
        while self._revision < revision:
            self._check()
            now = loop.time()
            if now >= deadline:
                raise self._behind(revision, limit)
            advanced = self._advanced
            if now >= next_request:
                next_request = now + PROGRESS_EVERY
                watch = self._watch
                assert watch is not None
                try:
                    await asyncio.wait_for(watch.request_progress(), deadline - now)
                except asyncio.TimeoutError:
                    continue  # the deadline check above raises
                if self._revision >= revision:
                    break
            wake = min(next_request, deadline) - loop.time()
            try:
                await asyncio.wait_for(advanced.wait(), max(0.0, wake))
            except asyncio.TimeoutError:
                pass

    def _behind(self, revision: int, limit: float) -> CairnError:
        at = f"revision {revision} not reached in {limit:g}s (at {self._revision})"
        watch = self._watch
        if watch is not None and watch.endpoint is None:
            cause = f": {watch.last_failure}" if watch.last_failure else ""
            return Unavailable(f"workflow cache: {at}; its watch has no node{cause}")
        return Timeout(f"workflow cache: {at}")

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise Unavailable("workflow cache: closed")

    # ---- lifecycle ----

    async def _start(self) -> None:
        client = self._client
        snap = await client.watch_snapshot(self.filter)
        self._replace(snap.revision, snap.objects)
        watch = client.watch(self.filter, start_revision=snap.revision + 1)
        self._watch = watch
        try:
            # Live on a node, so progress requests have a stream from the start.
            await asyncio.wait_for(watch.__aenter__(), client.config.retry_deadline)
        except asyncio.TimeoutError:
            await watch.aclose()
            cause = f": {watch.last_failure}" if watch.last_failure else ""
            raise Timeout(f"workflow cache: its watch did not open in time{cause}") from None
        except BaseException:
            await watch.aclose()
            raise
        self._task = asyncio.create_task(
            self._follow(watch), name=f"workflow-cache {self.namespace}"
        )

    async def _follow(self, watch: WatchStream) -> None:
        try:
            async for item in watch:
                self._apply(item)
        except Exception as e:  # the watch ended for good: say so to every waiter
            self._failure = e
        finally:
            self._wake()

    async def close(self) -> None:
        """Stops the watch; the reads keep the last state, :meth:`sync` and
        :meth:`wait_for` raise ``Unavailable``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        if self._watch is not None:
            await self._watch.aclose()
        self._wake()

    async def __aenter__(self) -> WorkflowCache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- applying what the watch delivers ----

    def _apply(self, item: WatchItem) -> None:
        """One whole item, then its revision: never awaits, so no reader sees half of it."""
        if isinstance(item, WatchReset):
            self._resets += 1
            self._replace(item.revision, item.objects)
        elif isinstance(item, WatchEvents):
            workflows, vars = self._workflows, self._vars
            for e in item.events:
                c = e.change
                if isinstance(c, WorkflowChanged):
                    workflows[c.workflow.id] = c.workflow
                elif isinstance(c, WorkflowDeleted):
                    workflows.pop(c.workflow.id, None)
                    vars.pop(VarScope.workflow(c.workflow.id), None)  # they go with it
                elif isinstance(c, VarsChanged):
                    vars[c.scope] = c.vars
                elif isinstance(c, VarsDeleted):
                    vars.pop(c.scope, None)
            self._revision = max(self._revision, item.revision)
        else:
            assert isinstance(item, WatchProgress)
            self._revision = max(self._revision, item.revision)
        self._wake()

    def _replace(self, revision: int, objects: list[WatchObject]) -> None:
        workflows: dict[str, Workflow] = {}
        vars: dict[VarScope, Vars] = {}
        for o in objects:
            if isinstance(o, Workflow):
                workflows[o.id] = o
            elif isinstance(o, ScopedVars):
                vars[o.scope] = o.vars
        self._workflows, self._vars = workflows, vars
        self._revision = revision

    def _wake(self) -> None:
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()


class WorkflowCacheOpen:
    """What :meth:`CacheApi.workflow_cache` returns: ``await`` it for the cache, or use it as
    ``async with`` to have the cache for the block (closed on exit)."""

    __slots__ = ("_cache", "_coro")

    def __init__(self, coro: Coroutine[Any, Any, WorkflowCache]) -> None:
        self._coro = coro
        self._cache: WorkflowCache | None = None

    def __await__(self) -> Generator[Any, None, WorkflowCache]:
        cache: WorkflowCache = yield from self._coro.__await__()
        return cache

    async def __aenter__(self) -> WorkflowCache:
        self._cache = await self._coro
        return self._cache

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cache is not None:
            await self._cache.close()


class CacheApi(WatchApi):
    def workflow_cache(self, namespace: str) -> WorkflowCacheOpen:
        """A local cache of ``namespace``'s workflows and variables (the namespace's and its
        workflows'), kept coherent by a watch: a consistent snapshot, then every change after
        it. Reads are local, as of ``cache.revision``; ``await cache.sync()`` makes them
        linearizable, ``await cache.wait_for(revision)`` reads your own writes. Needs read
        on the namespace. ``cache = await client.workflow_cache(ns)``, closed with
        ``await cache.close()``, or ``async with client.workflow_cache(ns) as cache:``."""
        return WorkflowCacheOpen(self._workflow_cache(namespace))

    async def _workflow_cache(self, namespace: str) -> WorkflowCache:
        cache = WorkflowCache(self, namespace)
        await cache._start()
        return cache
