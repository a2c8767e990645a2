"""Shared command line for the experiment scripts: presets, flat flags, clear errors early."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tyro  # noqa: E402

from jaxdqn.config import Config  # noqa: E402
from jaxdqn.presets import PRESETS  # noqa: E402
from jaxdqn.runtime import RuntimeOptions  # noqa: E402
from jaxdqn.tracking import TrackingOptions  # noqa: E402

LIST_FLAGS = ("--temperature-start", "--hidden", "--track")
MERGED_FLAGS = ("--track",)  # given twice, the values add up: --track tensorboard --track wandb


def _split_lists(args: list[str]) -> list[str]:
    """`--temperature-start 1,2,5,10` (or `=1,2,5,10`) → `--temperature-start 1 2 5 10`; several
    temperatures without `--num-seeds` run one seed per temperature. The values of a flag of
    MERGED_FLAGS given more than once are joined into one."""
    out, merged, i = [], {}, 0
    while i < len(args):
        flag, _, inline = args[i].partition("=")
        if flag in LIST_FLAGS:
            values = [inline] if inline else []
            i += 1
            while not values and i < len(args) or (i < len(args) and not args[i].startswith("--")):
                values.append(args[i])
                i += 1
            values = [v for value in values for v in value.split(",") if v]
            if flag in MERGED_FLAGS:
                merged.setdefault(flag, []).extend(values)
                continue
            out += [flag, *values]
            if flag == "--temperature-start" and len(values) > 1:
                if not any(a.partition("=")[0] == "--num-seeds" for a in args):
                    out += ["--num-seeds", str(len(values))]
            continue
        out.append(args[i])
        i += 1
    return out + [a for flag, values in merged.items() for a in (flag, *values)]


import dataclasses  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Flags:
    """Every flag: the run's settings, how to run them here, and where to track them."""

    config: tyro.conf.OmitArgPrefixes[Config]
    runtime: tyro.conf.OmitArgPrefixes[RuntimeOptions]
    tracking: tyro.conf.OmitArgPrefixes[TrackingOptions]


class Parsed(NamedTuple):
    config: Config
    resume: bool
    options: RuntimeOptions


def parse(
    default_preset: str, description: str, args: list[str] | None = None, presets=None
) -> Parsed:
    """Parses `--preset NAME` (default `default_preset`) or `--resume RUN_DIR` (the run's own
    config), then every other flag over it, so any flag overrides those values; resolves the
    runtime and checks that the run fits in memory. Returns (config, resume, options); the
    tracking flags are checked too, and returned by `parse_tracked`.

    A bad value exits with status 2 and an error naming it, before any work starts.
    """
    return parse_tracked(default_preset, description, args, presets)[0]


def parse_tracked(
    default_preset: str, description: str, args: list[str] | None = None, presets=None
) -> tuple[Parsed, TrackingOptions]:
    """`parse`, and the tracking options (`--track` …; on `--resume`, those the run was last
    started with are the defaults), checked before any work: packages importable, the
    TensorBoard directory writable."""
    from jaxdqn import distributed, tracking
    from jaxdqn.checkpoint import Checkpointer, CheckpointError, load_run_config
    from jaxdqn.loop import check_memory
    from jaxdqn.registry import ComponentModuleError
    from jaxdqn.rundir import import_components
    from jaxdqn.runtime import resolve
    from jaxdqn.train import observation_spec

    presets = presets or PRESETS
    args = _split_lists(list(sys.argv[1:] if args is None else args))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=default_preset)
    pre.add_argument("--resume", default=None)
    known, rest = pre.parse_known_args(args)
    if known.preset not in presets:
        print(
            f"error: --preset {known.preset!r} is not one of {', '.join(presets)}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    description = (
        f"{description}\n\nPresets (--preset NAME, then any flag overrides it): "
        + "; ".join(f"{name}: {fn.__doc__.splitlines()[0]}" for name, fn in presets.items())
        + f"\nThis listing shows the defaults of --preset {known.preset}."
    )
    description += "\n--resume runs/NAME continues a run from its latest checkpoint."
    try:
        if known.resume is not None:
            run_dir = Path(known.resume)
            import_components(run_dir)  # a fork's components, registered again by name
            default = load_run_config(run_dir)
            default = dataclasses.replace(
                default,
                train=dataclasses.replace(
                    default.train, run_dir=str(run_dir.parent), run_name=run_dir.name
                ),
            )
        else:
            default = presets[known.preset]()
        track = (tracking.load_options(run_dir) if known.resume is not None else None) or (
            TrackingOptions()
        )
        flags = tyro.cli(Flags, default=Flags(default, RuntimeOptions(), track),
                         description=description, args=rest)  # fmt: skip
        config, options = flags.config, flags.runtime
        distributed.initialize(config)  # before anything touches a device (orbax does)
        if known.resume is not None and Checkpointer(run_dir).latest_step() is None:
            raise CheckpointError(f"cannot resume: no checkpoint in {run_dir}/checkpoints")
        resolve(config, options)  # the env, devices and processes can run it
        local = distributed.local_config(config)  # this process's seeds
        obs_shape, obs_dtype, _ = observation_spec(local)
        check_memory(local, obs_shape, obs_dtype)
        if distributed.is_main():  # the one process that writes
            train = config.train
            tracking.check(flags.tracking, Path(train.run_dir) / (train.run_name or ""))
    except (ValueError, FileNotFoundError, CheckpointError, ComponentModuleError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    return Parsed(config, known.resume is not None, options), flags.tracking


def run(
    config: Config,
    resume: bool,
    options: RuntimeOptions | None = None,
    components: dict | None = None,
    tracking: TrackingOptions | None = None,
) -> dict:
    """`run_experiment`, with a failure that stops the run (another process on the run
    directory, an unwritable or full disk, a checkpoint that does not match, non-finite
    losses) printed as one `error: ...` line and exit status 1 instead of a traceback."""
    from jaxdqn.checkpoint import CheckpointError
    from jaxdqn.distributed import OtherProcessError
    from jaxdqn.loop import run_experiment
    from jaxdqn.rundir import RunLockedError
    from jaxdqn.runtime import resolve

    try:
        runtime = resolve(config, options)
        return run_experiment(config, components=components, resume=resume, runtime=runtime,
                              tracking=tracking)  # fmt: skip
    except (RunLockedError, CheckpointError, FloatingPointError, OSError, OtherProcessError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


def parse_and_run(
    default_preset: str, description: str, args: list[str] | None = None, presets=None
) -> dict:
    """A training script's whole main: `parse_tracked`, then `run` with its tracking."""
    (config, resume, options), tracking = parse_tracked(default_preset, description, args, presets)
    return run(config, resume, options, tracking=tracking)


# ----------------------------------------------------- scripts that train several runs
# (exploration.py, sweep.py): reuse finished runs, resume unfinished ones, refuse a directory
# that holds a run with other settings.

COSMETIC = {
    ("train", "progress"),
    ("train", "run_dir"),
    ("train", "run_name"),
    ("train", "checkpoint_minutes"),  # when checkpoints are taken, not what is learned
}


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _flat(d: dict, prefix: tuple = ()) -> dict[tuple, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, (*prefix, k)))
        else:
            out[(*prefix, k)] = v
    return out


def settings_differences(saved: dict, config: Config) -> list[str]:
    """Settings (`section.field`) whose values differ between a run's config.json "config"
    entry and `config`, display-only ones aside; fields only one side has (added to the
    library since) are ignored. Stricter than jaxdqn.checkpoint.config_differences, which
    lets a resume change budgets and intervals: a planned run must be the same run."""
    import dataclasses
    import json

    now = _flat(json.loads(json.dumps(dataclasses.asdict(config), default=str)))
    before = _flat(saved)
    return [
        f"{'.'.join(k)}: {before[k]!r} there, {now[k]!r} now"
        for k in now
        if k in before and k not in COSMETIC and before[k] != now[k]
    ]


def read_config(run_dir, dir_flag: str) -> dict:
    """A run directory's config.json; refuses (exit 2) when it is missing or unreadable."""
    import json

    path = run_dir / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        _refuse(f"{run_dir} holds metrics but no readable config.json ({err}); remove it or "
                f"pick another {dir_flag}")  # fmt: skip


def run_state(run_dir, dir_flag: str) -> str:
    """ "new" (no metrics yet), "finished" (every seed evaluated at the end) or "unfinished"."""
    from jaxdqn.metrics import read_records

    metrics = run_dir / "metrics.jsonl"
    if not metrics.exists():
        return "new"
    saved = read_config(run_dir, dir_flag)
    total = saved["derived"]["total_steps"]
    seeds = saved["config"]["env"]["num_seeds"]
    records = read_records(metrics)
    done = {r["seed"] for r in records if r.get("phase") == "eval" and r["step"] >= total}
    return "finished" if done >= set(range(seeds)) else "unfinished"


class PlannedRun(NamedTuple):
    run_dir: Path
    flags: list[str]
    preset: str
    presets: dict
    description: str
    config: Config
    options: RuntimeOptions
    state: str  # "new", "unfinished" or "finished"
    label: str = ""
    tracking: TrackingOptions | None = None


def plan_run(run_dir, flags, preset, presets, description, dir_flag, label="") -> PlannedRun:
    """Parses a run's flags (errors and memory checked) and checks its directory, before any
    run of the script trains; refuses a directory holding a run with other settings."""
    (config, _, options), track = parse_tracked(preset, description, flags, presets=presets)
    state = run_state(run_dir, dir_flag)
    if state != "new":
        diff = settings_differences(read_config(run_dir, dir_flag)["config"], config)
        if diff:
            _refuse(f"{run_dir} holds a run with other settings ({'; '.join(diff)}); "
                    f"remove it or pick another {dir_flag}")  # fmt: skip
    return PlannedRun(run_dir, flags, preset, presets, description, config, options, state, label,
                      track)  # fmt: skip


def train_planned(runs: list[PlannedRun]) -> None:
    """Trains the planned runs in order: a finished one is reused, an unfinished one resumed
    from its latest checkpoint; a stop by signal ends the script (exit 1)."""
    import time

    for planned in runs:
        what = f"{planned.label} " if planned.label else ""
        if planned.state == "finished":
            print(f"{planned.run_dir}: already finished, not retrained")
            continue
        config, resume, options = planned.config, planned.state == "unfinished", planned.options
        track = planned.tracking
        if resume:
            print(f"{planned.run_dir}: unfinished, resuming from its latest checkpoint")
            (config, resume, options), track = parse_tracked(planned.preset, planned.description,
                                   ["--resume", str(planned.run_dir), *planned.flags],
                                   presets=planned.presets)  # fmt: skip
        print(f"{planned.run_dir}: training {what}({config.env.num_seeds} seeds, "
              f"{config.train.total_frames:,} frames each)", flush=True)  # fmt: skip
        start = time.perf_counter()
        out = run(config, resume, options, tracking=track)
        print(f"{planned.run_dir}: {what}took {time.perf_counter() - start:.1f} s", flush=True)
        if out["stopped"]:
            print(f"stopped by {out['stopped']}; run the same command again to resume",
                  file=sys.stderr)  # fmt: skip
            raise SystemExit(1)
