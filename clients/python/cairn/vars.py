"""Versioned variables of a workflow or a namespace, and their API.

A scope (:class:`VarScope`: a workflow's, deleted with it, or a namespace's) holds a set of
JSON values by name. The set changes only by whole versioned writes: each
:meth:`VarsApi.update_vars` sets and deletes any number of keys at once, all or nothing, as
one new version, optionally compare-and-swap on the set's version (``expected_version``; 0:
no variables yet). Keys marked immutable refuse any later change (:class:`~cairn.errors.
Immutable`). Every version is recorded with its changes, the previous values of what it
changed, who made it and why, when, and a CRC-32 of the whole set after it; the last
``keep_versions`` versions (default 100) are kept. :meth:`VarsApi.vars` reads the set now or
as of a kept version, :meth:`VarsApi.var_history` lists the kept versions, and
:meth:`VarsApi.rollback_vars` writes a new version equal to an older kept one.

Updates and rollbacks are writes with an idempotency header (a retried update is applied
once); reads are linearizable unless ``serializable``. Refusals: VersionConflict (with the
set's current version), Immutable, NotFound (a workflow scope's workflow does not exist),
FailedPrecondition with ``kind == "version_gone"`` (a rollback to a version no longer kept),
InvalidArgument (bad names, values, limits), StaleFence.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from cairn import _json
from cairn import _methods as m
from cairn._core import ClientCore, with_header
from cairn._json import Json, bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.errors import InvalidArgument
from cairn.fence import Fence, fence_pb

__all__ = [
    "ABSENT",
    "Absent",
    "VarChange",
    "VarScope",
    "VarVersion",
    "Vars",
    "VarsApi",
    "VarsWritten",
]

#: Page size of var_history / iter_var_history (the server's cap).
VAR_HISTORY_PAGE = 1000


class Absent(Enum):
    """The type of :data:`ABSENT`."""

    ABSENT = "ABSENT"

    def __repr__(self) -> str:
        return "ABSENT"


#: In a :class:`VarChange`: no value (the key was deleted, or did not exist before). Distinct
#: from ``None``, which is a JSON ``null`` value.
ABSENT = Absent.ABSENT


@dataclass(frozen=True)
class VarScope:
    """Whose variables: ``VarScope.workflow(id)`` (they go when the workflow is deleted, and
    writing them needs the workflow to exist) or ``VarScope.namespace(ns)``."""

    kind: Literal["workflow", "namespace"]
    #: The workflow's id or the namespace's name.
    name: str

    def __post_init__(self) -> None:
        if self.kind not in ("workflow", "namespace"):
            raise InvalidArgument(
                f"a variable scope is a workflow or a namespace, not {self.kind!r}"
            )
        if not self.name:
            raise InvalidArgument(f"a variable scope names its {self.kind}")

    @classmethod
    def workflow(cls, id: str) -> VarScope:
        return cls("workflow", id)

    @classmethod
    def namespace(cls, namespace: str) -> VarScope:
        return cls("namespace", namespace)

    def to_pb(self) -> pb.VarScope:
        if self.kind == "workflow":
            return pb.VarScope(workflow=self.name)
        return pb.VarScope(namespace=self.name)

    @classmethod
    def from_pb(cls, s: pb.VarScope) -> VarScope:
        """A scope as the server sent it; a missing or empty one is a server fault
        (RpcError)."""
        which = s.WhichOneof("scope")
        if which == "workflow" and s.workflow:
            return cls.workflow(s.workflow)
        if which == "namespace" and s.namespace:
            return cls.namespace(s.namespace)
        raise bad_reply("a variable scope is missing")

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def _value(text: str) -> Json:
    """A variable's JSON text from the server: never empty (``null`` is a value)."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise bad_reply(f"variable is not JSON: {e}") from e


def _opt_value(msg: pb.VarChange, field: Literal["value", "previous"]) -> Json | Absent:
    return _value(getattr(msg, field)) if msg.HasField(field) else ABSENT


@dataclass(frozen=True)
class Vars:
    """A variable set, now or as of a kept version (then ``version``, ``checksum``,
    ``mod_revision``, ``updated_ms`` and ``updated_by`` are that version's; ``immutable``,
    ``keep_versions`` and ``floor`` are the set's now)."""

    version: int
    #: Name -> JSON value (``None`` is a JSON null).
    values: dict[str, Json]
    immutable: frozenset[str]
    #: Versions kept.
    keep_versions: int
    #: Versions below this are forgotten.
    floor: int
    mod_revision: int
    #: When that version was written (ms since the Unix epoch, the leader's clock).
    updated_ms: int
    #: The actor that wrote it.
    updated_by: str
    #: CRC-32 of the whole set (the cluster's canonical encoding): equal sets, equal sums.
    checksum: int

    @classmethod
    def from_pb(cls, v: pb.Vars) -> Vars:
        return cls(
            version=v.version,
            values={k: _value(t) for k, t in sorted(v.values.items())},
            immutable=frozenset(v.immutable),
            keep_versions=v.keep_versions,
            floor=v.floor,
            mod_revision=v.mod_revision,
            updated_ms=v.updated_ms,
            updated_by=v.updated_by,
            checksum=v.checksum,
        )


@dataclass(frozen=True)
class VarChange:
    """One key's change in a :class:`VarVersion`: its new ``value`` (:data:`ABSENT`: deleted)
    and what it held before (``previous``; :data:`ABSENT`: the key did not exist)."""

    value: Json | Absent
    previous: Json | Absent

    @property
    def deleted(self) -> bool:
        return self.value is ABSENT

    @property
    def created(self) -> bool:
        return self.previous is ABSENT


@dataclass(frozen=True)
class VarVersion:
    """One recorded version of a variable set."""

    version: int
    revision: int
    time_ms: int
    actor: str
    reason: str
    #: What it changed, by key (an update setting a key to its current value changes nothing).
    changes: dict[str, VarChange]
    #: CRC-32 of the whole set after it.
    checksum: int
    #: Set on a rollback: the version whose values it restored.
    rolled_back_to: int | None

    @classmethod
    def from_pb(cls, v: pb.VarVersion) -> VarVersion:
        return cls(
            version=v.version,
            revision=v.revision,
            time_ms=v.time_ms,
            actor=v.actor,
            reason=v.reason,
            changes={
                c.key: VarChange(_opt_value(c, "value"), _opt_value(c, "previous"))
                for c in v.changes
            },
            checksum=v.checksum,
            rolled_back_to=v.rolled_back_to if v.HasField("rolled_back_to") else None,
        )


@dataclass(frozen=True)
class VarsWritten:
    """What an update or a rollback wrote: the new version, the set's checksum after it, and
    the cluster revision of the write."""

    version: int
    checksum: int
    revision: int

    @classmethod
    def from_pb(cls, r: pb.UpdateVarsResponse) -> VarsWritten:
        return cls(r.version, r.checksum, r.revision)


def _scope_pb(scope: VarScope) -> pb.VarScope:
    if not isinstance(scope, VarScope):
        raise InvalidArgument(
            f"scope is a VarScope (VarScope.workflow(id) or VarScope.namespace(ns)), not {scope!r}"
        )
    return scope.to_pb()


def _not_negative(field: str, v: int | None) -> None:
    if v is not None and v < 0:
        raise InvalidArgument(f"{field} is not negative, not {v}")


def update_vars_request(
    scope: pb.VarScope | None,
    *,
    set: Mapping[str, Json] | None = None,
    delete: Iterable[str] = (),
    immutable: Iterable[str] = (),
    expected_version: int | None = None,
    keep_versions: int | None = None,
    actor: str = "",
    reason: str = "",
    fence: Fence | None = None,
) -> pb.UpdateVarsRequest:
    """An UpdateVars request without its idempotency header (``scope`` None: unset, which a
    step's vars part takes for its workflow's variables)."""
    _not_negative("expected_version", expected_version)
    _not_negative("keep_versions", keep_versions)
    return pb.UpdateVarsRequest(
        scope=scope,
        expected_version=expected_version,
        set={k: _json.dumps(f"variable {k}", v) for k, v in (set or {}).items()},
        delete=list(delete),
        immutable=list(immutable),
        keep_versions=keep_versions,
        actor=actor,
        reason=reason,
        fence=fence_pb(fence),
    )


class VarsApi(ClientCore):
    async def update_vars(
        self,
        scope: VarScope,
        *,
        set: Mapping[str, Json] | None = None,
        delete: Iterable[str] = (),
        immutable: Iterable[str] = (),
        expected_version: int | None = None,
        keep_versions: int | None = None,
        actor: str = "",
        reason: str = "",
        fence: Fence | None = None,
    ) -> VarsWritten:
        """Writes a new version of ``scope``'s variables: every key of ``set`` (any JSON
        value, ``None`` being null) and every ``delete`` applied together, or nothing.
        ``immutable`` keys (set now or before) refuse any change from then on;
        ``keep_versions`` (1-100000) is how many versions are kept from now on (default 100).
        With ``expected_version`` only if the set is at that version (0: no variables yet),
        else VersionConflict (``.current``). Immutable if it would change an immutable key,
        NotFound if a workflow scope's workflow does not exist. Every retry carries the same
        idempotency header, so the update is applied once."""
        req = update_vars_request(
            _scope_pb(scope),
            set=set,
            delete=delete,
            immutable=immutable,
            expected_version=expected_version,
            keep_versions=keep_versions,
            actor=actor,
            reason=reason,
            fence=fence,
        )
        return await self._write(
            "update_vars", m.UPDATE_VARS, lambda h: with_header(req, h), VarsWritten.from_pb
        )

    async def rollback_vars(
        self,
        scope: VarScope,
        to_version: int,
        *,
        expected_version: int | None = None,
        actor: str = "",
        reason: str = "",
        fence: Fence | None = None,
    ) -> VarsWritten:
        """Writes a new version of ``scope``'s variables whose values equal those of
        ``to_version`` (recorded with ``rolled_back_to``). FailedPrecondition
        (``kind == "version_gone"``) if that version is no longer kept; Immutable if it would
        change an immutable key; VersionConflict with ``expected_version``. Applied once, as
        every write."""
        scope_msg = _scope_pb(scope)
        _not_negative("to_version", to_version)
        _not_negative("expected_version", expected_version)
        f = fence_pb(fence)
        return await self._write(
            "rollback_vars",
            m.ROLLBACK_VARS,
            lambda h: pb.RollbackVarsRequest(
                header=h,
                scope=scope_msg,
                to_version=to_version,
                expected_version=expected_version,
                actor=actor,
                reason=reason,
                fence=f,
            ),
            VarsWritten.from_pb,
        )

    async def vars(
        self, scope: VarScope, version: int | None = None, *, serializable: bool = False
    ) -> Vars | None:
        """``scope``'s variables now, or as of ``version`` while it is kept. None when the
        scope has no variables, or that version is not kept (below ``floor``, or newer than
        the set)."""
        scope_msg = _scope_pb(scope)
        _not_negative("version", version)
        req = pb.GetVarsRequest(scope=scope_msg, version=version, serializable=serializable)
        resp = await self._call("get_vars", m.GET_VARS, req)
        return Vars.from_pb(resp.vars) if resp.HasField("vars") else None

    async def iter_var_history(
        self,
        scope: VarScope,
        *,
        from_version: int = 1,
        page_size: int = VAR_HISTORY_PAGE,
        serializable: bool = False,
    ) -> AsyncIterator[VarVersion]:
        """The kept versions of ``scope``'s variables from ``from_version``, oldest first,
        page by page (a version forgotten meanwhile is skipped: the listing goes on from the
        server's next version)."""
        scope_msg = _scope_pb(scope)
        _not_negative("from_version", from_version)
        _not_negative("page_size", page_size)
        version = from_version
        while True:
            req = pb.VarHistoryRequest(
                scope=scope_msg, from_version=version, limit=page_size, serializable=serializable
            )
            resp = await self._call("var_history", m.VAR_HISTORY, req)
            for v in resp.versions:
                yield VarVersion.from_pb(v)
            if not resp.HasField("next_version"):
                return
            if resp.next_version <= version:
                raise bad_reply("variable history continuation did not advance")
            version = resp.next_version

    async def var_history(self, scope: VarScope, *, serializable: bool = False) -> list[VarVersion]:
        """Every kept version of ``scope``'s variables, oldest first (every page)."""
        return [v async for v in self.iter_var_history(scope, serializable=serializable)]
