"""The client's typed exceptions, all under :class:`CairnError`, mirroring ``cairn_client::Error``.

Transient conditions (no leader yet, a node restarting, transport errors, timeouts) are retried
inside the client until the retry budget is spent; only then do they surface, as
:class:`Unavailable` or :class:`Timeout` (or, for a write, :class:`OutcomeUnknown`). Everything
else is a definite answer from the cluster: nothing was written.

How a gRPC status becomes one of these (or a retry) is :mod:`cairn._classify`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from cairn.pending import PendingWrite

__all__ = [
    "AlreadyExists",
    "CairnError",
    "DataLoss",
    "FailedPrecondition",
    "IllegalTransition",
    "Immutable",
    "InvalidArgument",
    "InvalidEndpoint",
    "LeaseNotFound",
    "NotFound",
    "NotHolder",
    "NotWaiting",
    "OutcomeUnknown",
    "Owned",
    "PermissionDenied",
    "ResourceExhausted",
    "RevisionMismatch",
    "RpcError",
    "StaleClaim",
    "StaleFence",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "VersionConflict",
    "WaitTimeout",
]


class CairnError(Exception):
    """Base of every error the client raises.

    ``message`` is the server's (or the client's) text; ``kind`` the machine-readable
    ``cairn-error`` kind the server attached, when any; ``code`` the gRPC status code, when the
    error came from one. A refused batch of atomic steps (``Client.apply_steps``) also names
    the step (``step``, its 0-based index in the batch) and its part whose refusal refused the
    batch (``step_part``: ``"change"``, ``"tasks"``, ``"vars"``, ``"checkpoint"`` or
    ``"fence"``); both are None otherwise.
    """

    def __init__(
        self,
        message: str = "",
        *,
        kind: str | None = None,
        code: grpc.StatusCode | None = None,
        step: int | None = None,
        step_part: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.step = step
        self.step_part = step_part

    def __str__(self) -> str:
        return self.message


class InvalidArgument(CairnError, ValueError):
    """The input was rejected (an empty key, a value over its limit, bad JSON, ...), by the
    server (the message names the limit) or by the client before sending. Never retried."""


class InvalidEndpoint(CairnError, ValueError):
    """An endpoint string could not be parsed, or endpoints and TLS settings contradict."""


class RevisionMismatch(CairnError):
    """A compare-and-set on a key found another revision. ``current`` is the key's current
    ``mod_revision`` (0 when the key does not exist)."""

    def __init__(self, message: str, *, current: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.current = current


class NotFound(CairnError):
    """A named entity does not exist (a workflow, a definition). Reads of a missing key or
    workflow are not errors: they return ``None``."""


class AlreadyExists(CairnError):
    """The entity to create exists already (a workflow id, without ``upsert``)."""


class IllegalTransition(CairnError):
    """A workflow (or task) status change its definition does not allow; nothing changed.
    ``current`` is the current status, ``allowed`` the legal targets from it (empty in a
    terminal status)."""

    def __init__(self, message: str, *, current: str, allowed: list[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.current = current
        self.allowed = allowed


class VersionConflict(CairnError):
    """An expected version did not match (optimistic concurrency). ``current`` is the
    workflow's (task's, or variable set's) current version: re-read, then retry with it."""

    def __init__(self, message: str, *, current: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.current = current


class FailedPrecondition(CairnError):
    """Any other state precondition failed (deleting a running workflow without force,
    changing tasks of a finished workflow, rolling variables back to a version no longer
    kept: ``kind == "version_gone"``, ...). The message says which."""


class DataLoss(CairnError):
    """Stored data failed verification (a checkpoint whose bytes no longer match their
    checksum). ``checkpoint`` names it as ``<workflow>/<id>`` when the server did."""

    def __init__(self, message: str, *, checkpoint: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.checkpoint = checkpoint


class StaleFence(CairnError):
    """A fenced write was refused: its lock token (election term, workflow owner's epoch) is
    no longer current. ``current`` is the current token, term or epoch (0 when nobody holds
    it, or the workflow is orphaned). Nothing was written."""

    def __init__(self, message: str, *, current: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.current = current


class NotHolder(CairnError):
    """A release, refresh, resign or proclaim by someone who does not hold that lock (or lead
    that election) with that token (or term)."""


class StaleClaim(CairnError):
    """A finish of a claimed run that no longer runs under that claim: its lease ended, or
    the task was changed or claimed again. The run's result was not stored."""


class Owned(CairnError):
    """Adopting a workflow that another owner holds under a live lease. Nothing changed."""


class Immutable(CairnError):
    """An update or rollback of versioned variables would change a key marked immutable.
    Nothing was written; the message names the key."""


class NotWaiting(CairnError):
    """Leaving a lock's or election's line one is not in."""


class LeaseNotFound(CairnError):
    """The lease does not exist (expired, revoked, or never granted)."""


class WaitTimeout(CairnError):
    """A blocking lock acquire or campaign was not granted within its wait timeout."""


class Unavailable(CairnError):
    """Retries were exhausted; the message is the last cause seen."""


class Timeout(CairnError, TimeoutError):
    """Retries were exhausted and the last attempt timed out."""


class PermissionDenied(CairnError):
    """Auth is on and the user may not do this. Nothing was changed."""


class ResourceExhausted(CairnError):
    """The cluster is out of an allowance: a NOSPACE alarm, or a namespace limit
    (``kind == "namespace_full"``). Nothing was written."""


class Unauthenticated(CairnError):
    """Auth is on and the cluster did not accept who the client is: no user given, a wrong
    user or password, or a token it refuses even after logging in again."""


class RpcError(CairnError):
    """Any other gRPC failure, passed through with its code (``code``) and message."""


class OutcomeUnknown(CairnError):
    """A write's retries ran out without a definite answer: it may or may not have been
    applied. ``await client.resume(err.pending)`` sends it again with the same idempotency
    key, so the cluster applies it at most once."""

    def __init__(self, pending: PendingWrite[Any]) -> None:
        super().__init__(
            f"write outcome unknown ({pending.cause}); resume it with Client.resume",
        )
        self.pending = pending
