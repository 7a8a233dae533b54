"""The one place where a failed gRPC call (its code, message and the metadata the server
attached) becomes either a final :class:`~cairn.errors.CairnError` or a "try again" verdict,
exactly as ``cairn_client::error::classify`` decides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict

import grpc

from cairn import _meta as meta
from cairn.errors import (
    AlreadyExists,
    CairnError,
    DataLoss,
    FailedPrecondition,
    IllegalTransition,
    Immutable,
    InvalidArgument,
    LeaseNotFound,
    NotFound,
    NotHolder,
    NotWaiting,
    Owned,
    PermissionDenied,
    ResourceExhausted,
    RevisionMismatch,
    RpcError,
    StaleClaim,
    StaleFence,
    Unauthenticated,
    VersionConflict,
    WaitTimeout,
)

Code = grpc.StatusCode


class _Ctx(TypedDict):
    kind: str | None
    code: grpc.StatusCode | None
    step: int | None
    step_part: str | None


@dataclass(frozen=True)
class Status:
    """A failed call as the classifier sees it: metadata keys lower-case, text values only."""

    code: grpc.StatusCode
    message: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def meta(self, key: str) -> str | None:
        v = self.metadata.get(key)
        return None if v is None else v.strip()

    def meta_int(self, key: str) -> int | None:
        v = self.meta(key)
        if v is None or not v.isdigit():
            return None
        return int(v)


def metadata_dict(*sources: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """Text metadata of a response (headers first, trailers win), keys lower-cased."""
    out: dict[str, str] = {}
    for source in sources:
        if source is None:
            continue
        for key, value in source:
            if isinstance(value, str):
                out[key.lower()] = value
    return out


def status_of(err: grpc.aio.AioRpcError) -> Status:
    """The classifier's view of an aio call failure. A status without a body comes back as
    trailers only; custom metadata may be in either part, so both are read."""
    return Status(
        code=err.code(),
        message=err.details() or "",
        metadata=metadata_dict(err.initial_metadata(), err.trailing_metadata()),
    )


@dataclass(frozen=True)
class Retry:
    """Transient: try again, at ``leader`` if the server named one."""

    leader: str | None
    #: The attempt ran out of time (so exhausting retries reports Timeout).
    timed_out: bool
    #: Human-readable cause, kept for Unavailable.
    cause: str


Disposition = Retry | CairnError


def classify(status: Status) -> Disposition:
    """Whether a failure is final (the typed error) or worth another attempt."""
    code, msg = status.code, status.message
    kw = _ctx(status)
    kind = kw["kind"]
    if code == Code.INVALID_ARGUMENT and kind == meta.kind.UNAUTHENTICATED:
        return Unauthenticated(msg, **kw)
    if code == Code.UNAUTHENTICATED:
        return Unauthenticated(msg, **kw)
    if code == Code.PERMISSION_DENIED:
        return PermissionDenied(msg, **kw)
    if code == Code.RESOURCE_EXHAUSTED:
        return ResourceExhausted(msg, **kw)
    if code == Code.INVALID_ARGUMENT:
        return InvalidArgument(msg, **kw)
    if code == Code.ABORTED:
        return _aborted(status)
    if code == Code.NOT_FOUND:
        if kind == meta.kind.UNKNOWN_LEASE:
            return LeaseNotFound(msg, **kw)
        return NotFound(msg, **kw)
    if code == Code.ALREADY_EXISTS:
        return AlreadyExists(msg, **kw)
    if code == Code.FAILED_PRECONDITION:
        return _failed_precondition(status)
    if code == Code.DATA_LOSS:
        return DataLoss(msg, checkpoint=status.meta(meta.CHECKPOINT), **kw)
    # A blocking call that waited its full time is an answer, not a transport timeout.
    if code == Code.DEADLINE_EXCEEDED and kind == meta.kind.WAIT_TIMEOUT:
        return WaitTimeout(msg, **kw)
    if code in (Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED):
        return _retry(status)
    # The server never answers UNKNOWN or CANCELLED on purpose: the gRPC library makes them
    # when a connection breaks mid-call ("Stream removed", "Socket closed"). Writes carry
    # idempotency keys, so retrying is safe. (The Rust client retries UNKNOWN only when tonic
    # made it locally; here the library cannot tell, and the server never sends it.)
    if code in (Code.UNKNOWN, Code.CANCELLED):
        return _retry(status)
    return RpcError(msg, **kw)


def _ctx(status: Status) -> _Ctx:
    """What every typed error carries from a status: the error kind and code, and for a
    refused batch of steps the step and its part (``cairn-step``, ``cairn-step-part``)."""
    return _Ctx(
        kind=status.meta(meta.ERROR_KIND),
        code=status.code,
        step=status.meta_int(meta.STEP),
        step_part=status.meta(meta.STEP_PART) or None,
    )


def _retry(status: Status) -> Retry:
    leader = status.meta(meta.LEADER) or None
    cause = status.message or status.code.name.lower().replace("_", " ")
    return Retry(leader=leader, timed_out=status.code == Code.DEADLINE_EXCEEDED, cause=cause)


def _aborted(status: Status) -> CairnError:
    """A failed compare: a KV revision mismatch or a workflow/task version conflict. Without a
    parseable current value the answer passes through as RpcError rather than inventing one
    (0 would wrongly mean "key absent")."""
    kw = _ctx(status)
    kind = kw["kind"]
    if kind == meta.kind.REVISION_MISMATCH:
        current = status.meta_int(meta.CURRENT_REVISION)
        if current is not None:
            return RevisionMismatch(status.message, current=current, **kw)
    elif kind in (meta.kind.VERSION_CONFLICT, meta.kind.TASK_VERSION_CONFLICT):
        current = status.meta_int(meta.CURRENT_VERSION)
        if current is not None:
            return VersionConflict(status.message, current=current, **kw)
    return RpcError(status.message, **kw)


def _failed_precondition(status: Status) -> CairnError:
    """Illegal transitions name the current status and the legal targets; coordination
    refusals are typed; every other precondition keeps the server's message."""
    msg = status.message
    kw = _ctx(status)
    kind = kw["kind"]
    if kind == meta.kind.STALE_FENCE:
        current = status.meta_int(meta.CURRENT_REVISION)
        if current is not None:
            return StaleFence(msg, current=current, **kw)
    elif kind == meta.kind.NOT_HOLDER:
        return NotHolder(msg, **kw)
    elif kind == meta.kind.NOT_WAITING:
        return NotWaiting(msg, **kw)
    elif kind == meta.kind.STALE_CLAIM:
        return StaleClaim(msg, **kw)
    elif kind == meta.kind.OWNED:
        return Owned(msg, **kw)
    elif kind == meta.kind.IMMUTABLE:
        return Immutable(msg, **kw)
    elif kind in (meta.kind.ILLEGAL_TRANSITION, meta.kind.TASK_ILLEGAL_TRANSITION):
        current_status = status.meta(meta.CURRENT_STATUS)
        if current_status is not None:
            allowed = [s.strip() for s in (status.meta(meta.ALLOWED) or "").split(",")]
            return IllegalTransition(
                msg, current=current_status, allowed=[s for s in allowed if s], **kw
            )
    return FailedPrecondition(msg, **kw)
