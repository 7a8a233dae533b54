"""An adaptive checkpoint policy: checkpoint every N seconds, every P of progress, or on named
events, whichever comes first (the seeds' ``checkpoint_strategy="adaptive"``).

::

    policy = cairn.CheckpointPolicy(every=30.0, progress_step=0.1, events={"phase_done"})
    for step in steps:
        state = run(step)
        await policy.maybe_save(client, wf_id, state, progress=step.progress, event=step.event)

The policy only decides; it holds no connection. Time comes from ``clock`` (monotonic seconds,
``time.monotonic`` by default), so tests can drive it deterministically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidArgument

if TYPE_CHECKING:
    from cairn.checkpoint_types import CheckpointKind, SavedCheckpoint
    from cairn.checkpoints import CheckpointsApi
    from cairn.fence import Fence

__all__ = ["CheckpointPolicy"]

#: Slack for progress comparisons, so 0.1 + 0.2 counts as a step of 0.3.
_EPSILON = 1e-9


class CheckpointPolicy:
    """Decides when a checkpoint is due: ``every`` seconds since the last save, a progress gain
    of ``progress_step`` (a fraction, 0.1 = 10 points) since the last save, or one of
    ``events``; any one suffices. Each criterion is off when None (or empty). The time
    criterion counts from construction until the first :meth:`mark_saved`.

    Not thread-safe; one policy per workflow (and per event loop) is the intended use.
    """

    def __init__(
        self,
        every: float | None = None,
        progress_step: float | None = None,
        events: Iterable[str] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(events, str):
            events = (events,)
        if every is not None and not every > 0:
            raise InvalidArgument("every must be positive (or None)")
        if progress_step is not None and not 0 < progress_step <= 1:
            raise InvalidArgument("progress_step is a fraction in (0, 1] (or None)")
        self.every = every
        self.progress_step = progress_step
        self.events: frozenset[str] = frozenset(events)
        self._clock = clock
        self._last_time = clock()
        self._last_progress: float | None = None
        self.saves = 0

    def reason(self, *, progress: float | None = None, event: str | None = None) -> str | None:
        """Why a checkpoint is due now (``"event:<name>"``, ``"progress"``, ``"time"``), or
        None when it is not."""
        if event is not None and event in self.events:
            return f"event:{event}"
        if self.progress_step is not None and progress is not None:
            base = 0.0 if self._last_progress is None else self._last_progress
            if progress < base:
                # Progress went back (a rollback): a checkpoint of the new line is due.
                return "progress"
            if progress - base + _EPSILON >= self.progress_step:
                return "progress"
        if self.every is not None and self._clock() - self._last_time >= self.every:
            return "time"
        return None

    def should_checkpoint(self, *, progress: float | None = None, event: str | None = None) -> bool:
        """Whether a checkpoint is due now, given the current ``progress`` (0..1) and the
        ``event`` that just happened, if any."""
        return self.reason(progress=progress, event=event) is not None

    def mark_saved(self, *, progress: float | None = None) -> None:
        """Records a checkpoint saved now (at ``progress``, if known): the time and progress
        criteria count from here."""
        self._last_time = self._clock()
        if progress is not None:
            self._last_progress = progress
        self.saves += 1

    def seconds_until_due(self) -> float | None:
        """How long until the time criterion fires (0 when it is due), None when it is off."""
        if self.every is None:
            return None
        return max(0.0, self.every - (self._clock() - self._last_time))

    async def maybe_save(
        self,
        client: CheckpointsApi,
        workflow_id: str,
        state: bytes | str | Mapping[str, Any],
        *,
        progress: float | None = None,
        event: str | None = None,
        force: bool = False,
        kind: CheckpointKind | str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> SavedCheckpoint | None:
        """Saves ``state`` with ``client.save_checkpoint`` if a checkpoint is due (or
        ``force``), and marks it saved; returns what was saved, or None when none was due.
        ``state`` is bytes, a str (UTF-8) or a JSON-able mapping. The label defaults to the
        reason (``"event:phase_done"``, ``"progress"``, ``"time"``), and the metadata gets
        ``progress`` and ``reason`` added. A failed save raises and is not marked saved."""
        why = self.reason(progress=progress, event=event)
        if why is None:
            if not force:
                return None
            why = "forced"
        if isinstance(state, Mapping):
            payload: bytes | str = json.dumps(dict(state), separators=(",", ":"))
        else:
            payload = state
        meta: dict[str, Any] = dict(metadata or {})
        meta.setdefault("reason", why)
        if progress is not None:
            meta.setdefault("progress", progress)
        extra: dict[str, Any] = {}
        if kind is not None:
            extra["kind"] = kind
        saved = await client.save_checkpoint(
            workflow_id,
            payload,
            label=why if label is None else label,
            metadata=meta,
            fence=fence,
            **extra,
        )
        self.mark_saved(progress=progress)
        return saved

    def __repr__(self) -> str:
        return (
            f"CheckpointPolicy(every={self.every!r}, progress_step={self.progress_step!r}, "
            f"events={sorted(self.events)!r})"
        )
