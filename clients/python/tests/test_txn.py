"""Transactions without a cluster: every compare target and op and every operation kind built
as the request the RPC takes, the builder immutable, bad input refused before sending (and
before taking a sequence), the results of either branch parsed and a malformed answer refused,
refusals classified, and the transaction's one idempotency header on every retry and on a
resume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import cairn
from cairn import (
    Compare,
    CompareOp,
    Txn,
    TxnDeleteResult,
    TxnGetResult,
    TxnOp,
    TxnPutResult,
    TxnResult,
)
from cairn._proto.cairn.v1 import kv_pb2 as pb
from cairn.config import ClientSettings
from cairn.txn import MAX_TXN_OPS

from .fakes import TXN, Fail, FakeNode, Ok

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


def kv_pb(key: bytes, value: bytes, create: int, mod: int, version: int) -> pb.KeyValue:
    return pb.KeyValue(
        key=key, value=value, create_revision=create, mod_revision=mod, version=version
    )


def test_every_compare_op_and_target_is_built() -> None:
    ops = {
        CompareOp.EQUAL: pb.Compare.EQUAL,
        CompareOp.NOT_EQUAL: pb.Compare.NOT_EQUAL,
        CompareOp.LESS: pb.Compare.LESS,
        CompareOp.GREATER: pb.Compare.GREATER,
    }
    for op, want in ops.items():
        # The op itself, its symbol, and its name in any case are the same op.
        for spelled in (op, op.value, op.name, op.name.lower()):
            c = Compare("k", spelled, version=1)
            assert c.op is op
            assert c.to_pb() == pb.Compare(key=b"k", op=want, version=1)

    txn = (
        Txn()
        .when("a", "==", mod_revision=7)
        .when(b"b", "!=", create_revision=3)
        .when("c", "<", version=2)
        .when("d", ">", value="m")
        .when(bytearray(b"e"), "==", value=b"")
        .when_absent("f")
        .when_at("g", 12)
        .when("h", CompareOp.NOT_EQUAL, mod_revision=0)
    )
    msg = txn.to_pb()
    got = [(c.key, c.op, c.WhichOneof("target")) for c in msg.compare]
    assert got == [
        (b"a", pb.Compare.EQUAL, "mod_revision"),
        (b"b", pb.Compare.NOT_EQUAL, "create_revision"),
        (b"c", pb.Compare.LESS, "version"),
        (b"d", pb.Compare.GREATER, "value"),
        (b"e", pb.Compare.EQUAL, "value"),
        (b"f", pb.Compare.EQUAL, "mod_revision"),
        (b"g", pb.Compare.EQUAL, "mod_revision"),
        (b"h", pb.Compare.NOT_EQUAL, "mod_revision"),
    ]
    c = msg.compare
    assert (c[0].mod_revision, c[1].create_revision, c[2].version) == (7, 3, 2)
    assert (c[3].value, c[4].value, c[5].mod_revision, c[6].mod_revision) == (b"m", b"", 0, 12)
    # Targets at their default value are still set (the oneof says which), on the wire too.
    wire = pb.TxnRequest.FromString(msg.SerializeToString())
    assert [x.WhichOneof("target") for x in wire.compare] == [
        x.WhichOneof("target") for x in msg.compare
    ]
    assert txn.compare[5] == Compare("f", "==", mod_revision=0)
    assert [x.target for x in txn.compare[:4]] == [
        "mod_revision",
        "create_revision",
        "version",
        "value",
    ]
    # No ops and no fence: a transaction of compares only is a check.
    assert not msg.success and not msg.failure and not msg.HasField("fence")
    assert not msg.HasField("header")


def test_every_operation_kind_is_built() -> None:
    txn = (
        Txn()
        .when_absent("k")
        .and_then(
            [
                TxnOp.put("k", "v"),
                TxnOp.put(b"\x00bin", b""),
                TxnOp.delete("old"),
                TxnOp.get(memoryview(b"k")),
            ]
        )
        .and_then(iter([TxnOp.get("later")]))
        .or_else([TxnOp.get("k"), TxnOp.delete("k")])
        .fenced(cairn.Fence.for_lock("jobs", 4))
    )
    msg = txn.to_pb()
    assert list(msg.success) == [
        pb.TxnOp(put=pb.TxnOp.Put(key=b"k", value=b"v")),
        pb.TxnOp(put=pb.TxnOp.Put(key=b"\x00bin", value=b"")),
        pb.TxnOp(delete=pb.TxnOp.Delete(key=b"old")),
        pb.TxnOp(get=pb.TxnOp.Get(key=b"k")),
        pb.TxnOp(get=pb.TxnOp.Get(key=b"later")),
    ]
    assert list(msg.failure) == [
        pb.TxnOp(get=pb.TxnOp.Get(key=b"k")),
        pb.TxnOp(delete=pb.TxnOp.Delete(key=b"k")),
    ]
    assert msg.fence == pb.Fence(lock="jobs", token=4)
    assert TxnOp.put("k", "v") == TxnOp("put", b"k", b"v")
    assert (TxnOp.get("k").kind, TxnOp.get("k").value) == ("get", None)
    # The constructor form is the builder's.
    assert (
        Txn(
            compare=[Compare("k", "==", mod_revision=0)],
            success=txn.success,
            failure=txn.failure,
            fence=txn.fence,
        )
        == txn
    )
    for f in (
        cairn.Fence.for_election("e", 2),
        cairn.Fence.for_owner("w", 9),
    ):
        assert Txn().when_absent("k").fenced(f).to_pb().fence == f.to_pb()


def test_the_builder_is_immutable() -> None:
    base = Txn().when_absent("taken/1")
    a = base.and_then([TxnOp.put("taken/1", "a")])
    b = base.and_then([TxnOp.put("taken/1", "b")]).or_else([TxnOp.get("taken/1")])
    assert base.success == () and base.failure == () and len(base.compare) == 1
    assert a.success == (TxnOp.put("taken/1", "a"),) and a.failure == ()
    assert b.success == (TxnOp.put("taken/1", "b"),) and len(b.failure) == 1
    assert base.fenced(cairn.Fence.for_lock("l", 1)).fence is not None and base.fence is None
    with pytest.raises(AttributeError):
        base.fence = cairn.Fence.for_lock("l", 1)  # type: ignore[misc]


def test_bad_compares_and_operations_are_refused_when_made() -> None:
    with pytest.raises(cairn.InvalidArgument, match="compare's key is empty"):
        Compare("", "==", version=1)
    with pytest.raises(cairn.InvalidArgument, match="compare's key is empty"):
        Txn().when_absent(b"")
    with pytest.raises(cairn.InvalidArgument, match="exactly one of"):
        Compare("k", "==")
    with pytest.raises(cairn.InvalidArgument, match="exactly one of"):
        Txn().when("k", "==", version=1, value="v")
    with pytest.raises(cairn.InvalidArgument, match="from 0 to 2"):
        Txn().when_at("k", -1)
    with pytest.raises(cairn.InvalidArgument, match="from 0 to 2"):
        Compare("k", ">", mod_revision=2**64)
    with pytest.raises(cairn.InvalidArgument, match="from 0 to 2"):
        Compare("k", "<", version=True)
    with pytest.raises(cairn.InvalidArgument, match="from 0 to 2"):
        Compare("k", "<", create_revision="3")  # type: ignore[arg-type]
    assert Compare("k", "<", mod_revision=2**64 - 1).to_pb().mod_revision == 2**64 - 1
    with pytest.raises(cairn.InvalidArgument, match="unknown compare op '=<'"):
        Compare("k", "=<", version=1)
    with pytest.raises(cairn.InvalidArgument, match="unknown compare op"):
        Compare("k", 0, version=1)  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="bytes or str"):
        Compare("k", "==", value=5)  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="bytes or str"):
        Compare(7, "==", version=1)  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="put's key is empty"):
        TxnOp.put("", "v")
    with pytest.raises(cairn.InvalidArgument, match="delete's key is empty"):
        TxnOp.delete(b"")
    with pytest.raises(cairn.InvalidArgument, match="get's key is empty"):
        TxnOp.get("")
    with pytest.raises(cairn.InvalidArgument, match="put, delete or get"):
        TxnOp("range", "k")  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="a put has a value"):
        TxnOp("put", "k")
    with pytest.raises(cairn.InvalidArgument, match="a put has a value"):
        TxnOp("get", "k", "v")
    with pytest.raises(cairn.InvalidArgument, match="bytes or str"):
        TxnOp.put("k", 3)  # type: ignore[arg-type]
    # A branch is a list of operations, not one operation (nor a string).
    with pytest.raises(cairn.InvalidArgument, match="and_then takes a list of TxnOp"):
        Txn().and_then(TxnOp.put("k", "v"))  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="or_else takes TxnOps"):
        Txn().or_else(["k"])  # type: ignore[list-item]
    with pytest.raises(cairn.InvalidArgument, match="success takes a list of TxnOp"):
        Txn(success="put")  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgument, match="compares are Compares"):
        Txn(compare=[("k", "==", 0)])  # type: ignore[list-item]
    with pytest.raises(cairn.InvalidArgument, match="fence is a Fence"):
        Txn().fenced("lock")  # type: ignore[arg-type]


async def test_bad_transactions_are_refused_before_sending(node: FakeNode) -> None:
    put = TxnOp.put("k", "v")
    full = [TxnOp.put(f"k{i}", "v") for i in range(MAX_TXN_OPS)]
    at_limit = (
        Txn(compare=[Compare(f"k{i}", "==", version=1) for i in range(MAX_TXN_OPS)])
        .and_then(full)
        .or_else(full)
    )
    assert len(at_limit.to_pb().success) == MAX_TXN_OPS == 128
    async with cairn.Client([node.addr], **FAST) as c:
        with pytest.raises(cairn.InvalidArgument, match="an empty transaction"):
            await c.txn(Txn())
        with pytest.raises(cairn.InvalidArgument, match="at most 128 compares, not 129"):
            await c.txn(at_limit.when_absent("one-more"))
        with pytest.raises(cairn.InvalidArgument, match="at most 128 and_then operations, not 129"):
            await c.txn(at_limit.and_then([put]))
        with pytest.raises(cairn.InvalidArgument, match="at most 128 or_else operations, not 129"):
            await c.txn(at_limit.or_else([put]))
        with pytest.raises(cairn.InvalidArgument, match="takes a Txn"):
            await c.txn([put])  # type: ignore[arg-type]
        assert node.seen == []
        assert c._sequencer.in_flight() == frozenset()


async def test_a_retried_txn_sends_the_same_header_and_parses_the_results(
    node: FakeNode,
) -> None:
    left = [2]

    def txn(req: Any, md: dict[str, str]) -> Ok | Fail:
        if left[0] > 0:
            left[0] -= 1
            return Fail(C.UNAVAILABLE, "leader changing")
        return Ok(
            pb.TxnResponse(
                succeeded=True,
                results=[
                    pb.TxnOpResult(put=True),
                    pb.TxnOpResult(deleted=True),
                    pb.TxnOpResult(deleted=False),
                    pb.TxnOpResult(get=pb.GetResponse(kv=kv_pb(b"t", b"w1", 40, 41, 2))),
                    pb.TxnOpResult(get=pb.GetResponse(revision=41)),
                ],
                revision=41,
            )
        )

    node.handlers[TXN] = txn
    t = (
        Txn()
        .when_at("q", 30)
        .when_absent("t")
        .and_then(
            [
                TxnOp.put("t", "w1"),
                TxnOp.delete("q"),
                TxnOp.delete("gone"),
                TxnOp.get("t"),
                TxnOp.get("q"),
            ]
        )
        .or_else([TxnOp.get("t")])
        .fenced(cairn.Fence.for_lock("queue", 3))
    )
    async with cairn.Client([node.addr], **FAST) as c:
        got = await c.txn(t)
        calls = node.calls(TXN)
        assert len(calls) == 3
        assert {header_of(s) for s in calls} == {(c.client_id, 1, 1)}
        assert all(s.request == calls[0].request for s in calls)
        sent = pb.TxnRequest()
        sent.CopyFrom(calls[0].request)
        sent.ClearField("header")
        assert sent == t.to_pb()
        assert c._sequencer.in_flight() == frozenset()
        assert got == TxnResult(
            succeeded=True,
            results=[
                TxnPutResult(),
                TxnDeleteResult(True),
                TxnDeleteResult(False),
                TxnGetResult(cairn.KeyValue(b"t", b"w1", 40, 41, 2)),
                TxnGetResult(None),
            ],
            revision=41,
        )

        # A compare failed: the or_else branch's results; the next sequence.
        node.handlers[TXN] = lambda req, md: Ok(
            pb.TxnResponse(
                succeeded=False,
                results=[pb.TxnOpResult(get=pb.GetResponse(kv=kv_pb(b"t", b"w2", 39, 39, 1)))],
                revision=42,
            )
        )
        lost = await c.txn(t)
        assert header_of(node.calls(TXN)[-1]) == (c.client_id, 2, 2)
        assert lost == TxnResult(False, [TxnGetResult(cairn.KeyValue(b"t", b"w2", 39, 39, 1))], 42)
        match lost.results[0]:
            case TxnGetResult(kv=cairn.KeyValue(value=holder)):
                assert holder == b"w2"
            case _:
                raise AssertionError(lost)

        # Compares only: no results either way.
        node.handlers[TXN] = lambda req, md: Ok(pb.TxnResponse(succeeded=True, revision=43))
        assert await c.txn(Txn().when("q", ">", version=0)) == TxnResult(True, [], 43)


async def test_a_malformed_answer_is_refused(node: FakeNode) -> None:
    t = Txn().when_absent("k").and_then([TxnOp.put("k", "v"), TxnOp.get("k")])
    answers = [
        # One result short.
        (pb.TxnResponse(succeeded=True, results=[pb.TxnOpResult(put=True)]), "1 transaction"),
        # Results of the other branch (which has none).
        (
            pb.TxnResponse(
                succeeded=False, results=[pb.TxnOpResult(put=True), pb.TxnOpResult(get={})]
            ),
            "2 transaction results for 0",
        ),
        # A result of another kind than its operation.
        (
            pb.TxnResponse(
                succeeded=True, results=[pb.TxnOpResult(deleted=True), pb.TxnOpResult(get={})]
            ),
            "a deleted result for a put",
        ),
        # No result at all.
        (
            pb.TxnResponse(succeeded=True, results=[pb.TxnOpResult(put=True), pb.TxnOpResult()]),
            "a missing result for a get",
        ),
    ]
    async with cairn.Client([node.addr], **FAST) as c:
        for answer, message in answers:
            node.handlers[TXN] = lambda req, md, a=answer: Ok(a)
            with pytest.raises(cairn.RpcError, match=message):
                await c.txn(t)
        assert c._sequencer.in_flight() == frozenset()


async def test_a_refused_txn_raises_its_typed_error_once(node: FakeNode) -> None:
    node.handlers[TXN] = lambda req, md: Fail(
        C.FAILED_PRECONDITION,
        "stale fence on queue: token 3, current 4",
        (("cairn-error", "stale_fence"), ("cairn-current-revision", "4")),
    )
    t = Txn().when_absent("k").and_then([TxnOp.put("k", "v")])
    async with cairn.Client([node.addr], **FAST) as c:
        with pytest.raises(cairn.StaleFence) as info:
            await c.txn(t.fenced(cairn.Fence.for_lock("queue", 3)))
        assert info.value.current == 4
        assert len(node.calls(TXN)) == 1, "a definite answer is not retried"
        node.handlers[TXN] = lambda req, md: Fail(
            C.INVALID_ARGUMENT, "duplicate key given in txn request"
        )
        with pytest.raises(cairn.InvalidArgument, match="duplicate key"):
            await c.txn(t.and_then([TxnOp.delete("k")]))
        assert len(node.calls(TXN)) == 2
        assert c._sequencer.in_flight() == frozenset()


async def test_an_unknown_txn_outcome_resumes_with_the_same_header(node: FakeNode) -> None:
    node.handlers[TXN] = lambda req, md: Fail(C.UNAVAILABLE, "no leader")
    t = Txn().when_absent("k").and_then([TxnOp.put("k", "v")]).or_else([TxnOp.get("k")])
    async with cairn.Client([node.addr], retry_deadline=0.3, **FAST) as c:
        with pytest.raises(cairn.OutcomeUnknown) as info:
            await c.txn(t)
        pending = info.value.pending
        assert pending.op == "txn" and pending.idempotency_key == (c.client_id, 1)
        attempts = len(node.calls(TXN))
        assert attempts > 1
        assert c._sequencer.in_flight() == frozenset({1})
        # The first attempt was applied after all: the cluster answers the retry with its result.
        node.handlers[TXN] = lambda req, md: Ok(
            pb.TxnResponse(succeeded=True, results=[pb.TxnOpResult(put=True)], revision=90)
        )
        got = await c.resume(pending)
        assert got == TxnResult(True, [TxnPutResult()], 90)
        sent = [s.request for s in node.calls(TXN)]
        assert len(sent) == attempts + 1 and all(r == sent[0] for r in sent)
        assert sent[0].header == pb.RequestHeader(
            client_id=c.client_id, sequence=1, first_incomplete=1
        )
        assert pending.released and c._sequencer.in_flight() == frozenset()
