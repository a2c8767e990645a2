"""gymnax: environments written in JAX, stepped inside the jitted chunk and vmapped over envs.

gymnax (Lange 2022) gives each env as pure functions, `reset_env(key, params)` and
`step_env(key, state, action, params)`; its state is a pytree. Here every env of every seed is
one row of a vmapped batch, so the env step is part of the compiled training iteration (no host
round trip), and the env state — unlike envpool's emulators — is saved in checkpoints, so a
resumed run continues its episodes exactly.

Conventions, chosen to be envpool's (see jaxdqn/envs.py) so the replay and the episode
accounting need nothing new:

    step k:    terminated or truncated           → the game is over
    step k+1:  the action is ignored; the first observation of a new episode, reward 0,
               terminated = truncated = False    → first_t: not an experience

gymnax's own `step` resets within the same step (the terminal observation is lost), so this
module calls `step_env` and `reset_env` and does the auto-reset itself, one step later. gymnax's
`max_steps_in_episode` ends an episode inside `step_env` as if it were terminal; it is set out
of reach here and the time limit applied as a *truncation* (bootstrapped): `max_episode_steps`,
or gymnax's own limit (CartPole-v1 and Acrobot-v1 500, MountainCar-v0 200, Freeway-MinAtar
2,500 — MinAtar's game length — and the other MinAtar games 1,000, where MinAtar has none).

MinAtar (Young & Tian 2019) as its own package plays it, not as gymnax's defaults: the full set
of 6 actions in every game (gymnax's default is each game's minimal set), sticky actions with
`repeat_action_probability` (MinAtar's 0.1; gymnax has none: with probability p the previous
action is repeated, reset to no-op at an episode's start, as MinAtar's 2019 games did), and
observations `[10, 10, C]` as booleans (1 byte each in the replay; no frame stack).
"""

from __future__ import annotations

import difflib
import functools
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.step import Backend, HostEnv, Step

Array = chex.Array
MINATAR_SUFFIX = "-MinAtar"
NO_LIMIT = 2**31 - 1  # gymnax's own time limit, out of reach: the limit is applied here


def is_minatar(env_id: str) -> bool:
    return env_id.endswith(MINATAR_SUFFIX)


def gymnax_env_ids() -> list[str]:
    """The env ids gymnax registers (MinAtar, classic control, bsuite, misc)."""
    import gymnax

    return list(gymnax.registered_envs)


def check_gymnax_id(env_id: str) -> None:
    """Raises ValueError unless `env_id` is a gymnax env with discrete actions, naming close
    matches (an Atari id gets the backends that run it)."""
    from jaxdqn.atari_data import is_atari

    known = gymnax_env_ids()
    if env_id in known:
        if _continuous(env_id):
            raise ValueError(f"env_id={env_id!r} is invalid for --env-backend gymnax: its actions "
                             "are continuous, and DQN chooses among discrete actions")  # fmt: skip
        return
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.6)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    if is_atari(env_id):
        hint += (
            " It is an Atari game: run it with --env-backend envpool-xla (auto picks it), "
            "envpool or gymnasium; gymnax has the MinAtar games (Breakout-MinAtar, …)."
        )
    minatar = ", ".join(i for i in known if is_minatar(i))
    raise ValueError(f"env_id={env_id!r} is invalid: not a gymnax env (--env-backend gymnax runs "
                     f"gymnax's envs, e.g. {minatar}, CartPole-v1, Acrobot-v1, MountainCar-v0)."
                     f"{hint}")  # fmt: skip


def _continuous(env_id: str) -> bool:
    return env_id in ("Pendulum-v1", "MountainCarContinuous-v0", "Reacher-misc", "Swimmer-misc")


@flax.struct.dataclass
class VecEnvState:
    """The state of N envs (every leaf `[N, ...]`): gymnax's state and what this module adds."""

    env: Any  # gymnax's env state
    key: Array  # [N, 2] each env's own random stream
    time: Array  # [N] int32, agent steps of the current episode
    last_action: Array  # [N] int32, repeated by a sticky action
    reset_next: Array  # [N] bool: the last step ended the episode, the next one resets


class GymnaxEnv(NamedTuple):
    """N envs of one gymnax id as pure functions, for `jax.jit`."""

    reset: Callable[[Array], tuple[Array, VecEnvState]]  # keys [N, 2] → (obs, state)
    step: Callable[[VecEnvState, Array], tuple[VecEnvState, Step]]  # (state, actions [N])
    num_actions: int
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype


@functools.cache
def _make(env_id: str):
    import gymnax

    kwargs = {"use_minimal_action_set": False} if is_minatar(env_id) else {}
    return gymnax.make(env_id, **kwargs)


@functools.cache
def make_gymnax_env(
    env_id: str, max_episode_steps: int | None = None, repeat_action_probability: float = 0.0
) -> GymnaxEnv:
    """The pure functions of N envs of `env_id` (N: the leading axis of what they are given),
    with the auto-reset, time limit and sticky actions described in the module doc."""
    check_gymnax_id(env_id)
    env, default_params = _make(env_id)
    params = default_params.replace(max_steps_in_episode=NO_LIMIT)
    limit = max_episode_steps or int(default_params.max_steps_in_episode)
    cast = (lambda o: o.astype(jnp.bool_)) if is_minatar(env_id) else (lambda o: o)
    sticky = float(repeat_action_probability)

    def reset_one(key: Array) -> tuple[Array, VecEnvState]:
        key, reset_key = jax.random.split(key)
        with _quiet():
            obs, env_state = env.reset_env(reset_key, params)
        zero = jnp.zeros((), jnp.int32)
        return cast(obs), VecEnvState(env_state, key, zero, zero, jnp.zeros((), bool))

    def step_one(s: VecEnvState, action: Array) -> tuple[VecEnvState, Step]:
        key, step_key, reset_key, sticky_key = jax.random.split(s.key, 4)
        action = jnp.where(jax.random.uniform(sticky_key) < sticky, s.last_action, action)
        with _quiet():
            obs, env_state, reward, terminated, _ = env.step_env(step_key, s.env, action, params)
            obs_reset, env_reset = env.reset_env(reset_key, params)
        time = s.time + 1
        terminated = jnp.asarray(terminated, bool)
        truncated = (time >= limit) & ~terminated
        # The step after an episode's end only resets (envpool's convention, module doc).
        r = s.reset_next
        env_state = jax.tree_util.tree_map(lambda a, b: jnp.where(r, a, b), env_reset, env_state)
        obs = cast(jnp.where(r, obs_reset, obs))
        reward = jnp.where(r, 0.0, reward).astype(jnp.float32)
        terminated, truncated = terminated & ~r, truncated & ~r
        time = jnp.where(r, 0, time).astype(jnp.int32)
        action = jnp.where(r, 0, action).astype(jnp.int32)
        new = VecEnvState(env_state, key, time, action, terminated | truncated)
        return new, Step(obs, reward, terminated, truncated, reward, terminated | truncated)

    spec = jax.eval_shape(reset_one, jax.random.PRNGKey(0))[0]
    return GymnaxEnv(jax.vmap(reset_one), jax.vmap(step_one), int(env.num_actions),
                     tuple(spec.shape), np.dtype(spec.dtype))  # fmt: skip


class _quiet(warnings.catch_warnings):
    """gymnax 0.0.9's MinAtar writes ints into boolean arrays and asks for int64 (warnings at
    trace time only; the values are right): silenced where its functions are traced."""

    def __enter__(self):
        out = super().__enter__()
        warnings.filterwarnings("ignore", "scatter inputs have incompatible types")
        warnings.filterwarnings("ignore", "Explicitly requested dtype int64")
        return out


def env_keys(seeds: list[int]) -> Array:
    """`[N, 2]` keys, one per env seed (jaxdqn.envs.env_seeds: distinct streams per run seed)."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


def make_env_for(spec: envs_lib.EnvSpec, max_episode_steps: int | None = None) -> GymnaxEnv:
    """The pure functions of `spec`'s envs (`max_episode_steps`: a cap in place of the spec's)."""
    return make_gymnax_env(spec.env_id, max_episode_steps or spec.max_episode_steps,
                           spec.repeat_action_probability)  # fmt: skip


def observation_spec(spec: envs_lib.EnvSpec) -> tuple[tuple[int, ...], np.dtype, int]:
    env = make_env_for(spec)
    return env.obs_shape, env.obs_dtype, env.num_actions


def make_backend(spec: envs_lib.EnvSpec) -> Backend:
    """`spec`'s envs stepped inside the jitted chunk; the env state rides in the TrainState's
    `handle` and is saved with checkpoints."""
    env = make_env_for(spec)
    return Backend(reset=functools.partial(_reset, env.reset, env_keys(spec.seeds)),
                   step=env.step, in_jit=True, saves_env_state=True,
                   close=_nothing)  # fmt: skip


def _reset(reset: Callable, keys: Array) -> tuple[Array, VecEnvState]:
    return jax.jit(reset)(keys)


def _nothing() -> None:
    pass


class Space(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype


class GymnaxHostEnv(HostEnv):
    """The same envs stepped one jitted call at a time, for evaluation and play. An episode
    ends at the env's own time limit or at `max_episode_steps`, whichever comes first."""

    def __init__(self, spec: envs_lib.EnvSpec):
        limit = _make(spec.env_id)[1].max_steps_in_episode
        cap = spec.max_episode_steps
        self.env = make_env_for(spec, min(cap, limit) if cap else None)
        self.num_envs = spec.num_envs
        self.num_actions = self.env.num_actions
        self.observation_space = Space(self.env.obs_shape, self.env.obs_dtype)
        self.keys = env_keys(spec.seeds)
        self._reset, self._step = jax.jit(self.env.reset), jax.jit(self.env.step)
        self.state = None

    def reset(self) -> np.ndarray:
        obs, self.state = self._reset(self.keys)
        return np.asarray(obs)

    def step(self, actions: np.ndarray) -> Step:
        self.state, step = self._step(self.state, jnp.asarray(actions, jnp.int32))
        return Step(*map(np.asarray, step))


def minatar_rgb(obs: np.ndarray, scale: int = 16) -> np.ndarray:
    """`[10, 10, C]` booleans → `[10·scale, 10·scale, 3]` uint8: black background, channel c
    drawn in the c-th of C evenly spaced hues (the last channel wins where several are on)."""
    import colorsys

    channels = obs.shape[-1]
    colours = np.array([colorsys.hsv_to_rgb(c / channels, 0.8, 1.0) for c in range(channels)])
    image = np.zeros(obs.shape[:2] + (3,))
    for c in range(channels):
        image[obs[..., c].astype(bool)] = colours[c]
    image = (image * 255).astype(np.uint8)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
