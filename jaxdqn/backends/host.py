"""Envs stepped from Python: envpool in sync mode, ale-py's vector env, gymnasium.

Each is a `HostEnv` (backends/step.py) with `reset() -> obs` and `step(actions) -> Step`, built
from an `EnvSpec` (jaxdqn/envs.py); `jaxdqn.chunks` runs the training iteration around one,
with the iteration's pure pieces jitted one by one. What turns ale-py's vector env into
envpool's conventions (`make_ale_vector_env`, `ale_start`, `ale_step`) is pure array code,
written once for numpy and jax.numpy: the ale-xla backend (ale_xla.py) runs the same functions
inside the jitted chunk.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import flax.struct
import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.step import HostEnv, Step
from jaxdqn.config import ATARI_FRAME_SKIP


class EnvpoolHostEnv(HostEnv):
    """envpool in sync mode (`batch_size == num_envs`: envs come back in env id order)."""

    def __init__(self, pool):
        self.pool = pool
        self.num_envs = pool.config["num_envs"]
        self.observation_space = pool.observation_space
        self.num_actions = int(pool.action_space.n)

    def reset(self) -> np.ndarray:
        return self.pool.reset()[0]

    def step(self, actions: np.ndarray) -> Step:
        obs, reward, terminated, truncated, info = self.pool.step(np.asarray(actions, np.int32))
        return Step(
            obs,
            reward,
            terminated,
            truncated,
            np.asarray(envs_lib.game_reward(reward, info)),
            np.asarray(envs_lib.game_over(terminated, truncated, info)),
        )

    def close(self) -> None:
        self.pool.close()


def ale_game(env_id: str) -> str:
    """`ALE/SpaceInvaders-v5` → `space_invaders` (ale-py's ROM name)."""
    name = env_id.removeprefix("ALE/").split("-v")[0]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def make_ale_vector_env(spec: envs_lib.EnvSpec):
    """ale-py's C++ vector env (`AtariVectorEnv`, sync, envs in env id order) with envpool's
    Atari settings. Every setting whose ale-py default differs from envpool's is passed, and
    the others too, so that no ale-py default decides anything: reward clipping (on in ale-py)
    and life loss are left to `ale_step`, which keeps the raw reward as the game score; FIRE
    on reset and no sticky actions as envpool; games capped in frames (ale-py counts frames,
    the spec agent steps); NEXT_STEP auto-reset, the one ale-py's XLA interface supports."""
    from ale_py.vector_env import AtariVectorEnv
    from gymnasium.vector import AutoresetMode

    max_steps = spec.max_episode_steps or 27_000
    return AtariVectorEnv(
        ale_game(spec.env_id),
        spec.num_envs,
        num_threads=spec.num_threads,
        max_num_frames_per_episode=max_steps * ATARI_FRAME_SKIP,
        repeat_action_probability=spec.repeat_action_probability,
        full_action_space=False,  # each game's minimal action set, as envpool
        autoreset_mode=AutoresetMode.NEXT_STEP,
        noop_max=spec.noop_max,
        img_height=84,
        img_width=84,
        grayscale=True,
        stack_num=4,
        frameskip=ATARI_FRAME_SKIP,
        maxpool=True,
        episodic_life=False,  # life losses are marked by `ale_step`, the game goes on
        life_loss_info=False,
        reward_clipping=False,  # clipped by `ale_step`: the raw reward is the score
        use_fire_reset=True,
    )


@flax.struct.dataclass
class AleEpisodes:
    """What envpool's conventions need remembered between two steps of ale-py's vector env,
    per env (numpy arrays on the host, jax arrays inside the jitted chunk)."""

    lives: Any  # [N] int32, lives after the last step: a drop is a life loss
    since_reset: Any  # [N] int32, agent steps since the game's first frame, capped at the stack
    over: Any  # [N] bool, the last step ended the game: the next one is a new game's first


def envpool_stacks(obs, since_reset, xp=np):
    """ale-py starts a game's frame stack with zeros ([0, 0, 0, f0], then [0, 0, f0, f1]);
    envpool with copies of the first frame ([f0, f0, f0, f0], then [f0, f0, f0, f1]).
    Rewrites ale-py's stacks `[N, stack, H, W]` to envpool's, which the frame-deduplicated
    replay relies on (it rebuilds a stack from its newest frames and the game's first frame):
    each slot older than the game's first frame takes that frame. `xp`: numpy or jax.numpy."""
    stack = obs.shape[1]
    first_frame = xp.maximum(stack - 1 - since_reset, 0)  # [N] slot of f0, 0 once it left
    source = xp.maximum(xp.arange(stack)[None, :], first_frame[:, None])  # [N, stack]
    return xp.take_along_axis(obs, source[:, :, None, None], axis=1)


def ale_start(obs, lives, xp=np) -> tuple[AleEpisodes, Any]:
    """(episodes, envpool-style obs) after a reset of every env: every game is new."""
    since_reset = xp.zeros(obs.shape[:1], xp.int32)
    episodes = AleEpisodes(lives=xp.asarray(lives, xp.int32), since_reset=since_reset,
                           over=xp.zeros(obs.shape[:1], bool))  # fmt: skip
    return episodes, envpool_stacks(obs, since_reset, xp)


def ale_step(
    episodes: AleEpisodes,
    obs,
    raw,
    terminated,
    truncated,
    lives,
    *,
    life_loss: bool,
    clip: bool,
    xp=np,
) -> tuple[AleEpisodes, Step]:
    """One step of ale-py's vector env (`episodic_life=False`, raw rewards, NEXT_STEP
    auto-reset) → the `Step` record with envpool's conventions.

    ale-py's NEXT_STEP auto-reset is envpool's: after `terminated | truncated` the next step
    returns the new game's first stack with reward 0, so only the stack needs rewriting
    (`envpool_stacks`). A life loss — fewer lives than the step before; the count goes back
    up only at a new game — is a learning terminal where `life_loss`; the game goes on.
    """
    new_game = episodes.over
    stack = obs.shape[1]
    since_reset = xp.where(new_game, 0, xp.minimum(episodes.since_reset + 1, stack))
    lives = xp.asarray(lives, xp.int32)
    lost = lives < episodes.lives
    raw = xp.asarray(raw).astype(xp.float32)
    over = xp.asarray(terminated) | xp.asarray(truncated)
    step = Step(
        envpool_stacks(obs, since_reset, xp),
        xp.sign(raw) if clip else raw,
        (terminated | lost) if life_loss else xp.asarray(terminated),
        xp.asarray(truncated),
        raw,
        over,
    )
    return AleEpisodes(lives=lives, since_reset=since_reset.astype(xp.int32), over=over), step


class AleHostEnv(HostEnv):
    """ale-py's C++ vector env with envpool's Atari preprocessing (`make_ale_vector_env`);
    life losses, reward clipping and envpool's frame stacks are applied by `ale_step`, so that
    `game_reward` stays the real score."""

    def __init__(self, spec: envs_lib.EnvSpec):
        self.env = make_ale_vector_env(spec)
        self.num_envs = spec.num_envs
        self.observation_space = self.env.single_observation_space
        self.num_actions = int(self.env.single_action_space.n)
        self.seeds = np.asarray(spec.seeds, np.int64)
        self.life_loss = spec.episodic_life
        self.clip = spec.reward_clip
        self.episodes = None

    def reset(self) -> np.ndarray:
        obs, info = self.env.reset(seed=self.seeds)
        self.episodes, obs = ale_start(np.asarray(obs), info["lives"])
        return obs

    def step(self, actions: np.ndarray) -> Step:
        obs, raw, terminated, truncated, info = self.env.step(np.asarray(actions, np.int32))
        self.episodes, step = ale_step(self.episodes, np.asarray(obs), raw, terminated,
                                       truncated, info["lives"], life_loss=self.life_loss,
                                       clip=self.clip)  # fmt: skip
        return step

    def close(self) -> None:
        self.env.close()


class GymHostEnv(HostEnv):
    """`gymnasium.make_vec` (sync), NEXT_STEP auto-reset, for non-Atari gymnasium ids."""

    def __init__(self, spec: envs_lib.EnvSpec):
        import gymnasium as gym

        kwargs = {}
        if spec.max_episode_steps is not None:
            kwargs["max_episode_steps"] = spec.max_episode_steps
        with warnings.catch_warnings():  # e.g. CartPole's float64 Box bounds cast to float32
            warnings.simplefilter("ignore", UserWarning)
            self.env = gym.make_vec(spec.env_id, spec.num_envs, vectorization_mode="sync",
                                    **kwargs)  # fmt: skip
        self.num_envs = spec.num_envs
        self.observation_space = self.env.single_observation_space
        self.num_actions = int(self.env.single_action_space.n)
        self.seeds = list(spec.seeds)

    def reset(self) -> np.ndarray:
        return self.env.reset(seed=self.seeds)[0]

    def step(self, actions: np.ndarray) -> Step:
        obs, reward, terminated, truncated, _ = self.env.step(np.asarray(actions))
        reward = np.asarray(reward, np.float32)
        return Step(obs, reward, terminated, truncated, reward, terminated | truncated)

    def close(self) -> None:
        self.env.close()
