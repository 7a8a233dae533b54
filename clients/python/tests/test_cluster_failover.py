"""Exactly-once through a leader crash: 200 concurrent tasks create workflows, transition them,
save a checkpoint after each transition and make create-only KV writes while the leader is
killed with SIGKILL; afterwards every acknowledged write is stored exactly once.

Why a duplicate would show: transitions go A -ping-> B -pong-> A without an expected version,
so a transition applied twice either fails with IllegalTransition on the retry (which the
client would surface) or leaves an extra history event and a higher version; a create retried
without its idempotency key would answer AlreadyExists; a create-only put (expected revision 0)
applied twice would answer RevisionMismatch, and its key's version would be 2; a checkpoint
saved twice would be listed twice.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import cairn

from .cluster import Cluster

T = TypeVar("T")

WORKFLOWS = 200
ROUNDS = 6
EVENTS = ["ping", "pong"] * (ROUNDS // 2)
PINGPONG = cairn.Definition(
    name="pingpong",
    states=["A", "B", "DONE"],
    initial="A",
    terminal=["DONE"],
    transitions=[
        cairn.Transition("A", "B", "ping"),
        cairn.Transition("B", "A", "pong"),
        cairn.Transition("A", "DONE", "finish"),
    ],
)


async def settle(client: cairn.Client, op: Callable[[], Awaitable[T]], deadline: float) -> T:
    """Runs one write to a definite answer: an unknown outcome is resumed with its original
    idempotency key (never re-issued as a new write) until the deadline."""
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


async def test_leader_killed_mid_load_every_acknowledged_write_once(
    new_cluster: Callable[..., Cluster],
) -> None:
    cluster = new_cluster()
    acked = 0
    kill_at = (WORKFLOWS * (1 + 3 * ROUNDS)) // 4
    deadline = time.monotonic() + 120
    async with cairn.Client(cluster.endpoints(), retry_deadline=30.0) as client:
        await client.register_definition(PINGPONG)
        started = asyncio.Event()
        transitions: dict[str, list[cairn.WorkflowRef]] = {}
        puts: dict[str, int] = {}
        saved: dict[str, list[str]] = {}

        async def worker(i: int) -> None:
            nonlocal acked
            wid = f"fo-{i:03d}"
            await started.wait()
            create = functools.partial(client.create_workflow, wid, definition="pingpong")
            created = await settle(client, create, deadline)
            assert created.created and created.workflow.version == 1
            acked += 1
            refs = transitions.setdefault(wid, [])
            for j, event in enumerate(EVENTS):
                step = functools.partial(client.transition, wid, event=event)
                ref = await settle(client, step, deadline)
                refs.append(ref)
                acked += 1
                save = functools.partial(client.save_checkpoint, wid, f"{wid}:{j}", label=event)
                saved.setdefault(wid, []).append((await settle(client, save, deadline)).id)
                acked += 1
                key = f"fo/{i:03d}/{j}"
                put = functools.partial(client.put, key, f"{wid}:{j}", expected_revision=0)
                puts[key] = await settle(client, put, deadline)
                acked += 1

        tasks = [asyncio.create_task(worker(i)) for i in range(WORKFLOWS)]
        started.set()
        # Kill the leader once a quarter of the writes are acknowledged.
        while acked < kill_at:
            assert time.monotonic() < deadline, f"only {acked} writes acknowledged"
            assert not any(t.done() and t.exception() for t in tasks), [
                t.exception() for t in tasks if t.done() and t.exception()
            ]
            await asyncio.sleep(0.01)
        old_leader = await asyncio.to_thread(cluster.leader, 10)
        acked_at_kill = acked
        busy_at_kill = sum(not t.done() for t in tasks)
        cluster.kill(old_leader)
        await asyncio.gather(*tasks)
        # The crash really hit the load: most workers had a write in flight.
        assert acked_at_kill < WORKFLOWS * (1 + 3 * ROUNDS) // 2
        assert busy_at_kill >= WORKFLOWS // 2
        new_leader = await asyncio.to_thread(cluster.leader, 30)
        assert new_leader != old_leader

    # Check through a fresh client (no state shared with the writer).
    async with cairn.Client(cluster.endpoints()) as reader:
        for i in range(WORKFLOWS):
            wid = f"fo-{i:03d}"
            refs = transitions[wid]
            assert [r.version for r in refs] == list(range(2, 2 + ROUNDS)), wid
            details = await reader.get_workflow(wid)
            assert details is not None
            assert (details.workflow.status, details.workflow.version) == ("A", 1 + ROUNDS), wid
            history = await reader.history_all(wid)
            assert [e.version for e in history] == list(range(1, 2 + ROUNDS)), wid
            assert [e.event for e in history[1:]] == EVENTS, wid
            checkpoints = await reader.list_all_checkpoints(wid)
            assert [c.id for c in checkpoints] == saved[wid], wid
            assert [c.label for c in checkpoints] == EVENTS, wid
            _, payload = await reader.load_checkpoint(wid, saved[wid][-1])
            assert payload == f"{wid}:{ROUNDS - 1}".encode(), wid
        kvs = {kv.key.decode(): kv for kv in await reader.range_all("fo/")}
        assert set(kvs) == set(puts)
        for key, revision in puts.items():
            assert (kvs[key].version, kvs[key].mod_revision) == (1, revision), key
        assert await reader.count_workflows(definition="pingpong") == WORKFLOWS
