"""Evaluation protocol, human-normalised scores and presets."""

import dataclasses
import os
import re
import sys

import jax
import numpy as np
import pytest

from jaxdqn import envs
from jaxdqn.config import Config, EnvConfig, EvalConfig
from jaxdqn.evaluate import eval_env_seeds, human_normalized, make_evaluator
from jaxdqn.networks import NatureQNetwork
from jaxdqn.presets import cleanrl, dopamine, nature

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))
import _cli  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)


def test_human_normalized_hand_worked():
    # Default table (the 57-game one of the Atari 100k literature): Assault random 222.4, human
    # 742.0, so human - random = 519.6 and halfway is 222.4 + 259.8 = 482.2.
    np.testing.assert_allclose(human_normalized("Assault-v5", [222.4, 742.0, 482.2]), [0, 1, 0.5])
    # Pong: random -20.7, human 14.6 (span 35.3): 14.6 → 1, -3.05 → 0.5, -56.0 → -1.
    np.testing.assert_allclose(human_normalized("Pong-v5", [14.6, -3.05, -56.0]), [1, 0.5, -1])
    # gymnasium's id names the same game.
    np.testing.assert_allclose(human_normalized("ALE/Assault-v5", 482.2), 0.5)
    assert human_normalized("CartPole-v1", 500.0) is None


def test_human_normalized_nature_table_hand_worked():
    # Mnih et al. 2015: Assault random 222.4, human 1496 (span 1273.6): halfway is 859.2, and
    # the default table's human score, 742.0, is only (742.0 - 222.4) / 1273.6 = 0.408 there.
    np.testing.assert_allclose(
        human_normalized("Assault-v5", [222.4, 1496.0, 859.2, 742.0], table="nature"),
        [0, 1, 0.5, 519.6 / 1273.6],
    )
    # Pong: random -20.7, human 9.3 (span 30.0): 9.3 → 1, -5.7 → 0.5.
    np.testing.assert_allclose(human_normalized("Pong-v5", [9.3, -5.7], table="nature"), [1, 0.5])
    # Defender is in the 57-game table only.
    assert human_normalized("Defender-v5", 0.0, table="nature") is None
    assert human_normalized("Defender-v5", 0.0) is not None
    with pytest.raises(ValueError, match=re.escape("'nature2015'; one of ['atari100k', 'nature']")):
        human_normalized("Assault-v5", 0.0, table="nature2015")


def test_eval_pool_plays_full_games_with_raw_rewards():
    config = EnvConfig(env_id="Assault-v5", envs_per_seed=2)
    train_cfg = envs.make_env(config).spec.config
    eval_cfg = envs.make_env(config, evaluation=True).spec.config
    assert train_cfg.episodic_life and train_cfg.reward_clip
    assert not eval_cfg.episodic_life and not eval_cfg.reward_clip
    assert eval_cfg.noop_max == train_cfg.noop_max == 30


def test_eval_seeds_disjoint_from_training():
    config = Config(env=EnvConfig(num_seeds=2), eval=EvalConfig(eval_episodes=3))
    train = envs.env_seeds(0, 2, config.env.envs_per_seed)
    ev = eval_env_seeds(config)
    assert len(set(ev)) == 6 and not set(ev) & set(train)


def test_evaluator_scores_are_real_full_game_scores():
    """Two seeds × 2 games of Assault with a random network: every score is a multiple of
    Assault's 21-point raw reward and games end at game over (all lives) or the cap."""
    config = Config(
        env=EnvConfig(num_seeds=2, envs_per_seed=1),
        eval=EvalConfig(eval_episodes=2, eval_epsilon=1.0, eval_max_episode_steps=3_000),
    )
    net = NatureQNetwork(7)
    params = jax.vmap(net.init, in_axes=(0, None))(
        jax.random.split(jax.random.PRNGKey(0), 2), np.zeros((1, 4, 84, 84), np.uint8)
    )
    q_values = lambda p, obs, key: net.apply(p, obs).q_values  # noqa: E731
    scores = make_evaluator(config, q_values)(params, jax.random.PRNGKey(1))
    assert scores.shape == (2, 2)
    assert np.all(scores % 21 == 0) and scores.max() > 21


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(eval_episodes=0), "eval_episodes=0"), (dict(eval_epsilon=1.5), "eval_epsilon=1.5"),
     (dict(eval_every=-1), "eval_every=-1")],
)  # fmt: skip
def test_eval_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(**kwargs)


def test_presets_document_their_sources():
    n, d, c = nature(), dopamine(), cleanrl()
    assert n.train.learning_starts == 50_000 and n.agent.target_update_period == 10_000
    assert n.agent.epsilon_end == 0.1 and n.eval.eval_epsilon == 0.05
    assert d.env.repeat_action_probability == 0.25 and d.eval.eval_epsilon == 0.001
    assert d.agent.optimizer == "rmsprop" and d.train.learning_starts == 20_000
    assert d.agent.target_update_period * d.train.train_freq == 8_000  # agent steps
    assert c.agent.learning_rate == 1e-4 and c.train.learning_starts == 80_000
    assert c.agent.target_update_period * c.train.train_freq == 1_000
    assert c.agent.exploration_steps == c.total_steps // 10 and c.agent.epsilon_end == 0.01
    for preset in (nature, dopamine, cleanrl):
        assert preset.__doc__ and "et al." in preset.__doc__


def test_flags_override_preset():
    presets = {"nature": nature, "dopamine": dopamine}
    config, resume, _ = _cli.parse("nature", "", ["--preset", "dopamine", "--learning-starts",
                                   "1000", "--replay-capacity", "10000"], presets)  # fmt: skip
    assert config.train.learning_starts == 1000 and not resume
    assert config.env.repeat_action_probability == 0.25  # the rest of the preset stays
    assert config == dataclasses.replace(
        dopamine(),
        train=dataclasses.replace(dopamine().train, learning_starts=1000),
        replay=dataclasses.replace(dopamine().replay, replay_capacity=10000),
    )


def test_unknown_preset_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.parse("nature", "", ["--preset", "rainbow"], {"nature": nature})
    assert exc.value.code == 2
    assert "rainbow" in capsys.readouterr().err
