"""The plan of a run: config + run options + this machine, resolved once at the edge.

A `Config` records the experiment and its `RunOptions` how it runs; a `Plan` holds both and
adds what this machine makes of them — the resolved `Runtime`, the env's observation spec, the
replay's size in bytes and which seeds this process trains — so that nothing after the edge
reads the env's spec, resolves the runtime or sizes the replay again. `make_plan` checks in
the order a user should hear of problems: the env id, then the component names, then their
pairings, then the machine (`jaxdqn.runtime.resolve_spec`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxdqn import distributed
from jaxdqn.config import Config
from jaxdqn.options import RunOptions
from jaxdqn.replay import replay_nbytes
from jaxdqn.runtime import Runtime, resolve_spec


@dataclasses.dataclass(frozen=True)
class Plan:
    """How this process runs a config: every field resolved by `make_plan`."""

    config: Config  # the run's, all seeds
    runtime: Runtime
    obs_shape: tuple[int, ...]  # one env's observation, e.g. (4, 84, 84)
    obs_dtype: np.dtype
    num_actions: int
    replay_bytes: int  # the replay of this process's seeds, in bytes
    seed_offset: int  # index of the first seed this process trains
    local_config: Config  # the config of this process's seeds (the run's in one process)
    options: RunOptions = dataclasses.field(default_factory=RunOptions)  # as asked

    @property
    def spec(self) -> tuple[tuple[int, ...], np.dtype, int]:
        """(obs shape, obs dtype, number of actions)."""
        return self.obs_shape, self.obs_dtype, self.num_actions

    @property
    def num_seeds(self) -> int:
        """Seeds of the whole run (all processes)."""
        return self.config.env.num_seeds

    @property
    def local_seeds(self) -> int:
        """Seeds this process trains."""
        return self.local_config.env.num_seeds

    @property
    def envs_per_seed(self) -> int:
        return self.config.env.envs_per_seed


def make_plan(config: Config, options: RunOptions | None = None) -> Plan:
    """Resolves `config`, run with `options`, on this machine once; raises ValueError naming
    the first problem. In a multi-process run it first joins the processes (before anything
    touches a device)."""
    options = options or RunOptions()
    distributed.initialize(options)
    runtime, (obs_shape, obs_dtype, num_actions) = resolve_spec(config, options)
    local = distributed.local_config(config)
    seed_offset, _ = distributed.seed_slice(config)
    return Plan(
        config=config,
        runtime=runtime,
        obs_shape=tuple(obs_shape),
        obs_dtype=np.dtype(obs_dtype),
        num_actions=int(num_actions),
        replay_bytes=local.env.num_seeds * seed_replay_bytes(local, obs_shape, obs_dtype),
        seed_offset=seed_offset,
        local_config=local,
        options=options,
    )


def seed_replay_bytes(config: Config, obs_shape, obs_dtype) -> int:
    """Bytes of one seed's replay (as `jaxdqn.replay.make_replay` allocates it)."""
    e, r = config.env, config.replay
    return replay_nbytes(config.replay_capacity, e.envs_per_seed, obs_shape, obs_dtype,
                         r.dedup_frames, prioritized=r.prioritized)  # fmt: skip
