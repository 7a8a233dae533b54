"""Closed-loop throughput of the Python client, shaped like ``cairn bench`` so the two can run
side by side against one cluster (``scripts/bench-python`` does): ``--clients`` asyncio tasks
on one :class:`cairn.Client`, each doing one operation after another for ``--duration``
seconds after ``--warmup`` unmeasured ones. Prints one JSON line.

Workloads (the same as ``cairn bench``'s of the same name):

- ``transition``: the ``flip`` event of a random workflow among ``--workflows`` of the
  two-state ``bench-flip`` definition in namespace ``bench`` (prepared idempotently, with the
  ids ``cairn bench`` uses);
- ``lock``: acquire + release of a random lock among ``--lock-names`` (a lease per lock,
  granted in the acquire and revoked by the release).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import cairn

FLIP_DEFINITION = "bench-flip"
FLIP = "flip"
NAMESPACE = "bench"


def workflow_id(n: int) -> str:
    return f"bench-wf-{n:08}"


async def prepare_flip(client: cairn.Client, workflows: int, concurrency: int) -> None:
    definition = cairn.Definition(
        name=FLIP_DEFINITION,
        states=["A", "B"],
        initial="A",
        terminal=[],
        transitions=[
            cairn.Transition(from_="A", to="B", event=FLIP),
            cairn.Transition(from_="B", to="A", event=FLIP),
        ],
    )
    await client.register_definition(definition)
    queue = iter(range(workflows))

    async def worker() -> None:
        for n in queue:
            await client.upsert_workflow(
                workflow_id(n), namespace=NAMESPACE, definition=FLIP_DEFINITION
            )

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run(args: argparse.Namespace) -> dict[str, object]:
    client = cairn.Client(args.endpoints)
    prefix = f"bench-lock-py-{random.getrandbits(32):08x}"
    if args.workload == "transition":
        await prepare_flip(client, args.workflows, args.clients)

    async def op(rng: random.Random) -> None:
        if args.workload == "transition":
            n = rng.randrange(args.workflows)
            await client.transition(workflow_id(n), event=FLIP, actor="bench")
        else:
            name = f"{prefix}-{rng.randrange(args.lock_names)}"
            async with client.lock(name, ttl=10.0, wait=10.0):
                pass

    loop = asyncio.get_running_loop()
    start = loop.time() + args.warmup
    end = start + args.duration
    latencies: list[float] = []
    errors = 0

    async def task(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        while (now := loop.time()) < end:
            try:
                await op(rng)
            except cairn.CairnError:
                errors += 1
                continue
            done = loop.time()
            if now >= start:
                latencies.append(done - now)

    await asyncio.gather(*(task(i) for i in range(args.clients)))
    await client.close()
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    return {
        "bench": args.workload,
        "client": "python",
        "clients": args.clients,
        "duration_s": args.duration,
        "ops": len(latencies),
        "errors": errors,
        "ops_per_s": round(len(latencies) / args.duration, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", default="127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
    p.add_argument("--workload", choices=["transition", "lock"], default="transition")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--workflows", type=int, default=10_000)
    p.add_argument("--lock-names", type=int, default=100)
    args = p.parse_args()
    started = time.monotonic()
    result = asyncio.run(run(args))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
