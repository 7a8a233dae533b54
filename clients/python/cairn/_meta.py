"""Response metadata keys and ``cairn-error`` kinds the server attaches (the ``meta`` module of
the Rust crate cairn-api, api/src/lib.rs)."""

from __future__ import annotations

#: On a "not leader"/"unavailable" answer: the client address of the current leader.
LEADER = "cairn-leader"
#: A machine-readable error kind (see :mod:`kind`).
ERROR_KIND = "cairn-error"
#: On a revision mismatch (and a stale fence): the key's current revision (the current token,
#: term or owner epoch).
CURRENT_REVISION = "cairn-current-revision"
#: On a version conflict: the workflow's (task's, variable set's) current version.
CURRENT_VERSION = "cairn-current-version"
#: On an illegal transition or a state precondition: the current status.
CURRENT_STATUS = "cairn-current-status"
#: On an illegal transition: the legal targets, comma-separated (empty when none).
ALLOWED = "cairn-allowed"
#: On a checkpoint integrity failure: the checkpoint, as ``<workflow>/<id>``.
CHECKPOINT = "cairn-checkpoint"
#: On a refused ``Steps.Apply``: the 0-based index of the step whose part was refused.
STEP = "cairn-step"
#: On a refused ``Steps.Apply``: which part of that step (``change``, ``tasks``, ``vars``,
#: ``checkpoint`` or ``fence``).
STEP_PART = "cairn-step-part"
#: The login token a client sends with every call (etcd's name for it).
TOKEN = "token"


class kind:  # noqa: N801 - a namespace mirroring the Rust module `meta::kind`
    """Values of :data:`ERROR_KIND` that the client tells apart."""

    REVISION_MISMATCH = "revision_mismatch"
    UNAUTHENTICATED = "unauthenticated"
    NAMESPACE_FULL = "namespace_full"
    NO_SPACE = "no_space"
    ILLEGAL_TRANSITION = "illegal_transition"
    TASK_ILLEGAL_TRANSITION = "task_illegal_transition"
    VERSION_CONFLICT = "version_conflict"
    TASK_VERSION_CONFLICT = "task_version_conflict"
    NOT_TERMINAL = "not_terminal"
    STALE_SEQUENCE = "stale_sequence"
    UNKNOWN_LEASE = "unknown_lease"
    NOT_HOLDER = "not_holder"
    NOT_WAITING = "not_waiting"
    STALE_FENCE = "stale_fence"
    STALE_CLAIM = "stale_claim"
    OWNED = "owned"
    #: A change of an immutable variable.
    IMMUTABLE = "immutable"
    #: A rollback (or read) of a variable version that is no longer kept.
    VERSION_GONE = "version_gone"
    WRONG_NAMESPACE = "wrong_namespace"
    WAIT_TIMEOUT = "wait_timeout"
    INTEGRITY = "integrity"
    NOT_LEADER = "not_leader"
    NO_LEADER = "no_leader"
