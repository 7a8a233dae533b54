"""Checkpoints against a real cluster: save and load (small, chunked, 50 MiB) byte-identical
with the CRC-32 matching, kinds, labels and metadata, get/list/paging/latest/latest valid,
delta chains materialized, rollback within the definition's rules (and refused outside them
unless forced), retention per workflow and per namespace, and bad input raising the typed
error with nothing stored."""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable
from datetime import timedelta

import pytest

import cairn
from cairn import CheckpointKind, Codec

from .cluster import Cluster, eventually

MiB = 1024 * 1024


def rand(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


async def test_save_load_get_kinds_labels_metadata(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid, metadata={"stage": "fetch"})
    payload = json.dumps({"step": 3, "rows": list(range(1000))}).encode()
    saved = await client.save_checkpoint(
        wid,
        payload,
        kind=CheckpointKind.MANUAL,
        label="step-3",
        metadata={"who": "test", "n": 1},
    )
    assert saved.id.startswith("ckpt-") and saved.raw_size == len(payload)
    assert 0 < saved.stored_size < len(payload)  # compressed by the node
    info, data = await client.load_checkpoint(wid, saved.id)
    assert data == payload
    assert (info.workflow_id, info.id, info.revision) == (wid, saved.id, saved.revision)
    assert (info.kind, info.label, info.metadata) == (
        CheckpointKind.MANUAL,
        "step-3",
        {"n": 1, "who": "test"},
    )
    assert (info.parent, info.delta, info.codec, info.chunks) == (None, False, Codec.ZSTD, 1)
    assert info.checksum == zlib.crc32(payload) and info.raw_size == len(payload)
    assert (info.workflow_status, info.workflow_version) == ("PENDING", 1)
    assert info.workflow_metadata == {"stage": "fetch"}
    assert info.compression_ratio > 1
    got = await client.get_checkpoint(wid, saved.id)
    assert got == info
    # A str is sent as UTF-8; an empty payload is fine; kinds by name.
    s = await client.save_checkpoint(wid, "héllo", kind="error_recovery")
    loaded = await client.load_checkpoint(wid, s.id, serializable=True)
    assert loaded.payload == "héllo".encode() and loaded.info.kind is CheckpointKind.ERROR_RECOVERY
    empty = await client.save_checkpoint(wid, b"")
    assert (await client.load_checkpoint(wid, empty.id)).payload == b""
    assert (await client.get_checkpoint(wid, empty.id)) is not None
    assert await client.get_checkpoint(wid, "ckpt-999999999") is None
    with pytest.raises(cairn.NotFound):
        await client.load_checkpoint(wid, "ckpt-999999999")


async def test_chunked_sizes_round_trip(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid)
    for n in (MiB - 1, MiB, MiB + 1, 3 * MiB + 12345):
        payload = rand(n, n)
        saved = await client.save_checkpoint(wid, payload, label=str(n))
        info, data = await client.load_checkpoint(wid, saved.id)
        assert data == payload, n
        assert (info.raw_size, info.checksum, info.label) == (n, zlib.crc32(payload), str(n))
        assert info.chunks == max(1, -(-n // MiB)), n


async def test_50_mib_round_trip_byte_identical(client: cairn.Client, name: str) -> None:
    wid = f"{name}-big"
    await client.create_workflow(wid)
    payload = rand(50 * MiB, 50)
    started = time.monotonic()
    saved = await client.save_checkpoint(wid, payload, label="big")
    saved_in = time.monotonic() - started
    assert saved.raw_size == 50 * MiB
    info, data = await client.load_checkpoint(wid, saved.id)
    loaded_in = time.monotonic() - started - saved_in
    assert len(data) == len(payload) and data == payload
    assert (info.chunks, info.checksum) == (50, zlib.crc32(payload))
    print(f"50 MiB: saved in {saved_in:.1f}s, loaded in {loaded_in:.1f}s")
    # Stored once: the workflow has exactly this one checkpoint.
    assert [c.id for c in await client.list_all_checkpoints(wid)] == [saved.id]


async def test_list_pages_latest_and_latest_valid(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid)
    assert await client.latest_checkpoint(wid) is None
    assert await client.latest_valid_checkpoint(wid) is None
    assert (await client.list_checkpoints(wid)).checkpoints == []
    ids = [(await client.save_checkpoint(wid, f"state {i}", label=f"s{i}")).id for i in range(7)]
    assert ids == sorted(ids, key=lambda i: int(i.split("-")[1]))
    first = await client.list_checkpoints(wid, limit=3)
    assert [c.id for c in first.checkpoints] == ids[:3] and first.next_after == ids[2]
    # Listings leave out the workflow metadata.
    assert all(c.workflow_metadata is None for c in first.checkpoints)
    second = await client.list_checkpoints(wid, after=first.next_after, limit=3)
    assert [c.id for c in second.checkpoints] == ids[3:6]
    assert second.next_after is not None
    last = await client.list_checkpoints(wid, after=second.next_after, limit=3)
    assert [c.id for c in last.checkpoints] == ids[6:] and last.next_after is None
    assert [c.id async for c in client.iter_checkpoints(wid, page_size=2)] == ids
    assert [c.label for c in await client.list_all_checkpoints(wid)] == [f"s{i}" for i in range(7)]
    latest = await client.latest_checkpoint(wid)
    valid = await client.latest_valid_checkpoint(wid, serializable=True)
    assert latest is not None and valid is not None
    assert latest.id == valid.id == ids[-1] and latest.label == "s6"
    missing = f"{name}-nope"
    for call in (
        client.latest_checkpoint(missing),
        client.latest_valid_checkpoint(missing),
        client.list_checkpoints(missing),
    ):
        with pytest.raises(cairn.NotFound):
            await call


async def test_delta_chain_materializes(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid)
    base = await client.save_checkpoint(wid, json.dumps({"a": 1, "b": {"c": 2}, "keep": True}))
    d1 = await client.save_checkpoint(
        wid, json.dumps({"b": {"c": 3, "e": [1]}}), parent=base.id, delta=True
    )
    # A large delta goes through the upload stream, checked for JSON before it commits.
    big = {"blob": "x" * (2 * MiB), "a": None}
    d2 = await client.save_checkpoint(
        wid, json.dumps(big), parent=d1.id, delta=True, label="big-delta"
    )
    info, patch = await client.load_checkpoint(wid, d2.id)
    assert json.loads(patch) == big and (info.delta, info.parent) == (True, d1.id)
    assert info.checksum == zlib.crc32(patch)
    info, full = await client.load_checkpoint(wid, d2.id, materialize=True)
    assert json.loads(full) == {"b": {"c": 3, "e": [1]}, "keep": True, "blob": "x" * (2 * MiB)}
    _, mid = await client.load_checkpoint(wid, d1.id, materialize=True)
    assert json.loads(mid) == {"a": 1, "b": {"c": 3, "e": [1]}, "keep": True}
    # A full checkpoint materializes as itself.
    assert json.loads((await client.load_checkpoint(wid, base.id, materialize=True)).payload) == {
        "a": 1,
        "b": {"c": 2},
        "keep": True,
    }
    before = [c.id for c in await client.list_all_checkpoints(wid)]
    with pytest.raises(cairn.InvalidArgument) as e:
        await client.save_checkpoint(wid, "{}", delta=True)
    assert e.value.kind == "delta_without_parent"
    with pytest.raises(cairn.InvalidArgument) as e:
        await client.save_checkpoint(wid, "{}", parent="ckpt-999999999", delta=True)
    assert e.value.kind == "unknown_parent"
    with pytest.raises(cairn.InvalidArgument):
        await client.save_checkpoint(wid, "{not json", parent=base.id, delta=True)
    with pytest.raises(cairn.InvalidArgument):
        await client.save_checkpoint(wid, b"{" + b" " * (2 * MiB), parent=base.id, delta=True)
    raw = await client.save_checkpoint(wid, b"\x00not json")
    with pytest.raises(cairn.FailedPrecondition) as e2:
        await client.save_checkpoint(wid, "{}", parent=raw.id, delta=True)
    assert e2.value.kind == "not_materializable"
    assert [c.id for c in await client.list_all_checkpoints(wid)] == [*before, raw.id]


async def test_rollback_within_the_rules(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid, metadata={"step": 0})
    await client.transition(wid, event="start")
    ref = await client.update_workflow(wid, metadata_patch={"step": 1})
    ckpt = await client.save_checkpoint(wid, "at step 1")
    info = await client.get_checkpoint(wid, ckpt.id)
    assert info is not None
    assert (info.workflow_status, info.workflow_version) == ("RUNNING", ref.version)
    await client.transition(wid, event="pause")
    paused = await client.update_workflow(wid, metadata_patch={"step": 2})

    with pytest.raises(cairn.VersionConflict) as vc:
        await client.rollback_workflow(wid, ckpt.id, expected_version=paused.version - 1)
    assert vc.value.current == paused.version
    with pytest.raises(cairn.NotFound):
        await client.rollback_workflow(wid, "ckpt-999999999")
    # PAUSED -> RUNNING is legal in the default definition.
    back = await client.rollback_workflow(
        wid, ckpt.id, expected_version=paused.version, actor="ops", reason="redo step 2"
    )
    assert (back.id, back.status, back.version) == (wid, "RUNNING", paused.version + 1)
    details = await client.get_workflow(wid)
    assert details is not None and details.workflow.metadata == {"step": 1}
    last = (await client.history_all(wid))[-1]
    assert (last.kind, last.event, last.actor, last.reason) == (
        cairn.HistoryKind.ROLLBACK,
        ckpt.id,
        "ops",
        "redo step 2",
    )

    # From a terminal status nothing is legal: refused, nothing changed, unless forced.
    done = await client.transition(wid, status="COMPLETED")
    with pytest.raises(cairn.IllegalTransition) as it:
        await client.rollback_workflow(wid, ckpt.id)
    assert (it.value.current, it.value.allowed) == ("COMPLETED", [])
    details = await client.get_workflow(wid)
    assert details is not None and details.workflow.version == done.version
    forced = await client.rollback_workflow(wid, ckpt.id, force=True)
    assert (forced.status, forced.version) == ("RUNNING", done.version + 1)


async def test_retention_per_workflow_and_namespace(
    new_cluster: Callable[..., Cluster], name: str
) -> None:
    cluster = new_cluster(extra_args=["--checkpoint-retention-interval-ms", "200"])
    async with cairn.Client(cluster.endpoints()) as client:
        kept = f"{name}-kept"
        ns = f"{name}-ns"
        in_ns = f"{name}-in-ns"
        own = f"{name}-own"
        await client.create_workflow(kept)
        await client.create_workflow(in_ns, namespace=ns)
        await client.create_workflow(own, namespace=ns)
        r1 = await client.set_retention(cairn.RetentionPolicy(keep_last=2), workflow_id=kept)
        r2 = await client.set_namespace_retention(ns, cairn.RetentionPolicy(keep_last=1))
        # A workflow's own policy wins over its namespace's.
        r3 = await client.set_retention(
            cairn.RetentionPolicy(max_age=timedelta(hours=1)), workflow_id=own
        )
        assert r1 < r2 < r3
        ids: dict[str, list[str]] = {w: [] for w in (kept, in_ns, own)}
        for i in range(5):
            for w in ids:
                ids[w].append((await client.save_checkpoint(w, f"{w} {i}")).id)

        async def purged_to(w: str, n: int) -> list[str] | None:
            now = [c.id for c in await client.list_all_checkpoints(w)]
            return now if len(now) <= n else None

        assert await eventually("keep_last=2", lambda: purged_to(kept, 2)) == ids[kept][-2:]
        assert await eventually("namespace keep_last=1", lambda: purged_to(in_ns, 1)) == [
            ids[in_ns][-1]
        ]
        # The namespace's sweep ran, and the young ones under the workflow's own policy stay.
        assert [c.id for c in await client.list_all_checkpoints(own)] == ids[own]
        # Cleared, a workflow falls back to its namespace's default.
        await client.set_retention(None, workflow_id=own)
        assert await eventually("fallback", lambda: purged_to(own, 1)) == [ids[own][-1]]
        with pytest.raises(cairn.NotFound):
            await client.set_retention(
                cairn.RetentionPolicy(keep_last=1), workflow_id=f"{name}-nope"
            )


async def test_save_to_a_missing_workflow_or_over_the_limit_stores_nothing(
    new_cluster: Callable[..., Cluster], name: str
) -> None:
    cluster = new_cluster(extra_args=["--max-checkpoint-bytes", str(2 * MiB)])
    async with cairn.Client(cluster.endpoints()) as client:
        wid = f"{name}-wf"
        await client.create_workflow(wid)
        with pytest.raises(cairn.NotFound):
            await client.save_checkpoint(f"{name}-nope", b"x")
        for n in (2 * MiB + 1, 3 * MiB):
            with pytest.raises(cairn.InvalidArgument):
                await client.save_checkpoint(wid, bytes(n))
        with pytest.raises(cairn.InvalidArgument):
            await client.save_checkpoint(wid, b"x", metadata={"a": 1}, label="\n" * 10_000)
        ok = await client.save_checkpoint(wid, bytes(2 * MiB))
        assert [c.id for c in await client.list_all_checkpoints(wid)] == [ok.id]


async def test_fenced_saves_and_rollbacks(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid)
    ok = await client.save_checkpoint(wid, "base")
    # Nobody holds this lock, so no token of it is current: refused, nothing stored.
    stale = cairn.Fence.for_lock(f"{name}-lock", 5)
    for payload in (b"small", bytes(2 * MiB + 1)):
        with pytest.raises(cairn.StaleFence) as e:
            await client.save_checkpoint(wid, payload, fence=stale)
        assert e.value.current == 0
    with pytest.raises(cairn.StaleFence):
        await client.rollback_workflow(wid, ok.id, fence=stale)
    assert [c.id for c in await client.list_all_checkpoints(wid)] == [ok.id]
