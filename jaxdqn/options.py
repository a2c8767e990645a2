"""How a run runs, beside what it learns: the options that a `Config` does not record.

A `Config` is the experiment: the same config gives the same numbers on any machine. The
`RunOptions` are everything else a command line sets — which env backend steps the envs, over
how many devices, threads and processes, where the run directory is, what the console shows,
how often checkpoints are taken and how many are kept, and how the learning phase is cut into
compiled chunks. None of them changes what is learned (the equality tests of backends, devices,
processes, chunk lengths and resume hold them to that), so a resume may change any of them.

config.json records the two apart (`"config"`, `"options"`); a run written before the options
existed kept their values in its config, and `options_from_record` reads them from there.
"""

from __future__ import annotations

import dataclasses
import math

from jaxdqn.atari_data import is_atari
from jaxdqn.validation import atari_hint, check_fields, fail

ENV_BACKENDS = ("envpool-xla", "envpool", "gymnasium", "gymnax", "ale-xla")
# An XLA custom call steps one process's env threads: it cannot be partitioned over devices
# (checked against the resolved number of devices in `jaxdqn.runtime.resolve`).
CUSTOM_CALL_BACKENDS = ("envpool-xla", "ale-xla")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Requests on how to run a config; "auto", 0 and -1 leave the choice to
    `jaxdqn.runtime.resolve`."""

    env_backend: str = "auto"
    """Who steps the envs: envpool-xla (inside the jitted chunk; CPU/GPU), envpool (from
    Python between jitted calls; the TPU path), gymnasium (any gymnasium id, e.g.
    ALE/Assault-v5 via ale-py), gymnax (envs written in JAX, inside the jitted chunk:
    Breakout-MinAtar, CartPole-v1, …), ale-xla (ale-py's Atari inside the jitted chunk, CPU/GPU;
    Atari ids only). auto: gymnax for ids only gymnax has (MinAtar), else envpool-xla, or
    envpool on TPU or with --devices > 1."""
    devices: str = "1"
    """Local devices (GPUs) the seeds are sharded over: N or all. Each device trains
    num_seeds / (N × processes) seeds in the same jitted program; N > 1 needs a host-stepped
    env backend (envpool or gymnasium; auto picks envpool). See README "Scaling out"."""
    num_threads: int = 0
    """envpool / ale-py worker threads (0: one per core)."""
    run_dir: str = "runs"
    """Parent folder of run directories."""
    run_name: str | None = None
    """Run directory name under run_dir (default: <env>-<policy>-<timestamp>)."""
    progress: bool = True
    """Show a live progress display between chunks."""
    checkpoint_every: int = 1_000_000
    """Frames per seed between checkpoints (0: only at the end); always one at the end."""
    checkpoint_minutes: float = 0.0
    """Also checkpoint when this many minutes of wall-clock time have passed since the last
    checkpoint (0: off). Bounds the work a crash or a SIGKILL can lose."""
    keep_checkpoints: int = 3
    """Keep the latest K checkpoints (older ones are deleted)."""
    distributed: bool = False
    """Join a multi-process run (several hosts, or processes on one host) through
    jax.distributed.initialize: coordinator from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
    JAX_PROCESS_ID, or SLURM's variables. On automatically when JAX_COORDINATOR_ADDRESS is set.
    Each process trains its slice of the seeds; process 0 writes the run directory."""
    chunk_iterations: int = 0
    """Iterations per jitted chunk (one iteration = env steps + updates); progress, logs and
    checkpoints happen between chunks. 0 = auto: on CPU, for an Atari network 1 with one seed
    and 4 with several, for the MinAtar network 4 (fastest measured, BENCHMARKS.md); else 250."""
    unroll: int = 0
    """lax.scan unroll of the learning chunk. 0 = auto: fully unrolled for a conv network on
    CPU (XLA CPU runs conv gradients ≈3–6× slower inside a loop; see BENCHMARKS.md), else 1."""
    seed_loop: int = -1
    """Compute each seed's update separately instead of vmapping it: 1 yes, 0 no, -1 auto
    (yes for an Atari network on CPU with several seeds, where a vmapped conv gradient runs
    as a slow grouped convolution; MinAtar's small one measured the same either way)."""

    def __post_init__(self):
        if self.env_backend not in ("auto", *ENV_BACKENDS):
            fail("env_backend", self.env_backend, f"one of auto, {', '.join(ENV_BACKENDS)}")
        if isinstance(self.devices, int) and not isinstance(self.devices, bool):
            object.__setattr__(self, "devices", str(self.devices))
        devices = str(self.devices)
        if devices != "all" and not (devices.isdigit() and int(devices) >= 1):
            fail("devices", self.devices, "all, or a number of local devices >= 1")
        check_fields(self, {"num_threads": 0, "checkpoint_every": 0, "keep_checkpoints": 1,
                             "chunk_iterations": 0, "unroll": 0},
                      {"checkpoint_minutes": (0.0, math.inf)})  # fmt: skip
        if self.seed_loop not in (-1, 0, 1):
            fail("seed_loop", self.seed_loop, "one of -1 (auto), 0, 1")


def check_options(env, options: RunOptions) -> None:
    """Checks the options against the run's env settings (`Config.env`): the seeds split evenly
    over the devices asked for, ale-xla asked for an Atari game."""
    devices = str(options.devices)
    if devices != "all" and env.num_seeds % int(devices):
        fail("num_seeds", env.num_seeds, f"must be divisible by devices ({devices}): each "
             "device trains the same number of seeds")  # fmt: skip
    if options.env_backend == "ale-xla" and not is_atari(env.env_id):
        fail("env_id", env.env_id, "--env-backend ale-xla runs Atari games only (v5 ids "
             "such as Assault-v5 or ALE/Assault-v5); for other gymnasium ids use "
             f"--env-backend gymnasium{atari_hint(env.env_id)}")  # fmt: skip


# Where each option was kept in the config of a run written before the options existed.
MOVED_FROM_CONFIG = {
    "env_backend": "env", "devices": "env", "num_threads": "env",
    "run_dir": "train", "run_name": "train", "progress": "train", "checkpoint_every": "train",
    "checkpoint_minutes": "train", "keep_checkpoints": "train", "distributed": "train",
}  # fmt: skip


def options_from_dict(values: dict) -> RunOptions:
    """Rebuilds RunOptions from `dataclasses.asdict` output; keys it does not know are ignored."""
    known = {f.name for f in dataclasses.fields(RunOptions)}
    return RunOptions(**{k: v for k, v in values.items() if k in known})


def options_from_record(record: dict) -> RunOptions:
    """The options of a run's config.json record: its `"options"` entry, or, for a run written
    before it existed, the options' values where its `"config"` kept them."""
    if isinstance(record.get("options"), dict):
        return options_from_dict(record["options"])
    config = record.get("config") or {}
    old = {name: config[section][name] for name, section in MOVED_FROM_CONFIG.items()
           if name in (config.get(section) or {})}  # fmt: skip
    return options_from_dict(old)
