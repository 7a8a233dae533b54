"""Task claims under leases and workflow ownership against a real 3-node cluster: concurrent
workers each claim distinct tasks and every task completes exactly once; a worker killed with
SIGKILL loses its run when its lease ends (retried under the task's policy, its late finish
refused with StaleClaim); a failed run backs off before it can be claimed again; an
orchestrator's workflows are orphaned when its lease ends, adopted by another, and the old
owner's fenced writes are refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import cairn
from cairn import RetryPolicy, TaskSpec, TaskStatus

from .cluster import Cluster, _die_with_parent, eventually

#: Short enough that a lost worker's run comes back quickly; renewals every third of it stay
#: on time on a loaded 2-core machine (as in test_cluster_leases).
WORKER_TTL = 2.0


def now_ms() -> int:
    return int(time.time() * 1000)


async def task_of(client: cairn.Client, wid: str, tid: str) -> cairn.Task:
    tasks = {t.id: t for t in await client.list_tasks(wid)}
    return tasks[tid]


# ---- (a) concurrent workers ----

WORKFLOWS = 20
TASKS_PER_WORKFLOW = 5
WORKERS = 8


async def test_concurrent_workers_complete_every_task_exactly_once(
    cluster: Cluster, client: cairn.Client, name: str
) -> None:
    ns = f"{name}-ns"
    wids = [f"{name}-wf{i:02d}" for i in range(WORKFLOWS)]
    for wid in wids:
        created = await client.create_workflow(wid, namespace=ns)
        await client.transition(wid, event="start", expected_version=created.workflow.version)
        # t4 waits for the other four: it becomes claimable only once they completed.
        await client.upsert_tasks(
            wid,
            [TaskSpec(f"t{j}", kind="work", input={"n": j}) for j in range(4)]
            + [TaskSpec("t4", kind="join", dependencies=["t0", "t1", "t2", "t3"])],
        )
    total = WORKFLOWS * TASKS_PER_WORKFLOW
    # (worker, workflow, task, claim token, lease) of every claim any worker got.
    claims: list[tuple[int, str, str, int, int]] = []
    finished: list[cairn.TaskRef] = []
    progress = asyncio.Condition()

    async def worker(n: int) -> None:
        async with cairn.Client(cluster.endpoints()) as c:
            lease = await c.grant_lease(10.0)
            async with c.keep_alive(lease) as ka:
                while len(finished) < total:
                    got = await c.claim_task(f"worker-{n}", lease.id, namespace=ns)
                    if got.task is None:
                        assert got.next_ready_ms is None  # nothing backs off here
                        # Nothing ready now: wait for another worker's progress (bounded, so a
                        # lost notification cannot hang the test).
                        async with progress:
                            try:
                                await asyncio.wait_for(progress.wait(), 0.5)
                            except asyncio.TimeoutError:
                                pass
                        continue
                    t = got.task
                    assert t.status is TaskStatus.RUNNING and t.agent_id == f"worker-{n}"
                    assert t.lease_id == lease.id and t.claim > 0 and t.attempts == 1
                    claims.append((n, t.workflow_id, t.id, t.claim, lease.id))
                    ref = await c.finish_task(
                        t.workflow_id, t.id, t.claim, output={"by": n, "claim": t.claim}
                    )
                    assert ref.status is TaskStatus.COMPLETED and ref.id == t.id
                    finished.append(ref)
                    async with progress:
                        progress.notify_all()
                assert not ka.is_lost()
            await c.revoke_lease(lease.id)

    await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(WORKERS))), 120)

    # Every task was claimed exactly once, and no claim token went to two workers.
    per_task = Counter((wid, tid) for _, wid, tid, _, _ in claims)
    assert len(per_task) == total and set(per_task.values()) == {1}
    tokens = Counter(claim for _, _, _, claim, _ in claims)
    assert len(tokens) == total and set(tokens.values()) == {1}
    assert len(finished) == total
    # The work was shared (8 workers, 100 tasks: no single worker took everything).
    assert len({n for n, *_ in claims}) > 1
    by_claim = {(wid, tid): (n, claim, lease) for n, wid, tid, claim, lease in claims}
    for wid in wids:
        tasks = {t.id: t for t in await client.list_tasks(wid)}
        assert len(tasks) == TASKS_PER_WORKFLOW
        for t in tasks.values():
            n, claim, _lease = by_claim[(wid, t.id)]
            assert t.status is TaskStatus.COMPLETED and t.attempts == 1
            assert (t.claim, t.agent_id, t.lease_id) == (claim, f"worker-{n}", 0)
            assert t.output == {"by": n, "claim": claim}
        # The join was claimed after every dependency's completion was applied.
        assert tasks["t4"].claim > max(tasks[f"t{j}"].mod_revision for j in range(4))
        got = await client.get_workflow(wid)
        assert got is not None and got.progress.completed == TASKS_PER_WORKFLOW
    # Nothing is left to claim.
    lease = await client.grant_lease(5.0)
    try:
        assert (await client.claim_task("late", lease.id, namespace=ns)).task is None
    finally:
        await client.revoke_lease(lease.id)


# ---- (b) a worker killed with SIGKILL ----

WORKER_SCRIPT = """
import asyncio, json, sys
import cairn

async def main() -> None:
    endpoints, namespace, workflow_id, ttl = sys.argv[1:5]
    async with cairn.Client(endpoints) as client:
        lease = await client.grant_lease(float(ttl))
        ka = client.keep_alive(lease)
        got = await client.claim_task(
            "doomed", lease.id, namespace=namespace, workflow_id=workflow_id
        )
        assert got.task is not None, got
        print(json.dumps({"lease": lease.id, "task": got.task.id, "claim": got.task.claim}),
              flush=True)
        await asyncio.Event().wait()  # keeps the lease alive until killed
        ka.stop()

asyncio.run(main())
"""


async def test_a_killed_workers_run_is_retried_and_its_claim_refused(
    cluster: Cluster, client: cairn.Client, name: str, tmp_path: Path
) -> None:
    ns, wid = f"{name}-ns", f"{name}-wf"
    await client.create_workflow(wid, namespace=ns)
    await client.upsert_tasks(
        wid, [TaskSpec("job", kind="work", retry=RetryPolicy(max_attempts=2, backoff_ms=0))]
    )
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    stderr_path = tmp_path / "worker.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *_die_with_parent(),
            sys.executable,
            str(script),
            ",".join(cluster.endpoints()),
            ns,
            wid,
            str(WORKER_TTL),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, f"the worker died before claiming: {stderr_path.read_text()}"
        info = json.loads(line)
        dead_lease, dead_claim = int(info["lease"]), int(info["claim"])
        assert info["task"] == "job"

        running = await task_of(client, wid, "job")
        assert running.status is TaskStatus.RUNNING and running.agent_id == "doomed"
        assert (running.lease_id, running.claim, running.attempts) == (dead_lease, dead_claim, 1)
        details = await client.lease_time_to_live(dead_lease)
        assert details is not None
        assert cairn.LeaseAttachment(task=f"{wid}/job") in details.attached

        loop = asyncio.get_running_loop()
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 30)
        killed_at = loop.time()
        assert proc.returncode == -signal.SIGKILL

        # Renewals stopped: within about one TTL the lease ends and the run is lost; the
        # policy allows a second attempt, so the task is PENDING again ("worker lost").
        async def back_to_pending() -> cairn.Task | None:
            t = await task_of(client, wid, "job")
            return t if t.status is TaskStatus.PENDING else None

        pending = await eventually(
            "the lost run to return to PENDING", back_to_pending, timeout=WORKER_TTL + 8
        )
        assert pending.error == "worker lost" and pending.lease_id == 0
        assert pending.attempts == 1 and pending.finished_ms is None
        assert await client.lease_time_to_live(dead_lease) is None

        # Another worker claims it and completes it, within TTL + a few seconds of the kill.
        async with cairn.Client(cluster.endpoints()) as other:
            lease = await other.grant_lease(10.0)
            async with other.keep_alive(lease):

                async def claimed() -> cairn.Task | None:
                    return (await other.claim_task("rescuer", lease.id, namespace=ns)).task

                t = await eventually("the retried task to be claimed", claimed, timeout=10)
                assert (t.id, t.agent_id, t.attempts, t.lease_id) == (
                    "job",
                    "rescuer",
                    2,
                    lease.id,
                )
                assert t.claim > dead_claim
                ref = await other.finish_task(wid, "job", t.claim, output={"rescued": True})
                assert ref.status is TaskStatus.COMPLETED and ref.attempts == 2
            await other.revoke_lease(lease.id)
        assert loop.time() - killed_at < WORKER_TTL + 8

        # The dead worker's claim no longer finishes anything.
        with pytest.raises(cairn.StaleClaim) as info_err:
            await client.finish_task(wid, "job", dead_claim, output={"late": True})
        assert info_err.value.kind == "stale_claim"
        done = await task_of(client, wid, "job")
        assert done.status is TaskStatus.COMPLETED and done.output == {"rescued": True}
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


# ---- (c) orchestrator ownership ----


async def test_orphaned_workflows_are_adopted_and_the_old_owner_fenced_out(
    cluster: Cluster, client: cairn.Client, name: str
) -> None:
    ns, wid = f"{name}-ns", f"{name}-wf"
    created = await client.create_workflow(wid, namespace=ns)
    await client.transition(wid, event="start", expected_version=created.workflow.version)

    # A adopts it under its lease and writes under that ownership.
    lease_a = await client.grant_lease(10.0)
    a = await client.adopt_workflow(wid, "orch-a", lease_a.id, reason="starting up")
    assert a.previous_owner == "" and a.epoch > 0 and a.workflow.status == "RUNNING"
    assert a.fence == cairn.Fence.for_owner(wid, a.epoch)
    # Adopting again under the same lease is a no-op answering the same epoch.
    again = await client.adopt_workflow(wid, "orch-a", lease_a.id)
    assert again.epoch == a.epoch and again.workflow.version == a.workflow.version
    got = await client.get_workflow(wid)
    assert got is not None
    w = got.workflow
    assert (w.owner_id, w.owner_lease, w.owner_epoch, w.orphaned_ms) == (
        "orch-a",
        lease_a.id,
        a.epoch,
        None,
    )
    details = await client.lease_time_to_live(lease_a.id)
    assert details is not None and cairn.LeaseAttachment(workflow=wid) in details.attached
    await client.update_workflow(wid, metadata_patch={"step": 1}, fence=a.fence)
    assert await client.orphaned_workflows(ns) == []

    # A's lease ends: the workflow is orphaned, not changed otherwise.
    await client.revoke_lease(lease_a.id)
    page = await client.list_workflows(namespace=ns, orphaned_only=True)
    assert [x.id for x in page.workflows] == [wid]
    orphan = page.workflows[0]
    assert orphan.owner_lease == 0 and orphan.orphaned_ms is not None
    assert orphan.owner_id == "orch-a" and orphan.status == "RUNNING"
    assert orphan.metadata == {"step": 1}
    assert [x.id for x in await client.orphaned_workflows(ns)] == [wid]
    history = await client.history_all(wid)
    assert history[-1].kind is cairn.HistoryKind.ORPHANED
    # An orphan has no current epoch: A's fence is refused, nothing written.
    with pytest.raises(cairn.StaleFence) as stale:
        await client.update_workflow(wid, metadata_patch={"step": 2}, fence=a.fence)
    assert stale.value.current == 0

    # B adopts it: it learns who owned it before, and gets a newer epoch.
    async with cairn.Client(cluster.endpoints()) as b_client:
        lease_b = await b_client.grant_lease(10.0)
        async with b_client.keep_alive(lease_b):
            b = await b_client.adopt_workflow(wid, "orch-b", lease_b.id)
            assert b.previous_owner == "orch-a" and b.epoch > a.epoch
            assert await client.orphaned_workflows(ns) == []
            adopted = (await client.history_all(wid))[-1]
            assert adopted.kind is cairn.HistoryKind.ADOPTED and adopted.actor == "orch-b"
            assert adopted.reason == "adopted from orch-a"

            before = await client.get_workflow(wid)
            assert before is not None
            # A's late transition carries its old epoch: refused, nothing changed.
            with pytest.raises(cairn.StaleFence) as stale:
                await client.transition(wid, event="pause", fence=a.fence)
            assert stale.value.current == b.epoch and stale.value.kind == "stale_fence"
            after = await client.get_workflow(wid)
            assert after is not None and after.workflow == before.workflow

            # B's own fenced transition goes through.
            paused = await b_client.transition(wid, event="pause", fence=b.fence)
            assert paused.status == "PAUSED" and paused.version == before.workflow.version + 1

            # A third orchestrator cannot take it while B's lease lives.
            lease_c = await client.grant_lease(10.0)
            try:
                with pytest.raises(cairn.Owned) as owned:
                    await client.adopt_workflow(wid, "orch-c", lease_c.id)
                assert owned.value.kind == "owned"
            finally:
                await client.revoke_lease(lease_c.id)
            still = await client.get_workflow(wid)
            assert still is not None
            w = still.workflow
            assert (w.owner_id, w.owner_lease, w.owner_epoch, w.version) == (
                "orch-b",
                lease_b.id,
                b.epoch,
                paused.version,
            )
            # Adopting under a lease that is gone is refused as such.
            with pytest.raises(cairn.LeaseNotFound):
                await client.adopt_workflow(wid, "orch-a", lease_a.id)
        await b_client.revoke_lease(lease_b.id)


# ---- (d) a failed run backs off ----


async def test_a_failed_run_backs_off_then_fails_for_good(client: cairn.Client, name: str) -> None:
    ns, wid = f"{name}-ns", f"{name}-wf"
    await client.create_workflow(wid, namespace=ns)
    backoff_ms = 1_500
    await client.upsert_tasks(
        wid, [TaskSpec("flaky", retry=RetryPolicy(max_attempts=3, backoff_ms=backoff_ms))]
    )
    lease = await client.grant_lease(30.0)
    try:
        first = await client.claim_task("w1", lease.id, namespace=ns, workflow_id=wid)
        assert first.task is not None and first.task.retry == RetryPolicy(3, backoff_ms)
        ref = await client.finish_task(wid, "flaky", first.task.claim, error={"why": "flaky"})
        assert (ref.status, ref.attempts) == (TaskStatus.PENDING, 1)

        t = await task_of(client, wid, "flaky")
        assert t.status is TaskStatus.PENDING and t.error == {"why": "flaky"}
        assert t.lease_id == 0 and t.finished_ms is None
        # backoff_ms * 2**(attempts - 1) after the failure was applied.
        assert t.ready_ms == t.updated_ms + backoff_ms
        assert t.ready_ms > now_ms() - 100  # in the future (up to clock granularity)

        # Before its backoff it cannot be claimed; the answer says when it can.
        early = await client.claim_task("w2", lease.id, namespace=ns, workflow_id=wid)
        assert (early.task, early.next_ready_ms) == (None, t.ready_ms)
        # The namespace-wide claim says the same.
        assert (await client.claim_task("w2", lease.id, namespace=ns)).next_ready_ms == t.ready_ms
        # The failed run's claim is spent.
        with pytest.raises(cairn.StaleClaim):
            await client.finish_task(wid, "flaky", first.task.claim, output=1)

        async def claimable() -> cairn.Task | None:
            return (await client.claim_task("w2", lease.id, workflow_id=wid, namespace=ns)).task

        second = await eventually("the backoff to pass", claimable, timeout=backoff_ms / 1000 + 5)
        assert second.attempts == 2 and second.claim > first.task.claim
        ref = await client.finish_task(wid, "flaky", second.claim, error="again")
        assert (ref.status, ref.attempts) == (TaskStatus.PENDING, 2)
        t = await task_of(client, wid, "flaky")
        assert t.ready_ms == t.updated_ms + 2 * backoff_ms  # doubled

        third = await eventually("the second backoff", claimable, timeout=2 * backoff_ms / 1000 + 5)
        assert third.attempts == 3
        ref = await client.finish_task(wid, "flaky", third.claim, error="gave up")
        # The third attempt was the last one: FAILED with its error.
        assert (ref.status, ref.attempts) == (TaskStatus.FAILED, 3)
        t = await task_of(client, wid, "flaky")
        assert t.status is TaskStatus.FAILED and t.error == "gave up" and t.finished_ms
        nothing = await client.claim_task("w3", lease.id, namespace=ns)
        assert (nothing.task, nothing.next_ready_ms) == (None, None)
    finally:
        await client.revoke_lease(lease.id)


async def test_claims_refuse_a_gone_lease_and_a_wrong_namespace(
    client: cairn.Client, name: str
) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid, namespace=f"{name}-ns")
    await client.upsert_tasks(wid, [TaskSpec("a", kind="k")])
    lease = await client.grant_lease(5.0)
    await client.revoke_lease(lease.id)
    with pytest.raises(cairn.LeaseNotFound):
        await client.claim_task("w", lease.id, namespace=f"{name}-ns")
    lease = await client.grant_lease(5.0)
    try:
        with pytest.raises(cairn.InvalidArgument) as wrong:
            await client.claim_task("w", lease.id, namespace=f"{name}-other", workflow_id=wid)
        assert wrong.value.kind == "wrong_namespace"
        # Nothing was claimed by the refused calls.
        assert (await task_of(client, wid, "a")).status is TaskStatus.PENDING
        # Only the kinds asked for.
        none = await client.claim_task("w", lease.id, namespace=f"{name}-ns", kinds=["other"])
        assert none.task is None
        got = await client.claim_task("w", lease.id, namespace=f"{name}-ns", kinds=["k", "x"])
        assert got.task is not None and got.task.id == "a"
    finally:
        await client.revoke_lease(lease.id)


async def test_a_claim_taken_away_by_an_upsert_stays_stale(client: cairn.Client, name: str) -> None:
    wid = f"{name}-wf"
    await client.create_workflow(wid)
    await client.upsert_tasks(wid, [TaskSpec("a")])
    lease = await client.grant_lease(10.0)
    try:
        got = await client.claim_task("first", lease.id, workflow_id=wid)
        assert got.task is not None
        # An orchestrator takes the run away (the documented way: the worker's finish is then
        # refused as stale), and later starts a run of its own by upsert.
        await client.upsert_tasks(wid, [TaskSpec("a", status="PENDING")])
        with pytest.raises(cairn.StaleClaim):
            await client.finish_task(wid, "a", got.task.claim, output="late")
        await client.upsert_tasks(wid, [TaskSpec("a", status="RUNNING", agent_id="second")])
        # The first worker's claim must still be stale: it no longer runs the task.
        with pytest.raises(cairn.StaleClaim):
            await client.finish_task(wid, "a", got.task.claim, output="late")
    finally:
        await client.revoke_lease(lease.id)
