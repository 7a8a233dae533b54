"""Checkpoint saves are exactly-once through failures: a save whose outcome was unknown (no
quorum) resumed with its PendingWrite, and the leader killed with SIGKILL during 20
concurrent workers' saves (unary and chunked uploads), after which every acknowledged save is
stored exactly once, with its bytes.

Why a duplicate would show: every save has a label of its own, so a save applied twice would
leave two checkpoints with that label (a retried upload without its idempotency header would
be a new upload, and a new checkpoint)."""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import cairn

from .cluster import Cluster

T = TypeVar("T")
MiB = 1024 * 1024
WORKERS = 20
SAVES = 6


async def settle(client: cairn.Client, op: Callable[[], Awaitable[T]], deadline: float) -> T:
    """Runs one save to a definite answer: an unknown outcome is resumed with its original
    idempotency key (never re-issued as a new save) until the deadline."""
    try:
        return await op()
    except cairn.OutcomeUnknown as e:
        pending = e.pending
    while True:
        try:
            return await client.resume(pending)
        except cairn.OutcomeUnknown:
            if time.monotonic() > deadline:
                raise


def payload_of(worker: int, j: int) -> bytes:
    """Alternately a small (unary Save) and a chunked (Upload) payload."""
    size = 48 * 1024 + j if j % 2 == 0 else 2 * MiB + 1000 * worker + j
    return random.Random(worker * 1000 + j).randbytes(size)


async def test_leader_killed_mid_saves_every_acknowledged_save_once(
    new_cluster: Callable[..., Cluster],
) -> None:
    cluster = new_cluster()
    deadline = time.monotonic() + 180
    acked = 0
    kill_at = WORKERS * SAVES // 4
    saved: dict[str, list[tuple[str, cairn.SavedCheckpoint, bytes]]] = {}
    async with cairn.Client(cluster.endpoints(), retry_deadline=30.0) as client:
        for i in range(WORKERS):
            await client.create_workflow(f"cf-{i:02d}")
        # Found before the load starts, so the kill lands right at the quarter mark.
        old_leader = await asyncio.to_thread(cluster.leader, 10)
        started = asyncio.Event()

        async def worker(i: int) -> None:
            nonlocal acked
            wid = f"cf-{i:02d}"
            done = saved.setdefault(wid, [])
            await started.wait()
            for j in range(SAVES):
                label = f"{wid}/{j}"
                data = payload_of(i, j)

                async def save(data: bytes = data, label: str = label) -> cairn.SavedCheckpoint:
                    return await client.save_checkpoint(wid, data, label=label)

                s = await settle(client, save, deadline)
                done.append((label, s, data))
                acked += 1

        tasks = [asyncio.create_task(worker(i)) for i in range(WORKERS)]
        started.set()
        while acked < kill_at:
            assert time.monotonic() < deadline, f"only {acked} saves acknowledged"
            failed = [t.exception() for t in tasks if t.done() and t.exception()]
            assert not failed, failed
            await asyncio.sleep(0.01)
        acked_at_kill = acked
        busy_at_kill = sum(not t.done() for t in tasks)
        cluster.kill(old_leader)
        await asyncio.gather(*tasks)
        # The crash hit the load: most workers had a save in flight.
        assert acked_at_kill < WORKERS * SAVES // 2
        assert busy_at_kill >= WORKERS // 2
        assert await asyncio.to_thread(cluster.leader, 30) != old_leader

    # Check through a fresh client (no state shared with the writer).
    async with cairn.Client(cluster.endpoints()) as reader:
        for wid, saves in saved.items():
            stored = await reader.list_all_checkpoints(wid)
            assert [c.label for c in stored] == [label for label, _, _ in saves], wid
            assert [c.id for c in stored] == [s.id for _, s, _ in saves], wid
            for c, (_, s, data) in zip(stored, saves, strict=True):
                assert (c.raw_size, c.checksum) == (len(data), zlib.crc32(data)), c.id
                assert c.revision == s.revision, c.id
        # A chunked one reads back byte-identical.
        _, s, data = saved["cf-07"][1]
        assert (await reader.load_checkpoint("cf-07", s.id)).payload == data


async def test_an_unknown_save_resumed_is_stored_once(
    new_cluster: Callable[..., Cluster], name: str
) -> None:
    cluster = new_cluster()
    wid = f"{name}-wf"
    payload = random.Random(3).randbytes(3 * MiB + 7)
    survivor = cluster.leader()
    others = [p.id for p in cluster.nodes if p.id != survivor]
    async with cairn.Client(
        [cluster.node(survivor).client_addr],
        retry_deadline=1.0,
        request_timeout=0.5,
        backoff_max=0.05,
    ) as client:
        await client.create_workflow(wid)
        for n in others:
            cluster.kill(n)
        # No quorum: the upload cannot commit, and the client cannot know that it did not.
        with pytest.raises(cairn.OutcomeUnknown) as info:
            await client.save_checkpoint(wid, payload, label="once")
        pending = info.value.pending
        assert pending.op == "upload_checkpoint"
        assert pending.idempotency_key[0] == client.client_id
        for n in others:
            cluster.spawn(n)
        await asyncio.to_thread(cluster.leader, 30)

        # Sending the same logical save again, twice, stores it once: the retried stream
        # continues the same upload, and a retry after the commit gets the first answer.
        async def again() -> cairn.SavedCheckpoint:
            while True:
                try:
                    s: cairn.SavedCheckpoint = await pending._send()
                    return s
                except (cairn.Unavailable, cairn.Timeout):
                    pass  # the cluster is still settling; the deadline below bounds this

        first = await asyncio.wait_for(again(), 60)
        second = await asyncio.wait_for(again(), 60)
        assert first == second
        resumed = await asyncio.wait_for(client.resume(pending), 60)
        assert resumed == first and pending.released
    async with cairn.Client(cluster.endpoints()) as reader:
        stored = await reader.list_all_checkpoints(wid)
        assert [(c.id, c.label) for c in stored] == [(first.id, "once")]
        info2, data = await reader.load_checkpoint(wid, first.id)
        assert data == payload and info2.checksum == zlib.crc32(payload)
