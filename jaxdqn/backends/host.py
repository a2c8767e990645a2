"""Envs stepped from Python: envpool in sync mode, ale-py's vector env, gymnasium.

`HostEnv` is a vector env with `reset() -> obs` and `step(actions) -> Step`; `HostStepper`
runs the training iteration around one, with the iteration's pure pieces jitted one by one.
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import Any

import jax
import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.step import Body, Step, python_repeat
from jaxdqn.config import ATARI_FRAME_SKIP, ENV_BACKENDS, EnvConfig


class HostEnv:
    """A vector env stepped from Python: `reset() -> obs`, `step(actions) -> Step`."""

    num_envs: int
    observation_space: Any  # of one env
    num_actions: int

    def reset(self) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> Step:
        raise NotImplementedError

    def close(self) -> None:
        pass


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


class AleHostEnv(HostEnv):
    """ale-py's C++ vector env with envpool's Atari preprocessing; life losses and reward
    clipping are applied here so that `game_reward` stays the real score."""

    def __init__(self, config: EnvConfig, num_envs: int, seeds, evaluation: bool):
        from ale_py.vector_env import AtariVectorEnv

        max_steps = config.max_episode_steps or 27_000
        self.env = AtariVectorEnv(
            ale_game(config.env_id),
            num_envs,
            num_threads=config.num_threads,
            max_num_frames_per_episode=max_steps * ATARI_FRAME_SKIP,
            repeat_action_probability=config.repeat_action_probability,
            noop_max=config.noop_max,
            img_height=84,
            img_width=84,
            grayscale=True,
            stack_num=4,
            frameskip=ATARI_FRAME_SKIP,
            maxpool=True,
            episodic_life=False,  # life losses are marked here, the game goes on
            reward_clipping=False,  # clipped here: the raw reward is the score
            use_fire_reset=True,
        )
        self.num_envs = num_envs
        self.observation_space = self.env.single_observation_space
        self.num_actions = int(self.env.single_action_space.n)
        self.seeds = np.asarray(seeds, np.int64)
        self.life_loss = config.episodic_life and not evaluation
        self.clip = config.reward_clip and not evaluation
        self.lives = None

    def _fill_stacks(self, obs: np.ndarray, new_game: np.ndarray) -> np.ndarray:
        """ale-py starts a game's frame stack with zeros ([0, 0, 0, f0], then [0, 0, f0, f1]);
        envpool with copies of the first frame ([f0, f0, f0, f0], then [f0, f0, f0, f1]).
        Rewrites ale-py's stacks to envpool's, which the frame-deduplicated replay relies on
        (it rebuilds a stack from its newest frames and the first frame of the game)."""
        self.since_reset = np.where(new_game, 0, self.since_reset + 1)
        stack = obs.shape[1]
        for e in np.nonzero(self.since_reset < stack - 1)[0]:
            oldest_real = stack - 1 - self.since_reset[e]
            obs[e, :oldest_real] = obs[e, oldest_real]
        return obs

    def reset(self) -> np.ndarray:
        obs, info = self.env.reset(seed=self.seeds)
        self.lives = np.asarray(info["lives"])
        self.since_reset = np.zeros(self.num_envs, np.int64)
        self.over = np.zeros(self.num_envs, bool)
        return self._fill_stacks(np.array(obs), np.ones(self.num_envs, bool))

    def step(self, actions: np.ndarray) -> Step:
        obs, raw, terminated, truncated, info = self.env.step(np.asarray(actions, np.int32))
        obs = self._fill_stacks(np.array(obs), self.over)  # after a game over: a new game
        self.over = terminated | truncated
        lives = np.asarray(info["lives"])
        lost = lives < self.lives
        self.lives = lives
        raw = np.asarray(raw, np.float32)
        return Step(
            obs,
            np.sign(raw) if self.clip else raw,
            terminated | (lost if self.life_loss else False),
            truncated,
            raw,
            terminated | truncated,
        )

    def close(self) -> None:
        self.env.close()


class GymHostEnv(HostEnv):
    """`gymnasium.make_vec` (sync), NEXT_STEP auto-reset, for non-Atari gymnasium ids."""

    def __init__(self, config: EnvConfig, num_envs: int, seeds):
        import gymnasium as gym

        kwargs = {}
        if config.max_episode_steps is not None:
            kwargs["max_episode_steps"] = config.max_episode_steps
        with warnings.catch_warnings():  # e.g. CartPole's float64 Box bounds cast to float32
            warnings.simplefilter("ignore", UserWarning)
            self.env = gym.make_vec(config.env_id, num_envs, vectorization_mode="sync", **kwargs)
        self.num_envs = num_envs
        self.observation_space = self.env.single_observation_space
        self.num_actions = int(self.env.single_action_space.n)
        self.seeds = [int(s) for s in seeds]

    def reset(self) -> np.ndarray:
        return self.env.reset(seed=self.seeds)[0]

    def step(self, actions: np.ndarray) -> Step:
        obs, reward, terminated, truncated, _ = self.env.step(np.asarray(actions))
        reward = np.asarray(reward, np.float32)
        return Step(obs, reward, terminated, truncated, reward, terminated | truncated)

    def close(self) -> None:
        self.env.close()


def make_host_env(
    config: EnvConfig,
    backend: str,
    *,
    evaluation: bool = False,
    num_envs: int | None = None,
    seeds: list[int] | None = None,
    epoch: int = 0,
) -> HostEnv:
    """A host-stepped vector env of `backend` ("envpool", "gymnasium" or "gymnax"; "envpool-xla"
    pools are also steppable from the host) with the training or evaluation settings."""
    if num_envs is None:
        num_envs = config.num_envs
    if seeds is None:
        seeds = envs_lib.env_seeds(config.seed, config.num_seeds, config.envs_per_seed, epoch)
        seeds = seeds[:num_envs]
    if backend in ("envpool", "envpool-xla"):
        pool = envs_lib.make_env(config, evaluation=evaluation, num_envs=num_envs, seeds=seeds)
        return EnvpoolHostEnv(pool)
    if backend == "gymnasium":
        if config.atari:
            return AleHostEnv(config, num_envs, seeds, evaluation)
        return GymHostEnv(config, num_envs, seeds)
    if backend == "gymnax":  # evaluation and play: the same pure envs, one jitted call a step
        from jaxdqn.backends.gymnax_envs import GymnaxHostEnv

        return GymnaxHostEnv(config, num_envs, seeds)
    raise ValueError(f"env_backend={backend!r} is invalid: one of {', '.join(ENV_BACKENDS)}")


class HostStepper:
    """Runs the training iteration around a `HostEnv`: the iteration's pure pieces are jitted
    one by one (choose, observe, learn, each donating the state) and the env is stepped from
    Python in between, in the same order as the XLA chunk — so with a synchronous pool the
    results equal the envpool-xla backend's. The next env step cannot overlap the update: its
    actions need the updated parameters; JAX's asynchronous dispatch overlaps each call with
    the host's conversion of the env's outputs."""

    saves_env_state = False

    def __init__(self, env: HostEnv):
        self.env = env
        self.handle = np.zeros((), np.int32)  # unused: nothing orders host steps inside jit

    def reset(self) -> np.ndarray:
        return self.env.reset()

    def compile(self, body: Body):
        choose = {fn: jax.jit(functools.partial(body.choose, act_fn=fn), donate_argnums=0)
                  for fn in (body.act, body.act_randomly)}  # fmt: skip
        observe = jax.jit(body.observe, donate_argnums=0)
        learn = jax.jit(body.learn, donate_argnums=0)

        def env_step(state, act_fn):
            state, actions, parameter = choose[act_fn](state)
            step = body.place(body.split(self.env.step(np.asarray(actions).reshape(-1))))
            return observe(state, actions, parameter, step, state.handle)

        def warmup(state, num_env_steps: int):
            return python_repeat(lambda s: env_step(s, body.act_randomly), state, num_env_steps)

        def run(state, iterations: int):
            return python_repeat(lambda s: body.iteration(s, env_step, learn), state, iterations)

        return warmup, run

    def close(self) -> None:
        self.env.close()
