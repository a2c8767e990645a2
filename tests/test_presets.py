"""The nature, dopamine and drq_eps presets against their sources, value by value.

Each expected value is written out by hand from its source (the comment names the line) and
converted to jaxdqn's units explicitly, so a preset that drifts from its source fails here with
the field named. Sources: Mnih et al. 2015 (Nature 518, Extended Data Table 1 and Methods) and
google/dopamine (dopamine/agents/dqn/configs/dqn.gin, now dopamine/tf/agents/dqn/configs/dqn.gin;
dopamine/agents/dqn/dqn_agent.py; dopamine/discrete_domains/atari_lib.py and run_experiment.py;
for drq_eps dopamine/labs/atari_100k/configs/DrQ_eps.gin and atari_100k_runner.py).
"""

import dataclasses
import pathlib

import envpool
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn import presets as config_module
from jaxdqn.backends import observation_spec
from jaxdqn.train import make_optimizer

README = pathlib.Path(__file__).resolve().parent.parent / "docs" / "presets.md"
FRAMES_PER_AGENT_STEP = 4  # Extended Data Table 1: action repeat 4; atari_lib: frame_skip=4


def flat(config: config_module.Config) -> dict:
    """Every field of every section, by its (unique) name, plus the derived frame skip."""
    fields = {}
    for section in (config.env, config.replay, config.agent, config.train, config.eval):
        for name, value in dataclasses.asdict(section).items():
            assert name not in fields, f"field name {name} appears in two sections"
            fields[name] = value
    fields["frame_skip"] = config.env.frame_skip
    return fields


def assert_matches(preset: config_module.Config, expected: dict) -> None:
    actual = flat(preset)
    wrong = {k: (actual[k], v) for k, v in expected.items() if actual[k] != v}
    assert not wrong, "preset value != source value: " + ", ".join(
        f"{k}: {a!r} != {e!r}" for k, (a, e) in wrong.items()
    )


# Mnih et al. 2015, Extended Data Table 1 (and Methods where noted), in the paper's units.
NATURE_SOURCE = {
    "minibatch_size": 32,  # minibatch size 32
    "replay_memory_size": 1_000_000,  # replay memory size 1,000,000
    "agent_history_length": 4,  # agent history length 4
    "target_network_update_frequency": 10_000,  # 10,000, "measured in parameter updates"
    "discount_factor": 0.99,  # discount factor 0.99
    "action_repeat": 4,  # action repeat 4
    "update_frequency": 4,  # update frequency 4 (actions between SGD updates)
    "initial_exploration": 1.0,  # initial exploration 1
    "final_exploration": 0.1,  # final exploration 0.1
    "final_exploration_frame": 1_000_000,  # final exploration frame 1,000,000 (frames)
    "replay_start_size": 50_000,  # replay start size 50,000 (transitions)
    "noop_max": 30,  # no-op max 30
    "eval_games": 30,  # Methods, "Evaluation procedure": each game played 30 times
    "eval_minutes": 5,  # ... "for up to 5 min each time"
    "eval_epsilon": 0.05,  # ... "an ε-greedy policy with ε = 0.05"
}
ATARI_HZ = 60  # frames per second of the Atari 2600: 5 minutes = 18,000 frames


def test_nature_preset_matches_the_paper():
    s = NATURE_SOURCE
    expected = {
        "batch_size": s["minibatch_size"],
        "replay_capacity": s["replay_memory_size"],
        "target_update_period": s["target_network_update_frequency"],  # already in updates
        "gamma": s["discount_factor"],
        "frame_skip": s["action_repeat"],
        "train_freq": s["update_frequency"],
        "epsilon_start": s["initial_exploration"],
        "epsilon_end": s["final_exploration"],
        # frames → agent steps, decayed from step 0 ("over the first million frames", Methods)
        "exploration_steps": s["final_exploration_frame"] // FRAMES_PER_AGENT_STEP,  # 250,000
        "exploration_from_learning_starts": False,
        "learning_starts": s["replay_start_size"],
        "noop_max": s["noop_max"],
        "n_step": 1,  # one-step Q-learning targets (Methods, equation 3)
        "episodic_life": True,  # Methods: life loss marks the end of a training episode
        "reward_clip": True,  # Methods: rewards clipped to [-1, 1] during training
        "td_loss": "huber",  # Methods: error term clipped to [-1, 1] = Huber loss, δ 1
        "repeat_action_probability": 0.0,  # deterministic ALE (no sticky actions)
        "eval_episodes": s["eval_games"],
        # 5 min × 60 Hz = 18,000 frames = 4,500 agent steps
        "eval_max_episode_steps": s["eval_minutes"] * 60 * ATARI_HZ // FRAMES_PER_AGENT_STEP,
        "eval_epsilon": s["eval_epsilon"],
    }
    assert expected["exploration_steps"] == 250_000
    assert expected["eval_max_episode_steps"] == 4_500
    preset = config_module.nature()
    assert_matches(preset, expected)
    # Agent history length: the observation is a stack of the last 4 frames.
    shape, _, _ = observation_spec(preset.env)
    assert shape[0] == s["agent_history_length"]
    # Different on purpose (README, "Optimiser" / "Settings and their sources"): Adam instead of
    # RMSProp (lr 0.00025, momenta 0.95, min squared gradient 0.01), 40M frames instead of 50M.
    assert preset.agent.optimizer == "adam" and preset.train.total_frames == 40_000_000


# google/dopamine, the TF agent's dqn.gin (DQNAgent.*) and code defaults, in Dopamine's units.
DOPAMINE_SOURCE = {
    "gamma": 0.99,  # dqn.gin: DQNAgent.gamma = 0.99
    "update_horizon": 1,  # dqn.gin: DQNAgent.update_horizon = 1
    "min_replay_history": 20_000,  # dqn.gin: DQNAgent.min_replay_history = 20000 (agent steps)
    "update_period": 4,  # dqn.gin: DQNAgent.update_period = 4
    "target_update_period": 8_000,  # dqn.gin: DQNAgent.target_update_period = 8000 (agent steps)
    "epsilon_train": 0.01,  # dqn.gin: DQNAgent.epsilon_train = 0.01
    "epsilon_eval": 0.001,  # dqn.gin: DQNAgent.epsilon_eval = 0.001
    "epsilon_decay_period": 250_000,  # dqn.gin: DQNAgent.epsilon_decay_period = 250000
    "learning_rate": 0.00025,  # dqn.gin: tf.train.RMSPropOptimizer.learning_rate = 0.00025
    "rmsprop_decay": 0.95,  # dqn.gin: tf.train.RMSPropOptimizer.decay = 0.95
    "rmsprop_momentum": 0.0,  # dqn.gin: tf.train.RMSPropOptimizer.momentum = 0.0
    "rmsprop_epsilon": 0.00001,  # dqn.gin: tf.train.RMSPropOptimizer.epsilon = 0.00001
    "rmsprop_centered": True,  # dqn.gin: tf.train.RMSPropOptimizer.centered = True
    "sticky_actions": True,  # dqn.gin: create_atari_environment.sticky_actions = True
    "max_steps_per_episode": 27_000,  # dqn.gin: Runner.max_steps_per_episode = 27000
    "replay_capacity": 1_000_000,  # dqn.gin: WrappedReplayBuffer.replay_capacity = 1000000
    "batch_size": 32,  # dqn.gin: WrappedReplayBuffer.batch_size = 32
    # dqn_agent.py: epsilon_fn=linearly_decaying_epsilon(decay_period, step, warmup_steps,
    # epsilon), called with warmup_steps=self.min_replay_history: ε = 1 through warm-up.
    "epsilon_decay_after_warmup": True,
    "loss": "huber",  # dqn_agent.py: tf.compat.v1.losses.huber_loss (δ 1), reduce_mean
    "gradient_clipping": None,  # dqn_agent.py: self.optimizer.minimize(loss), no clipping
    "terminal_on_life_loss": False,  # atari_lib.py: AtariPreprocessing(terminal_on_life_loss=False)
    "noop_starts": False,  # atari_lib.py: NoopResetEnv only under use_ppo_preprocessing
    "frame_skip": 4,  # atari_lib.py: AtariPreprocessing(frame_skip=4)
    "clip_rewards": True,  # run_experiment.py: Runner(clip_rewards=True), np.clip(r, -1, 1)
}
STICKY_ACTION_PROBABILITY = 0.25  # atari_lib.py: 0.25 if sticky_actions else 0.0


def test_dopamine_preset_matches_dopamine():
    s = DOPAMINE_SOURCE
    expected = {
        "gamma": s["gamma"],
        "n_step": s["update_horizon"],
        "learning_starts": s["min_replay_history"],  # agent steps in both
        "train_freq": s["update_period"],
        # agent steps → updates: 8,000 / 4 = 2,000 parameter updates between syncs
        "target_update_period": s["target_update_period"] // s["update_period"],
        "epsilon_start": 1.0,  # linearly_decaying_epsilon begins at 1
        "epsilon_end": s["epsilon_train"],
        "eval_epsilon": s["epsilon_eval"],
        "exploration_steps": s["epsilon_decay_period"],  # agent steps in both
        "exploration_from_learning_starts": s["epsilon_decay_after_warmup"],
        "optimizer": "rmsprop",  # make_optimizer: optax.rmsprop(decay=0.95, centered=True)
        "learning_rate": s["learning_rate"],
        "optimizer_eps": s["rmsprop_epsilon"],
        "td_loss": s["loss"],
        "max_grad_norm": 0.0,  # <= 0: no clipping
        "repeat_action_probability": STICKY_ACTION_PROBABILITY,
        "max_episode_steps": None,  # envpool's default, checked below
        "eval_max_episode_steps": s["max_steps_per_episode"],
        "replay_capacity": s["replay_capacity"],
        "batch_size": s["batch_size"],
        "episodic_life": s["terminal_on_life_loss"],
        "noop_max": 1,  # no no-op starts: envpool's noop_max=1 (0 is refused)
        "frame_skip": s["frame_skip"],
        "reward_clip": s["clip_rewards"],  # sign(r) == clip(r, -1, 1) on integer rewards
    }
    assert expected["target_update_period"] == 2_000
    assert s["gradient_clipping"] is None and not s["noop_starts"]
    preset = config_module.dopamine()
    assert_matches(preset, expected)
    # max_episode_steps None: envpool's Atari default, 27,000 agent steps, is Dopamine's.
    spec = envpool.make_spec(preset.env.env_id)
    assert spec.config.max_episode_steps == s["max_steps_per_episode"]


def test_dopamine_rmsprop_update_by_hand():
    """make_optimizer's rmsprop is Dopamine's TF1 RMSPropOptimizer(decay=0.95, momentum=0.0,
    epsilon=1e-5, centered=True): lr·g / sqrt(ms − mg² + ε), ε inside the root. One difference,
    stated in the preset's docstring: TF1 starts ms at 1, optax at 0 (as here)."""
    s = DOPAMINE_SOURCE
    assert (s["rmsprop_momentum"], s["rmsprop_centered"]) == (0.0, True)
    check_centered_rmsprop(config_module.dopamine(), s["rmsprop_decay"], s["rmsprop_epsilon"],
                           s["learning_rate"], eps_in_sqrt=True)  # fmt: skip


def check_centered_rmsprop(preset, decay, eps, lr, eps_in_sqrt):
    """make_optimizer(preset) against centred RMSprop without momentum worked out in numpy
    (ms, mg start at 0): lr·g / sqrt(ms − mg² + ε) with ε inside the root (TF1), or
    lr·g / (sqrt(ms − mg²) + ε) with ε outside (PyTorch)."""
    opt = make_optimizer(preset)
    params = jnp.zeros(3)
    state = opt.init(params)
    ms = mg = np.zeros(3)
    grads = [[0.5, -1e-3, 2.0], [-0.2, 3e-3, 1.0], [0.1, 0.0, -4.0]]  # momentum would show
    for g in map(np.array, grads):
        updates, state = opt.update(jnp.asarray(g, jnp.float32), state, params)
        ms = decay * ms + (1 - decay) * g**2
        mg = decay * mg + (1 - decay) * g
        denominator = np.sqrt(ms - mg**2 + eps) if eps_in_sqrt else np.sqrt(ms - mg**2) + eps
        np.testing.assert_allclose(updates, -lr * g / denominator, rtol=1e-5)


@pytest.mark.parametrize("preset", ["nature", "dopamine", "drq_eps"])
def test_preset_docstring_cites_its_source(preset):
    doc = config_module.PRESETS[preset].__doc__
    cited = {
        "nature": ["Extended Data Table 1", "Evaluation", "4,500"],
        "dopamine": ["dqn.gin", "linearly_decaying_epsilon", "terminal_on_life_loss"],
        "drq_eps": ["DrQ_eps.gin", "atari_100k_runner.py", "linearly_decaying_epsilon", "VALID"],
    }
    for phrase in cited[preset]:
        assert phrase in doc


def test_readme_paper_optimiser_recipe():
    text = " ".join(README.read_text().split())  # the recipe may wrap across lines
    assert "--optimizer rmsprop --learning-rate 2.5e-4 --optimizer-eps 1e-5" in text
    assert "--optimizer-eps 0.01" not in text


# ---------------------------------------------------------------------------------------------
# drq_eps: google/dopamine dopamine/labs/atari_100k/configs/DrQ_eps.gin (JaxDQNAgent.*,
# JaxFullRainbowAgent.*, ...) and dopamine/labs/atari_100k/atari_100k_runner.py
# (DataEfficientAtariRunner), with the code defaults they leave in place, in Dopamine's units.

DRQ_EPS_SOURCE = {
    "gamma": 0.99,  # DrQ_eps.gin: JaxDQNAgent.gamma = 0.99
    "update_horizon": 10,  # DrQ_eps.gin: JaxDQNAgent.update_horizon = 10
    "min_replay_history": 1_600,  # DrQ_eps.gin: JaxDQNAgent.min_replay_history = 1600 (steps)
    "update_period": 1,  # DrQ_eps.gin: JaxDQNAgent.update_period = 1
    "target_update_period": 1,  # DrQ_eps.gin: JaxDQNAgent.target_update_period = 1 (steps)
    "epsilon_train": 0.01,  # DrQ_eps.gin: JaxDQNAgent.epsilon_train = 0.01
    "epsilon_eval": 0.001,  # DrQ_eps.gin: JaxDQNAgent.epsilon_eval = 0.001
    "epsilon_decay_period": 5_000,  # DrQ_eps.gin: JaxDQNAgent.epsilon_decay_period = 5000
    "optimizer": "adam",  # DrQ_eps.gin: JaxDQNAgent.optimizer = 'adam'
    "noisy": False,  # DrQ_eps.gin: JaxFullRainbowAgent.noisy = False
    "dueling": True,  # DrQ_eps.gin: JaxFullRainbowAgent.dueling = True
    "double_dqn": True,  # DrQ_eps.gin: JaxFullRainbowAgent.double_dqn = True
    "distributional": False,  # DrQ_eps.gin: JaxFullRainbowAgent.distributional = False
    "num_atoms": 1,  # DrQ_eps.gin: JaxFullRainbowAgent.num_atoms = 1
    # DrQ_eps.gin: JaxFullRainbowAgent.num_updates_per_train_step = 1
    "num_updates_per_train_step": 1,
    "replay_scheme": "uniform",  # DrQ_eps.gin: JaxFullRainbowAgent.replay_scheme = 'uniform'
    # DrQ_eps.gin: JaxFullRainbowAgent.epsilon_fn = @...dqn_agent.linearly_decaying_epsilon,
    # called with warmup_steps=min_replay_history: ε = 1 through warm-up, then linear.
    "epsilon_decay_after_warmup": True,
    "data_augmentation": True,  # DrQ_eps.gin: Atari100kRainbowAgent.data_augmentation = True
    "mse_loss": False,  # atari_100k_rainbow_agent.py: Atari100kRainbowAgent(mse_loss=False)
    "learning_rate": 0.0001,  # DrQ_eps.gin: create_optimizer.learning_rate = 0.0001
    "adam_eps": 0.00015,  # DrQ_eps.gin: create_optimizer.eps = 0.00015
    "adam_b1": 0.9,  # dqn_agent.py: create_optimizer(beta1=0.9), not set by the gin
    "adam_b2": 0.999,  # dqn_agent.py: create_optimizer(beta2=0.999), not set by the gin
    "anneal_learning_rate": False,  # dqn_agent.py: create_optimizer(anneal_learning_rate=False)
    "sticky_actions": False,  # DrQ_eps.gin: create_atari_environment.sticky_actions = False
    # DrQ_eps.gin: AtariPreprocessing.terminal_on_life_loss = True
    "terminal_on_life_loss": True,
    "num_iterations": 1,  # DrQ_eps.gin: Runner.num_iterations = 1
    "training_steps": 100_000,  # DrQ_eps.gin: Runner.training_steps = 100000 (agent steps)
    "num_eval_episodes": 100,  # DrQ_eps.gin: MaxEpisodeEvalRunner.num_eval_episodes = 100
    "max_steps_per_episode": 27_000,  # DrQ_eps.gin: Runner.max_steps_per_episode = 27000
    # DrQ_eps.gin: OutOfGraphPrioritizedReplayBuffer.replay_capacity = 1000000 (a proxy for
    # unbounded memory)
    "replay_capacity": 1_000_000,
    "batch_size": 32,  # DrQ_eps.gin: OutOfGraphPrioritizedReplayBuffer.batch_size = 32
    "max_noops": 30,  # atari_100k_runner.py: DataEfficientAtariRunner(max_noops=30)
    "num_train_envs": 1,  # atari_100k_runner.py: DataEfficientAtariRunner(num_train_envs=1)
    "frame_skip": 4,  # atari_lib.py: AtariPreprocessing(frame_skip=4)
    "clip_rewards": True,  # run_experiment.py: Runner(clip_rewards=True), np.clip(r, -1, 1)
    # dopamine/jax/networks.py: FullRainbowNetwork's nn.Conv layers set no padding: flax's SAME.
    "conv_padding": "SAME",
}


def test_drq_eps_preset_matches_dopamine():
    s = DRQ_EPS_SOURCE
    assert not s["noisy"] and not s["distributional"] and s["num_atoms"] == 1 and s["dueling"]
    assert s["replay_scheme"] == "uniform"  # jaxdqn's replay samples uniformly
    assert s["optimizer"] == "adam" and not s["anneal_learning_rate"]
    expected = {
        "gamma": s["gamma"],
        "n_step": s["update_horizon"],
        "learning_starts": s["min_replay_history"],  # agent steps in both
        "train_freq": s["update_period"],
        # agent steps → updates: 1 / 1 = sync after every parameter update
        "target_update_period": s["target_update_period"] // s["update_period"],
        "target_update": "hard",  # _sync_weights copies the online params
        "epsilon_start": 1.0,  # linearly_decaying_epsilon begins at 1
        "epsilon_end": s["epsilon_train"],
        "eval_epsilon": s["epsilon_eval"],
        "exploration_steps": s["epsilon_decay_period"],  # agent steps in both
        "exploration_from_learning_starts": s["epsilon_decay_after_warmup"],
        "policy": "epsilon",  # noisy = False: ε-greedy exploration
        # dueling, not noisy, one atom: one 512 hidden layer feeding value and advantage heads
        "network": "shared_dueling",
        "loss": "double_q" if s["double_dqn"] else "q",
        "td_loss": "mse" if s["mse_loss"] else "huber",
        "augmentation": "drq" if s["data_augmentation"] else "none",
        "optimizer": s["optimizer"],
        "learning_rate": s["learning_rate"],
        "learning_rate_end": None,  # anneal_learning_rate False: constant
        "optimizer_eps": s["adam_eps"],
        "max_grad_norm": 0.0,  # create_optimizer chains no clipping; <= 0 here: none
        "repeat_action_probability": 0.25 if s["sticky_actions"] else 0.0,  # atari_lib.py
        "episodic_life": s["terminal_on_life_loss"],
        # agent steps → frames: 1 iteration × 100,000 agent steps × 4 frames = 400,000
        "total_frames": s["num_iterations"] * s["training_steps"] * s["frame_skip"],
        "frame_skip": s["frame_skip"],
        "eval_every": 0,  # num_iterations = 1: one evaluation, after training (0: at the end)
        "eval_episodes": s["num_eval_episodes"],
        "max_episode_steps": s["max_steps_per_episode"],  # agent steps in both
        "eval_max_episode_steps": s["max_steps_per_episode"],
        "batch_size": s["batch_size"],
        "noop_max": s["max_noops"],
        "envs_per_seed": s["num_train_envs"],
        "reward_clip": s["clip_rewards"],  # sign(r) == clip(r, -1, 1) on integer rewards
    }
    assert expected["total_frames"] == 400_000 and expected["target_update_period"] == 1
    preset = config_module.drq_eps()
    assert_matches(preset, expected)
    # Updates per agent step: update_period 1 × num_updates_per_train_step 1.
    updates_per_step = preset.updates_per_iteration / preset.agent_steps_per_iteration
    assert updates_per_step == s["num_updates_per_train_step"] / s["update_period"] == 1
    assert preset.total_steps == s["num_iterations"] * s["training_steps"]  # 100,000

    # Different on purpose (the preset's docstring): VALID convolutions (3,136 features) where
    # Dopamine's flax convs are SAME (7,744), for speed; --conv-padding SAME gives Dopamine's.
    assert preset.agent.conv_padding == "VALID" != s["conv_padding"]
    # A replay of 110,000 where the gin says 1,000,000 "as a proxy for unbounded memory": both
    # hold every transition of the 100,000-step run, so neither ever evicts one.
    assert preset.replay.replay_capacity != s["replay_capacity"]
    assert preset.replay.replay_capacity >= preset.total_steps == s["training_steps"]


def test_drq_eps_adam_update_by_hand():
    """make_optimizer's adam is Dopamine's create_optimizer('adam', learning_rate=1e-4,
    beta1=0.9, beta2=0.999, eps=1.5e-4): bias-corrected moments, ε outside the root."""
    s = DRQ_EPS_SOURCE
    opt = make_optimizer(config_module.drq_eps())
    params = jnp.zeros(3)
    state = opt.init(params)
    b1, b2, eps, lr = s["adam_b1"], s["adam_b2"], s["adam_eps"], s["learning_rate"]
    m = v = np.zeros(3)
    grads = [[0.5, -1e-3, 2.0], [-0.2, 3e-3, 1.0], [0.1, 0.0, -4.0]]  # eps shows on 1e-3
    for t, g in enumerate(map(np.array, grads), start=1):
        updates, state = opt.update(jnp.asarray(g, jnp.float32), state, params)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        expected = -lr * m_hat / (np.sqrt(v_hat) + eps)  # ε 1.5e-4 moves entry 1 by 6-13%
        np.testing.assert_allclose(updates, expected, rtol=1e-4)  # float32 moments
