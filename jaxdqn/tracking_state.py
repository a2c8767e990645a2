"""Tracking's plain parts, shared by the trackers and the mirror (`jaxdqn.tracking`): the
options a run asks for and the checks made on them before it starts, a metrics.jsonl record as
a tracker's points, and tracking.json (the options a run was started with, its W&B run ids).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

TRACKERS = ("tensorboard", "wandb")
PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}  # tracker -> what it imports
WANDB_MODES = ("online", "offline")
STATE_FILE = "tracking.json"
TENSORBOARD_DIR = "tensorboard"
META_KEYS = frozenset({"seed", "step", "frames", "phase", "time"})  # record fields, not metrics


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
