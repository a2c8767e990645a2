"""Watching a trained agent: load from a run, play, export params, record a decodable video;
play's policies (ε-greedy, Boltzmann at a temperature) on untrained networks."""

import dataclasses
import json
import re
import sys
from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import assault  # noqa: E402
import evaluate  # noqa: E402
import play  # noqa: E402

from jaxdqn import play as play_lib  # noqa: E402
from jaxdqn.networks import forward  # noqa: E402
from jaxdqn.policies import POLICIES  # noqa: E402
from jaxdqn.presets import cartpole, minatar  # noqa: E402
from jaxdqn.train import make_network, observation_spec  # noqa: E402


@pytest.fixture(scope="module")
def tiny_assault_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    out = assault.main([
        "--num-seeds", "2", "--envs-per-seed", "2", "--total-frames", "4400",
        "--replay-capacity", "2000", "--learning-starts", "1000", "--batch-size", "8",
        "--eval-episodes", "1", "--eval-max-episode-steps", "100", "--run-dir", str(runs),
        "--run-name", "tiny", "--no-progress",
    ])  # fmt: skip
    return out, runs / "tiny"


@pytest.mark.slow
@pytest.mark.long  # CI time; tests/test_forking plays a forked run in CI
def test_play_writes_decodable_video_with_every_frame(tiny_assault_run):
    out, run_dir = tiny_assault_run
    result = play.main(["--run", str(run_dir), "--episodes", "1", "--video",
                        "--max-episode-steps", "120"])  # fmt: skip
    (video,) = result["videos"]
    assert video.parent == run_dir / "videos" and video.suffix == ".mp4"
    frames = np.stack(list(iio.imiter(video)))
    # The reset frame plus one per agent step; Assault's 210×160 RGB screen, not 84×84.
    assert frames.shape[0] == 121
    assert frames.shape[1:] == (210, 160, 3)
    assert result["scores"][0] % 21 == 0
    meta = iio.immeta(video)
    assert meta["fps"] == pytest.approx(15.0)  # 60 Hz emulator / frame skip 4


@pytest.mark.slow
@pytest.mark.long  # CI time; tests/test_forking plays a forked run in CI
def test_export_and_load_params_match_checkpoint(tiny_assault_run, tmp_path, capsys):
    out, run_dir = tiny_assault_run
    path = tmp_path / "params.msgpack"
    play.main(["--run", str(run_dir), "--export", str(path), "--seed-index", "1"])
    from jaxdqn.checkpoint import load_run_config
    from jaxdqn.play import import_params

    loaded = import_params(load_run_config(run_dir), path)
    final = jax.tree_util.tree_map(lambda x: np.asarray(x)[1], out["state"].agent.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded, final)
    # Playing from the file and from the checkpoint gives the same game.
    a = play.main(["--run", str(run_dir), "--params", str(path), "--seed-index", "1",
                   "--max-episode-steps", "60"])  # fmt: skip
    b = play.main(["--run", str(run_dir), "--seed-index", "1", "--max-episode-steps", "60"])
    assert a["scores"] == b["scores"]
    assert "mean score over 1 game(s)" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.long  # CI time; tests/test_forking plays a forked run in CI
def test_evaluate_command_plays_the_same_games_for_policies_that_agree(tiny_assault_run, tmp_path):
    """Every seed of the run plays the same games under ε = 0 and under Boltzmann at τ → 0
    (both the argmax); the Q gaps are those of the states played, recomputed here."""
    _, run_dir = tiny_assault_run
    common = ["--run", str(run_dir), "--episodes", "2", "--q-gaps"]
    greedy = evaluate.main([*common, "--epsilon", "0", "--out", str(tmp_path / "g.json")])
    cold = evaluate.main([*common, "--policy", "boltzmann", "--temperature", "1e-6"])
    (g,), (c,) = greedy["runs"], cold["runs"]
    assert np.shape(g["scores"]) == (2, 2) and g["scores"] == c["scores"]
    assert g["q_gaps"] == c["q_gaps"]
    assert json.loads((tmp_path / "g.json").read_text()) == json.loads(json.dumps(greedy))
    # 2 seeds × 2 games of at most 100 steps (the run's evaluation cap); gaps are ≥ 0.
    assert 2 <= g["q_gaps"][0]["states"] <= 200
    assert 0 <= g["q_gaps"][0]["quantiles"]["0.1"] <= g["q_gaps"][0]["median"]
    assert greedy["q_gap_pooled"]["states"] == sum(q["states"] for q in g["q_gaps"])


def test_q_gaps_keep_the_states_still_playing():
    gaps = evaluate.Gaps(num_seeds=2)
    q = np.array([[[1.0, 3.0, 2.5], [0.0, 0.0, -1.0]], [[5.0, 1.0, 2.0], [4.0, 4.5, 0.0]]])
    gaps(q, np.array([[True, True], [False, True]]))
    gaps(q + np.array([0.0, 0.0, 1.0]), np.array([[True, False], [False, False]]))
    # seed 0: 3 - 2.5, 0 - 0, then 3.5 - 3; seed 1: 4.5 - 4 only.
    np.testing.assert_allclose(gaps.arrays()[0], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(gaps.arrays()[1], [0.5])
    assert gaps.summary()[0]["states"] == 3 and gaps.summary()[0]["median"] == 0.5


@pytest.mark.slow
@pytest.mark.long  # CI time; tests/test_forking plays a forked run in CI
def test_play_errors_are_clear(tiny_assault_run, tmp_path, capsys):
    _, run_dir = tiny_assault_run
    (tmp_path / "nockpt").mkdir()
    (tmp_path / "nockpt" / "config.json").write_text((run_dir / "config.json").read_text())
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    unwritable.chmod(0o500)
    cases = [
        (["--run", str(tmp_path / "missing")], "does not exist"),
        (["--run", str(tmp_path / "nockpt")], "no checkpoint"),
        (["--run", str(run_dir), "--seed-index", "5"], "seed_index=5"),
        (["--run", str(run_dir), "--params", str(tmp_path / "nope.msgpack")], "nope.msgpack"),
        (["--run", str(run_dir), "--episodes", "0"], "episodes=0"),
    ]
    import os

    if os.geteuid() != 0:  # root can write anywhere
        cases.append((["--run", str(run_dir), "--video", "--video-dir", str(unwritable / "v")],
                      "cannot create video directory"))  # fmt: skip
    for args, message in cases:
        with pytest.raises(SystemExit) as exc:
            play.main(args)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err, args


# ----------------------------------------------------------------------------- policies


def untrained(config):
    """The run's network and freshly initialised params (a fixed key)."""
    obs_shape, obs_dtype, num_actions = observation_spec(config)
    network = make_network(config, num_actions)
    params = network.init(jax.random.PRNGKey(7), jnp.zeros((1,) + obs_shape, obs_dtype))
    return network, params, num_actions


@pytest.fixture
def recorded(monkeypatch):
    """Every (observation, action) play's act sees, in order."""
    seen, original = [], play_lib.make_act

    def make_act(network, params, sample, parameter):
        act = original(network, params, sample, parameter)

        def act_and_record(obs, key):
            action = act(obs, key)
            seen.append((np.asarray(obs), int(np.asarray(action)[0])))
            return action

        return act_and_record

    monkeypatch.setattr(play_lib, "make_act", make_act)
    return seen


def asterix():
    """Asterix-MinAtar: gymnax gives its 6 actions, and an untrained agent's games last long
    enough (≈60 steps) to count them."""
    config = minatar()
    return dataclasses.replace(
        config, env=dataclasses.replace(config.env, env_id="Asterix-MinAtar")
    )


# CartPole through envpool (2 actions), a MinAtar game through gymnax (6 actions): the two ways
# play steps a game.
GAMES = [pytest.param(cartpole, 12, id="cartpole"), pytest.param(asterix, 4, id="minatar")]


@pytest.mark.parametrize("preset, episodes", GAMES)
def test_boltzmann_at_a_very_high_temperature_plays_near_uniform_actions(
    preset, episodes, recorded
):
    config = preset()
    network, params, num_actions = untrained(config)
    play_lib.play(config, params, episodes=episodes, seed=3, max_episode_steps=200,
                  policy="boltzmann", temperature=1e6)  # fmt: skip
    actions = np.array([action for _, action in recorded])
    n, p = len(actions), 1 / num_actions
    assert n >= 150
    counts = np.bincount(actions, minlength=num_actions)
    # Each count is Binomial(n, 1/A) under a uniform policy: within 4 standard deviations.
    assert np.all(np.abs(counts - n * p) < 4 * np.sqrt(n * p * (1 - p))), counts
    # Far from greedy: a uniform policy agrees with the argmax about 1/A of the time.
    obs = np.concatenate([o for o, _ in recorded])
    greedy = np.asarray(
        jnp.argmax(forward(network, params, obs, jax.random.PRNGKey(0)).q_values, -1)
    )
    assert abs(np.mean(greedy == actions) - p) < 4 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("preset, episodes", GAMES)
def test_boltzmann_as_temperature_goes_to_zero_plays_greedy(preset, episodes, recorded):
    """τ → 0: every action is the argmax of the Q-values, and the games are those of ε = 0."""
    config = preset()
    network, params, _ = untrained(config)
    kwargs = dict(episodes=episodes, seed=3, max_episode_steps=200)
    scores, _ = play_lib.play(config, params, policy="boltzmann", temperature=1e-6, **kwargs)
    obs = np.concatenate([o for o, _ in recorded])
    actions = np.array([action for _, action in recorded])
    q = forward(network, params, obs, jax.random.PRNGKey(0)).q_values
    np.testing.assert_array_equal(actions, np.asarray(jnp.argmax(q, -1)))
    n_boltzmann = len(recorded)
    greedy_scores, _ = play_lib.play(config, params, epsilon=0.0, **kwargs)
    assert greedy_scores == scores
    assert [a for _, a in recorded[n_boltzmann:]] == list(actions)


def test_play_policy_takes_the_parameter_the_policy_names():
    assert play_lib.play_policy("epsilon", epsilon=0.05, temperature=None) == (
        POLICIES["epsilon"], 0.05)  # fmt: skip
    assert play_lib.play_policy("boltzmann", epsilon=0.001, temperature=0.5) == (
        POLICIES["boltzmann"], 0.5)  # fmt: skip
    # A Policy object, as a fork hands it in, is used as it is.
    assert play_lib.play_policy(POLICIES["boltzmann"], epsilon=None, temperature=2.0)[1] == 2.0
    for kwargs, message in [
        (dict(policy="softmax", temperature=1.0), "policy='softmax' is invalid: one of epsilon"),
        (dict(policy="epsilon"), "epsilon=None must be in [0, 1]"),
        (dict(policy="epsilon", epsilon=1.5), "epsilon=1.5 must be in [0, 1]"),
        (dict(policy="boltzmann", epsilon=0.1), "temperature=None must be > 0"),
        (dict(policy="boltzmann", temperature=0.0), "temperature=0.0 must be > 0"),
    ]:
        kwargs = {"epsilon": None, "temperature": None, **kwargs}
        with pytest.raises(ValueError, match=re.escape(message)):
            play_lib.play_policy(kwargs.pop("policy"), **kwargs)
