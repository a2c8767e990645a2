"""Env settings (`EnvSpec`, read from the config in one place), envpool pools, per-env seeds,
and episode accounting (the real game score).

envpool facts this module relies on (checked on envpool 1.2.5; tests/test_envs.py pins them):

    step k:    terminated=True (life lost, info["terminated"]==0)      → discount 0 for learning
    step k+1:  action ignored, reward 0, frame stack shifted by one     → first_t: not an experience
    ...
    step m:    terminated=True with info["terminated"]==1, or truncated → the game is over
    step m+1:  first frame of a new game, reward 0, elapsed_step 0      → first_t: not an experience

The score of a game is the sum of the unclipped `info["reward"]` over all its lives, closed only
when the game is over. Truncation bootstraps (discount γ): the state was not terminal.
"""

from __future__ import annotations

import dataclasses

import chex
import flax.struct
import jax.numpy as jnp
import numpy as np

from jaxdqn.config import EnvConfig
from jaxdqn.options import RunOptions

Array = chex.Array


def env_seeds(base_seed: int, num_seeds: int, envs_per_seed: int, epoch: int = 0) -> list[int]:
    """Distinct env seeds: run seed s owns the stream SeedSequence(s), so no two run seeds share
    env seeds (as consecutive integers would: seed 0's env 1 would be seed 1's env 0).

    `epoch` > 0 (the agent step at which a resumed run restarts its episodes) gives fresh
    streams, so a resumed run does not replay the games it started with.
    """
    seeds = []
    for s in range(base_seed, base_seed + num_seeds):
        entropy = [s, epoch] if epoch else s
        ss = np.random.SeedSequence(entropy)
        seeds.extend(int(x) for x in ss.generate_state(envs_per_seed) >> 1)
    return seeds


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What a backend needs to build its vector env, and nothing more (`env_spec` builds it)."""

    env_id: str
    backend: str  # the backend asked for: one of ENV_BACKENDS, or auto before it is resolved
    num_envs: int
    seeds: tuple[int, ...]  # [num_envs] env seeds (`env_seeds`)
    seed: int  # the run's base seed (envpool's `seed`)
    max_episode_steps: int | None
    atari: bool
    noop_max: int
    episodic_life: bool  # a lost life is a learning terminal (Atari training envs only)
    reward_clip: bool  # learn from sign(reward) (Atari training envs only)
    repeat_action_probability: float
    num_threads: int


def env_spec(
    config: EnvConfig,
    backend: str | None = None,
    *,
    evaluation: bool = False,
    num_envs: int | None = None,
    seeds: list[int] | None = None,
    epoch: int = 0,
    options: RunOptions | None = None,
) -> EnvSpec:
    """The one place where an env's settings are read from the config and its run options.

    `backend`: a resolved backend name (default: the one `options` ask for, possibly auto).
    `options` also give the worker threads (default: the `RunOptions` defaults). Evaluation envs
    play whole games with raw rewards. `num_envs` defaults to every env of every seed, `seeds`
    to theirs (`env_seeds`, fresh streams for `epoch` > 0)."""
    options = options or RunOptions()
    if num_envs is None:
        num_envs = config.num_envs
    if seeds is None:
        seeds = env_seeds(config.seed, config.num_seeds, config.envs_per_seed, epoch)
    return EnvSpec(
        env_id=config.env_id,
        backend=options.env_backend if backend is None else backend,
        num_envs=num_envs,
        seeds=tuple(int(s) for s in seeds)[:num_envs],
        seed=int(config.seed),
        max_episode_steps=config.max_episode_steps,
        atari=config.atari,
        noop_max=config.noop_max,
        episodic_life=config.episodic_life and not evaluation,
        reward_clip=config.reward_clip and not evaluation,
        repeat_action_probability=config.repeat_action_probability,
        num_threads=options.num_threads,
    )


def make_env(
    config: EnvConfig,
    *,
    evaluation: bool = False,
    num_envs: int | None = None,
    seeds: list[int] | None = None,
    epoch: int = 0,
    render_mode: str | None = None,
    options: RunOptions | None = None,
):
    """An envpool pool of `config`'s env (see `env_spec` for the arguments and `make_pool`)."""
    spec = env_spec(config, evaluation=evaluation, num_envs=num_envs, seeds=seeds, epoch=epoch,
                    options=options)  # fmt: skip
    return make_pool(spec, render_mode=render_mode)


def make_pool(spec: EnvSpec, render_mode: str | None = None):
    """An envpool pool in sync mode (envs returned in env_id order), gymnasium API.

    Training pools use the Atari learning settings (episodic life, clipped rewards); evaluation
    pools play full games with raw rewards.
    """
    kwargs = dict(
        env_type="gymnasium",
        num_envs=spec.num_envs,
        batch_size=spec.num_envs,
        num_threads=spec.num_threads,
        seed=spec.seed,
        env_seed=list(spec.seeds),
    )
    if spec.max_episode_steps is not None:
        kwargs["max_episode_steps"] = spec.max_episode_steps
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if spec.atari:
        kwargs.update(
            img_height=84,
            img_width=84,
            gray_scale=True,
            stack_num=4,
            frame_skip=4,
            noop_max=spec.noop_max,
            episodic_life=spec.episodic_life,
            reward_clip=spec.reward_clip,
            repeat_action_probability=spec.repeat_action_probability,
        )
    import envpool  # here, not at import: a Config needs no env library

    return envpool.make(spec.env_id, **kwargs)


def game_reward(reward: Array, info: dict) -> Array:
    """The unclipped reward of a step: envpool's `info["reward"]` on Atari, else the reward."""
    return info["reward"] if "reward" in info else reward


def game_over(terminated: Array, truncated: Array, info: dict) -> Array:
    """True where the whole game ended (not just a life): a real terminal or a truncation."""
    real_terminal = terminated
    if "terminated" in info:  # Atari: `terminated` is also set at a life loss
        real_terminal = terminated & (info["terminated"] == 1)
    return real_terminal | truncated


@flax.struct.dataclass
class EpisodeStats:
    """Running accounts of the game in progress, per env."""

    score: Array  # [N] float32, unclipped score of the current game so far
    length: Array  # [N] int32, agent steps of the current game so far


def init_episode_stats(num_envs: int) -> EpisodeStats:
    return EpisodeStats(
        score=jnp.zeros((num_envs,), jnp.float32), length=jnp.zeros((num_envs,), jnp.int32)
    )


def update_episode_stats(
    stats: EpisodeStats, reward: Array, done: Array, reset_step: Array
) -> tuple[EpisodeStats, Array, Array]:
    """Adds one step's unclipped reward; closes the game where `done`.

    `reset_step` marks envpool's auto-reset step (the step after a game ended): it returns the
    new game's first observation with reward 0 and is no decision, so it adds no length.

    Returns:
      (new stats, finished_score, finished_length): the finished game's score and length where
      `done`, NaN / -1 elsewhere.
    """
    score = stats.score + reward
    length = stats.length + jnp.where(reset_step, 0, 1)
    finished_score = jnp.where(done, score, jnp.nan)
    finished_length = jnp.where(done, length, -1)
    new = EpisodeStats(score=jnp.where(done, 0.0, score), length=jnp.where(done, 0, length))
    return new, finished_score, finished_length
