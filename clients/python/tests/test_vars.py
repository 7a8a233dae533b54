"""Versioned variables without a cluster: the conversions (JSON values, null versus absent,
immutable keys, history records), how the refusals are classified, and the requests as an
in-process fake node receives them (one idempotency header for every retry of an update or a
rollback, history paged by next_version, bad input refused before sending)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import cairn
from cairn import ABSENT, VarChange, Vars, VarScope, VarsWritten, VarVersion
from cairn._classify import Status, classify
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.config import ClientSettings

from .fakes import GET_VARS, ROLLBACK_VARS, UPDATE_VARS, VAR_HISTORY, Fail, FakeNode, Ok

C = grpc.StatusCode
FAST: ClientSettings = {"backoff_base": 0.001, "backoff_max": 0.01, "request_timeout": 1.0}


@pytest.fixture
async def node() -> AsyncIterator[FakeNode]:
    n = await FakeNode().start()
    yield n
    await n.stop()


def header_of(seen: Any) -> tuple[str, int, int]:
    h = seen.request.header
    return h.client_id, h.sequence, h.first_incomplete


def test_scopes() -> None:
    w, n = VarScope.workflow("job-1"), VarScope.namespace("etl")
    assert (w.kind, w.name, str(w)) == ("workflow", "job-1", "workflow job-1")
    assert w.to_pb().WhichOneof("scope") == "workflow" and w.to_pb().workflow == "job-1"
    assert n.to_pb().WhichOneof("scope") == "namespace" and n.to_pb().namespace == "etl"
    assert w != VarScope.namespace("job-1")
    assert VarScope.workflow("x") == VarScope("workflow", "x")
    with pytest.raises(cairn.InvalidArgument):
        VarScope.namespace("")
    with pytest.raises(cairn.InvalidArgument):
        VarScope("queue", "x")  # type: ignore[arg-type]


def test_vars_from_pb() -> None:
    v = Vars.from_pb(
        pb.Vars(
            version=7,
            values={"n": "3", "model": '"small"', "cfg": '{"a":[1,2]}', "none": "null"},
            immutable=["model"],
            keep_versions=100,
            floor=2,
            mod_revision=40,
            updated_ms=1_000,
            updated_by="writer-1",
            checksum=0xDEADBEEF,
        )
    )
    assert v.values == {"n": 3, "model": "small", "cfg": {"a": [1, 2]}, "none": None}
    assert list(v.values) == ["cfg", "model", "n", "none"], "by name"
    assert v.immutable == frozenset({"model"})
    assert (v.version, v.keep_versions, v.floor, v.mod_revision) == (7, 100, 2, 40)
    assert (v.updated_ms, v.updated_by, v.checksum) == (1_000, "writer-1", 0xDEADBEEF)
    # A value that is not JSON (or empty) is a server fault.
    for bad in ("{", ""):
        with pytest.raises(cairn.RpcError) as info:
            Vars.from_pb(pb.Vars(values={"k": bad}))
        assert info.value.code == C.INTERNAL


def test_var_version_changes_tell_null_from_absent() -> None:
    v = VarVersion.from_pb(
        pb.VarVersion(
            version=5,
            revision=50,
            time_ms=9,
            actor="ops",
            reason="fix",
            changes=[
                pb.VarChange(key="new", value="1"),
                pb.VarChange(key="gone", previous='"old"'),
                pb.VarChange(key="nulled", value="null", previous="2"),
            ],
            checksum=11,
            rolled_back_to=3,
        )
    )
    assert v.changes == {
        "new": VarChange(1, ABSENT),
        "gone": VarChange(ABSENT, "old"),
        "nulled": VarChange(None, 2),
    }
    assert v.changes["new"].created and not v.changes["new"].deleted
    assert v.changes["gone"].deleted and not v.changes["gone"].created
    nulled = v.changes["nulled"]
    assert nulled.value is None and not nulled.deleted and not nulled.created
    assert (v.version, v.revision, v.time_ms, v.actor, v.reason) == (5, 50, 9, "ops", "fix")
    assert (v.checksum, v.rolled_back_to) == (11, 3)
    assert repr(ABSENT) == "ABSENT"
    # Not a rollback: no version restored (0 is not one).
    assert VarVersion.from_pb(pb.VarVersion(version=1)).rolled_back_to is None
    assert VarVersion.from_pb(pb.VarVersion(version=1, rolled_back_to=0)).rolled_back_to == 0


def test_refusals_are_classified() -> None:
    e = classify(
        Status(
            C.FAILED_PRECONDITION,
            "variables of namespace etl: model is immutable",
            {"cairn-error": "immutable"},
        )
    )
    assert type(e) is cairn.Immutable and e.kind == "immutable" and "model" in e.message
    e = classify(
        Status(
            C.FAILED_PRECONDITION,
            "variables of namespace etl: version 2 is not kept (kept: 5..=9)",
            {"cairn-error": "version_gone"},
        )
    )
    assert type(e) is cairn.FailedPrecondition and e.kind == "version_gone"
    # A set's version conflict is a workflow's: the current version in metadata.
    e = classify(
        Status(
            C.ABORTED,
            "expected version 3, current 5",
            {"cairn-error": "version_conflict", "cairn-current-version": "5"},
        )
    )
    assert isinstance(e, cairn.VersionConflict) and e.current == 5


async def test_a_retried_update_sends_the_same_header(node: FakeNode) -> None:
    left = [2]

    def update(req: Any, md: dict[str, str]) -> Ok | Fail:
        if left[0] > 0:
            left[0] -= 1
            return Fail(C.UNAVAILABLE, "leader changing")
        return Ok(pb.UpdateVarsResponse(version=4, checksum=77, revision=100))

    node.handlers[UPDATE_VARS] = update
    node.handlers[ROLLBACK_VARS] = lambda req, md: Fail(
        C.FAILED_PRECONDITION, "version 1 is not kept", (("cairn-error", "version_gone"),)
    )
    async with cairn.Client([node.addr], **FAST) as c:
        wrote = await c.update_vars(
            VarScope.namespace("etl"),
            set={"n": 1, "cfg": {"deep": [True, None]}, "z": None},
            delete=["old"],
            immutable=["cfg"],
            expected_version=3,
            keep_versions=10,
            actor="writer-1",
            reason="batch 7",
            fence=cairn.Fence.for_lock("jobs", 9),
        )
        assert wrote == VarsWritten(version=4, checksum=77, revision=100)
        updates = node.calls(UPDATE_VARS)
        assert len(updates) == 3
        assert {header_of(s) for s in updates} == {(c.client_id, 1, 1)}
        assert all(s.request == updates[0].request for s in updates)
        r = updates[0].request
        assert r.scope.namespace == "etl" and r.scope.WhichOneof("scope") == "namespace"
        assert dict(r.set) == {"n": "1", "cfg": '{"deep":[true,null]}', "z": "null"}
        assert (list(r.delete), list(r.immutable)) == (["old"], ["cfg"])
        assert (r.expected_version, r.keep_versions) == (3, 10)
        assert (r.actor, r.reason, r.fence.lock, r.fence.token) == (
            "writer-1",
            "batch 7",
            "jobs",
            9,
        )

        # Unset options are not sent at all (expected_version 0 would mean "no variables").
        await c.update_vars(VarScope.workflow("w"), set={"a": 1})
        r = node.calls(UPDATE_VARS)[-1].request
        assert not r.HasField("expected_version") and not r.HasField("keep_versions")
        assert not r.HasField("fence") and r.scope.workflow == "w"
        assert header_of(node.calls(UPDATE_VARS)[-1]) == (c.client_id, 2, 2)
        await c.update_vars(VarScope.workflow("w"), set={"a": 1}, expected_version=0)
        r = node.calls(UPDATE_VARS)[-1].request
        assert r.HasField("expected_version") and r.expected_version == 0

        # A definite refusal: not retried, nothing left in flight.
        with pytest.raises(cairn.FailedPrecondition) as info:
            await c.rollback_vars(VarScope.namespace("etl"), 1, expected_version=9, actor="ops")
        assert info.value.kind == "version_gone"
        rollbacks = node.calls(ROLLBACK_VARS)
        assert len(rollbacks) == 1
        r = rollbacks[0].request
        assert (r.to_version, r.expected_version, r.actor) == (1, 9, "ops")
        assert header_of(rollbacks[0]) == (c.client_id, 4, 4)
        assert c._sequencer.in_flight() == frozenset()


async def test_a_retried_rollback_sends_the_same_header(node: FakeNode) -> None:
    left = [1]

    def rollback(req: Any, md: dict[str, str]) -> Ok | Fail:
        if left[0] > 0:
            left[0] -= 1
            return Fail(C.UNAVAILABLE, "no leader")
        return Ok(pb.UpdateVarsResponse(version=9, checksum=5, revision=90))

    node.handlers[ROLLBACK_VARS] = rollback
    async with cairn.Client([node.addr], **FAST) as c:
        got = await c.rollback_vars(VarScope.workflow("w"), 3, reason="bad batch")
        assert got == VarsWritten(9, 5, 90)
        calls = node.calls(ROLLBACK_VARS)
        assert len(calls) == 2 and {header_of(s) for s in calls} == {(c.client_id, 1, 1)}
        assert not calls[0].request.HasField("expected_version")


async def test_vars_now_as_of_a_version_or_none(node: FakeNode) -> None:
    def get(req: Any, md: dict[str, str]) -> Ok:
        if req.HasField("version") and req.version < 5:
            return Ok(pb.GetVarsResponse(revision=3))  # not kept
        version = req.version if req.HasField("version") else 9
        return Ok(pb.GetVarsResponse(vars=pb.Vars(version=version, values={"n": "1"})))

    node.handlers[GET_VARS] = get
    async with cairn.Client([node.addr], **FAST) as c:
        scope = VarScope.namespace("etl")
        now = await c.vars(scope)
        assert now is not None and (now.version, now.values) == (9, {"n": 1})
        old = await c.vars(scope, 6, serializable=True)
        assert old is not None and old.version == 6
        assert await c.vars(scope, version=2) is None
        reqs = [s.request for s in node.calls(GET_VARS)]
        assert [r.HasField("version") for r in reqs] == [False, True, True]
        assert [r.serializable for r in reqs] == [False, True, False]
        assert all(r.scope.namespace == "etl" for r in reqs)


async def test_history_pages_by_next_version(node: FakeNode) -> None:
    def history(req: Any, md: dict[str, str]) -> Ok:
        start = max(req.from_version, 1)
        end = min(start + req.limit, 6)
        more = {"next_version": end} if end < 6 else {}
        return Ok(
            pb.VarHistoryResponse(
                versions=[pb.VarVersion(version=v) for v in range(start, end)], **more
            )
        )

    node.handlers[VAR_HISTORY] = history
    async with cairn.Client([node.addr], **FAST) as c:
        scope = VarScope.workflow("w")
        got = [v.version async for v in c.iter_var_history(scope, page_size=2)]
        assert got == [1, 2, 3, 4, 5]
        reqs = [s.request for s in node.calls(VAR_HISTORY)]
        assert [(r.from_version, r.limit) for r in reqs] == [(1, 2), (3, 2), (5, 2)]
        assert [v.version for v in await c.var_history(scope)] == [1, 2, 3, 4, 5]
        assert node.calls(VAR_HISTORY)[-1].request.limit == 1000
        assert [v.version async for v in c.iter_var_history(scope, from_version=4)] == [4, 5]

    # A continuation that does not advance is a server fault, not an endless loop.
    node.handlers[VAR_HISTORY] = lambda req, md: Ok(pb.VarHistoryResponse(next_version=1))
    async with cairn.Client([node.addr], **FAST) as c:
        with pytest.raises(cairn.RpcError, match="did not advance"):
            await c.var_history(VarScope.workflow("w"))


async def test_bad_input_is_refused_before_sending(node: FakeNode) -> None:
    async with cairn.Client([node.addr], **FAST) as c:
        scope = VarScope.namespace("etl")
        with pytest.raises(cairn.InvalidArgument):
            await c.update_vars(scope, set={"x": float("nan")})
        with pytest.raises(cairn.InvalidArgument):
            await c.update_vars(scope, set={"x": object()})
        with pytest.raises(cairn.InvalidArgument):
            await c.update_vars(scope, set={"x": 1}, expected_version=-1)
        with pytest.raises(cairn.InvalidArgument):
            await c.update_vars("etl", set={"x": 1})  # type: ignore[arg-type]
        with pytest.raises(cairn.InvalidArgument):
            await c.rollback_vars(scope, -2)
        with pytest.raises(cairn.InvalidArgument):
            await c.vars(scope, -1)
        assert node.seen == []
        assert c._sequencer.in_flight() == frozenset()
