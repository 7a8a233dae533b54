"""Transactions against a real 3-node cluster: 8 concurrent workers moving 40 jobs from a queue
with one compare-and-swap transaction each take every job exactly once (40 successful
transactions, no queue key left); a failed compare runs the failure branch, whose gets answer,
and writes nothing; value, version and create-revision compares; input over the limits refused
by the client before sending and, sent past it, by the cluster, with nothing written; a stale
fence refused with nothing written; a transaction sent again under its header applied once."""

from __future__ import annotations

import asyncio
import random

import pytest

import cairn
from cairn import Compare, Txn, TxnDeleteResult, TxnGetResult, TxnOp, TxnPutResult, TxnResult
from cairn import _methods as m
from cairn._proto.cairn.v1 import kv_pb2
from cairn.txn import MAX_TXN_OPS

from .cluster import Cluster

JOBS = 40
WORKERS = 8


async def test_workers_take_every_job_exactly_once(cluster: Cluster, name: str) -> None:
    queue, taken = f"{name}/queue/", f"{name}/taken/"
    async with cairn.Client(cluster.endpoints()) as c:
        for n in range(JOBS):
            await c.put(f"{queue}{n:03}", "todo")

    async def worker(w: int) -> tuple[str, list[tuple[int, int]], int]:
        """Takes queued jobs until none is left: one of the first few queued (so the workers
        contend), by one transaction. Returns the jobs it took (with the transaction's
        revision) and how many takes it lost to another worker."""
        me, rng = f"w{w}", random.Random(w)
        took: list[tuple[int, int]] = []
        lost = 0
        async with cairn.Client(cluster.endpoints()) as client:
            while True:
                queued = (await client.range(queue, limit=4)).kvs
                if not queued:
                    return me, took, lost
                kv = rng.choice(queued)
                n = int(kv.key.decode().rsplit("/", 1)[1])
                mine = f"{taken}{n:03}"
                r = await client.txn(
                    Txn()
                    .when_at(kv.key, kv.mod_revision)
                    .when_absent(mine)
                    .and_then([TxnOp.delete(kv.key), TxnOp.put(mine, me)])
                    .or_else([TxnOp.get(mine)])
                )
                if r.succeeded:
                    assert r.results == [TxnDeleteResult(True), TxnPutResult()]
                    took.append((n, r.revision))
                else:
                    # Someone else's take, read in the same transaction.
                    lost += 1
                    assert len(r.results) == 1, r
                    got = r.results[0]
                    assert isinstance(got, TxnGetResult) and got.kv is not None, r
                    assert got.kv.value.startswith(b"w") and got.kv.value != me.encode()
                    assert got.kv.mod_revision <= r.revision

    done = await asyncio.gather(*(worker(w) for w in range(WORKERS)))
    owner: dict[int, tuple[str, int]] = {}
    for me, took, _ in done:
        for n, revision in took:
            assert n not in owner, f"job {n} taken by {owner[n][0]} and {me}"
            owner[n] = (me, revision)
    assert sum(len(took) for _, took, _ in done) == JOBS, "one successful txn per job"
    assert sorted(owner) == list(range(JOBS)), "every job taken"
    assert sum(lost for _, _, lost in done) > 0, "the workers never raced"
    async with cairn.Client(cluster.endpoints()) as c:
        assert await c.range_all(queue) == []
        kvs = await c.range_all(taken)
        assert len(kvs) == JOBS
        for kv in kvs:
            me, revision = owner[int(kv.key.decode().rsplit("/", 1)[1])]
            # Written once, by the transaction that took it, at its revision.
            assert (kv.value, kv.version, kv.create_revision) == (me.encode(), 1, revision)


async def test_a_failed_compare_runs_the_failure_branch_and_writes_nothing(
    client: cairn.Client, name: str
) -> None:
    a, b, missing = f"{name}/a", f"{name}/b", f"{name}/missing"
    await client.put(a, "1")
    await client.put(b, "2")
    before = await client.range_all(f"{name}/")
    stale = before[0].mod_revision - 1
    r = await client.txn(
        Txn()
        .when_at(a, stale)
        .when_absent(missing)
        .and_then([TxnOp.put(a, "x"), TxnOp.delete(b), TxnOp.put(missing, "x")])
        .or_else([TxnOp.get(a), TxnOp.get(b), TxnOp.get(missing)])
    )
    assert not r.succeeded
    assert r.results == [TxnGetResult(before[0]), TxnGetResult(before[1]), TxnGetResult(None)]
    assert r.revision >= before[1].mod_revision
    assert await client.range_all(f"{name}/") == before

    # A failure branch may write too: one key written, the success branch's not.
    r = await client.txn(
        Txn()
        .when_absent(a)
        .and_then([TxnOp.put(missing, "x")])
        .or_else([TxnOp.delete(b), TxnOp.get(b), TxnOp.delete(b)])
    )
    assert r == TxnResult(
        False, [TxnDeleteResult(True), TxnGetResult(None), TxnDeleteResult(False)], r.revision
    )
    assert await client.range_all(f"{name}/") == [before[0]]

    # Compares only: a check that writes nothing either way.
    assert (await client.txn(Txn().when_at(a, before[0].mod_revision))).succeeded
    assert not (await client.txn(Txn().when_absent(a))).succeeded
    assert await client.range_all(f"{name}/") == [before[0]]


async def test_value_version_and_revision_compares(client: cairn.Client, name: str) -> None:
    key = f"{name}/cfg/mode"
    rev = await client.put(key, "fast")

    def flip(old: str, new: str) -> Txn:
        return (
            Txn()
            .when(key, "==", value=old)
            .when(key, "<", version=3)
            .and_then([TxnOp.put(key, new), TxnOp.get(key)])
            .or_else([TxnOp.get(key)])
        )

    r = await client.txn(flip("slow", "x"))
    assert not r.succeeded
    kv = await client.get(key)
    assert kv is not None and (kv.value, kv.mod_revision, kv.version) == (b"fast", rev, 1)
    assert r.results == [TxnGetResult(kv)]

    r = await client.txn(flip("fast", "safe"))
    assert r.succeeded and r.results[0] == TxnPutResult()
    # A get sees the put before it, at the transaction's revision.
    assert r.results[1] == TxnGetResult(cairn.KeyValue(key.encode(), b"safe", rev, r.revision, 2))
    r = await client.txn(flip("safe", "slow"))
    assert r.succeeded
    # Version 3 now: the version compare fails although the value matches.
    r = await client.txn(flip("slow", "never"))
    assert not r.succeeded
    got = r.results[0]
    assert isinstance(got, TxnGetResult) and got.kv is not None
    assert (got.kv.value, got.kv.version) == (b"slow", 3)

    # Every op, on every target: values compare as bytes; a missing key has every revision
    # 0 and no value, so any value compare on it fails.
    missing = f"{name}/missing"
    holds = {
        Compare(key, "!=", value="fast"): True,
        Compare(key, "<", value="slox"): True,
        Compare(key, ">", value="slow"): False,
        Compare(key, ">", value="slo"): True,
        Compare(key, "==", create_revision=rev): True,
        Compare(key, "<", create_revision=rev): False,
        Compare(key, ">", mod_revision=rev): True,
        Compare(key, "!=", version=3): False,
        Compare(key, ">", version=2): True,
        Compare(missing, "==", version=0): True,
        Compare(missing, "==", create_revision=0): True,
        Compare(missing, "!=", mod_revision=0): False,
        Compare(missing, "==", value=""): False,
        Compare(missing, "!=", value="x"): False,
    }
    for compare, want in holds.items():
        r = await client.txn(Txn(compare=[compare]))
        assert r.succeeded is want, compare
    # All of them at once: one failing compare chooses the failure branch.
    r = await client.txn(
        Txn(compare=list(holds)).and_then([TxnOp.put(missing, "x")]).or_else([TxnOp.get(key)])
    )
    assert not r.succeeded and await client.get(missing) is None
    r = await client.txn(
        Txn(compare=[c for c, want in holds.items() if want]).and_then([TxnOp.put(missing, "x")])
    )
    assert r.succeeded and r.results == [TxnPutResult()]


async def raw_txn(client: cairn.Client, request: kv_pb2.TxnRequest) -> kv_pb2.TxnResponse:
    """Sends ``request`` as a write of its own, past the client's checks."""

    def build(header: kv_pb2.RequestHeader) -> kv_pb2.TxnRequest:
        request.header.CopyFrom(header)
        return request

    return await client._write("txn", m.KV_TXN, build, lambda r: r)


async def test_input_over_the_limits_is_refused_and_nothing_written(
    client: cairn.Client, name: str
) -> None:
    puts = [TxnOp.put(f"{name}/many/{i:03}", "x") for i in range(MAX_TXN_OPS + 1)]
    # The client refuses before sending...
    with pytest.raises(cairn.InvalidArgument, match="at most 128 and_then operations, not 129"):
        await client.txn(Txn().and_then(puts))
    with pytest.raises(cairn.InvalidArgument, match="at most 128 or_else operations"):
        await client.txn(Txn().when_absent(f"{name}/x").or_else(puts))
    compares = [Compare(f"{name}/c{i}", "==", version=0) for i in range(MAX_TXN_OPS + 1)]
    with pytest.raises(cairn.InvalidArgument, match="at most 128 compares"):
        await client.txn(Txn(compare=compares))
    with pytest.raises(cairn.InvalidArgument, match="an empty transaction"):
        await client.txn(Txn())
    assert await client.range_all(f"{name}/") == []

    # ... and the cluster refuses the same when sent past the client's checks.
    too_many, no_key = "129 operations in one transaction level; the limit is 128", "key is not"
    over: list[tuple[kv_pb2.TxnRequest, str]] = [
        (kv_pb2.TxnRequest(success=[p.to_pb() for p in puts]), too_many),
        (
            kv_pb2.TxnRequest(
                compare=[kv_pb2.Compare(key=b"k", version=1)], failure=[p.to_pb() for p in puts]
            ),
            too_many,
        ),
        (
            kv_pb2.TxnRequest(compare=[c.to_pb() for c in compares], success=[puts[0].to_pb()]),
            too_many,
        ),
        # An empty key: to compare, to put, to get.
        (
            kv_pb2.TxnRequest(
                compare=[kv_pb2.Compare(key=b"", mod_revision=0)], success=[puts[0].to_pb()]
            ),
            no_key,
        ),
        (
            kv_pb2.TxnRequest(success=[kv_pb2.TxnOp(put=kv_pb2.TxnOp.Put(key=b"", value=b"x"))]),
            no_key,
        ),
        (
            kv_pb2.TxnRequest(
                success=[puts[0].to_pb(), kv_pb2.TxnOp(get=kv_pb2.TxnOp.Get(key=b""))]
            ),
            no_key,
        ),
        # What the client's types cannot make: a compare without a target, an empty operation.
        (
            kv_pb2.TxnRequest(compare=[kv_pb2.Compare(key=b"k")], success=[puts[0].to_pb()]),
            "compare.0.: set mod_revision",
        ),
        (kv_pb2.TxnRequest(success=[puts[0].to_pb(), kv_pb2.TxnOp()]), "success.1.: set put"),
    ]
    for request, message in over:
        with pytest.raises(cairn.InvalidArgument, match=message):
            await raw_txn(client, request)
    # The cluster's own limits: key and value sizes, and a key written twice by a branch.
    with pytest.raises(cairn.InvalidArgument, match="limit"):
        await client.txn(
            Txn().and_then([puts[0], TxnOp.put(f"{name}/big", b"x" * ((1 << 20) + 1))])
        )
    with pytest.raises(cairn.InvalidArgument, match="limit"):
        await client.txn(Txn().and_then([puts[0], TxnOp.get(f"{name}/" + "k" * 5000)]))
    with pytest.raises(cairn.InvalidArgument, match="duplicate key"):
        await client.txn(Txn().and_then([puts[0], TxnOp.delete(puts[0].key)]))
    with pytest.raises(cairn.InvalidArgument, match="duplicate key"):
        await client.txn(Txn().and_then([puts[0], puts[1], puts[0]]))
    assert await client.range_all(f"{name}/") == []

    # At the limit: applied, at one revision.
    r = await client.txn(Txn(compare=compares[:MAX_TXN_OPS]).and_then(puts[:MAX_TXN_OPS]))
    assert r.succeeded and r.results == [TxnPutResult()] * MAX_TXN_OPS
    written = await client.range_all(f"{name}/many/")
    assert len(written) == MAX_TXN_OPS and {kv.mod_revision for kv in written} == {r.revision}


async def test_a_stale_fence_is_refused_and_nothing_written(
    client: cairn.Client, name: str
) -> None:
    key = f"{name}/fenced"
    async with client.lock(f"{name}-lock", ttl=5.0) as guard:
        fence = guard.fence
        held = Txn().when_absent(key).and_then([TxnOp.put(key, "held")]).fenced(fence)
        r = await client.txn(held)
        assert r.succeeded
    kv = await client.get(key)
    assert kv is not None and kv.value == b"held"
    # The lock was released: its fence is stale, whatever the compares say.
    for stale in (
        Txn().when_at(key, kv.mod_revision).and_then([TxnOp.put(key, "late")]),
        Txn().when_absent(key).or_else([TxnOp.delete(key)]),
        Txn().and_then([TxnOp.put(f"{name}/other", "x")]),
    ):
        with pytest.raises(cairn.StaleFence) as e:
            await client.txn(stale.fenced(fence))
        assert e.value.current == 0 and e.value.kind == "stale_fence"
    assert await client.range_all(f"{name}/") == [kv]


async def test_a_txn_sent_again_under_its_header_is_applied_once(
    client: cairn.Client, name: str
) -> None:
    key = f"{name}/once"
    txn = Txn().when_absent(key).and_then([TxnOp.put(key, "v"), TxnOp.get(key)])
    # What every retry of one txn sends: the same request, the same header.
    request = txn.to_pb()
    request.header.CopyFrom(client._sequencer.next_header())
    first = await client._call("txn", m.KV_TXN, request)
    again = await client._call("txn", m.KV_TXN, request)
    client._sequencer.finish(request.header.sequence)
    assert again == first and first.succeeded, "a retry is answered with the first result"
    kv = await client.get(key)
    assert kv is not None and (kv.version, kv.mod_revision) == (1, first.revision)
    # A new logical write of the same transaction is another write: the key exists by now.
    r = await client.txn(txn)
    assert not r.succeeded and r.results == []
    assert await client.get(key) == kv
