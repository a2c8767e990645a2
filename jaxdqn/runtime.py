"""How a run runs on this machine: resolved once from the Config and the machine.

A `Config` says what is learned, its `RunOptions` (`jaxdqn.options`) how to run it; a
`Runtime` says how this machine computes it — which env backend steps the envs, over how many
devices and processes the seeds are spread, and how the learning phase is cut into compiled
chunks. None of it changes what is learned: the budget and
the schedules come from the Config alone, and the equality tests (backends, devices, processes,
chunk lengths, resume) hold the runtime to that. The runtime is printed when a run starts and
written to its config.json, so a run records how it ran and a resumed run says what changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxdqn.config import Config
from jaxdqn.options import CUSTOM_CALL_BACKENDS, RunOptions, check_options
from jaxdqn.registry import check_names, check_pairings, component_registries
from jaxdqn.validation import fail as _fail

# (obs shape, obs dtype, number of actions) of one env
ObsSpec = tuple[tuple[int, ...], np.dtype, int]


# The options were the runtime's alone before they took in the run's other options.
RuntimeOptions = RunOptions


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


def resolve(config: Config, options: RunOptions | None = None) -> Runtime:
    """The runtime of `config` on this machine; raises ValueError (naming the value and what is
    allowed) for what this machine or the env backend cannot run. See `resolve_spec`."""
    return resolve_spec(config, options)[0]


def resolve_spec(config: Config, options: RunOptions | None = None) -> tuple[Runtime, ObsSpec]:
    """`resolve`, and the observation spec it read: `jaxdqn.plan.make_plan` keeps both.

    Checks in the order a user should hear of them: the env id (with close matches) before
    anything that depends on it, then the component names, then their pairings, then what this
    machine can run."""
    import jax

    from jaxdqn import backends, distributed

    options = options or RunOptions()
    e = config.env
    platform = jax.default_backend()
    num_devices = jax.local_device_count() if options.devices == "all" else int(options.devices)
    backend = options.env_backend
    if backend == "auto":  # envpool's XLA step exists on CPU and GPU, and on one device
        backend = backends.default_backend(e.env_id, platform, num_devices)
    backends.check_env_id(e.env_id, backend)
    check_options(e, options)  # the options against the env: seeds per device, ale-xla's games
    check_names(config)
    check_pairings(config)
    _check_backend_devices(backend, num_devices, jax.process_count())
    distributed.check_devices(config, num_devices)
    spec = backends.observation_spec(e, options)
    conv_on_cpu = platform == "cpu" and uses_convolutions(build_network(config, spec), *spec[:2])
    atari_on_cpu = conv_on_cpu and is_frame_stack(spec)
    chunk = options.chunk_iterations or (
        (1 if e.num_seeds == 1 and atari_on_cpu else 4) if conv_on_cpu else 250
    )  # measured best on CPU (BENCHMARKS.md, "Chunk length on CPU" and "gymnax backend")
    if not options.chunk_iterations:  # records and evaluations come between chunks: a chunk
        # spans at most log_interval agent steps (PQN's iterations are thousands of steps)
        chunk = min(chunk, max(1, config.train.log_interval // config.agent_steps_per_iteration))
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
