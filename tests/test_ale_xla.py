"""The ale-xla backend: ale-py's vector env stepped inside jit gives the games the host-stepped
ale-py env gives (same emulator, same seeds), trains, evaluates and plays with real scores, and
refuses what it cannot run before any work."""

import dataclasses
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import assault  # noqa: E402
import play  # noqa: E402

from jaxdqn.backends import check_env_id, default_backend, env_spec, library, make_host_env  # noqa: E402
from jaxdqn.backends.ale_xla import make_backend as make_ale_xla_backend  # noqa: E402
from jaxdqn.backends.host import AleHostEnv  # noqa: E402
from jaxdqn.config import Config, EnvConfig, EvalConfig  # noqa: E402
from jaxdqn.evaluate import eval_env_seeds, make_evaluator  # noqa: E402
from jaxdqn.metrics import read_metrics  # noqa: E402
from jaxdqn.options import RunOptions, check_options  # noqa: E402
from jaxdqn.runtime import resolve  # noqa: E402

ASSAULT_REWARD_UNIT = 21  # one enemy ship: Assault's raw rewards are its multiples
ASSAULT_UP = 2  # Assault's minimal action set: NOOP, FIRE, UP (fires upward), RIGHT, …


def _host_steps(env: AleHostEnv, actions: np.ndarray) -> list:
    return [env.step(a) for a in actions]


def _first_game_scores(steps: list) -> np.ndarray:
    """Each env's raw score summed up to and including its first game end."""
    game_over = np.stack([s.game_over for s in steps])
    before_end = np.cumsum(game_over, 0) - game_over == 0
    return np.sum(np.stack([s.game_reward for s in steps]) * before_end, 0)


@pytest.mark.slow
def test_xla_steps_equal_host_steps_frame_for_frame():
    """No no-op starts, training settings, games cut at 150 agent steps: 400 steps of the same
    random actions inside one jitted `lax.scan` and from Python give the same stacks, clipped
    and raw rewards, life-loss terminals, truncations and game ends — across life losses,
    game ends and the new games' first stacks."""
    config = EnvConfig(noop_max=1, num_seeds=1, envs_per_seed=2, max_episode_steps=150)
    backend = make_ale_xla_backend(env_spec(config, "ale-xla"))
    host = make_host_env(config, "gymnasium")
    assert isinstance(host, AleHostEnv) and backend.in_jit
    (obs_xla, handle), obs_host = backend.reset(), host.reset()
    np.testing.assert_array_equal(obs_xla, obs_host)
    assert np.all(obs_xla[:, 0] == obs_xla[:, 3])  # envpool's new game: the first frame × 4
    actions = np.random.default_rng(0).integers(0, host.num_actions, (400, 2)).astype(np.int32)
    handle = jax.tree_util.tree_map(jnp.asarray, handle)
    _, xla = jax.jit(lambda h, a: jax.lax.scan(backend.step, h, a))(handle, actions)
    reference = _host_steps(host, actions)
    for field in xla._fields:
        np.testing.assert_array_equal(
            np.asarray(getattr(xla, field)),
            np.stack([getattr(step, field) for step in reference]),
            err_msg=field,
        )
    life_losses = np.asarray(xla.terminated & ~xla.game_over)
    assert life_losses.sum() >= 1 and np.asarray(xla.game_over).sum() >= 2
    np.testing.assert_array_equal(xla.reward, np.sign(xla.game_reward))
    new_games = np.asarray(xla.obs)[1:][np.asarray(xla.game_over)[:-1]]  # [games, 4, 84, 84]
    assert np.all(new_games == new_games[:, :1])
    backend.close()
    host.close()


@pytest.fixture(scope="module")
def ale_xla_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    out = assault.main([
        "--env-backend", "ale-xla", "--num-seeds", "1", "--envs-per-seed", "2",
        "--total-frames", "1200", "--replay-capacity", "400", "--learning-starts", "100",
        "--batch-size", "8", "--max-episode-steps", "60", "--eval-episodes", "1",
        "--eval-max-episode-steps", "60", "--run-dir", str(runs), "--run-name", "ale",
        "--no-progress",
    ])  # fmt: skip
    return out, runs / "ale"


@pytest.mark.slow
def test_training_on_ale_xla_logs_finite_losses_and_real_scores(ale_xla_run):
    out, run_dir = ale_xla_run
    records = read_metrics(run_dir)
    learn = [r for r in records if r["phase"] == "learn"]
    assert learn and all(np.isfinite(r["losses/td_loss"]) for r in learn)
    scores = [s for seed_scores in out["scores"] for s in seed_scores]
    assert len(scores) >= 2  # 60-step games: both envs finish at least one
    # Raw scores: multiples of 21, where a sum of clipped rewards would count ships one by one.
    assert all(s % ASSAULT_REWARD_UNIT == 0 for s in scores) and max(scores) > 0
    logged = [r["charts/episodic_return_last"] for r in records if r.get("charts/episodes_total")]
    assert logged and all(s % ASSAULT_REWARD_UNIT == 0 for s in logged)
    assert max(r["frames"] for r in records) >= 1200
    recorded = json.loads((run_dir / "config.json").read_text())
    assert recorded["runtime"]["env_backend"] == "ale-xla"


@pytest.mark.slow
def test_evaluation_steps_ale_py_from_the_host():
    """ale-xla evaluates on ale-py's host-stepped env: an agent that always fires upward scores
    exactly what that env gives the same action on the evaluation seeds."""
    config = Config(
        env=EnvConfig(num_seeds=1, envs_per_seed=1),
        eval=EvalConfig(eval_episodes=2, eval_epsilon=0.0, eval_max_episode_steps=150),
    )
    options = RunOptions(env_backend="ale-xla")
    assert library(config.env, options) == "gymnasium"
    always_up = lambda params, obs, key: jax.nn.one_hot(jnp.full(len(obs), ASSAULT_UP), 7)  # noqa: E731
    evaluator = make_evaluator(config, always_up, options=options)
    scores = evaluator(np.zeros(1), jax.random.PRNGKey(0))
    env_config = dataclasses.replace(config.env, envs_per_seed=2, max_episode_steps=150)
    env = make_host_env(env_config, "ale-xla", evaluation=True, seeds=eval_env_seeds(config))
    env.reset()
    expected = _first_game_scores(_host_steps(env, np.full((150, 2), ASSAULT_UP)))
    np.testing.assert_array_equal(scores, expected[None])
    assert np.all(scores % ASSAULT_REWARD_UNIT == 0) and scores.min() > 0


@pytest.mark.slow
def test_play_and_final_evaluation_of_an_ale_xla_run(ale_xla_run, capsys):
    out, run_dir = ale_xla_run
    (scores,) = out["evaluations"][-1]["scores"]  # the one seed's games
    assert len(scores) == 1 and np.all(scores % ASSAULT_REWARD_UNIT == 0)
    (record,) = [r for r in read_metrics(run_dir) if r["phase"] == "eval"]
    assert record["eval/score"] == pytest.approx(np.mean(scores))
    result = play.main(["--run", str(run_dir), "--episodes", "1", "--max-episode-steps", "40"])
    assert len(result["scores"]) == 1 and result["scores"][0] % ASSAULT_REWARD_UNIT == 0
    assert "mean score over 1 game(s)" in capsys.readouterr().out


def test_ids_are_the_gymnasium_ale_ids():
    """Both spellings of an ale-py Atari game run; `auto` keeps envpool-xla for them."""
    check_env_id("Assault-v5", "ale-xla")
    check_env_id("ALE/Assault-v5", "ale-xla")
    assert default_backend("Assault-v5", "cpu", 1) == "envpool-xla"
    with pytest.raises(ValueError, match=r"env_id='ALE/Asault-v5'.*Close matches: ALE/Assault"):
        check_env_id("ALE/Asault-v5", "ale-xla")


def test_non_atari_ids_are_refused_with_the_backend_that_runs_them(capsys):
    with pytest.raises(ValueError, match=r"env_id='CartPole-v1'.*ale-xla.*--env-backend gymnasium"):
        check_env_id("CartPole-v1", "ale-xla")
    ale_xla = RunOptions(env_backend="ale-xla")
    with pytest.raises(ValueError, match=r"env_id='CartPole-v1'.*Atari games only"):
        check_options(EnvConfig(env_id="CartPole-v1"), ale_xla)
    with pytest.raises(ValueError, match=r"env_id='Asault-v5'.*Did you mean Assault-v5\?"):
        check_options(EnvConfig(env_id="Asault-v5"), ale_xla)
    with pytest.raises(ValueError, match="ale-xla cannot run with devices=2"):
        resolve(Config(env=EnvConfig(num_seeds=2)), RunOptions(env_backend="ale-xla", devices="2"))
    with pytest.raises(SystemExit) as exc:  # the command line stops before any env is built
        assault.main(["--env-backend", "ale-xla", "--env-id", "CartPole-v1", "--network", "mlp"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "env_id='CartPole-v1'" in err and "ale-xla" in err
