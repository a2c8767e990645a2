"""Evaluation of greedy-ish agents on full games, separate from training.

Protocol (Mnih et al. 2015; Machado et al. 2018): a separate pool with `episodic_life=False`
and raw rewards, the training run's no-op starts and sticky-action setting, games capped at
108,000 frames (27,000 agent steps), ε-greedy with a small ε_eval (0.05 in Mnih et al. 2015,
0.001 in Dopamine). Every env plays exactly one game; its score is the unclipped sum of rewards
over all lives.

Evaluation steps its envs from Python on every backend (games end at unpredictable times and
a score needs no jitted chunk), in the library the run trained on (`backends.library`): the
in-jit backends evaluate on their host-stepped form — envpool-xla on an envpool pool, ale-xla
on the same ale-py vector env with the same preprocessing (`host.AleHostEnv`), gymnax on the
same pure envs one jitted call a step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdqn import atari_data, backends
from jaxdqn.config import Config
from jaxdqn.options import RunOptions
from jaxdqn.policies import epsilon_greedy

# (random, human) per game: the 57-game table of the Atari 100k / Atari-57 literature (DQN Zoo,
# rliable; Assault 222.4 / 742.0), see jaxdqn.atari_data. Mnih et al. 2015's own table is
# atari_data.NATURE_2015 (Assault 222.4 / 1496).
REFERENCE_SCORES = atari_data.HUMAN_RANDOM_57

# human_normalized(env_id, score, table="atari100k"): (score - random) / (human - random) as
# float64, None for a game without reference scores; table="nature" uses Mnih et al. 2015's.
human_normalized = atari_data.human_normalized


def eval_env_seeds(config: Config) -> list[int]:
    """Env seeds of the evaluation games, disjoint from the training streams."""
    e = config.env
    seeds = []
    for s in range(e.seed, e.seed + e.num_seeds):
        ss = np.random.SeedSequence([s, 0xE7A1])
        seeds.extend(int(x) for x in ss.generate_state(config.eval.eval_episodes) >> 1)
    return seeds


def make_evaluator(
    config: Config,
    q_values: Callable,
    *,
    seed_offset: int = 0,
    total_seeds: int | None = None,
    sample: Callable | None = None,
    options: RunOptions | None = None,
) -> Callable:
    """Returns evaluate(params, key, observe=None) → scores `[S, eval_episodes]` (numpy,
    unclipped).

    `q_values(params, obs, key)` gives Q-values (the key: a noisy network's noise, drawn
    anew for every action as in training). `params` carry a leading seed axis; each seed plays
    `eval_episodes` games in its own envs. `sample(key, q)` → actions picks them (default:
    ε-greedy at `eval_epsilon`). `observe(q, playing)`, if given, sees every step's Q-values
    `[S, eval_episodes, A]` and which games are still playing `[S, eval_episodes]` (numpy).
    A process that evaluates seeds `[seed_offset, seed_offset + S)` of a run of `total_seeds`
    draws the same keys for them as a single process evaluating them all. `options`
    (`jaxdqn.options.RunOptions`): the env backend asked for and its worker threads.
    """
    S, n = config.env.num_seeds, config.eval.eval_episodes
    total = total_seeds or S
    eval_env_config = dataclasses.replace(
        config.env,
        num_seeds=S,
        envs_per_seed=n,
        max_episode_steps=config.eval.eval_max_episode_steps,
    )
    env = backends.make_host_env(eval_env_config, backends.library(config.env, options),
                                 evaluation=True, seeds=eval_env_seeds(config),
                                 options=options)  # fmt: skip
    if sample is None:
        epsilon = config.eval.eval_epsilon
        sample = lambda k, q: epsilon_greedy(k, q, epsilon)  # noqa: E731

    @jax.jit
    def act(params, obs, key):  # obs [S, n, *obs_shape]
        keys = jax.random.split(key, total)[seed_offset : seed_offset + S]
        noise_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)  # noisy networks
        q = jax.vmap(q_values)(params, obs, noise_keys)
        return jax.vmap(sample)(keys, q), q

    return functools.partial(play_games, env, act, (S, n))


def play_games(env, act: Callable, seeds_games: tuple[int, int], params, key,
               observe: Callable | None = None) -> np.ndarray:  # fmt: skip
    """Plays one game in every env of `env` (`S * n` of them) with `act(params, obs, key)` →
    (actions, Q-values) until each has ended; returns the games' scores `[S, n]`."""
    S, n = seeds_games
    obs = env.reset()
    obs_shape = obs.shape[1:]
    scores = np.zeros(S * n, np.float64)
    running = np.zeros(S * n, np.float64)
    finished = np.zeros(S * n, bool)
    while not finished.all():
        key, act_key = jax.random.split(key)
        actions, q = act(params, jnp.asarray(obs).reshape((S, n) + obs_shape), act_key)
        if observe is not None:
            observe(np.asarray(q), ~finished.reshape(S, n))
        step = env.step(np.asarray(actions).reshape(S * n))
        obs = step.obs
        running += np.where(finished, 0.0, step.game_reward)
        over = np.asarray(step.game_over)
        newly = over & ~finished
        scores[newly] = running[newly]
        finished |= over
    return scores.reshape(S, n)
