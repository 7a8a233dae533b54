"""examples/orchestrator.py runs to completion against a real cluster (its endpoints passed
on the command line) and leaves the expected final state behind."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import cairn

from .cluster import Cluster

PKG = Path(__file__).resolve().parents[1]
EXAMPLE = PKG / "examples" / "orchestrator.py"


async def test_orchestrator_example_finishes(cluster: Cluster, client: cairn.Client) -> None:
    env = dict(os.environ)
    env.pop("CAIRN_ENDPOINTS", None)
    # The package under test, as the tests import it.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PKG), env.get("PYTHONPATH")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        ",".join(cluster.endpoints()),
        "--workflows",
        "3",
        "--workers",
        "4",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=PKG,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    print(text)  # shown when the test fails
    assert proc.returncode == 0, text
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, text
    result = json.loads(lines[0].removeprefix("RESULT "))
    run = result["run"]
    wf_ids = sorted(result["workflows"])
    assert wf_ids == [f"{run}-wf{n}" for n in range(3)]
    assert set(result["workflows"].values()) == {"DONE"}
    assert result["tasks_completed"] == {w: 4 for w in wf_ids}
    assert result["leaders"] == ["orchestrator-1", "orchestrator-2"]
    assert result["stale_fence_refused"] is True
    assert result["watched_completions"] == 12
    assert "finish refused while PAUSED" in text, text

    # What the cluster holds, read independently of the example.
    for wid in wf_ids:
        details = await client.get_workflow(wid, include_tasks=True)
        assert details is not None
        assert details.workflow.status == "DONE"
        assert details.workflow.definition == "example-pipeline"
        assert details.progress.completed == details.progress.total == 4
        assert {t.id: t.status for t in details.tasks} == {
            t: cairn.TaskStatus.COMPLETED for t in "abcd"
        }
        cps = await client.list_all_checkpoints(wid)
        # At least the end of the extract phase, the end of the load phase and the final one.
        assert len(cps) == result["checkpoints"][wid] >= 3
        labels = [c.label for c in cps]
        assert labels[-1] == "final" and "event:phase_done" in labels
        events = [e.event for e in await client.history_all(wid)]
        assert events[-1] == "finish"
        if wid == wf_ids[0]:
            assert "pause" in events and "resume" in events
    summary = await client.get(f"{run}/summary")
    assert summary is not None and json.loads(summary.value) == {"leader": "orchestrator-2"}
