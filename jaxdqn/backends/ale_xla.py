"""ale-py's vector env through its XLA interface: Atari steps run inside the jitted chunk.

`AtariVectorEnv.xla()` (ale-py 0.12) gives a handle and a `step(handle, actions)` usable inside
`jax.jit` and `lax.scan`, as envpool's `xla()` does; the handle is threaded through every step
(in the TrainState) to order them. The vector env is the one the gymnasium backend steps from
Python (`host.AleHostEnv`: envpool's preprocessing, every ale-py default that differs from
envpool's set explicitly), and the step's outputs go through the same pure `host.ale_step`,
here on jax arrays, so that the `Step` record has envpool's conventions:

    ale-py gives                               the Step record gets
    raw rewards (clipping off in the env)      reward = sign(raw) for training, game_reward = raw
    info["lives"], no life-loss terminal       terminated |= lives dropped (training only)
    terminated | truncated at a game's end     game_over; the next step is the new game's first
    a new game's stack [0, 0, 0, f0]           envpool's [f0, f0, f0, f0] (the replay needs it)

What `ale_step` remembers between steps (lives, steps since the game began, game over) rides
with the ale-py handle in the TrainState's `handle`. ale-py resets a game within the next step
(NEXT_STEP auto-reset: the new game's first stack, reward 0), as envpool does. After a life
loss ale-py's next step is a real step, where envpool's ignores the action; both are masked
from the replay (jaxdqn/backends/__init__.py). Same seeds, same actions: the same games as
`--env-backend gymnasium` on an Atari id, frame for frame (tests/test_ale_xla.py).

Evaluation and `observation_spec` use that host-stepped env (`backends.library`); `play`
records video through envpool, as for the gymnasium backend, because ale-py's vector env does
not render RGB frames.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.struct
import jax.numpy as jnp
import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.host import AleEpisodes, AleHostEnv, ale_step
from jaxdqn.backends.step import Backend, Step


@flax.struct.dataclass
class AleXlaHandle:
    """The TrainState's `handle` on this backend."""

    ale: Any  # [8] uint8, ale-py's vector env handle: orders the XLA steps
    episodes: AleEpisodes  # what `ale_step` remembers, per env


def make_backend(spec: envs_lib.EnvSpec) -> Backend:
    """ale-py's vector env of `spec`, stepped inside the jitted chunk. It cannot save its
    emulators: a resumed run restarts its episodes."""
    env = AleHostEnv(spec)
    ale_handle, _reset, xla_step = env.env.xla()
    return Backend(reset=functools.partial(_reset_from_host, env, ale_handle),
                   step=functools.partial(step, xla_step, env.life_loss, env.clip),
                   in_jit=True, saves_env_state=False, close=env.close)  # fmt: skip


def _reset_from_host(env: AleHostEnv, ale_handle) -> tuple[np.ndarray, AleXlaHandle]:
    """Resets every game from the host (seeded); the jitted steps go on from there."""
    obs = env.reset()
    return obs, AleXlaHandle(ale_handle, env.episodes)


def step(
    xla_step: Callable, life_loss: bool, clip: bool, handle: AleXlaHandle, actions
) -> tuple[AleXlaHandle, Step]:
    """One step of every env, `actions [N]`, inside jit: ale-py's XLA step, then `ale_step`
    (the module doc's table) on its outputs."""
    ale, (obs, raw, terminated, truncated, info) = xla_step(handle.ale, actions.astype(jnp.int32))
    episodes, out = ale_step(handle.episodes, obs, raw, terminated, truncated, info["lives"],
                             life_loss=life_loss, clip=clip, xp=jnp)  # fmt: skip
    return AleXlaHandle(ale, episodes), out
