"""The c51, qr_dqn, rainbow and der presets against their sources, value by value.

As tests/test_presets.py: each expected value is written out by hand from its source (the
comment names the line), in the source's units, and converted to jaxdqn's explicitly. Sources:
google/dopamine dopamine/jax/agents/rainbow/configs/c51.gin,
dopamine/jax/agents/quantile/configs/quantile.gin (and quantile_agent.py),
dopamine/labs/atari_100k/configs/DER.gin (and full_rainbow_agent.py, atari_100k_runner.py);
Hessel et al. 2018, "Rainbow", Table 1.
"""

import pytest

from jaxdqn import presets
from tests.test_presets import assert_matches, flat

FRAMES_PER_AGENT_STEP = 4

# c51.gin, line by line.
C51_SOURCE = {
    "num_atoms": 51,  # JaxRainbowAgent.num_atoms = 51
    "vmax": 10.0,  # JaxRainbowAgent.vmax = 10. (rainbow_agent.py: vmin = -vmax)
    "gamma": 0.99,  # JaxRainbowAgent.gamma = 0.99
    "update_horizon": 1,  # JaxRainbowAgent.update_horizon = 1
    "min_replay_history": 20_000,  # JaxRainbowAgent.min_replay_history = 20000 (agent steps)
    "update_period": 4,  # JaxRainbowAgent.update_period = 4
    "target_update_period": 8_000,  # JaxRainbowAgent.target_update_period = 8000 (agent steps)
    "epsilon_train": 0.01,  # JaxRainbowAgent.epsilon_train = 0.01
    "epsilon_eval": 0.001,  # JaxRainbowAgent.epsilon_eval = 0.001
    "epsilon_decay_period": 250_000,  # JaxRainbowAgent.epsilon_decay_period = 250000
    "replay_scheme": "uniform",  # JaxRainbowAgent.replay_scheme = 'uniform'
    "learning_rate": 0.00025,  # create_optimizer.learning_rate = 0.00025
    "adam_eps": 0.0003125,  # create_optimizer.eps = 0.0003125
    "sticky_actions": True,  # create_atari_environment.sticky_actions = True (p = 0.25)
    "max_steps_per_episode": 27_000,  # Runner.max_steps_per_episode = 27000
    "replay_capacity": 1_000_000,  # ReplayBuffer.max_capacity = 1_000_000
    "batch_size": 32,  # ReplayBuffer.batch_size = 32
}

# quantile.gin, line by line, and quantile_agent.py.
QR_SOURCE = {
    "kappa": 1.0,  # JaxQuantileAgent.kappa = 1.0
    "num_atoms": 200,  # JaxQuantileAgent.num_atoms = 200
    "gamma": 0.99,  # JaxQuantileAgent.gamma = 0.99
    "update_horizon": 3,  # JaxQuantileAgent.update_horizon = 3
    "min_replay_history": 20_000,  # JaxQuantileAgent.min_replay_history = 20000
    "update_period": 4,  # JaxQuantileAgent.update_period = 4
    "target_update_period": 8_000,  # JaxQuantileAgent.target_update_period = 8000
    "epsilon_train": 0.01,  # JaxQuantileAgent.epsilon_train = 0.01
    "epsilon_eval": 0.001,  # JaxQuantileAgent.epsilon_eval = 0.001
    "epsilon_decay_period": 250_000,  # JaxQuantileAgent.epsilon_decay_period = 250000
    "replay_scheme": "prioritized",  # JaxQuantileAgent.replay_scheme = 'prioritized'
    "learning_rate": 0.00005,  # create_optimizer.learning_rate = 0.00005
    "adam_eps": 0.0003125,  # create_optimizer.eps = 0.0003125
    "sticky_actions": True,  # create_atari_environment.sticky_actions = True
    "max_steps_per_episode": 27_000,  # Runner.max_steps_per_episode = 27000
    "replay_capacity": 1_000_000,  # OutOfGraphPrioritizedReplayBuffer.replay_capacity
    "batch_size": 32,  # OutOfGraphPrioritizedReplayBuffer.batch_size = 32
    "priority_power_on_loss": 0.5,  # quantile_agent.py: set_priority(..., sqrt(loss + 1e-10))
    "weight_power_on_probability": 0.5,  # quantile_agent.py: 1 / sqrt(probs + 1e-10) / max
}

# implicit_quantile.gin, line by line, and implicit_quantile_agent.py.
IQN_SOURCE = {
    "kappa": 1.0,  # JaxImplicitQuantileAgent.kappa = 1.0
    "num_tau_samples": 64,  # JaxImplicitQuantileAgent.num_tau_samples = 64
    "num_tau_prime_samples": 64,  # JaxImplicitQuantileAgent.num_tau_prime_samples = 64
    "num_quantile_samples": 32,  # JaxImplicitQuantileAgent.num_quantile_samples = 32
    "gamma": 0.99,  # JaxImplicitQuantileAgent.gamma = 0.99
    "update_horizon": 3,  # JaxImplicitQuantileAgent.update_horizon = 3
    "min_replay_history": 20_000,  # JaxImplicitQuantileAgent.min_replay_history = 20_000
    "update_period": 4,  # JaxImplicitQuantileAgent.update_period = 4
    "target_update_period": 8_000,  # JaxImplicitQuantileAgent.target_update_period = 8_000
    "epsilon_train": 0.01,  # JaxImplicitQuantileAgent.epsilon_train = 0.01
    "epsilon_eval": 0.001,  # JaxImplicitQuantileAgent.epsilon_eval = 0.001
    "epsilon_decay_period": 250_000,  # JaxImplicitQuantileAgent.epsilon_decay_period = 250_000
    "learning_rate": 0.00005,  # create_optimizer.learning_rate = 0.00005
    "adam_eps": 0.0003125,  # create_optimizer.eps = 0.0003125
    "sticky_actions": True,  # create_atari_environment.sticky_actions = True
    "max_steps_per_episode": 27_000,  # Runner.max_steps_per_episode = 27_000
    "replay_capacity": 1_000_000,  # ReplayBuffer.max_capacity = 1_000_000
    "batch_size": 32,  # ReplayBuffer.batch_size = 32
    # implicit_quantile_agent.py, defaults the gin leaves alone:
    "quantile_embedding_dim": 64,  # __init__(..., quantile_embedding_dim=64, ...)
    "double_dqn": False,  # __init__(..., double_dqn=False, ...)
    # replay_scheme='prioritized' is accepted but not passed to JaxDQNAgent: a uniform replay
    "replay_scheme": "uniform",
}

# Hessel et al. 2018, Table 1 (frames where the table says frames).
RAINBOW_SOURCE = {
    "min_history_frames": 80_000,  # Min history to start learning: 80K frames
    "adam_lr": 0.0000625,  # Adam learning rate: 0.0000625
    "exploration_epsilon": 0.0,  # Exploration ε: 0.0
    "noisy_sigma0": 0.5,  # Noisy Nets σ0: 0.5
    "target_period_frames": 32_000,  # Target Network Period: 32K frames
    "adam_eps": 1.5e-4,  # Adam ε: 1.5 × 10^-4
    "prioritization": "proportional",  # Prioritization type: proportional
    "omega": 0.5,  # Prioritization exponent ω: 0.5
    "beta": (0.4, 1.0),  # Prioritization importance sampling β: 0.4 → 1.0
    "n": 3,  # Multi-step returns n: 3
    "atoms": 51,  # Distributional atoms: 51
    "v_range": (-10.0, 10.0),  # Distributional min/max values: [-10, 10]
    "update_frequency": 4,  # from DQN (Mnih et al. 2015): an update every 4 agent steps
}

# DER.gin, line by line, and full_rainbow_agent.py / atari_100k_runner.py.
DER_SOURCE = {
    "gamma": 0.99,  # JaxDQNAgent.gamma = 0.99
    "update_horizon": 10,  # JaxDQNAgent.update_horizon = 10
    "min_replay_history": 1_600,  # JaxDQNAgent.min_replay_history = 1600
    "update_period": 1,  # JaxDQNAgent.update_period = 1
    "target_update_period": 2_000,  # JaxDQNAgent.target_update_period = 2000
    "epsilon_train": 0.01,  # JaxDQNAgent.epsilon_train = 0.01
    "epsilon_eval": 0.001,  # JaxDQNAgent.epsilon_eval = 0.001
    "epsilon_decay_period": 2_000,  # JaxDQNAgent.epsilon_decay_period = 2000 (agent steps)
    "noisy": True,  # JaxFullRainbowAgent.noisy = True
    "dueling": True,  # JaxFullRainbowAgent.dueling = True
    "double_dqn": True,  # JaxFullRainbowAgent.double_dqn = True
    "num_atoms": 51,  # JaxFullRainbowAgent.num_atoms = 51
    "vmax": 10.0,  # JaxFullRainbowAgent.vmax = 10.
    "replay_scheme": "prioritized",  # JaxFullRainbowAgent.replay_scheme = 'prioritized'
    "data_augmentation": False,  # Atari100kRainbowAgent.data_augmentation = False
    "learning_rate": 0.0001,  # create_optimizer.learning_rate = 0.0001
    "adam_eps": 0.00015,  # create_optimizer.eps = 0.00015
    "sticky_actions": False,  # create_atari_environment.sticky_actions = False
    "terminal_on_life_loss": True,  # AtariPreprocessing.terminal_on_life_loss = True
    "num_iterations": 10,  # Runner.num_iterations = 10
    "training_steps": 10_000,  # Runner.training_steps = 10000 (agent steps)
    "num_eval_episodes": 100,  # MaxEpisodeEvalRunner.num_eval_episodes = 100
    "max_steps_per_episode": 27_000,  # Runner.max_steps_per_episode = 27000
    "batch_size": 32,  # OutOfGraphPrioritizedReplayBuffer.batch_size = 32
    "priority_power_on_loss": 0.5,  # full_rainbow_agent.py: priorities sqrt(loss + 1e-10)
    "weight_power_on_probability": 0.5,  # full_rainbow_agent.py: 1 / sqrt(probs + 1e-10)
    "max_noops": 30,  # atari_100k_runner.py: DataEfficientAtariRunner(max_noops=30)
    "num_train_envs": 1,  # atari_100k_runner.py: DataEfficientAtariRunner(num_train_envs=1)
}


def dopamine_jax_common(s: dict) -> dict:
    """The fields c51.gin and quantile.gin set alike, in jaxdqn's units."""
    return {
        "gamma": s["gamma"],
        "n_step": s["update_horizon"],
        "learning_starts": s["min_replay_history"],
        "train_freq": s["update_period"],
        # agent steps → updates: 8,000 / 4
        "target_update_period": s["target_update_period"] // s["update_period"],
        "target_update": "hard",
        "epsilon_start": 1.0,  # linearly_decaying_epsilon begins at 1 …
        "exploration_from_learning_starts": True,  # … and holds it through warm-up
        "epsilon_end": s["epsilon_train"],
        "eval_epsilon": s["epsilon_eval"],
        "exploration_steps": s["epsilon_decay_period"],
        "prioritized": s["replay_scheme"] == "prioritized",
        "optimizer": "adam",
        "learning_rate": s["learning_rate"],
        "optimizer_eps": s["adam_eps"],
        "max_grad_norm": 0.0,  # create_optimizer chains no clipping
        "repeat_action_probability": 0.25 if s["sticky_actions"] else 0.0,
        "episodic_life": False,  # atari_lib: AtariPreprocessing(terminal_on_life_loss=False)
        "noop_max": 1,  # no no-op starts in atari_lib
        "max_episode_steps": s["max_steps_per_episode"],
        "eval_max_episode_steps": s["max_steps_per_episode"],
        "replay_capacity": s["replay_capacity"],
        "batch_size": s["batch_size"],
        "augmentation": "none",
        "noisy": False,
        "network": "nature",  # Nature torso, one 512 dense layer, no dueling
        "conv_padding": "SAME",  # flax's nn.Conv default in dopamine/jax/networks.py
    }


def test_c51_preset_matches_dopamine():
    s = C51_SOURCE
    expected = dopamine_jax_common(s) | {
        "head": "categorical",
        "num_atoms": s["num_atoms"],
        "v_min": -s["vmax"],
        "v_max": s["vmax"],
        "loss": "categorical",  # the target network's own argmax: no double-Q
    }
    assert expected["target_update_period"] == 2_000 and not expected["prioritized"]
    assert_matches(presets.c51(), expected)


def test_qr_dqn_preset_matches_dopamine():
    s = QR_SOURCE
    expected = dopamine_jax_common(s) | {
        "head": "quantile",
        "num_atoms": s["num_atoms"],
        "quantile_kappa": s["kappa"],
        "loss": "quantile",  # argmax of the target network's mean quantile: no double-Q
        "priority_exponent": s["priority_power_on_loss"],
        "importance_exponent_start": s["weight_power_on_probability"],
        "importance_exponent_end": s["weight_power_on_probability"],
    }
    assert expected["prioritized"] and expected["n_step"] == 3
    assert_matches(presets.qr_dqn(), expected)


def test_iqn_preset_matches_dopamine():
    s = IQN_SOURCE
    expected = dopamine_jax_common(s) | {
        "head": "implicit_quantile",
        "num_tau_samples": s["num_tau_samples"],
        "num_tau_prime_samples": s["num_tau_prime_samples"],
        "num_quantile_samples": s["num_quantile_samples"],
        "quantile_embedding_dim": s["quantile_embedding_dim"],
        "quantile_kappa": s["kappa"],
        # the target network's mean quantile picks the next action unless double_dqn
        "loss": "implicit_quantile_double_q" if s["double_dqn"] else "implicit_quantile",
    }
    assert not expected["prioritized"] and expected["n_step"] == 3
    assert expected["target_update_period"] == 2_000
    assert_matches(presets.iqn(), expected)
    doc = " ".join(presets.iqn.__doc__.split())
    for phrase in ("implicit_quantile.gin", "implicit_quantile_agent.py", "double_dqn=False",
                   "quantile_embedding_dim=64", "uniform"):  # fmt: skip
        assert phrase in doc


def test_rainbow_preset_matches_the_paper():
    s = RAINBOW_SOURCE
    expected = {
        "learning_starts": s["min_history_frames"] // FRAMES_PER_AGENT_STEP,  # 20,000
        "optimizer": "adam",
        "learning_rate": s["adam_lr"],
        "epsilon_start": s["exploration_epsilon"],
        "epsilon_end": s["exploration_epsilon"],
        "noisy": True,
        # 32K frames = 8,000 agent steps = 2,000 updates at one update per 4 agent steps
        "target_update_period": s["target_period_frames"]
        // FRAMES_PER_AGENT_STEP
        // s["update_frequency"],
        "train_freq": s["update_frequency"],
        "optimizer_eps": s["adam_eps"],
        "prioritized": s["prioritization"] == "proportional",
        "priority_exponent": s["omega"],
        "importance_exponent_start": s["beta"][0],
        "importance_exponent_end": s["beta"][1],
        "n_step": s["n"],
        "head": "categorical",
        "num_atoms": s["atoms"],
        "v_min": s["v_range"][0],
        "v_max": s["v_range"][1],
        "loss": "categorical_double_q",  # §3: double Q-learning inside the distributional loss
        "network": "dueling",  # §3: dueling streams returning distributions
        "gamma": 0.99,
        "batch_size": 32,
        "replay_capacity": 1_000_000,
        "noop_max": 30,
        "reward_clip": True,
    }
    assert expected["target_update_period"] == 2_000 and expected["learning_starts"] == 20_000
    assert_matches(presets.rainbow(), expected)


def test_der_preset_matches_dopamine():
    s = DER_SOURCE
    expected = {
        "gamma": s["gamma"],
        "n_step": s["update_horizon"],
        "learning_starts": s["min_replay_history"],
        "train_freq": s["update_period"],
        "target_update_period": s["target_update_period"] // s["update_period"],
        "epsilon_start": 1.0,
        "epsilon_end": s["epsilon_train"],
        "eval_epsilon": s["epsilon_eval"],
        "exploration_steps": s["epsilon_decay_period"],
        "exploration_from_learning_starts": True,  # epsilon_fn = linearly_decaying_epsilon
        "noisy": s["noisy"],
        # dueling with FullRainbowNetwork's single 512 hidden layer feeding both heads
        "network": "shared_dueling" if s["dueling"] else "nature",
        "loss": "categorical_double_q" if s["double_dqn"] else "categorical",
        "head": "categorical",
        "num_atoms": s["num_atoms"],
        "v_min": -s["vmax"],
        "v_max": s["vmax"],
        "prioritized": s["replay_scheme"] == "prioritized",
        "priority_exponent": s["priority_power_on_loss"],
        "importance_exponent_start": s["weight_power_on_probability"],
        "importance_exponent_end": s["weight_power_on_probability"],
        "augmentation": "drq" if s["data_augmentation"] else "none",
        "optimizer": "adam",
        "learning_rate": s["learning_rate"],
        "optimizer_eps": s["adam_eps"],
        "max_grad_norm": 0.0,
        "repeat_action_probability": 0.25 if s["sticky_actions"] else 0.0,
        "episodic_life": s["terminal_on_life_loss"],
        # 10 iterations × 10,000 agent steps × 4 frames
        "total_frames": s["num_iterations"] * s["training_steps"] * FRAMES_PER_AGENT_STEP,
        "eval_episodes": s["num_eval_episodes"],
        "max_episode_steps": s["max_steps_per_episode"],
        "eval_max_episode_steps": s["max_steps_per_episode"],
        "batch_size": s["batch_size"],
        "noop_max": s["max_noops"],
        "envs_per_seed": s["num_train_envs"],
        "reward_clip": True,
    }
    assert expected["total_frames"] == 400_000
    preset = presets.der()
    assert_matches(preset, expected)
    # Different on purpose (docstring): VALID convolutions, a 110,000 replay that holds the run.
    assert preset.agent.conv_padding == "VALID"
    assert preset.replay.replay_capacity >= preset.total_steps == 100_000


@pytest.mark.parametrize(
    "name, phrases",
    [
        ("c51", ["c51.gin", "rainbow_agent.py", "SAME"]),
        ("qr_dqn", ["quantile.gin", "quantile_agent.py", "sqrt(loss + 1e-10)"]),
        ("rainbow", ["Table 1", "Double Q-learning", "Not given in the paper"]),
        ("der", ["DER.gin", "full_rainbow_agent.py", "atari_100k_runner.py", "VALID"]),
    ],
)
def test_family_docstrings_cite_their_sources(name, phrases):
    doc = presets.PRESETS[name].__doc__
    for phrase in phrases:
        assert phrase in doc


@pytest.mark.parametrize("name", ["c51", "qr_dqn", "rainbow", "der"])
def test_family_presets_are_atari_and_self_consistent(name):
    config = presets.PRESETS[name]()
    fields = flat(config)
    assert config.env.atari and fields["frame_skip"] == FRAMES_PER_AGENT_STEP
    assert fields["learning_starts"] >= fields["batch_size"]
