"""Environment backends: envpool stepped from Python equals envpool's XLA step; ale-py's vector
env through the gymnasium backend gives envpool's observations and real game scores."""

import os
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import cartpole  # noqa: E402

from jaxdqn.backends import ale_game, make_host_env  # noqa: E402
from jaxdqn.config import EnvConfig  # noqa: E402
from jaxdqn.metrics import read_metrics  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)

ASSAULT_REWARD_UNIT = 21
TIMING_FIELDS = ("time", "charts/SPS", "eval/seconds")


def _short_run(tmp_path, backend):
    return cartpole.main([
        "--num-seeds", "2", "--total-frames", "3000", "--learning-starts", "500",
        "--chunk-iterations", "500", "--env-backend", backend, "--eval-episodes", "2",
        "--run-dir", str(tmp_path), "--run-name", backend, "--no-progress",
    ])  # fmt: skip


def test_host_stepped_envpool_equals_xla_step(tmp_path):
    """Same seeds, synchronous pool: the envpool backend (env stepped from Python between
    jitted calls) reproduces envpool-xla's run exactly — games, losses, parameters."""
    xla, host = _short_run(tmp_path, "envpool-xla"), _short_run(tmp_path, "envpool")
    strip = lambda records: [  # noqa: E731
        {k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records
    ]
    assert strip(read_metrics(tmp_path / "envpool-xla")) == strip(
        read_metrics(tmp_path / "envpool")
    )
    assert xla["scores"] == host["scores"] and len(xla["scores"][0]) > 20
    jax.tree_util.tree_map(np.testing.assert_array_equal, xla["state"].agent.params,
                           host["state"].agent.params)  # fmt: skip


def test_gymnasium_cartpole_runs_and_logs_like_envpool(tmp_path):
    out = _short_run(tmp_path, "gymnasium")
    records = read_metrics(tmp_path / "gymnasium")
    assert {r["seed"] for r in records} == {0, 1}
    learn = [r for r in records if r["phase"] == "learn"]
    assert learn and all(np.isfinite(r["losses/td_loss"]) for r in learn)
    assert (tmp_path / "gymnasium" / "config.json").exists()
    assert (tmp_path / "gymnasium" / "curves.png").exists()
    # CartPole scores are episode lengths: every step of a game pays 1.
    for scores, lengths in zip(out["scores"], out["lengths"], strict=True):
        assert scores == [float(n) for n in lengths]


def test_ale_game_names():
    assert ale_game("ALE/Assault-v5") == "assault"
    assert ale_game("SpaceInvaders-v5") == "space_invaders"


def test_gymnasium_atari_matches_envpool_until_the_first_life_loss():
    """Without no-op starts both emulate the same game: the same actions give the same 84×84
    gray stacks (ale-py's zero-filled first stacks rewritten to envpool's repeated first
    frame), rewards and life-loss terminals, until envpool pauses the game after a life loss."""
    config = EnvConfig(noop_max=1, num_seeds=1, envs_per_seed=2)
    pool, ale = make_host_env(config, "envpool"), make_host_env(config, "gymnasium")
    obs_pool, obs_ale = pool.reset(), ale.reset()
    assert obs_ale.shape == obs_pool.shape == (2, 4, 84, 84)
    assert obs_ale.dtype == obs_pool.dtype == np.uint8
    np.testing.assert_array_equal(obs_ale, obs_pool)
    assert np.all(obs_pool[:, 0] == obs_pool[:, 3])  # a new game: the first frame repeated
    rng = np.random.default_rng(0)
    steps = 0
    while True:
        actions = rng.integers(0, pool.num_actions, 2)
        a, b = pool.step(actions), ale.step(actions)
        steps += 1
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.game_reward, b.game_reward)
        np.testing.assert_array_equal(a.terminated, b.terminated)
        if a.terminated.any():
            break
        assert steps < 2_000
    assert steps > 50
    pool.close()
    ale.close()


def test_gymnasium_atari_scores_are_real_games():
    """Training settings: learning rewards are clipped and every life loss is a terminal, but
    the game score sums the unclipped rewards over all lives until the game is over."""
    config = EnvConfig(num_seeds=1, envs_per_seed=2)
    env = make_host_env(config, "gymnasium")
    env.reset()
    rng = np.random.default_rng(1)
    score, clipped, terminals = np.zeros(2), np.zeros(2), np.zeros(2, int)
    finished = {}
    for _ in range(5_000):
        step = env.step(rng.integers(0, env.num_actions, 2))
        assert set(np.unique(step.reward)) <= {-1.0, 0.0, 1.0}
        np.testing.assert_array_equal(step.reward, np.sign(step.game_reward))
        score += step.game_reward
        clipped += step.reward
        terminals += step.terminated
        for e in np.nonzero(step.game_over)[0]:
            finished.setdefault(e, (score[e], clipped[e], terminals[e]))
        if len(finished) == 2:
            break
    assert len(finished) == 2, "random play should end a game of Assault in 5,000 steps"
    for game_score, clipped_sum, lives_lost in finished.values():
        assert game_score % ASSAULT_REWARD_UNIT == 0 and game_score > clipped_sum > 0
        assert lives_lost >= 4  # Assault starts with 4 lives: every loss was a terminal
    env.close()


@pytest.mark.parametrize("backend", ["gymnasium", "envpool"])
def test_unknown_ids_name_the_backend(backend):
    """The backend's registry decides, when the runtime is resolved (and in `_cli.parse`)."""
    from jaxdqn.backends import check_env_id

    with pytest.raises(ValueError, match="Close matches: .*Assault"):
        check_env_id("ALE/Asault-v5" if backend == "gymnasium" else "Asault-v5", backend)
    if backend == "envpool":
        with pytest.raises(ValueError, match="--env-backend gymnasium"):
            check_env_id("ALE/Assault-v5", backend)
