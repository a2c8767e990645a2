"""Environment backends: who steps the environments, behind one narrow interface: reset and step.

    envpool-xla  envpool's XLA custom call: env steps run inside the jitted chunk.
                 The fast path on CPU and GPU; envpool's custom call does not exist on TPU.
    envpool      the same envpool pool stepped from Python between jitted calls (`HostEnv`):
                 the code path for TPUs, and the one tested on CPU.
    gymnasium    any gymnasium vector env id, stepped from Python. ALE ids (`ALE/Assault-v5`)
                 use ale-py's own C++ vector env (`ale_py.vector_env.AtariVectorEnv`) with the
                 same preprocessing as envpool; other ids use `gymnasium.make_vec`.
    ale-xla      that ale-py vector env through its XLA interface: Atari steps run inside the
                 jitted chunk, as envpool-xla's (ale_xla.py); the same games as gymnasium's.
                 Atari ids only (`Assault-v5` or `ALE/Assault-v5`); `auto` never picks it.
    gymnax       envs written in JAX (MinAtar, classic control): pure functions vmapped over
                 every env of every seed inside the jitted chunk; their state is a pytree, saved
                 in checkpoints (gymnax_envs.py). `auto` picks it for ids only gymnax has.

Every backend gives the training loop the same step record, `Step(obs, reward, terminated,
truncated, game_reward, game_over)`, with envpool's conventions (see envs.py): `reward` and
`terminated` are the *learning* signals (clipped reward; a life loss counts as terminal on
Atari training envs), `game_reward` is the unclipped reward and `game_over` marks the end of a
whole game; after `terminated | truncated` the next step is not an experience (gymnasium's
NEXT_STEP auto-reset returns the new episode's first observation with reward 0, as envpool).

Preprocessing of the ale-py Atari backends (gymnasium, ale-xla) against envpool's (both Atari
v5 settings): 84×84 grayscale with area interpolation, frame skip 4 with a max over the last
two frames, 4-frame stack, up to 30 no-op starts, FIRE on reset, no sticky actions unless
configured, games capped at 108,000 frames, reward clipping to sign(r) and life loss as terminal
for training only. One difference cannot be removed: after a life loss envpool's next step
ignores the action (the game pauses), while ALE's next step is a real one; both are masked from
the replay (the step after a learning terminal is `first`), so ALE loses one usable transition
per life. ale-py and envpool also ship their own emulator builds, so the same seed does not give
the same game across backends.

A backend is built from an `EnvSpec` (jaxdqn/envs.py: env id, number of envs, seeds, limits,
preprocessing, threads — read from the config in that one place) and gives the training loop a
`Backend`: `reset`, `step`, whether the step runs inside jit and whether the env state can be
saved. How chunks of training are built around it lives in `jaxdqn.chunks`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools

import numpy as np

from jaxdqn.atari_data import is_atari
from jaxdqn.backends import ale_xla, envpool_xla, gymnax_envs
from jaxdqn.backends.host import AleHostEnv, EnvpoolHostEnv, GymHostEnv, ale_game
from jaxdqn.backends.step import Backend, HostEnv, Step, host_backend, python_repeat, stack_trees
from jaxdqn.config import EnvConfig
from jaxdqn.envs import EnvSpec, env_spec, make_pool
from jaxdqn.options import ENV_BACKENDS, RunOptions

__all__ = [
    "ENV_BACKENDS", "AleHostEnv", "Backend", "EnvSpec", "EnvpoolHostEnv", "GymHostEnv",
    "HostEnv", "Step", "ale_atari_ids", "ale_game", "check_ale_id", "check_env_id",
    "default_backend", "env_spec", "gymnasium_env_ids", "gymnax_only_ids", "host_env",
    "library", "library_of", "make_backend", "make_host_env", "observation_spec", "python_repeat",
    "stack_trees",
]  # fmt: skip


def make_backend(spec: EnvSpec) -> Backend:
    """The training envs of `spec` behind its backend (`spec.backend`, a resolved name)."""
    if spec.backend in ("envpool", "gymnasium"):
        env = host_env(spec)
        return host_backend(env)
    if spec.backend == "envpool-xla":
        return envpool_xla.make_backend(spec)
    if spec.backend == "ale-xla":
        return ale_xla.make_backend(spec)
    if spec.backend == "gymnax":
        return gymnax_envs.make_backend(spec)
    raise ValueError(f"env_backend={spec.backend!r} is invalid: one of {', '.join(ENV_BACKENDS)}")


def host_env(spec: EnvSpec) -> HostEnv:
    """A host-stepped vector env of `spec.backend` ("envpool", "gymnasium" or "gymnax"; the
    XLA backends' envs are also steppable from the host: "envpool-xla" as an envpool pool,
    "ale-xla" as ale-py's vector env)."""
    if spec.backend == "ale-xla" or (spec.backend == "gymnasium" and spec.atari):
        return AleHostEnv(spec)
    if spec.backend == "gymnasium":
        return GymHostEnv(spec)
    if spec.backend in ("envpool", "envpool-xla"):
        return EnvpoolHostEnv(make_pool(spec))
    if spec.backend == "gymnax":  # evaluation and play: the same pure envs, one jitted call a step
        return gymnax_envs.GymnaxHostEnv(spec)
    raise ValueError(f"env_backend={spec.backend!r} is invalid: one of {', '.join(ENV_BACKENDS)}")


def make_host_env(
    config: EnvConfig,
    backend: str,
    *,
    evaluation: bool = False,
    num_envs: int | None = None,
    seeds: list[int] | None = None,
    epoch: int = 0,
    options: RunOptions | None = None,
) -> HostEnv:
    """`host_env` of `config`'s envs on `backend`, with the training or evaluation settings
    (and `options`' worker threads)."""
    return host_env(env_spec(config, backend, evaluation=evaluation, num_envs=num_envs,
                             seeds=seeds, epoch=epoch, options=options))  # fmt: skip


def gymnasium_env_ids() -> list[str]:
    """Registered gymnasium ids, ale-py's ALE/* included."""
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    return list(gymnasium.registry)


def check_env_id(env_id: str, backend: str) -> None:
    """Raises ValueError if `backend` has no env `env_id`, with close matches and a hint."""
    if backend == "gymnax":
        return gymnax_envs.check_gymnax_id(env_id)
    if backend == "ale-xla":
        return check_ale_id(env_id)
    if backend == "gymnasium":
        known, kind = gymnasium_env_ids(), "a gymnasium env id"
        if f"ALE/{env_id}" in known:
            return  # envpool's Atari name of an ale-py game: Assault-v5
    else:
        import envpool

        known, kind = envpool.list_all_envs(), "an envpool task"
    if env_id in known:
        return
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.6)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    if backend != "gymnasium" and env_id in gymnasium_env_ids():
        hint += " It is a gymnasium id: add --env-backend gymnasium."
    if env_id in gymnax_only_ids():
        hint += " It is a gymnax id: add --env-backend gymnax (or leave auto)."
    raise ValueError(f"env_id={env_id!r} is invalid: not {kind}.{hint}")


def ale_atari_ids() -> list[str]:
    """The Atari ids ale-xla runs, both spellings: `ALE/Assault-v5` (gymnasium's, ale-py's)
    and `Assault-v5` (envpool's) of each game the gymnasium backend preprocesses as envpool."""
    ale = [i for i in gymnasium_env_ids() if i.startswith("ALE/") and is_atari(i)]
    return ale + [i.removeprefix("ALE/") for i in ale]


def check_ale_id(env_id: str) -> None:
    """Raises ValueError unless ale-xla runs `env_id` (an Atari game of ale-py), naming close
    matches and the backend that runs a non-Atari id."""
    known = ale_atari_ids()
    if env_id in known:
        return
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.6)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    if env_id in gymnasium_env_ids():
        hint += " It is a gymnasium id: run it with --env-backend gymnasium."
    elif env_id in gymnax_only_ids():
        hint += " It is a gymnax id: run it with --env-backend gymnax (or leave auto)."
    raise ValueError(f"env_id={env_id!r} is invalid for --env-backend ale-xla: not an Atari "
                     "game of ale-py (ale-xla runs Atari v5 ids, Assault-v5 or ALE/Assault-v5, "
                     f"and nothing else).{hint}")  # fmt: skip


@functools.cache
def gymnax_only_ids() -> frozenset[str]:
    """gymnax ids that envpool lacks (MinAtar, bsuite, …): `auto` runs them on gymnax."""
    import envpool

    return frozenset(gymnax_envs.gymnax_env_ids()) - frozenset(envpool.list_all_envs())


def default_backend(env_id: str, platform: str, num_devices: int) -> str:
    """What `--env-backend auto` runs: gymnax for ids only gymnax has, else envpool's XLA step
    (CPU and GPU, one device) or envpool stepped from Python (TPU, several devices)."""
    if env_id in gymnax_only_ids():
        return "gymnax"
    return "envpool" if platform == "tpu" or num_devices > 1 else "envpool-xla"


def library(config: EnvConfig, options: RunOptions | None = None) -> str:
    """The env library behind the backend `options` ask for: "gymnasium", "gymnax" or "envpool" (the
    host-stepped form of either envpool backend), for evaluation and play. ale-xla's is
    "gymnasium": evaluation steps the same ale-py vector env from Python (its games end at
    unpredictable times, and a score needs no jitted chunk)."""
    return library_of(env_spec(config, options=options))


def library_of(spec: EnvSpec) -> str:
    """`library` of an env spec whose backend is the one asked for (auto, or a name)."""
    if spec.backend == "auto" and spec.env_id in gymnax_only_ids():
        return "gymnax"
    if spec.backend == "ale-xla":
        return "gymnasium"
    return spec.backend if spec.backend in ("gymnasium", "gymnax") else "envpool"


def observation_spec(
    config: EnvConfig, options: RunOptions | None = None
) -> tuple[tuple[int, ...], np.dtype, int]:
    """(obs shape, obs dtype, number of actions) of one env on the backend `options` ask for
    (envpool's spec needs no env)."""
    spec = env_spec(config, num_envs=1, seeds=[0], options=options)
    spec = dataclasses.replace(spec, backend=library_of(spec))
    if spec.backend == "gymnax":
        return gymnax_envs.observation_spec(spec)
    if spec.backend == "gymnasium":
        env = host_env(spec)
        space = env.observation_space
        out = tuple(space.shape), np.dtype(space.dtype), env.num_actions
        env.close()
        return out
    import envpool

    kwargs = dict(img_height=84, img_width=84, gray_scale=True, stack_num=4)
    envpool_spec = envpool.make_spec(spec.env_id, **(kwargs if spec.atari else {}))
    space = envpool_spec.observation_space
    return tuple(space.shape), np.dtype(space.dtype), int(envpool_spec.action_space.n)
