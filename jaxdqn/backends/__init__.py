"""Environment backends: who steps the environments, behind one host-side interface.

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

Each backend owns how a chunk is stepped: a *stepper* has `reset() -> obs`, a `handle` and
`compile(body) -> (warmup, run)`, where `body` (`Body`) holds the training iteration's pure
pieces built by `train.make_train`.
"""

from __future__ import annotations

import difflib
import functools

import numpy as np

from jaxdqn.atari_data import is_atari
from jaxdqn.backends.host import (
    AleHostEnv,
    EnvpoolHostEnv,
    GymHostEnv,
    HostEnv,
    HostStepper,
    ale_game,
    make_host_env,
)
from jaxdqn.backends.step import Body, Step, python_repeat, stack_trees
from jaxdqn.config import ENV_BACKENDS, EnvConfig

__all__ = [
    "ENV_BACKENDS", "AleHostEnv", "Body", "EnvpoolHostEnv", "GymHostEnv", "HostEnv",
    "HostStepper", "Step", "ale_atari_ids", "ale_game", "check_ale_id", "check_env_id",
    "default_backend", "gymnasium_env_ids", "gymnax_only_ids", "library", "make_host_env",
    "make_stepper", "observation_spec", "python_repeat", "stack_trees",
]  # fmt: skip


def make_stepper(config: EnvConfig, backend: str, *, epoch: int = 0):
    """The training envs of `config` behind the stepper of `backend` (a resolved backend name:
    runtime.env_backend). `epoch` > 0 gives the envs fresh seeds (a resumed run)."""
    if backend == "envpool-xla":
        from jaxdqn.backends.envpool_xla import XlaStepper

        return XlaStepper(config, epoch=epoch)
    if backend == "ale-xla":
        from jaxdqn.backends.ale_xla import AleXlaStepper

        return AleXlaStepper(config, epoch=epoch)
    if backend == "gymnax":
        from jaxdqn.backends.gymnax_envs import GymnaxStepper

        return GymnaxStepper(config, epoch=epoch)
    return HostStepper(make_host_env(config, backend, epoch=epoch))


def gymnasium_env_ids() -> list[str]:
    """Registered gymnasium ids, ale-py's ALE/* included."""
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    return list(gymnasium.registry)


def check_env_id(env_id: str, backend: str) -> None:
    """Raises ValueError if `backend` has no env `env_id`, with close matches and a hint."""
    if backend == "gymnax":
        from jaxdqn.backends.gymnax_envs import check_gymnax_id

        return check_gymnax_id(env_id)
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

    from jaxdqn.backends.gymnax_envs import gymnax_env_ids

    return frozenset(gymnax_env_ids()) - frozenset(envpool.list_all_envs())


def default_backend(env_id: str, platform: str, num_devices: int) -> str:
    """What `--env-backend auto` runs: gymnax for ids only gymnax has, else envpool's XLA step
    (CPU and GPU, one device) or envpool stepped from Python (TPU, several devices)."""
    if env_id in gymnax_only_ids():
        return "gymnax"
    return "envpool" if platform == "tpu" or num_devices > 1 else "envpool-xla"


def library(config: EnvConfig) -> str:
    """The env library behind `config.env_backend`: "gymnasium", "gymnax" or "envpool" (the
    host-stepped form of either envpool backend), for evaluation and play. ale-xla's is
    "gymnasium": evaluation steps the same ale-py vector env from Python (its games end at
    unpredictable times, and a score needs no jitted chunk)."""
    backend = config.env_backend
    if backend == "auto" and config.env_id in gymnax_only_ids():
        return "gymnax"
    if backend == "ale-xla":
        return "gymnasium"
    return backend if backend in ("gymnasium", "gymnax") else "envpool"


def observation_spec(config: EnvConfig) -> tuple[tuple[int, ...], np.dtype, int]:
    """(obs shape, obs dtype, number of actions) of one env (envpool's spec needs no env)."""
    backend = library(config)
    if backend == "gymnax":
        from jaxdqn.backends import gymnax_envs

        return gymnax_envs.observation_spec(config)
    if backend == "gymnasium":
        env = make_host_env(config, backend, num_envs=1, seeds=[0])
        space = env.observation_space
        out = tuple(space.shape), np.dtype(space.dtype), env.num_actions
        env.close()
        return out
    import envpool

    kwargs = dict(img_height=84, img_width=84, gray_scale=True, stack_num=4)
    spec = envpool.make_spec(config.env_id, **(kwargs if config.atari else {}))
    space = spec.observation_space
    return tuple(space.shape), np.dtype(space.dtype), int(spec.action_space.n)
