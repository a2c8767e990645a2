"""The shared command line: presets, flat flags, clear errors early; planned runs.

Every training script (`experiments/*.py`, `python -m jaxdqn train`, a fork's own script) parses
its flags here: `--preset NAME` (or `--resume RUN_DIR`) gives the defaults, every other flag
overrides them, and a bad value exits with status 2 and one `error: ...` line before any work.
A fork registers its component under a new name, then calls

    cli.run(*cli.parse("cartpole", __doc__, ["--loss", "my_loss", *sys.argv[1:]]))
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import tyro

from jaxdqn.config import Config
from jaxdqn.options import RunOptions
from jaxdqn.plan import Plan, make_plan
from jaxdqn.presets import PRESETS, preset_options
from jaxdqn.tracking import TrackingOptions

# The launch record (preset, flags as given) of each config parsed in this process, for `run`
# to hand to config.json: `Parsed` stays a 3-tuple that callers unpack.
_LAUNCHES: dict[Config, dict] = {}
_PLANS: dict[tuple[Config, RunOptions], Plan] = {}  # what parse planned, for run

LIST_FLAGS = ("--temperature-start", "--hidden", "--track")
MERGED_FLAGS = ("--track",)  # given twice, the values add up: --track tensorboard --track wandb


def split_lists(args: list[str]) -> list[str]:
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


@dataclasses.dataclass(frozen=True)
class Flags:
    """Every flag: the run's settings, how to run them, and where to track them."""

    config: tyro.conf.OmitArgPrefixes[Config]
    run: tyro.conf.OmitArgPrefixes[RunOptions]
    tracking: tyro.conf.OmitArgPrefixes[TrackingOptions]


class Parsed(NamedTuple):
    config: Config
    resume: bool
    options: RunOptions


def refuse(message: str) -> None:
    """Prints `error: message` and exits with status 2: a bad use, refused before any work."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def summary(preset) -> str:
    """The first sentence (paragraph) of a preset's docstring, on one line: what it reproduces."""
    doc = inspect.getdoc(preset) or ""
    return " ".join(doc.split("\n\n")[0].split())


def atari_presets() -> dict:
    """The presets of `jaxdqn.presets.PRESETS` whose environment is an Atari game."""
    return {name: fn for name, fn in PRESETS.items() if fn().env.atari}


def check_preset(name: str, presets: dict) -> None:
    """Refuses (exit 2) a preset name that is not in `presets`, offering the close ones."""
    if name in presets:
        return
    by_lower = {known.lower(): known for known in presets}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3)]
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    refuse(f"--preset {name!r} is not one of {', '.join(presets)}.{hint}")


def _describe(description: str, presets: dict, preset: str) -> str:
    listing = "\n".join(f"  {name}: {summary(fn)}" for name, fn in presets.items())
    return (
        f"{description}\n\nPresets (--preset NAME, then any flag overrides it):\n{listing}\n\n"
        f"This listing shows the defaults of --preset {preset}. "
        "--resume runs/NAME continues a run from its latest checkpoint."
    )


def _launch(preset: str, args: list[str], run_dir: Path | None) -> dict:
    """What config.json records of how a run was started: the preset and the flags as given.
    A resumed run keeps the record of its start and adds the flags it was resumed with."""
    from jaxdqn import rundir

    if run_dir is None:
        return {"preset": preset, "flags": list(args)}
    try:
        before = rundir.read_config(run_dir).get("launch") or {}
    except (FileNotFoundError, ValueError):
        before = {}
    return {"preset": before.get("preset"), "flags": before.get("flags"),
            "resumed_with": list(args)}  # fmt: skip


def _defaults(preset: str, resume: str | None, presets: dict) -> Flags:
    """The config and options the flags override: the preset's, or a resumed run's (the
    options it last ran with, in the directory given)."""
    from jaxdqn import tracking
    from jaxdqn.checkpoint import load_run_config, load_run_options
    from jaxdqn.rundir import import_components

    if resume is None:
        return Flags(presets[preset](), preset_options(preset), TrackingOptions())
    run_dir = Path(resume)
    import_components(run_dir)  # a fork's components, registered again by name
    config = load_run_config(run_dir)
    options = load_run_options(run_dir)
    options = dataclasses.replace(options, run_dir=str(run_dir.parent), run_name=run_dir.name)
    return Flags(config, options, tracking.load_options(run_dir) or TrackingOptions())


def _check(config: Config, options: RunOptions, resume: str | None, track) -> Plan:
    """Everything that can be checked before work starts: a checkpoint to resume, the
    environment, devices and processes (the plan, built here once), the memory of the run,
    the tracking directory."""
    from jaxdqn import distributed, tracking
    from jaxdqn.checkpoint import Checkpointer, CheckpointError
    from jaxdqn.memory import check_memory

    distributed.initialize(options)  # before anything touches a device (orbax does)
    if resume is not None and Checkpointer(Path(resume)).latest_step() is None:
        raise CheckpointError(f"cannot resume: no checkpoint in {resume}/checkpoints")
    plan = make_plan(config, options)  # the env, devices and processes can run it
    check_memory(plan)
    if distributed.is_main():  # the one process that writes
        tracking.check(track, Path(options.run_dir) / (options.run_name or ""))
    return plan


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
    TensorBoard directory writable. Records the preset and flags for the run's config.json."""
    from jaxdqn.checkpoint import CheckpointError
    from jaxdqn.registry import ComponentModuleError

    presets = presets or PRESETS
    given = list(sys.argv[1:] if args is None else args)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=default_preset)
    pre.add_argument("--resume", default=None)
    known, rest = pre.parse_known_args(split_lists(given))
    check_preset(known.preset, presets)
    try:
        flags = tyro.cli(Flags, default=_defaults(known.preset, known.resume, presets),
                         description=_describe(description, presets, known.preset),
                         args=rest)  # fmt: skip
        _PLANS[flags.config, flags.run] = _check(flags.config, flags.run, known.resume,
                                                 flags.tracking)  # fmt: skip
        resumed = None if known.resume is None else Path(known.resume)
        _LAUNCHES[flags.config] = _launch(known.preset, given, resumed)
    except (ValueError, FileNotFoundError, CheckpointError, ComponentModuleError) as err:
        refuse(str(err))
    return Parsed(flags.config, known.resume is not None, flags.run), flags.tracking


def run(
    config: Config,
    resume: bool,
    options: RunOptions | None = None,
    components: dict | None = None,
    tracking: TrackingOptions | None = None,
    launch: dict | None = None,
) -> dict:
    """`run_experiment`, with a failure that stops the run (another process on the run
    directory, an unwritable or full disk, a checkpoint that does not match, non-finite
    losses) printed as one `error: ...` line and exit status 1 instead of a traceback.
    config.json records `launch`, by default the preset and flags `parse` read `config` from."""
    from jaxdqn.checkpoint import CheckpointError
    from jaxdqn.distributed import OtherProcessError
    from jaxdqn.loop import run_experiment
    from jaxdqn.rundir import RunLockedError, launching

    options = options or RunOptions()
    try:
        # The plan `parse` built; a config made in code (a notebook, a test) is planned here.
        plan = _PLANS.pop((config, options), None) or make_plan(config, options)
        with launching(launch or _LAUNCHES.get(config)):
            return run_experiment(plan, components=components, resume=resume,
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
# (exploration, sweep, atari100k, minatar): reuse finished runs, resume unfinished ones, refuse
# a directory that holds a run with other settings.

# Config fields a planned run may change. Display, directories and checkpoints are options now
# (`jaxdqn.options`), not in the config: none is left.
COSMETIC: frozenset[tuple[str, str]] = frozenset()


def flat(d: dict, prefix: tuple = ()) -> dict[tuple, object]:
    """A nested dict as {(key, subkey, ...): value}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, (*prefix, k)))
        else:
            out[(*prefix, k)] = v
    return out


def settings_differences(saved: dict, config: Config) -> list[str]:
    """Settings (`section.field`) whose values differ between a run's config.json "config"
    entry and `config`; fields only one side has (added to the library since, or moved to the
    run options) are ignored. Stricter than jaxdqn.checkpoint.config_differences, which
    lets a resume change budgets and intervals: a planned run must be the same run."""
    now = flat(json.loads(json.dumps(dataclasses.asdict(config), default=str)))
    before = flat(saved)
    return [
        f"{'.'.join(k)}: {before[k]!r} there, {now[k]!r} now"
        for k in now
        if k in before and k not in COSMETIC and before[k] != now[k]
    ]


def read_config(run_dir, dir_flag: str) -> dict:
    """A run directory's config.json; refuses (exit 2) when it is missing or unreadable."""
    path = run_dir / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        refuse(f"{run_dir} holds metrics but no readable config.json ({err}); remove it or "
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
    options: RunOptions
    state: str  # "new", "unfinished" or "finished"
    label: str = ""
    tracking: TrackingOptions | None = None
    launch: dict | None = None  # the preset and flags, for config.json


def plan_run(run_dir, flags, preset, presets, description, dir_flag, label="") -> PlannedRun:
    """Parses a run's flags (errors and memory checked) and checks its directory, before any
    run of the script trains; refuses a directory holding a run with other settings."""
    (config, _, options), track = parse_tracked(preset, description, flags, presets=presets)
    state = run_state(run_dir, dir_flag)
    if state != "new":
        diff = settings_differences(read_config(run_dir, dir_flag)["config"], config)
        if diff:
            refuse(f"{run_dir} holds a run with other settings ({'; '.join(diff)}); "
                   f"remove it or pick another {dir_flag}")  # fmt: skip
    return PlannedRun(run_dir, flags, preset, presets, description, config, options, state, label,
                      track, _launch(preset, flags, None))  # fmt: skip


def train_planned(runs: list[PlannedRun]) -> None:
    """Trains the planned runs in order: a finished one is reused, an unfinished one resumed
    from its latest checkpoint; a stop by signal ends the script (exit 1)."""
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
        launch = planned.launch if not resume else _LAUNCHES.get(config, planned.launch)
        out = run(config, resume, options, tracking=track, launch=launch)
        print(f"{planned.run_dir}: {what}took {time.perf_counter() - start:.1f} s", flush=True)
        if out["stopped"]:
            print(f"stopped by {out['stopped']}; run the same command again to resume",
                  file=sys.stderr)  # fmt: skip
            raise SystemExit(1)


# The names scripts used when this module was experiments/_cli.py.
_split_lists, _refuse, _flat = split_lists, refuse, flat
