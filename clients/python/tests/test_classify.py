"""gRPC status + Cairn metadata -> typed error or retry (client/src/error.rs's tests, in
Python), including statuses as grpc.aio delivers them (metadata in the trailers)."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from cairn import (
    AlreadyExists,
    CairnError,
    DataLoss,
    FailedPrecondition,
    IllegalTransition,
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
from cairn._classify import Retry, Status, classify, status_of

C = grpc.StatusCode


def st(code: grpc.StatusCode, message: str = "", **meta: str) -> Status:
    return Status(code, message, {k.replace("_", "-"): v for k, v in meta.items()})


def test_invalid_argument_is_final_and_keeps_message() -> None:
    e = classify(st(C.INVALID_ARGUMENT, "value is 10 bytes; the limit is 4 bytes"))
    assert isinstance(e, InvalidArgument) and isinstance(e, ValueError)
    assert "limit" in e.message and e.code == C.INVALID_ARGUMENT


def test_revision_mismatch_is_typed() -> None:
    e = classify(
        st(
            C.ABORTED,
            "revision mismatch",
            cairn_error="revision_mismatch",
            cairn_current_revision="42",
        )
    )
    assert isinstance(e, RevisionMismatch) and e.current == 42
    assert e.kind == "revision_mismatch"


def test_aborted_without_kind_or_parseable_revision_passes_through() -> None:
    assert type(classify(st(C.ABORTED, "x"))) is RpcError
    assert type(classify(st(C.ABORTED, "x", cairn_error="revision_mismatch"))) is RpcError
    e = classify(st(C.ABORTED, "x", cairn_error="revision_mismatch", cairn_current_revision="nope"))
    assert type(e) is RpcError and e.code == C.ABORTED


def test_unavailable_retries_with_leader_hint() -> None:
    r = classify(st(C.UNAVAILABLE, "not the leader", cairn_leader="10.0.0.2:7001"))
    assert r == Retry(leader="10.0.0.2:7001", timed_out=False, cause="not the leader")


def test_unavailable_without_hint_and_empty_hint() -> None:
    for s in (st(C.UNAVAILABLE, "no leader"), st(C.UNAVAILABLE, "no leader", cairn_leader=" ")):
        r = classify(s)
        assert isinstance(r, Retry) and r.leader is None


def test_deadline_exceeded_retries_and_marks_timeout() -> None:
    r = classify(st(C.DEADLINE_EXCEEDED, "forward timed out"))
    assert isinstance(r, Retry) and r.timed_out
    r = classify(st(C.DEADLINE_EXCEEDED))
    assert isinstance(r, Retry) and r.cause == "deadline exceeded"


def test_transport_breaks_are_retried() -> None:
    for code in (C.UNKNOWN, C.CANCELLED):
        r = classify(st(code, "Stream removed"))
        assert isinstance(r, Retry) and not r.timed_out


def test_other_codes_pass_through() -> None:
    e = classify(st(C.INTERNAL, "bug"))
    assert type(e) is RpcError and e.code == C.INTERNAL
    e = classify(st(C.FAILED_PRECONDITION, "no"))
    assert type(e) is FailedPrecondition and e.message == "no"
    e = classify(st(C.NOT_FOUND, "workflow w42 not found", cairn_error="not_found"))
    assert type(e) is NotFound and "42" in str(e)
    e = classify(st(C.ALREADY_EXISTS, "workflow w already exists"))
    assert type(e) is AlreadyExists


def test_illegal_transition_names_current_and_allowed() -> None:
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "workflow w: cannot go from PENDING via PAUSED",
            cairn_error="illegal_transition",
            cairn_current_status="PENDING",
            cairn_allowed="RUNNING, CANCELLED",
        )
    )
    assert isinstance(e, IllegalTransition)
    assert (e.current, e.allowed) == ("PENDING", ["RUNNING", "CANCELLED"])
    assert "PAUSED" in e.message
    # Terminal: no legal targets at all.
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "x",
            cairn_error="task_illegal_transition",
            cairn_current_status="COMPLETED",
            cairn_allowed="",
        )
    )
    assert isinstance(e, IllegalTransition) and e.allowed == []
    # Without the current status it is not invented.
    e = classify(st(C.FAILED_PRECONDITION, "x", cairn_error="illegal_transition"))
    assert type(e) is FailedPrecondition
    # Other preconditions keep their message.
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "workflow w is RUNNING, not terminal",
            cairn_error="not_terminal",
            cairn_current_status="RUNNING",
        )
    )
    assert type(e) is FailedPrecondition and "not terminal" in e.message


def test_data_loss_is_final_and_names_the_checkpoint() -> None:
    e = classify(
        st(
            C.DATA_LOSS,
            "checkpoint w/ckpt-7 failed verification",
            cairn_error="integrity",
            cairn_checkpoint="w/ckpt-7",
        )
    )
    assert isinstance(e, DataLoss) and e.checkpoint == "w/ckpt-7"


def test_coordination_refusals_are_typed() -> None:
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "stale fence on res: token 3, current 9",
            cairn_error="stale_fence",
            cairn_current_revision="9",
        )
    )
    assert isinstance(e, StaleFence) and e.current == 9
    e = classify(st(C.FAILED_PRECONDITION, "a does not hold res", cairn_error="not_holder"))
    assert isinstance(e, NotHolder)
    e = classify(st(C.FAILED_PRECONDITION, "a is not waiting", cairn_error="not_waiting"))
    assert isinstance(e, NotWaiting)
    e = classify(st(C.NOT_FOUND, "lease 7 not found", cairn_error="unknown_lease"))
    assert isinstance(e, LeaseNotFound) and "7" in e.message
    # A wait that ran out is final; a transport deadline is still retried.
    e = classify(st(C.DEADLINE_EXCEEDED, "not granted", cairn_error="wait_timeout"))
    assert isinstance(e, WaitTimeout)


def test_claim_and_ownership_refusals_are_typed() -> None:
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "task w/t is not running under claim 5 (current claim 0)",
            cairn_error="stale_claim",
        )
    )
    assert type(e) is StaleClaim and e.kind == "stale_claim" and "claim 5" in e.message
    assert e.code == C.FAILED_PRECONDITION
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "workflow w is owned by a under live lease 7",
            cairn_error="owned",
        )
    )
    assert type(e) is Owned and "owned by a" in e.message
    # A workflow owner's stale epoch is a stale fence like any other.
    e = classify(
        st(
            C.FAILED_PRECONDITION,
            "stale fence",
            cairn_error="stale_fence",
            cairn_current_revision="0",
        )
    )
    assert isinstance(e, StaleFence) and e.current == 0
    # Claims and adoptions under a lease that ended; a workflow named in another namespace.
    e = classify(st(C.NOT_FOUND, "lease 7 not found", cairn_error="unknown_lease"))
    assert isinstance(e, LeaseNotFound)
    e = classify(st(C.INVALID_ARGUMENT, "w is in a", cairn_error="wrong_namespace"))
    assert isinstance(e, InvalidArgument) and e.kind == "wrong_namespace"


def test_version_conflicts_are_typed_and_not_invented() -> None:
    for kind in ("version_conflict", "task_version_conflict"):
        e = classify(
            st(
                C.ABORTED,
                "expected version 3, current 5",
                cairn_error=kind,
                cairn_current_version="5",
            )
        )
        assert isinstance(e, VersionConflict) and e.current == 5
    assert type(classify(st(C.ABORTED, "x", cairn_error="version_conflict"))) is RpcError


def test_auth_and_quota_refusals() -> None:
    e = classify(
        st(C.INVALID_ARGUMENT, "etcdserver: authentication failed", cairn_error="unauthenticated")
    )
    assert type(e) is Unauthenticated
    assert type(classify(st(C.UNAUTHENTICATED, "invalid auth token"))) is Unauthenticated
    assert type(classify(st(C.PERMISSION_DENIED, "permission denied"))) is PermissionDenied
    e = classify(st(C.RESOURCE_EXHAUSTED, "namespace n is full", cairn_error="namespace_full"))
    assert type(e) is ResourceExhausted and e.kind == "namespace_full"


def test_every_error_is_a_cairn_error() -> None:
    for code in C:
        if code == C.OK:
            continue
        verdict = classify(st(code, "m"))
        assert isinstance(verdict, (CairnError, Retry)), code


@pytest.mark.parametrize("where", ["initial", "trailing"])
def test_status_of_reads_metadata_from_headers_and_trailers(where: str) -> None:
    md = grpc.aio.Metadata(("cairn-error", "version_conflict"), ("cairn-current-version", "8"))
    empty = grpc.aio.Metadata()
    err = grpc.aio.AioRpcError(
        C.ABORTED,
        md if where == "initial" else empty,
        md if where == "trailing" else empty,
        details="expected version 3, current 8",
    )
    e = classify(status_of(err))
    assert isinstance(e, VersionConflict) and e.current == 8
