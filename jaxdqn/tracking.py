"""Experiment tracking: TensorBoard and Weights & Biases as mirrors of metrics.jsonl.

metrics.jsonl stays the record of a run. A tracker is fed the very records the metrics writer
appends (`RunLogger` hands them on), one series per seed, the metric's name as the tag and
frames as the step. Each time trackers open — a new run, a resumed one, or an export after the
fact (`export`) — they are first fed the records metrics.jsonl already holds, so a mirror equals
the file however the run was stopped, resumed, or tracked only from some point on:

- TensorBoard (tensorboardX writer): one event directory per seed, `<dir>/seed_<k>`, so
  TensorBoard overlays the seeds as runs. Opening a directory again purges what it held (a
  `SessionLog.START` at step 0, which TensorBoard's readers honour; its data server also drops
  points that a series rewrites from an earlier step) and rewrites every record, so a resume
  never leaves two points at one step. Settings go in as text (config.json) and as one HParams
  session per seed.
- W&B: one run per seed, grouped by the run's name, all in this process
  (`reinit="create_new"`, which the pinned wandb supports), so W&B's grouping shows the seeds
  together and each seed keeps its own history. The runs' ids are kept in the run directory
  (`tracking.json`), so a resume continues the same W&B runs. A W&B run cannot drop points
  once logged, so its history is continued, not rewritten: records at or before the last one
  each seed sent are skipped. After a hard kill (no checkpoint at the stop), the points logged
  between the checkpoint and the kill therefore stay as first sent, while metrics.jsonl and
  TensorBoard hold the resumed run's records there.

A tracker that fails (a full disk, a W&B error) is reported and dropped; training, checkpoints
and metrics.jsonl go on. What can be checked before a run starts (names, packages, a writable
TensorBoard directory) is checked by `check`, which raises `TrackingError` with the fix.

Where each part lives: the options, their checks, tracking.json and the records' points in
`jaxdqn.tracking_state`; the trackers in `jaxdqn.tensorboard_tracker` and
`jaxdqn.wandb_tracker`; the mirror that feeds them, exports and videos here, which also
re-exports the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from jaxdqn.rundir import METRICS_FILE, read_config
from jaxdqn.tensorboard_tracker import TensorBoardTracker, gif_summary, write_settings
from jaxdqn.tensorboard_tracker import write_videos as videos_to_tensorboard
from jaxdqn.tracking_state import (
    META_KEYS,
    PACKAGES,
    STATE_FILE,
    TENSORBOARD_DIR,
    TRACKERS,
    WANDB_MODES,
    TrackingError,
    TrackingOptions,
    check,
    flat_settings,
    load_options,
    num_seeds,
    read_state,
    record_key,
    save_options,
    scalars,
    tensorboard_dir,
    write_state,
)
from jaxdqn.wandb_tracker import WANDB_DEFAULT_URL, WandbTracker, wandb_unreachable

# The tracking API as one import: options and state (tracking_state), the trackers
# (tensorboard_tracker, wandb_tracker) and the mirror that feeds them (here).
__all__ = [
    "META_KEYS", "PACKAGES", "STATE_FILE", "TENSORBOARD_DIR", "TRACKERS", "WANDB_DEFAULT_URL",
    "WANDB_MODES", "Mirror", "TensorBoardTracker", "TrackingError", "TrackingOptions",
    "WandbTracker", "check", "export", "flat_settings", "gif_summary", "load_options",
    "num_seeds", "open_mirror", "open_tracker", "read_kept_records", "read_state", "record_key",
    "save_options", "scalars", "send_videos", "tensorboard_dir", "wandb_unreachable",
    "write_settings", "write_state",
]  # fmt: skip


def read_kept_records(run_dir: Path) -> list[dict]:
    """The records metrics.jsonl holds now (none for a new run)."""
    from jaxdqn.metrics import read_records

    path = run_dir / METRICS_FILE
    if not path.is_file() or not path.read_text().strip():
        return []
    return read_records(path)


# ----------------------------------------------------------------------------- videos


def send_videos(
    run_dir: Path,
    options: TrackingOptions,
    seed: int,
    frames: int,
    videos: list[Path],
    say: Callable[[str], None] = print,
) -> None:
    """Adds play.py's videos of one seed to the trackers of `options`. TensorBoard: GIFs in
    `<dir>/videos/seed_<k>`, a TensorBoard run apart from the seed's scalars, which a resume
    or an export rewrites whole; W&B: the mp4 files in the seed's own W&B run. A tracker that
    fails is reported; the videos stay on disk either way."""
    from jaxdqn.rundir import lock_run_dir

    run_dir, settings = Path(run_dir), read_config(run_dir)
    check(options, run_dir)
    with lock_run_dir(run_dir):  # W&B state is written; a training run would clash
        for name in options.trackers:
            try:
                if name == "tensorboard":
                    videos_to_tensorboard(tensorboard_dir(options, run_dir), seed, frames, videos)
                    say(f"TensorBoard: {len(videos)} video(s) in "
                        f"{tensorboard_dir(options, run_dir) / 'videos'}")  # fmt: skip
                else:
                    tracker = WandbTracker(options, run_dir, settings, say, seeds=[seed])
                    step = tracker.write_videos(seed, frames, videos)
                    tracker.close()
                    say(f"W&B: {len(videos)} video(s) at step {step}; {tracker.where()}")
            except Exception as err:  # the games were played and saved: only report
                say(f"warning: {name} could not take the videos ({type(err).__name__}: {err})")


# ----------------------------------------------------------------------------- the mirror


class Mirror:
    """A run's open trackers, fed metrics.jsonl's records. A tracker whose call fails is
    reported through `say` and dropped; nothing it raises reaches the training loop."""

    def __init__(self, trackers: Iterable, say: Callable[[str], None] = print):
        self.trackers, self.say = list(trackers), say

    def send(self, records: list[dict]) -> None:
        self._each("write", lambda t: t.write(records))

    def flush(self) -> None:
        self._each("flush", lambda t: t.flush())

    def close(self) -> list:
        """Closes every tracker; returns those that closed cleanly (their data is complete)."""
        self._each("close", lambda t: t.close())
        closed, self.trackers = self.trackers, []
        return closed

    def _each(self, what: str, call) -> None:
        for tracker in list(self.trackers):
            try:
                call(tracker)
            except Exception as err:  # any failure of a tracker: training must go on
                self.trackers.remove(tracker)
                if what != "close":
                    _close_quietly(tracker)  # keeps what it had written, if it still can
                self.say(f"warning: {tracker.name} tracking failed ({what}: "
                         f"{type(err).__name__}: {err}); it is off for the rest of this run, "
                         "training goes on (experiments/track.py rebuilds it from "
                         "metrics.jsonl)")  # fmt: skip


def _close_quietly(tracker) -> None:
    try:
        tracker.close()
    except Exception:  # it has already failed once and been reported
        pass


def open_tracker(name: str, options: TrackingOptions, run_dir: Path, settings: dict, say):
    if name == "tensorboard":
        return TensorBoardTracker(tensorboard_dir(options, run_dir), settings)
    return WandbTracker(options, run_dir, settings, say)


def open_mirror(
    options: TrackingOptions, run_dir: Path, say: Callable[[str], None] = print
) -> Mirror:
    """Opens the asked trackers for the run in `run_dir` (its config.json written) and feeds
    them the records metrics.jsonl holds; a tracker that fails to open is reported and left
    out (the run goes on without it)."""
    run_dir = Path(run_dir)
    settings = read_config(run_dir)
    mirror = Mirror([], say)
    for name in options.trackers:
        try:
            mirror.trackers.append(open_tracker(name, options, run_dir, settings, say))
        except Exception as err:  # as in Mirror: tracking never stops a run
            say(f"warning: {name} tracking could not start ({type(err).__name__}: {err}); "
                "the run goes on without it")  # fmt: skip
    kept = read_kept_records(run_dir)
    if kept:
        mirror.send(kept)
    for tracker in mirror.trackers:
        say(tracker.where())
    return mirror


def export(run_dir: Path, options: TrackingOptions, say: Callable[[str], None] = print) -> list:
    """Mirrors an existing run's metrics.jsonl and config.json to the trackers of `options`
    (the same trackers a live run feeds), then closes them; returns the trackers written.
    Holds the run's lock meanwhile, so a run still training is refused
    (`rundir.RunLockedError`)."""
    from jaxdqn.rundir import lock_run_dir

    run_dir = Path(run_dir)
    read_config(run_dir)  # a run directory, or a clear error
    check(options, run_dir)
    with lock_run_dir(run_dir):
        return open_mirror(options, run_dir, say).close()
