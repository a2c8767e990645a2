"""The console between chunks: a live progress line (rich) and notes printed above it.

warm-up  ━╸━━━━━━━━━━━    60,000/40,000,000 frames  1,234 SPS  0:00:49  ETA ? · learning in 0:01:52
learning ━━━━╸━━━━━━━ 8,000,000/40,000,000 frames  185 SPS  3:10:02  ETA 12:01:40  score 21.5 9.0

The ETA knows the two phases. Warm-up (uniform random play filling the replay) runs an order
of magnitude faster than learning on a CPU, so an ETA extrapolated from warm-up speed would be
wrong by that factor: during warm-up only the time until learning starts is shown, and the total
stays `?` until the learning phase's own speed has been measured.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np


def latest_scores(scores: list[list[float]], last: int = 10) -> str:
    """`score 21.5 9.0`: per seed, the mean of its last `last` games (`-` before its first)."""
    means = [f"{np.mean(s[-last:]):.1f}" if s else "-" for s in scores]
    return "score " + " ".join(means)


def eval_note(frames: int, scores) -> str:
    """The line printed after an evaluation: `scores` [seeds, games]."""
    means = " ".join(f"{np.mean(x):.1f}" for x in scores)
    return f"eval at {frames:,} frames: mean score per seed {means}"


def duration(seconds: float) -> str:
    """`H:MM:SS`, hours unbounded (`39:00:00`, not `1 day, 15:00:00`), rounded to a second."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclasses.dataclass
class PhaseClock:
    """Frames and wall-clock seconds of one phase's chunks, leaving out its first chunk: that
    one includes compiling the phase's function, which can take longer than many chunks."""

    frames: int = 0
    seconds: float = 0.0
    chunks: int = 0

    def add(self, frames: int, seconds: float) -> None:
        self.chunks += 1
        if self.chunks > 1:
            self.frames += frames
            self.seconds += seconds

    def rate(self, min_seconds: float = 0.0) -> float | None:
        """Frames per second, or None until more than `min_seconds` have been timed (a few
        chunks of noise would otherwise set a 10-hour ETA)."""
        if self.seconds <= min_seconds or self.seconds <= 0:
            return None
        return self.frames / self.seconds


def remaining(
    frames: int,
    total_frames: int,
    learning_from: int,
    warmup_rate: float | None,
    learn_rate: float | None,
) -> tuple[float | None, float | None]:
    """Seconds until learning starts and until the run ends; None where not yet known.

    Args:
      frames: frames done per seed.
      total_frames: the run's frames per seed.
      learning_from: the frame (per seed) where warm-up ends and learning starts.
      warmup_rate, learn_rate: each phase's measured frames per second (None: not measured).

    Returns:
      (to_learning, to_end): 0 to learning once it has started; `to_end` adds each phase's
      frames left at that phase's own speed, so it is None until the learning speed is known.
    """
    warmup_left = max(0, learning_from - frames)
    learn_left = max(0, total_frames - max(frames, learning_from))
    if not warmup_left:
        to_learning = 0.0
    else:
        to_learning = None if warmup_rate is None else warmup_left / warmup_rate
    to_end = None
    if to_learning is not None and (learn_left == 0 or learn_rate is not None):
        to_end = to_learning + (learn_left / learn_rate if learn_left else 0.0)
    return to_learning, to_end


def eta_text(to_learning: float | None, to_end: float | None, learning: bool) -> str:
    """The bar's ETA column: `ETA 12:01:40`; `ETA ? · learning in 0:01:52` during warm-up;
    `ETA ? · timing learning` while the learning phase's speed is being measured."""
    if to_end is not None:
        return f"ETA {duration(to_end)}"
    if learning:
        return "ETA ? · timing learning"
    return f"ETA ? · learning in {'?' if to_learning is None else duration(to_learning)}"


class Progress:
    """A progress bar of frames with the agent steps per second of the latest chunk (all seeds),
    a phase-aware ETA and each seed's latest scores; `note` prints a line above it. Disabled
    (`enabled=False`, for logs and tests), it shows nothing and notes are plain prints, as they
    are before `start` and after `stop`.

    The ETA comes from wall-clock time between updates (evaluations, checkpoints and logging
    included, as the run will spend them), per phase; `learning_from` (see `plan`) says where
    the phases meet. `clock` is injectable so the timing can be tested without waiting."""

    def __init__(
        self,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        min_learn_seconds: float = 10.0,
    ):
        self.enabled, self.clock, self.min_learn_seconds = enabled, clock, min_learn_seconds
        self._bar = None
        self._task = None
        self._last_steps = 0
        self._total_frames = 0
        self._learning_from: int | None = None  # unknown until `plan`
        self._last_frames, self._last_time = 0, 0.0
        self._clocks = {"warmup": PhaseClock(), "learn": PhaseClock()}

    def start(self, total_frames: int, steps: int = 0, frames: int = 0) -> None:
        """Shows the bar, `frames` of `total_frames` done already (`steps` agent steps: a
        resumed run)."""
        self._last_steps, self._total_frames = steps, total_frames
        self._last_frames, self._last_time = frames, self.clock()
        self._clocks = {"warmup": PhaseClock(), "learn": PhaseClock()}
        if not self.enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} frames"),
            TextColumn("{task.fields[sps]} SPS"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[scores]}"),
            refresh_per_second=2,
        )
        self._bar.start()
        eta = self._eta(frames, learning=False)
        self._task = self._bar.add_task(
            "warm-up", total=total_frames, sps="-", eta=eta, scores="score -", completed=frames
        )

    def plan(self, learning_from: int) -> None:
        """Learning starts at frame `learning_from` (per seed); before it is warm-up."""
        self._learning_from = learning_from
        if self._bar is not None:
            learning = self._last_frames >= learning_from
            self._bar.update(self._task, eta=self._eta(self._last_frames, learning))

    def remaining(self, frames: int) -> tuple[float | None, float | None]:
        """(seconds to learning, seconds to the end) from `frames`, by `remaining`."""
        return remaining(frames, self._total_frames, self._learning_from or 0,
                         self._clocks["warmup"].rate(),
                         self._clocks["learn"].rate(self.min_learn_seconds))  # fmt: skip

    def _eta(self, frames: int, learning: bool) -> str:
        """The ETA column; `ETA ?` during warm-up while its end is not known (before `plan`)."""
        if self._learning_from is None and not learning:
            return "ETA ?"
        return eta_text(*self.remaining(frames), learning=learning)

    def update(
        self, *, steps: int, frames: int, elapsed: float, phase: str, scores: list[list[float]]
    ) -> None:
        """After a chunk that ended at `steps` agent steps per seed and took `elapsed` seconds;
        `scores` every game finished so far, per seed."""
        chunk_steps, self._last_steps = steps - self._last_steps, steps
        now = self.clock()
        self._clocks[phase].add(frames - self._last_frames, now - self._last_time)
        self._last_frames, self._last_time = frames, now
        if self._bar is None:
            return
        sps = chunk_steps * len(scores) / elapsed if elapsed > 0 else 0.0
        self._bar.update(
            self._task,
            completed=min(frames, self._total_frames),
            description="warm-up" if phase == "warmup" else "learning",
            sps=f"{sps:,.0f}",
            eta=self._eta(frames, learning=phase != "warmup"),
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
