"""The adaptive checkpoint policy: time, progress and event criteria with an injected clock,
and maybe_save against a recording fake client."""

from __future__ import annotations

import json
from typing import Any

import pytest

import cairn
from cairn.checkpoint_policy import CheckpointPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.saved: list[tuple[str, bytes | str, dict[str, Any]]] = []
        self.fail = fail

    async def save_checkpoint(self, workflow_id: str, payload: bytes | str, **kw: Any) -> str:
        if self.fail is not None:
            raise self.fail
        self.saved.append((workflow_id, payload, kw))
        return f"cp-{len(self.saved)}"


def test_time_criterion() -> None:
    clock = Clock()
    p = CheckpointPolicy(every=30.0, clock=clock)
    assert not p.should_checkpoint()
    clock.now += 29.9
    assert not p.should_checkpoint()
    assert p.seconds_until_due() == pytest.approx(0.1)
    clock.now += 0.1
    assert p.reason() == "time"
    p.mark_saved()
    assert not p.should_checkpoint()
    clock.now += 30
    assert p.should_checkpoint()


def test_progress_criterion_counts_from_last_save() -> None:
    clock = Clock()
    p = CheckpointPolicy(progress_step=0.1, clock=clock)
    assert not p.should_checkpoint(progress=0.05)
    assert p.reason(progress=0.1) == "progress"
    p.mark_saved(progress=0.1)
    assert not p.should_checkpoint(progress=0.15)
    # Floating point: 0.1 + 0.1 + 0.1 is still a full step past 0.2.
    p.mark_saved(progress=0.1 + 0.1)
    assert p.should_checkpoint(progress=0.1 + 0.1 + 0.1)
    # Progress going back (a rollback) is due at once.
    assert p.should_checkpoint(progress=0.05)
    # No progress given: the criterion does not fire; time is off.
    clock.now += 1e6
    assert not p.should_checkpoint()


def test_event_criterion_and_whichever_first() -> None:
    clock = Clock()
    p = CheckpointPolicy(every=30.0, progress_step=0.25, events={"phase_done"}, clock=clock)
    assert p.reason(event="phase_done") == "event:phase_done"
    assert not p.should_checkpoint(event="other", progress=0.2)
    assert p.reason(event="other", progress=0.3) == "progress"
    clock.now += 31
    assert p.reason(progress=0.0) == "time"
    assert CheckpointPolicy(events="one", clock=clock).events == frozenset({"one"})


def test_invalid_settings() -> None:
    with pytest.raises(cairn.InvalidArgument):
        CheckpointPolicy(every=0)
    with pytest.raises(cairn.InvalidArgument):
        CheckpointPolicy(progress_step=1.5)
    with pytest.raises(ValueError):
        CheckpointPolicy(progress_step=0)


async def test_maybe_save_saves_only_when_due() -> None:
    clock = Clock()
    p = CheckpointPolicy(every=10.0, progress_step=0.5, events={"phase_done"}, clock=clock)
    fake = FakeClient()
    client: Any = fake
    assert await p.maybe_save(client, "wf", b"x", progress=0.1) is None
    assert await p.maybe_save(client, "wf", {"step": 1}, progress=0.2, event="phase_done") == "cp-1"
    wf, payload, kw = fake.saved[0]
    assert wf == "wf" and json.loads(payload) == {"step": 1}
    assert kw["label"] == "event:phase_done"
    assert kw["metadata"] == {"reason": "event:phase_done", "progress": 0.2}
    assert p.saves == 1
    # Progress counts from 0.2 now.
    assert await p.maybe_save(client, "wf", "s", progress=0.6) is None
    assert await p.maybe_save(client, "wf", "s", progress=0.7, label="mine") == "cp-2"
    assert fake.saved[1][2]["label"] == "mine"
    clock.now += 10
    assert await p.maybe_save(client, "wf", b"t", metadata={"reason": "kept"}) == "cp-3"
    assert fake.saved[2][2]["metadata"] == {"reason": "kept"}
    assert await p.maybe_save(client, "wf", b"f", force=True, kind="manual") == "cp-4"
    assert fake.saved[3][2]["kind"] == "manual" and fake.saved[3][2]["label"] == "forced"


async def test_failed_save_is_not_marked() -> None:
    clock = Clock()
    p = CheckpointPolicy(every=1.0, clock=clock)
    clock.now += 2
    client: Any = FakeClient(fail=cairn.Unavailable("down"))
    with pytest.raises(cairn.Unavailable):
        await p.maybe_save(client, "wf", b"x")
    assert p.saves == 0 and p.should_checkpoint()
