"""A small orchestrator on a running cluster (``cairn up`` starts one locally): the Python
counterpart of ``client/examples/orchestrator.rs``, with the helpers the Python client adds.

Two orchestrators campaign in an election; the leader registers a workflow definition,
creates a few workflows with tasks (a -> b, c -> d: b and c wait for a; d waits for both),
starts them (pausing one on the way, to show the typed error an illegal transition gets),
and runs workers that take the ready tasks, all with writes fenced by its term. Each workflow
checkpoints through an adaptive policy (every few seconds, every 50% of progress, or at the
end of a phase, whichever comes first), and a watch reports the progress as the cluster
records it. When every task is done the leader finishes the workflows and resigns; the other
orchestrator is elected, finds the work done, and sees its predecessor's fence refused.

Usage::

    python examples/orchestrator.py [host:port,...] [--workflows N] [--workers N]

Endpoints come from the first argument, else ``$CAIRN_ENDPOINTS``, else what ``cairn up``
serves (127.0.0.1:7001-7003). The last line printed is ``RESULT {json}`` with the final state;
the exit status is 0 when every workflow finished with every task completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import cairn

#: What ``cairn up`` serves on.
DEFAULT_ENDPOINTS = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
ACTOR = "orchestrator-example"

DEFINITION = cairn.Definition(
    name="example-pipeline",
    states=["QUEUED", "RUNNING", "PAUSED", "DONE", "FAILED"],
    initial="QUEUED",
    terminal=["DONE", "FAILED"],
    transitions=[
        cairn.Transition("QUEUED", "RUNNING", "start"),
        cairn.Transition("RUNNING", "PAUSED", "pause"),
        cairn.Transition("PAUSED", "RUNNING", "resume"),
        cairn.Transition("RUNNING", "DONE", "finish"),
        cairn.Transition("RUNNING", "FAILED", "fail"),
    ],
)

#: (id, name, kind, dependencies); "a" and "d" end a phase (extract, load).
TASKS = [
    ("a", "extract", "io", []),
    ("b", "transform-left", "cpu", ["a"]),
    ("c", "transform-right", "cpu", ["a"]),
    ("d", "load", "io", ["b", "c"]),
]
PHASE_ENDS = {"a", "d"}


@dataclass
class Run:
    """What the orchestrators of one run share (in a real deployment: the cluster itself)."""

    id: str
    endpoints: list[str]
    workflows: int
    workers: int
    wf_ids: list[str] = field(default_factory=list)
    leaders: list[str] = field(default_factory=list)
    #: The fence of the orchestrator that did the work, once it resigned.
    retired_fence: cairn.Fence | None = None
    stale_fence_refused: bool = False
    checkpoints: dict[str, int] = field(default_factory=dict)
    watched_completions: int = 0


def log(msg: str) -> None:
    print(msg, flush=True)


async def orchestrator(run: Run, index: int) -> None:
    """One orchestrator process: campaign, and do whatever is left while leading."""
    me = f"orchestrator-{index}"
    async with cairn.Client(run.endpoints) as client:
        election = f"{run.id}/orchestrator"
        async with await client.campaign(election, me.encode(), ttl=5.0, candidate=me) as lead:
            log(f"{me}: elected (term {lead.term})")
            run.leaders.append(me)
            if not run.wf_ids:
                await do_the_work(client, run, lead)
                run.retired_fence = lead.fence
            else:
                await check_the_work(client, run, lead, me)
        log(f"{me}: resigned")


async def do_the_work(client: cairn.Client, run: Run, lead: cairn.Leadership) -> None:
    fence = lead.fence
    reg = await client.register_definition(DEFINITION)
    log(f"definition {reg.name} v{reg.version} ({'new' if reg.created else 'unchanged'})")

    versions: dict[str, int] = {}
    for n in range(run.workflows):
        wid = f"{run.id}-wf{n}"
        created = await client.create_workflow(
            wid,
            definition=DEFINITION.name,
            metadata={"pipeline": "etl", "source": f"s3://bucket/day-{n}"},
            labels={"run": run.id},
            owner_id=ACTOR,
            total_tasks=len(TASKS),
            actor=ACTOR,
            fence=fence,
        )
        await client.upsert_tasks(
            wid,
            [
                cairn.TaskSpec(tid, name=name, kind=kind, dependencies=deps, input={"attempt": 1})
                for tid, name, kind, deps in TASKS
            ],
            fence=fence,
        )
        run.wf_ids.append(wid)
        versions[wid] = created.workflow.version
        log(f"created {wid} ({created.workflow.status}, version {created.workflow.version})")

    total = len(run.wf_ids) * len(TASKS)
    selectors = [cairn.TaskSelector(w) for w in run.wf_ids]
    async with client.watch(*selectors) as stream:
        watcher = asyncio.create_task(watch_progress(run, stream, total))
        for wid in run.wf_ids:
            wf = await client.transition(
                wid,
                event="start",
                expected_version=versions[wid],
                actor=ACTOR,
                reason="tasks ready",
                fence=fence,
            )
            log(f"started {wid}: {wf.status} (version {wf.version})")

        # Pause one workflow; finishing it while paused is not a legal edge.
        first = run.wf_ids[0]
        paused = await client.transition(first, event="pause", actor=ACTOR, fence=fence)
        log(f"paused {first}: {paused.status} (version {paused.version})")
        try:
            await client.transition(first, event="finish", actor=ACTOR, fence=fence)
            raise RuntimeError("finishing a paused workflow was accepted")
        except cairn.IllegalTransition as e:
            log(f"  finish refused while {e.current}; legal targets: {e.allowed}")
        resumed = await client.transition(first, event="resume", actor=ACTOR, fence=fence)
        log(f"resumed {first}: {resumed.status} (version {resumed.version})")

        policies = {
            w: cairn.CheckpointPolicy(every=2.0, progress_step=0.5, events={"phase_done"})
            for w in run.wf_ids
        }
        done: dict[str, set[str]] = {w: set() for w in run.wf_ids}
        await asyncio.gather(
            *(worker(client, run, lead, f"worker-{i}", policies, done) for i in range(run.workers))
        )
        await asyncio.wait_for(watcher, timeout=30)

    for wid in run.wf_ids:
        wf = await client.transition(
            wid, event="finish", actor=ACTOR, reason="all tasks completed", fence=fence
        )
        saved = await policies[wid].maybe_save(
            client, wid, {"completed": sorted(done[wid]), "status": wf.status},
            progress=1.0, force=True, label="final", fence=fence,
        )  # fmt: skip
        details = await client.get_workflow(wid)
        assert details is not None and saved is not None
        p = details.progress
        rate = "n/a" if p.success_rate is None else f"{p.success_rate:.0%}"
        run.checkpoints[wid] = len(await client.list_all_checkpoints(wid))
        log(
            f"finished {wid}: {wf.status} (version {wf.version}); {p.completed}/{p.total} "
            f"completed, success rate {rate}, {run.checkpoints[wid]} checkpoints"
        )
    print_history(await client.history_all(run.wf_ids[0]))


async def worker(
    client: cairn.Client,
    run: Run,
    lead: cairn.Leadership,
    me: str,
    policies: dict[str, cairn.CheckpointPolicy],
    done: dict[str, set[str]],
) -> None:
    """Takes ready tasks (claiming one is a versioned write, so two workers never run the same
    task), runs them, completes them, and checkpoints when the policy says so."""
    fence = lead.fence
    while sum(len(d) for d in done.values()) < len(run.wf_ids) * len(TASKS):
        if not lead.is_leader():
            raise RuntimeError(f"{me}: leadership lost; stopping")
        took = False
        for wid in run.wf_ids:
            for task in await client.ready_tasks(wid):
                try:
                    await client.upsert_tasks(
                        wid,
                        [
                            cairn.TaskSpec(
                                task.id,
                                status=cairn.TaskStatus.RUNNING,
                                agent_id=me,
                                expected_version=task.version,
                            )
                        ],
                        fence=fence,
                    )
                except (cairn.VersionConflict, cairn.IllegalTransition):
                    continue  # another worker took it
                took = True
                await asyncio.sleep(0.01)  # the work
                await client.upsert_tasks(
                    wid,
                    [
                        cairn.TaskSpec(
                            task.id,
                            status=cairn.TaskStatus.COMPLETED,
                            output={"rows": 100 * (len(task.id) + len(task.name)), "by": me},
                        )
                    ],
                    fence=fence,
                )
                done[wid].add(task.id)
                progress = len(done[wid]) / len(TASKS)
                log(f"  {me}: {wid}/{task.id} ({task.name}) completed")
                saved = await policies[wid].maybe_save(
                    client,
                    wid,
                    {"completed": sorted(done[wid]), "progress": progress},
                    progress=progress,
                    event="phase_done" if task.id in PHASE_ENDS else None,
                    fence=fence,
                )
                if saved is not None:
                    log(f"  checkpoint {saved.id} of {wid} at {progress:.0%}")
        if not took:
            await asyncio.sleep(0.02)


async def watch_progress(run: Run, stream: cairn.WatchStream, total: int) -> None:
    """Counts task completions as the cluster records them, until all are in."""
    completed: set[tuple[str, str]] = set()
    async for item in stream:
        if isinstance(item, cairn.WatchEvents):
            for ev in item.events:
                change = ev.change
                if (
                    isinstance(change, cairn.TaskChanged)
                    and change.task.status is cairn.TaskStatus.COMPLETED
                ):
                    completed.add((change.task.workflow_id, change.task.id))
                    log(f"  watch: {len(completed)}/{total} tasks completed (rev {ev.revision})")
        elif isinstance(item, cairn.WatchReset):
            completed = {
                (o.workflow_id, o.id)
                for o in item.objects
                if isinstance(o, cairn.Task) and o.status is cairn.TaskStatus.COMPLETED
            }
        run.watched_completions = len(completed)
        if len(completed) >= total:
            return


async def check_the_work(client: cairn.Client, run: Run, lead: cairn.Leadership, me: str) -> None:
    """A later leader: the work is done, and the old leader's fence no longer writes."""
    for wid in run.wf_ids:
        details = await client.get_workflow(wid)
        assert details is not None
        log(f"{me}: {wid} is {details.workflow.status}")
    assert run.retired_fence is not None
    try:
        await client.put(f"{run.id}/summary", b"from the old leader", fence=run.retired_fence)
        log(f"{me}: the old leader's fence was accepted!")
    except cairn.StaleFence as e:
        run.stale_fence_refused = True
        log(f"{me}: old term {run.retired_fence.token} refused (current term {e.current})")
    await client.put(f"{run.id}/summary", json.dumps({"leader": me}), fence=lead.fence)


def print_history(events: list[cairn.HistoryEvent]) -> None:
    log("")
    log(f"{'ver':>3}  {'revision':>8}  {'kind':<10}  {'from':<8}  {'to':<8}  {'event':<7}  reason")
    for e in events:
        log(
            f"{e.version:>3}  {e.revision:>8}  {e.kind.value:<10}  {e.from_ or '-':<8}  {e.to:<8}  "
            f"{e.event or '-':<7}  {e.reason}"
        )


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("endpoints", nargs="?", default=None)
    ap.add_argument("--workflows", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)
    endpoints = args.endpoints or os.environ.get("CAIRN_ENDPOINTS") or DEFAULT_ENDPOINTS
    run = Run(
        id=f"example-{int(time.time() * 1000)}-{uuid.uuid4().hex[:6]}",
        endpoints=[e.strip() for e in endpoints.split(",") if e.strip()],
        workflows=args.workflows,
        workers=args.workers,
    )
    log(f"run {run.id} on {','.join(run.endpoints)}")
    # The first orchestrator leads; the second waits in line until it resigns.
    first = asyncio.create_task(orchestrator(run, 1))
    while not run.leaders and not first.done():
        await asyncio.sleep(0.01)
    await asyncio.gather(first, orchestrator(run, 2))

    statuses: dict[str, str] = {}
    tasks_completed: dict[str, int] = {}
    async with cairn.Client(run.endpoints) as client:
        for wid in run.wf_ids:
            details = await client.get_workflow(wid, include_tasks=True)
            assert details is not None
            statuses[wid] = details.workflow.status
            tasks_completed[wid] = sum(
                t.status is cairn.TaskStatus.COMPLETED for t in details.tasks
            )
    result: dict[str, Any] = {
        "run": run.id,
        "workflows": statuses,
        "tasks_completed": tasks_completed,
        "checkpoints": run.checkpoints,
        "leaders": run.leaders,
        "stale_fence_refused": run.stale_fence_refused,
        "watched_completions": run.watched_completions,
    }
    ok = (
        len(statuses) == run.workflows
        and all(s == "DONE" for s in statuses.values())
        and all(n == len(TASKS) for n in tasks_completed.values())
        and run.stale_fence_refused
    )
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
