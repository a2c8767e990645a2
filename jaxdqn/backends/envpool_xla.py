"""envpool through its XLA interface: env steps run inside the jitted chunk (CPU and GPU).

`pool.xla()` gives a handle and a `step(handle, actions)` usable inside `jax.jit` and
`lax.scan`; the handle is threaded through every step (in the TrainState) to order them. Sync
mode (`batch_size == num_envs`) returns envs in env id order, also through the XLA step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.step import Backend, Step


def make_backend(spec: envs_lib.EnvSpec) -> Backend:
    """The envpool pool of `spec`, stepped inside the jitted chunk. Its emulators cannot be
    saved: a resumed run restarts its episodes."""
    pool = envs_lib.make_pool(spec)
    handle, _recv, _send, xla_step = pool.xla()
    return Backend(reset=functools.partial(_reset, pool, handle),
                   step=functools.partial(step, xla_step), in_jit=True,
                   saves_env_state=False, close=pool.close)  # fmt: skip


def _reset(pool, handle) -> tuple[np.ndarray, object]:
    return pool.reset()[0], handle


def step(xla_step: Callable, handle, actions) -> tuple[object, Step]:
    """One step of every env, `actions [N]`, inside jit: envpool's XLA step as a `Step`."""
    handle, (obs, reward, terminated, truncated, info) = xla_step(handle, actions)
    return handle, Step(
        obs, reward, terminated, truncated,
        envs_lib.game_reward(reward, info),
        envs_lib.game_over(terminated, truncated, info),
    )  # fmt: skip
