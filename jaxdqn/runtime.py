"""How a run runs on this machine: resolved once from the Config and the machine.

A `Config` says what is learned; a `Runtime` says how this machine computes it — which env
backend steps the envs, over how many devices and processes the seeds are spread, and how the
learning phase is cut into compiled chunks. None of it changes what is learned: the budget and
the schedules come from the Config alone, and the equality tests (backends, devices, processes,
chunk lengths, resume) hold the runtime to that. The runtime is printed when a run starts and
written to its config.json, so a run records how it ran and a resumed run says what changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxdqn.config import CUSTOM_CALL_BACKENDS, Config
from jaxdqn.registry import check_names, check_pairings, component_registries
from jaxdqn.validation import check_int as _check_int
from jaxdqn.validation import fail as _fail

# (obs shape, obs dtype, number of actions) of one env
ObsSpec = tuple[tuple[int, ...], np.dtype, int]


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
    """Requests on how to run; 0 / -1 leave the choice to `resolve`."""

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
        _check_int("chunk_iterations", self.chunk_iterations, 0)
        _check_int("unroll", self.unroll, 0)
        if self.seed_loop not in (-1, 0, 1):
            _fail("seed_loop", self.seed_loop, "one of -1 (auto), 0, 1")


@dataclasses.dataclass(frozen=True)
class Runtime:
    """How this process runs the config (every field resolved; see `resolve`)."""

    platform: str  # jax.default_backend(): cpu, gpu or tpu
    env_backend: str  # one of ENV_BACKENDS
    num_devices: int  # local devices the seeds are sharded over
    num_processes: int
    process_index: int
    chunk_iterations: int
    unroll: int
    seed_loop: bool

    @property
    def straight_line(self) -> bool:
        """A learning chunk is emitted as straight-line code, without an XLA loop."""
        return self.unroll >= self.chunk_iterations

    def describe(self) -> str:
        """One line for the start of a run."""
        seeds = "one by one" if self.seed_loop else "vmapped"
        loop = "straight-line" if self.straight_line else f"scan, unroll {self.unroll}"
        return (
            f"runtime: {self.platform}, env backend {self.env_backend}, "
            f"{self.num_devices} device(s) × {self.num_processes} process(es); chunks of "
            f"{self.chunk_iterations} iteration(s) ({loop}), seed updates {seeds}"
        )

    def differences(self, saved: dict) -> list[str]:
        """What differs from a runtime recorded in a run's config.json."""
        now = dataclasses.asdict(self)
        return [f"{k}: {saved[k]!r} then, {v!r} now" for k, v in now.items()
                if k in saved and saved[k] != v]  # fmt: skip


def resolve(config: Config, options: RuntimeOptions | None = None) -> Runtime:
    """The runtime of `config` on this machine; raises ValueError (naming the value and what is
    allowed) for what this machine or the env backend cannot run. See `resolve_spec`."""
    return resolve_spec(config, options)[0]


def resolve_spec(config: Config, options: RuntimeOptions | None = None) -> tuple[Runtime, ObsSpec]:
    """`resolve`, and the observation spec it read: `jaxdqn.plan.make_plan` keeps both.

    Checks in the order a user should hear of them: the env id (with close matches) before
    anything that depends on it, then the component names, then their pairings, then what this
    machine can run."""
    import jax

    from jaxdqn import backends, distributed

    options = options or RuntimeOptions()
    e = config.env
    platform = jax.default_backend()
    num_devices = jax.local_device_count() if e.devices == "all" else int(e.devices)
    backend = e.env_backend
    if backend == "auto":  # envpool's XLA step exists on CPU and GPU, and on one device
        backend = backends.default_backend(e.env_id, platform, num_devices)
    backends.check_env_id(e.env_id, backend)
    check_names(config)
    check_pairings(config)
    _check_backend_devices(backend, num_devices, jax.process_count())
    distributed.check_devices(config, num_devices)
    spec = backends.observation_spec(e)
    conv_on_cpu = platform == "cpu" and uses_convolutions(build_network(config, spec), *spec[:2])
    atari_on_cpu = conv_on_cpu and is_frame_stack(spec)
    chunk = options.chunk_iterations or (
        (1 if e.num_seeds == 1 and atari_on_cpu else 4) if conv_on_cpu else 250
    )  # measured best on CPU (BENCHMARKS.md, "Chunk length on CPU" and "gymnax backend")
    chunk = min(chunk, config.learning_iterations)
    unroll = options.unroll or (chunk if conv_on_cpu else 1)
    seed_loop = (
        bool(options.seed_loop)
        if options.seed_loop != -1
        else (atari_on_cpu and e.num_seeds > 1 and num_devices == 1)
    )  # sharded over devices, indexing seeds one by one would move them between devices
    runtime = Runtime(platform=platform, env_backend=backend, num_devices=num_devices,
                      num_processes=jax.process_count(), process_index=jax.process_index(),
                      chunk_iterations=chunk, unroll=min(unroll, chunk),
                      seed_loop=seed_loop)  # fmt: skip
    return runtime, spec


def _check_backend_devices(backend: str, num_devices: int, num_processes: int) -> None:
    if backend == "gymnax" and (num_devices > 1 or num_processes > 1):
        _fail("env_backend", backend, f"gymnax runs on one device in one process here "
              f"(devices={num_devices}, processes={num_processes}): its env state is "
              "not yet placed by seed over devices nor gathered over processes")  # fmt: skip
    if backend in CUSTOM_CALL_BACKENDS and num_devices > 1:
        _fail("env_backend", backend, f"{backend} cannot run with devices={num_devices}: "
              "its XLA custom call cannot be partitioned over devices; use envpool "
              "(auto picks it) or gymnasium")  # fmt: skip


def build_network(config: Config, spec: ObsSpec) -> Any:
    """The Q-network `config.agent.network` names, for `spec`'s number of actions."""
    return component_registries()["network"][config.agent.network](spec[2], config.agent)


def uses_convolutions(network: Any, obs_shape: tuple[int, ...], obs_dtype) -> bool:
    """Whether `network` convolves its input: its init (which runs the forward pass) is traced
    on shapes alone, nothing computed, and the program searched for a convolution. Decided by
    what the network is, so a fork's conv network gets the CPU fast path under any name."""
    import jax

    obs = jax.ShapeDtypeStruct((1, *obs_shape), obs_dtype)
    key = jax.ShapeDtypeStruct((2,), np.uint32)
    program = jax.make_jaxpr(lambda k, o: network.init({"params": k, "noise": k}, o))(key, obs)
    return "conv_general_dilated" in str(program)


def is_frame_stack(spec: ObsSpec) -> bool:
    """Whether observations are stacked uint8 image frames (Atari's `[4, 84, 84]`), the case
    whose vmapped conv gradient runs as a slow grouped convolution on CPU."""
    obs_shape, obs_dtype, _ = spec
    return len(obs_shape) == 3 and obs_shape[0] > 1 and np.dtype(obs_dtype) == np.uint8


def chunk_lengths(config: Config, runtime: Runtime, done_iterations: int = 0) -> list[int]:
    """Lengths of the learning chunks still to run: whole chunks, then the rest of the budget
    (one shorter chunk at the end when the chunk length does not divide it)."""
    left = config.learning_iterations - done_iterations
    full, rest = divmod(max(left, 0), runtime.chunk_iterations)
    return [runtime.chunk_iterations] * full + ([rest] if rest else [])
