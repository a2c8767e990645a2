"""Load a trained agent, play full games with the evaluation protocol, record video.

Atari runs of the ale-py backends (gymnasium, ale-xla) are played on envpool's build of the
same game with the same preprocessing (backends/__init__.py): ale-py's vector env renders no
RGB frames to record.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from jaxdqn import backends
from jaxdqn import envs as envs_lib
from jaxdqn.config import Config
from jaxdqn.networks import forward
from jaxdqn.policies import epsilon_greedy
from jaxdqn.train import make_network, observation_spec

ATARI_FPS = 60  # the emulator's frame rate


def abstract_params(config: Config):
    """Shapes of the online params of every seed (nothing allocated)."""
    obs_shape, obs_dtype, num_actions = observation_spec(config)
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


def import_params(config: Config, path: str | Path):
    """Reads params written by `export_params` for this run's network."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file {path} does not exist")
    template = jax.tree_util.tree_map(
        lambda x: np.zeros(x.shape[1:], x.dtype), abstract_params(config)
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
    epsilon: float,
    seed: int = 0,
    video_dir: str | Path | None = None,
    max_episode_steps: int | None = None,
) -> tuple[list[float], list[Path]]:
    """Plays `episodes` full games (no life loss, raw rewards, no-op starts, 108k-frame cap).

    Returns (real game scores, video paths). Videos are the emulator's RGB frames, one per
    agent step, written at the game's own speed (60 / frame_skip frames per second).
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon={epsilon} must be in [0, 1]")
    obs_shape, _, num_actions = observation_spec(config)
    network = make_network(config, num_actions)
    env_id, backend = config.env.env_id, backends.library(config.env)
    if backend == "gymnasium" and config.env.atari:  # ale-py (ale-xla too) cannot render
        env_id, backend = env_id.removeprefix("ALE/"), "envpool"
    if backend == "gymnax":
        return _play_gymnax(config, network, params, episodes, epsilon, seed, video_dir,
                            max_episode_steps)  # fmt: skip
    if backend == "gymnasium":
        raise ValueError(
            f"play records envpool games; {env_id} (env_backend=gymnasium) has no envpool "
            "version: evaluate it with jaxdqn.evaluate instead"
        )
    env_config = dataclasses.replace(
        config.env,
        env_id=env_id,
        env_backend=backend,
        num_seeds=1,
        envs_per_seed=1,
        max_episode_steps=max_episode_steps or config.eval.eval_max_episode_steps,
    )
    writer_cls = None
    if video_dir is not None:
        import imageio.v2 as imageio

        video_dir = Path(video_dir)
        try:
            video_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OSError(f"cannot create video directory {video_dir}: {err.strerror}") from err
        writer_cls = imageio.get_writer
    fps = ATARI_FPS / config.env.frame_skip if config.env.atari else 50

    @jax.jit
    def act(obs, key):
        # Noisy networks draw their noise per forward pass (other networks ignore the key).
        out = forward(network, params, obs, jax.random.fold_in(key, 1))
        return epsilon_greedy(key, out.q_values, epsilon)

    scores, videos = [], []
    key = jax.random.PRNGKey(seed)
    for game in range(episodes):
        env = envs_lib.make_env(
            env_config, evaluation=True, seeds=[seed * 1_000 + game], render_mode="rgb_array"
        )
        obs, _ = env.reset()
        writer = None
        if writer_cls is not None:
            path = video_dir / f"game{game:03d}.mp4"
            writer = writer_cls(path, fps=fps, codec="libx264", quality=8, macro_block_size=1)
            writer.append_data(env.render()[0])
            videos.append(path)
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
        scores.append(score)
    return scores, videos


def _play_gymnax(config, network, params, episodes, epsilon, seed, video_dir, max_steps):
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

    @jax.jit
    def act(obs, key):
        out = forward(network, params, obs, jax.random.fold_in(key, 1))
        return epsilon_greedy(key, out.q_values, epsilon)

    scores, videos, key = [], [], jax.random.PRNGKey(seed)
    for game in range(episodes):
        env = backends.make_host_env(env_config, "gymnax", evaluation=True,
                                     seeds=[seed * 1_000 + game])  # fmt: skip
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
