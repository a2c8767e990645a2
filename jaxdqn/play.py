"""Load a trained agent, play full games with the evaluation protocol, record video.

Atari runs of the ale-py backends (gymnasium, ale-xla) are played on envpool's build of the
same game with the same preprocessing (backends/__init__.py): ale-py's vector env renders no
RGB frames to record.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from jaxdqn import backends
from jaxdqn import envs as envs_lib
from jaxdqn.config import Config
from jaxdqn.networks import forward
from jaxdqn.options import RunOptions
from jaxdqn.policies import POLICIES, Policy
from jaxdqn.train import make_network, observation_spec

ATARI_FPS = 60  # the emulator's frame rate


def abstract_params(config: Config, options: RunOptions | None = None):
    """Shapes of the online params of every seed (nothing allocated), for the env on the
    backend `options` ask for."""
    obs_shape, obs_dtype, num_actions = observation_spec(config, options)
    network = make_network(config, num_actions)
    obs = jax.ShapeDtypeStruct((1,) + obs_shape, obs_dtype)
    keys = jax.ShapeDtypeStruct((config.env.num_seeds, 2), jnp.uint32)
    return jax.eval_shape(jax.vmap(network.init, in_axes=(0, None)), keys, obs)


def export_params(params, path: str | Path) -> Path:
    """Writes one seed's online params (flax msgpack serialization)."""
    path = Path(path)
    try:
        path.write_bytes(flax.serialization.to_bytes(params))
    except OSError as err:
        raise OSError(f"cannot write {path}: {err.strerror}") from err
    return path


def import_params(config: Config, path: str | Path, options: RunOptions | None = None):
    """Reads params written by `export_params` for this run's network."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file {path} does not exist")
    template = jax.tree_util.tree_map(
        lambda x: np.zeros(x.shape[1:], x.dtype), abstract_params(config, options)
    )
    try:
        return flax.serialization.from_bytes(template, path.read_bytes())
    except Exception as err:
        raise ValueError(f"{path} does not hold params for this run's network: {err}") from err


def play(
    config: Config,
    params,
    *,
    episodes: int,
    epsilon: float | None = None,
    seed: int = 0,
    video_dir: str | Path | None = None,
    max_episode_steps: int | None = None,
    policy: str | Policy = "epsilon",
    temperature: float | None = None,
    options: RunOptions | None = None,
) -> tuple[list[float], list[Path]]:
    """Plays `episodes` full games (no life loss, raw rewards, no-op starts, 108k-frame cap).

    Args:
      episodes: full games, each in a fresh env seeded `seed * 1000 + game`.
      epsilon: ε in [0, 1] of the ε-greedy policy (policy "epsilon", the default).
      policy: a name in `jaxdqn.policies.POLICIES` or a `Policy`; its `parameter_name` says
        whether it takes `epsilon` or `temperature` (τ > 0 of "boltzmann": softmax of Q/τ).
      video_dir: where to write gameNNN.mp4 (None: no video); max_episode_steps: a game's
        cap in agent steps (default: the evaluation cap).
      options: the run's `jaxdqn.options.RunOptions` (its env backend and threads).

    Returns:
      (real game scores, video paths). Videos are the emulator's RGB frames, one per agent
      step, written at the game's own speed (60 / frame_skip frames per second).
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    chosen, parameter = play_policy(policy, epsilon=epsilon, temperature=temperature)
    _, _, num_actions = observation_spec(config, options)
    act = make_act(make_network(config, num_actions), params, chosen.sample, parameter)
    if backends.library(config.env, options) == "gymnax":
        return _play_gymnax(config, act, episodes, seed, video_dir, max_episode_steps, options)
    env_config = _envpool_config(config, max_episode_steps, options)
    video_dir = _video_dir(video_dir)
    fps = ATARI_FPS / config.env.frame_skip if config.env.atari else 50
    scores, videos = [], []
    key = jax.random.PRNGKey(seed)
    for game in range(episodes):
        env = envs_lib.make_env(
            env_config,
            evaluation=True,
            seeds=[seed * 1_000 + game],
            render_mode="rgb_array",
            options=options,
        )
        path = None if video_dir is None else video_dir / f"game{game:03d}.mp4"
        score, key = _play_envpool_game(env, act, key, path, fps)
        scores.append(score)
        videos += [] if path is None else [path]
    return scores, videos


def _envpool_config(config: Config, max_episode_steps: int | None, options=None):
    """The env config of one envpool env playing the run's game with the evaluation protocol
    (Atari runs of ale-py play envpool's build of the game)."""
    env_id, backend = config.env.env_id, backends.library(config.env, options)
    if backend == "gymnasium" and config.env.atari:  # ale-py (ale-xla too) cannot render
        env_id, backend = env_id.removeprefix("ALE/"), "envpool"
    if backend == "gymnasium":
        raise ValueError(
            f"play records envpool games; {env_id} (env_backend=gymnasium) has no envpool "
            "version: evaluate it with jaxdqn.evaluate instead"
        )
    return dataclasses.replace(
        config.env,
        env_id=env_id,
        num_seeds=1,
        envs_per_seed=1,
        max_episode_steps=max_episode_steps or config.eval.eval_max_episode_steps,
    )


def play_policy(
    policy: str | Policy, *, epsilon: float | None, temperature: float | None
) -> tuple[Policy, float]:
    """The policy `play` acts with and its parameter, checked: ε in [0, 1], τ > 0.

    A `Policy` whose parameter is neither ε nor τ (a fork's) takes `temperature` if given,
    else `epsilon`, unchecked.
    """
    if isinstance(policy, str):
        if policy not in POLICIES:
            raise ValueError(f"policy={policy!r} is invalid: one of {', '.join(POLICIES)}")
        policy = POLICIES[policy]
    if policy.parameter_name == "epsilon":
        if epsilon is None or not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon={epsilon} must be in [0, 1] for the ε-greedy policy")
        return policy, epsilon
    if policy.parameter_name == "temperature":
        if temperature is None or not temperature > 0.0:
            raise ValueError(f"temperature={temperature} must be > 0 for the Boltzmann policy")
        return policy, temperature
    return policy, temperature if temperature is not None else epsilon


def _act(network, params, sample, parameter, obs, key):
    # Noisy networks draw their noise per forward pass (other networks ignore the key).
    out = forward(network, params, obs, jax.random.fold_in(key, 1))
    return sample(key, out.q_values, parameter)


def make_act(network, params, sample, parameter):
    """act(obs `[1, *obs_shape]`, key) → actions `[1]`, jitted: `sample(key, q, parameter)`
    on the Q-values of `params` (a `Policy.sample`: `epsilon_greedy`, `boltzmann`, …)."""
    return jax.jit(functools.partial(_act, network, params, sample, parameter))


def _video_dir(video_dir: str | Path | None) -> Path | None:
    """The video directory, made (None: no videos)."""
    if video_dir is None:
        return None
    video_dir = Path(video_dir)
    try:
        video_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create video directory {video_dir}: {err.strerror}") from err
    return video_dir


def _play_envpool_game(env, act, key, path: Path | None, fps: float) -> tuple[float, jax.Array]:
    """One full game in an envpool env of one env; writes its video to `path` (None: none).
    Returns (the game's score, the key after it)."""
    obs, _ = env.reset()
    writer = None
    if path is not None:
        import imageio.v2 as imageio

        writer = imageio.get_writer(path, fps=fps, codec="libx264", quality=8, macro_block_size=1)
        writer.append_data(env.render()[0])
    score, over = 0.0, False
    while not over:
        key, act_key = jax.random.split(key)
        action = np.asarray(act(jnp.asarray(obs), act_key))
        obs, reward, terminated, truncated, info = env.step(action)
        score += float(envs_lib.game_reward(reward, info)[0])
        over = bool(envs_lib.game_over(terminated, truncated, info)[0])
        if writer is not None:
            writer.append_data(env.render()[0])
    if writer is not None:
        writer.close()
    return score, key


def _play_gymnax(config, act, episodes, seed, video_dir, max_steps, options=None):
    """`play` on the gymnax backend: full games in one env; MinAtar videos draw the grid
    (one colour per channel, `gymnax_envs.minatar_rgb`) at 10 agent steps per second."""
    from jaxdqn.backends import gymnax_envs

    if video_dir is not None and not gymnax_envs.is_minatar(config.env.env_id):
        raise ValueError(
            f"play records videos of MinAtar grids; {config.env.env_id} (env_backend=gymnax) "
            "has no picture: play it without --video"
        )
    env_config = dataclasses.replace(config.env, num_seeds=1, envs_per_seed=1,
                                     max_episode_steps=max_steps
                                     or config.eval.eval_max_episode_steps)  # fmt: skip
    scores, videos, key = [], [], jax.random.PRNGKey(seed)
    for game in range(episodes):
        env = backends.make_host_env(env_config, "gymnax", evaluation=True,
                                     seeds=[seed * 1_000 + game], options=options)  # fmt: skip
        obs, frames, score, over = env.reset(), [], 0.0, False
        while not over:
            frames.append(obs[0])
            key, act_key = jax.random.split(key)
            step = env.step(np.asarray(act(jnp.asarray(obs), act_key)))
            obs, score, over = step.obs, score + float(step.game_reward[0]), bool(step.game_over[0])
        scores.append(score)
        if video_dir is not None:
            import imageio.v2 as imageio

            path = Path(video_dir) / f"game{game:03d}.mp4"
            Path(video_dir).mkdir(parents=True, exist_ok=True)
            imageio.mimwrite(path, [gymnax_envs.minatar_rgb(f) for f in frames], fps=10,
                             codec="libx264", quality=8, macro_block_size=1)  # fmt: skip
            videos.append(path)
    return scores, videos
