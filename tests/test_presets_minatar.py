"""The minatar preset against its source, value by value (as tests/test_presets.py does).

Source: the authors' DQN, kenjyoung/MinAtar examples/dqn.py (constants identical in the first
commit, 47cdec8 of 2019-02-27, and today), and minatar/environment.py; Young & Tian 2019,
"MinAtar: An Atari-Inspired Testbed for Thorough and Reproducible Reinforcement Learning
Experiments", arXiv:1903.03176.
"""

import numpy as np

from jaxdqn import presets
from tests.test_presets import assert_matches, check_centered_rmsprop, flat

# examples/dqn.py, line by line (its units: frames = agent steps, MinAtar has no frame skip).
MINATAR_SOURCE = {
    "BATCH_SIZE": 32,
    "REPLAY_BUFFER_SIZE": 100_000,
    "TARGET_NETWORK_UPDATE_FREQ": 1_000,  # counted in policy_net updates
    "TRAINING_FREQ": 1,
    "NUM_FRAMES": 5_000_000,
    "FIRST_N_FRAMES": 100_000,  # ε decays over these, counted from REPLAY_START_SIZE
    "REPLAY_START_SIZE": 5_000,  # a uniform random policy until then
    "END_EPSILON": 0.1,
    "STEP_SIZE": 0.00025,
    "SQUARED_GRAD_MOMENTUM": 0.95,  # optim.RMSprop(alpha=SQUARED_GRAD_MOMENTUM, centered=True,
    "MIN_SQUARED_GRAD": 0.01,  # eps=MIN_SQUARED_GRAD): no momentum passed
    "GAMMA": 0.99,
    "EPSILON": 1.0,
}
ENVIRONMENT_SOURCE = {"sticky_action_prob": 0.1, "num_actions": 6}  # minatar/environment.py


def test_minatar_preset_matches_the_authors_dqn():
    s = MINATAR_SOURCE
    assert_matches(presets.minatar(), {
        "batch_size": s["BATCH_SIZE"],
        "replay_capacity": s["REPLAY_BUFFER_SIZE"],
        "target_update_period": s["TARGET_NETWORK_UPDATE_FREQ"],
        "target_update": "hard",
        "train_freq": s["TRAINING_FREQ"],
        "total_frames": s["NUM_FRAMES"],
        "frame_skip": 1,
        "exploration_steps": s["FIRST_N_FRAMES"],
        "exploration_from_learning_starts": True,  # epsilon = … (t - replay_start_size)
        "learning_starts": s["REPLAY_START_SIZE"],
        "epsilon_start": s["EPSILON"],
        "epsilon_end": s["END_EPSILON"],
        "optimizer": "rmsprop",
        "learning_rate": s["STEP_SIZE"],
        "optimizer_eps": s["MIN_SQUARED_GRAD"],  # on the batch-mean loss, as smooth_l1_loss's
        "optimizer_eps_in_sqrt": False,  # PyTorch: sqrt(ms - mg²) + eps
        "max_grad_norm": 0.0,  # no clipping
        "gamma": s["GAMMA"],
        "td_loss": "huber",  # f.smooth_l1_loss
        "network": "minatar",
        "envs_per_seed": 1,
        "repeat_action_probability": ENVIRONMENT_SOURCE["sticky_action_prob"],
        "env_id": "Breakout-MinAtar",
    })  # fmt: skip
    assert presets.preset_options("minatar").env_backend == "gymnax"  # how it runs, beside it
    assert presets.minatar().total_steps == s["NUM_FRAMES"]


def test_minatar_rmsprop_update_by_hand():
    """PyTorch's RMSprop(alpha=0.95, eps=0.01, centered=True, momentum=0): ms and mg start at
    0; the step is lr·g / (sqrt(ms − mg²) + eps), ε outside the root."""
    s = MINATAR_SOURCE
    check_centered_rmsprop(presets.minatar(), s["SQUARED_GRAD_MOMENTUM"], s["MIN_SQUARED_GRAD"],
                           s["STEP_SIZE"], eps_in_sqrt=False)  # fmt: skip


def test_minatar_preset_plays_minatars_action_set():
    """MinAtar's Environment.num_actions() is 6 in every game; the gymnax backend gives it."""
    from jaxdqn.backends import observation_spec

    config = presets.minatar()
    obs_shape, obs_dtype, num_actions = observation_spec(config.env)
    assert num_actions == ENVIRONMENT_SOURCE["num_actions"]
    assert obs_shape == (10, 10, 4) and obs_dtype == np.bool_


def test_minatar_docstring_cites_its_source():
    doc = " ".join(presets.PRESETS["minatar"].__doc__.split())
    for phrase in ("examples/dqn.py", "47cdec8", "1903.03176", "sticky_action_prob=0.1",
                   "not at hand", "outside the square root"):  # fmt: skip
        assert phrase in doc
    assert flat(presets.minatar())["network"] == "minatar"
