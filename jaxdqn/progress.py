"""The console between chunks: a live progress line (rich) and notes printed above it.

learning ━━━━━━━╸━━━━━━  60,000/100,000 frames  1,234 SPS  0:00:49  ETA 0:00:32  score 21.5 9.0
"""

from __future__ import annotations

import numpy as np


def latest_scores(scores: list[list[float]], last: int = 10) -> str:
    """`score 21.5 9.0`: per seed, the mean of its last `last` games (`-` before its first)."""
    means = [f"{np.mean(s[-last:]):.1f}" if s else "-" for s in scores]
    return "score " + " ".join(means)


def eval_note(frames: int, scores) -> str:
    """The line printed after an evaluation: `scores` [seeds, games]."""
    means = " ".join(f"{np.mean(x):.1f}" for x in scores)
    return f"eval at {frames:,} frames: mean score per seed {means}"


class Progress:
    """A progress bar of frames with the agent steps per second of the latest chunk (all seeds)
    and each seed's latest scores; `note` prints a line above it. Disabled (`enabled=False`,
    for logs and tests), it shows nothing and notes are plain prints, as they are before
    `start` and after `stop`."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None
        self._task = None
        self._last_steps = 0
        self._total_frames = 0

    def start(self, total_frames: int, steps: int = 0, frames: int = 0) -> None:
        """Shows the bar, `frames` of `total_frames` done already (`steps` agent steps: a
        resumed run)."""
        self._last_steps, self._total_frames = steps, total_frames
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} frames"),
            TextColumn("{task.fields[sps]} SPS"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[scores]}"),
            refresh_per_second=2,
        )
        self._bar.start()
        self._task = self._bar.add_task(
            "warm-up", total=total_frames, sps="-", scores="score -", completed=frames
        )

    def update(
        self, *, steps: int, frames: int, elapsed: float, phase: str, scores: list[list[float]]
    ) -> None:
        """After a chunk that ended at `steps` agent steps per seed and took `elapsed` seconds;
        `scores` every game finished so far, per seed."""
        chunk_steps, self._last_steps = steps - self._last_steps, steps
        if self._bar is None:
            return
        sps = chunk_steps * len(scores) / elapsed if elapsed > 0 else 0.0
        self._bar.update(
            self._task,
            completed=min(frames, self._total_frames),
            description="warm-up" if phase == "warmup" else "learning",
            sps=f"{sps:,.0f}",
            scores=latest_scores(scores),
        )

    def note(self, message: str) -> None:
        """Prints `message` above the bar (or as a line, with no bar)."""
        if self._bar is not None:
            self._bar.console.print(message)
        else:
            print(message, flush=True)

    def stop(self) -> None:
        """Removes the bar from the screen's live area; again is a no-op."""
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.stop()
