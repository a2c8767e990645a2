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
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from jaxdqn.rundir import METRICS_FILE, read_config

TRACKERS = ("tensorboard", "wandb")
PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}  # tracker -> what it imports
WANDB_MODES = ("online", "offline")
STATE_FILE = "tracking.json"
TENSORBOARD_DIR = "tensorboard"
META_KEYS = frozenset({"seed", "step", "frames", "phase", "time"})  # record fields, not metrics
WANDB_DEFAULT_URL = "https://api.wandb.ai"


class TrackingError(ValueError):
    """A tracking request that cannot work (unknown name, missing package, unwritable place);
    raised before the run starts."""


def _fail(field: str, value, allowed: str) -> None:
    raise TrackingError(f"{field}={value!r} is invalid: {allowed}")


@dataclasses.dataclass(frozen=True)
class TrackingOptions:
    """Where a run's metrics are mirrored besides metrics.jsonl (off by default). Every seed is
    its own series; the step is frames."""

    track: tuple[str, ...] = ()
    """Trackers: tensorboard, wandb, both (`--track tensorboard,wandb`), or none (on --resume,
    stops the tracking the run had)."""
    tensorboard_dir: str | None = None
    """TensorBoard event directory (default: RUN_DIR/tensorboard, one seed_K per seed; a
    directory given here gets RUN_NAME/seed_K)."""
    wandb_project: str = "jaxdqn"
    """W&B project."""
    wandb_entity: str | None = None
    """W&B entity (user or team; default: your W&B default)."""
    wandb_group: str | None = None
    """W&B group of the run's seeds (default: the run's name)."""
    wandb_name: str | None = None
    """W&B run name prefix; each seed's run is NAME/seed_K (default: the run's name)."""
    wandb_mode: str = ""
    """online or offline (runs kept in RUN_DIR/wandb, uploaded later with `wandb sync`);
    default: the WANDB_MODE variable, else online. Online without a reachable W&B server falls
    back to offline with a warning."""

    def __post_init__(self):
        for name in self.track:
            if name not in (*TRACKERS, "none"):
                _fail("track", name, f"one of {', '.join(TRACKERS)} or none")
        if "none" in self.track and len(set(self.track)) > 1:
            _fail("track", ",".join(self.track), "none cannot be combined with a tracker")
        if self.wandb_mode and self.wandb_mode not in WANDB_MODES:
            _fail("wandb_mode", self.wandb_mode, f"one of {', '.join(WANDB_MODES)}")
        if "wandb" in self.track and self.mode not in WANDB_MODES:  # from WANDB_MODE
            _fail("WANDB_MODE (environment)", self.mode, f"one of {', '.join(WANDB_MODES)}")

    @property
    def trackers(self) -> tuple[str, ...]:
        """The trackers asked for, each once, in the order of TRACKERS."""
        return tuple(name for name in TRACKERS if name in self.track)

    @property
    def mode(self) -> str:
        """The W&B mode asked for: the flag, else WANDB_MODE, else online."""
        return self.wandb_mode or os.environ.get("WANDB_MODE") or "online"


# ----------------------------------------------------------------------------- records


def scalars(record: dict) -> dict[str, float]:
    """The metrics of a metrics.jsonl record: every numeric field but the record's own
    (seed, step, frames, phase, time); null (NaN/inf) fields carry no point."""
    return {
        key: float(value)
        for key, value in record.items()
        if key not in META_KEYS and isinstance(value, int | float) and not isinstance(value, bool)
    }


def record_key(record: dict) -> tuple[int, int]:
    """Where a record stands in its seed's series: frames, then training before evaluation (an
    evaluation at F is written after the training record at F). Strictly increasing per seed."""
    return int(record["frames"]), int(record["phase"] == "eval")


def flat_settings(settings: dict) -> dict[str, Any]:
    """config.json's `config` (`env.env_id`, …) and `runtime` (`runtime.platform`, …) as flat
    values for hyperparameter tables: numbers, strings and booleans as they are, lists as
    JSON, None left out."""
    sections = dict(settings.get("config") or {})
    if settings.get("runtime"):
        sections["runtime"] = settings["runtime"]
    out = {}
    for section, fields in sections.items():
        for key, value in fields.items():
            if value is not None:
                plain = isinstance(value, str | int | float | bool)
                out[f"{section}.{key}"] = value if plain else json.dumps(value)
    return out


def num_seeds(settings: dict) -> int:
    return int(settings["config"]["env"]["num_seeds"])


def read_kept_records(run_dir: Path) -> list[dict]:
    """The records metrics.jsonl holds now (none for a new run)."""
    from jaxdqn.metrics import read_records

    path = run_dir / METRICS_FILE
    if not path.is_file() or not path.read_text().strip():
        return []
    return read_records(path)


# ----------------------------------------------------------------------------- tracking.json


def read_state(run_dir: Path) -> dict:
    """`run_dir/tracking.json`: the tracking options the run asked for (`options`) and each
    seed's W&B run (`wandb`: seed -> id and the last record sent); {} if absent."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise TrackingError(f"{path}: unreadable tracking state ({err})") from err
    return state if isinstance(state, dict) else {}


def write_state(run_dir: Path, state: dict) -> None:
    """Replaces tracking.json whole (written beside it, then renamed: never half-written)."""
    path = Path(run_dir) / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def load_options(run_dir: Path) -> TrackingOptions | None:
    """The tracking options a run was last started with (a resume's defaults), or None."""
    saved = read_state(run_dir).get("options")
    if not saved:
        return None
    fields = {f.name for f in dataclasses.fields(TrackingOptions)}
    saved = {k: tuple(v) if k == "track" else v for k, v in saved.items() if k in fields}
    return TrackingOptions(**saved)


def save_options(run_dir: Path, options: TrackingOptions) -> None:
    """Records the options in tracking.json when tracking is on or was on before."""
    state = read_state(run_dir)
    if options.trackers or state:
        write_state(run_dir, {**state, "options": dataclasses.asdict(options)})


# ----------------------------------------------------------------------------- checks


def tensorboard_dir(options: TrackingOptions, run_dir: Path) -> Path:
    """Where the run's seed_K event directories go."""
    if options.tensorboard_dir is None:
        return Path(run_dir) / TENSORBOARD_DIR
    return Path(options.tensorboard_dir) / Path(run_dir).name


def _cannot_write(path: Path) -> str | None:
    """Why a directory cannot be made or written, or None: makes it and a file in it (so a
    read-only mount or a file in the way is found even by root, whom permissions don't stop)."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        return f"{err.strerror or err}" + (f" ({err.filename})" if err.filename else "")
    return None


def check(options: TrackingOptions, run_dir: Path) -> None:
    """Everything about a tracking request that can fail before training: each tracker's
    package is importable, and a `tensorboard_dir` given can be written (it is made here; the
    default one is inside the run directory, which the run checks itself). Raises
    TrackingError naming the package and its pip command, or the directory and why."""
    for name in options.trackers:
        try:
            __import__(PACKAGES[name])
        except ImportError as err:
            raise TrackingError(
                f"--track {name} needs the {PACKAGES[name]} package, which cannot be imported "
                f"({err}); install it with `pip install {PACKAGES[name]}` (the version "
                "requirements.txt pins)"
            ) from None
    if "tensorboard" in options.trackers and options.tensorboard_dir is not None:
        reason = _cannot_write(Path(options.tensorboard_dir))
        if reason:
            raise TrackingError(
                f"--tensorboard-dir {options.tensorboard_dir} cannot be written: {reason}"
            )


def wandb_unreachable(url: str | None = None, timeout: float = 5.0) -> str | None:
    """Why the W&B server cannot be reached (None if a TCP connection opens): its address is
    WANDB_BASE_URL, else W&B's own service."""
    url = url or os.environ.get("WANDB_BASE_URL") or WANDB_DEFAULT_URL
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as err:
        return f"{url}: {err.strerror or err}"
    return None


# ----------------------------------------------------------------------------- trackers


class TensorBoardTracker:
    """One tensorboardX writer per seed in `<logdir>/seed_<k>`; every open purges what the
    directories held, and the caller then feeds every record again."""

    name = "tensorboard"

    def __init__(self, logdir: Path, settings: dict):
        from tensorboardX import SummaryWriter

        self.logdir = Path(logdir)
        self.writers = []
        for seed in range(num_seeds(settings)):
            # A name that sorts after any earlier file of the directory, even in the same
            # second: TensorBoard reads a run's files in name order.
            writer = SummaryWriter(str(self.logdir / f"seed_{seed}"), purge_step=0,
                                   flush_secs=30, filename_suffix=f".{time.time_ns()}")  # fmt: skip
            self.writers.append(writer)
            write_settings(writer, settings, seed)

    def write(self, records: list[dict]) -> None:
        for record in records:
            writer = self.writers[record["seed"]]
            for tag, value in scalars(record).items():
                writer.add_scalar(tag, value, record["frames"])

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def where(self) -> str:
        return f"TensorBoard: {self.logdir}/seed_* (tensorboard --logdir {self.logdir})"


def write_settings(writer, settings: dict, seed: int) -> None:
    """The run's config.json as text and its flat settings as an HParams session (the seed
    one of them), at step 0."""
    from tensorboardX.summary import hparams

    text = json.dumps(settings, indent=2, default=str)
    writer.add_text("config.json", "\n".join("    " + line for line in text.splitlines()), 0)
    metrics = {"eval/score": None, "charts/episodic_return": None}
    for summary in hparams({**flat_settings(settings), "seed": seed}, metrics):
        writer.file_writer.add_summary(summary, 0)


class WandbTracker:
    """One W&B run per seed (`reinit="create_new"`), grouped by the run's name; ids and the
    last record each seed sent are kept in tracking.json, so a resume continues the same runs
    and never logs a step twice. `seeds`: the seeds whose runs to open (default: all)."""

    name = "wandb"

    def __init__(self, options: TrackingOptions, run_dir: Path, settings: dict, say, seeds=None):
        import wandb

        self.run_dir, self.say = Path(run_dir), say
        self.mode = options.mode
        if self.mode == "online":
            reason = wandb_unreachable()
            if reason:
                self._go_offline(f"the W&B server cannot be reached ({reason})")
        state = read_state(self.run_dir).get("wandb", {})
        self.sent = {int(s): tuple(v["sent"]) for s, v in state.items() if v.get("sent")}
        self.runs = {}
        name = options.wandb_name or self.run_dir.name
        for seed in range(num_seeds(settings)) if seeds is None else seeds:
            run_id = state.get(str(seed), {}).get("id")  # None: W&B makes one
            kwargs = dict(project=options.wandb_project, entity=options.wandb_entity,
                          group=options.wandb_group or self.run_dir.name,
                          name=f"{name}/seed_{seed}", id=run_id, resume="allow",
                          dir=str(self.run_dir), reinit="create_new",
                          settings=wandb.Settings(console="off", silent=True))  # fmt: skip
            self.runs[seed] = self._init(wandb, kwargs)
            self.runs[seed].config.update({**settings, "seed": seed}, allow_val_change=True)
        self._save()

    def _go_offline(self, why: str) -> None:
        self.mode = "offline"
        self.say(f"warning: W&B online mode: {why}; logging offline instead, to "
                 f"{self.run_dir / 'wandb'} (upload later with `wandb sync`)")  # fmt: skip

    def _init(self, wandb, kwargs):
        """wandb.init in the tracker's mode; online failing (not logged in, server errors)
        falls back to offline for this and the next seeds."""
        if self.mode == "online":
            try:
                return wandb.init(mode="online", **kwargs)
            except Exception as err:  # wandb raises its own errors and plain ones alike
                self._go_offline(f"{type(err).__name__}: {err}")
        return wandb.init(mode="offline", **kwargs)

    def write(self, records: list[dict]) -> None:
        sent = False
        for record in records:
            seed, key = record["seed"], record_key(record)
            if seed in self.sent and key <= self.sent[seed]:
                continue  # logged before this run was resumed
            self.runs[seed].log(scalars(record), step=int(record["frames"]))
            self.sent[seed], sent = key, True
        if sent:
            self._save()

    def write_videos(self, seed: int, frames: int, videos: list[Path]) -> int:
        """Logs mp4 files (play.py's games) in the seed's run as `play/<file name>`, at
        `frames` or, if the run has points there or later, just after its last one (a W&B
        step never goes back). Returns the step."""
        import wandb

        last = self.sent.get(seed)
        step = max(frames, last[0] + 1 if last else 0)
        self.runs[seed].log({f"play/{path.stem}": wandb.Video(str(path), format="mp4")
                             for path in videos}, step=step)  # fmt: skip
        self.sent[seed] = (step, 1)
        self._save()
        return step

    def _save(self) -> None:
        state = read_state(self.run_dir)
        runs = {**state.get("wandb", {}),
                **{str(s): {"id": run.id, "sent": list(self.sent.get(s, ()))}
                   for s, run in self.runs.items()}}  # fmt: skip
        write_state(self.run_dir, {**state, "wandb": runs})

    def flush(self) -> None:
        pass  # each log is handed to W&B's service at once

    def close(self) -> None:
        for run in self.runs.values():
            run.finish()

    def where(self) -> str:
        ids = ", ".join(run.id for run in self.runs.values())
        if self.mode == "offline":
            return (f"W&B (offline): runs {ids} in {self.run_dir / 'wandb'}; upload with "
                    f"`wandb sync {self.run_dir / 'wandb'}/offline-run-*`")  # fmt: skip
        return f"W&B: runs {ids}, " + ", ".join(run.url or "" for run in self.runs.values())


# ----------------------------------------------------------------------------- videos

VIDEO_FRAMES = 500  # at most, in a TensorBoard GIF: longer games keep every k-th frame


def gif_summary(tag: str, path: Path, max_frames: int = VIDEO_FRAMES):
    """An mp4 as a TensorBoard image summary holding an animated GIF (TensorBoard's only
    moving picture; tensorboardX's add_video makes the same but needs moviepy): every k-th
    frame so that at most `max_frames` remain, played back at the video's own speed."""
    import io

    import imageio.v3 as iio
    from PIL import Image
    from tensorboardX.proto.summary_pb2 import Summary

    frames = list(iio.imiter(path))
    every = -(-len(frames) // max_frames)
    fps = iio.immeta(path).get("fps") or 30
    images = [Image.fromarray(frame) for frame in frames[::every]]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 * every / fps), loop=0)  # fmt: skip
    height, width = frames[0].shape[:2]
    image = Summary.Image(height=height, width=width, colorspace=3,
                          encoded_image_string=buffer.getvalue())  # fmt: skip
    return Summary(value=[Summary.Value(tag=tag, image=image)])


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
                    _videos_to_tensorboard(tensorboard_dir(options, run_dir), seed, frames, videos)
                    say(f"TensorBoard: {len(videos)} video(s) in "
                        f"{tensorboard_dir(options, run_dir) / 'videos'}")  # fmt: skip
                else:
                    tracker = WandbTracker(options, run_dir, settings, say, seeds=[seed])
                    step = tracker.write_videos(seed, frames, videos)
                    tracker.close()
                    say(f"W&B: {len(videos)} video(s) at step {step}; {tracker.where()}")
            except Exception as err:  # the games were played and saved: only report
                say(f"warning: {name} could not take the videos ({type(err).__name__}: {err})")


def _videos_to_tensorboard(logdir: Path, seed: int, frames: int, videos: list[Path]) -> None:
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(logdir / "videos" / f"seed_{seed}"),
                       filename_suffix=f".{time.time_ns()}") as writer:  # fmt: skip
        for path in videos:
            writer.file_writer.add_summary(gif_summary(f"play/{path.stem}", path), frames)


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
