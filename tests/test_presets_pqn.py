"""The pqn_minatar and pqn_atari presets against purejaxql, value by value.

As tests/test_presets.py: each expected value is written out by hand from its source (the
comment names the line), in the source's units, and converted to jaxdqn's explicitly. Source:
mttga/purejaxql at 47af6d7, purejaxql/config/alg/pqn_minatar.yaml and pqn_atari.yaml, and the
scripts that read them (pqn_minatar.py, pqn_atari.py).
"""

from jaxdqn import presets
from tests.test_presets import assert_matches

# pqn_minatar.yaml, line by line.
MINATAR_SOURCE = {
    "TOTAL_TIMESTEPS": 1e7,  # TOTAL_TIMESTEPS: 1e7
    "NUM_ENVS": 128,  # NUM_ENVS: 128 # parallel environments
    "NUM_STEPS": 32,  # NUM_STEPS: 32 # steps per environment in each update
    "EPS_START": 1.0,  # EPS_START: 1.
    "EPS_FINISH": 0.05,  # EPS_FINISH: 0.05
    "EPS_DECAY": 0.1,  # EPS_DECAY: 0.1 # ratio of total updates
    "NUM_MINIBATCHES": 32,  # NUM_MINIBATCHES: 32 # minibatches per epoch
    "NUM_EPOCHS": 2,  # NUM_EPOCHS: 2
    "NORM_TYPE": "layer_norm",  # NORM_TYPE: "layer_norm"
    "LR": 0.0005,  # LR: 0.0005
    "MAX_GRAD_NORM": 10,  # MAX_GRAD_NORM: 10
    "LR_LINEAR_DECAY": True,  # LR_LINEAR_DECAY: True
    "GAMMA": 0.99,  # GAMMA: 0.99
    "LAMBDA": 0.65,  # LAMBDA: 0.65
    "ENV_NAME": "Asterix-MinAtar",  # ENV_NAME: "Asterix-MinAtar"
    "TEST_INTERVAL": 0.05,  # TEST_INTERVAL: 0.05 # in terms of total updates
    "TEST_NUM_ENVS": 128,  # TEST_NUM_ENVS: 128
    "EPS_TEST": 0.0,  # EPS_TEST: 0. # 0 for greedy policy
}

# pqn_atari.yaml, line by line.
ATARI_SOURCE = {
    "TOTAL_TIMESTEPS": 5e7,  # TOTAL_TIMESTEPS: 5e7 # with 4 frame skip ... 200M frames
    "NUM_ENVS": 128,  # NUM_ENVS: 128
    "NUM_STEPS": 32,  # NUM_STEPS: 32
    "EPS_START": 1.0,  # EPS_START: 1.
    "EPS_FINISH": 0.001,  # EPS_FINISH: 0.001
    "EPS_DECAY": 0.1,  # EPS_DECAY: 0.1 # ratio of total updates
    "NUM_EPOCHS": 2,  # NUM_EPOCHS: 2
    "NUM_MINIBATCHES": 32,  # NUM_MINIBATCHES: 32
    "NORM_TYPE": "layer_norm",  # NORM_TYPE: "layer_norm"
    "LR": 0.00025,  # LR: 0.00025
    "MAX_GRAD_NORM": 10,  # MAX_GRAD_NORM: 10
    "LR_LINEAR_DECAY": False,  # LR_LINEAR_DECAY: False
    "GAMMA": 0.99,  # GAMMA: 0.99
    "LAMBDA": 0.65,  # LAMBDA: 0.65
    "episodic_life": True,  # ENV_KWARGS: episodic_life: True
    "reward_clip": True,  # reward_clip: True
    "repeat_action_probability": 0.0,  # repeat_action_probability: 0.
    "frame_skip": 4,  # frame_skip: 4
    "noop_max": 30,  # noop_max: 30
    "TEST_ENVS": 8,  # TEST_ENVS: 8
    "EPS_TEST": 0.0,  # EPS_TEST: 0.
}

RADAM_EPS = 1e-8  # optax.radam(learning_rate=lr): every other argument its default, eps=1e-8


def common(s: dict, frame_skip: int) -> dict:
    """The values both scripts read the same way, in jaxdqn's names and units: TOTAL_TIMESTEPS
    counts agent steps of all of a run's envs (jaxdqn: agent steps per seed, × frame_skip in
    frames); EPS_DECAY is a fraction of the run, decayed from its start."""
    total_steps = int(s["TOTAL_TIMESTEPS"])
    return {
        "learner": "pqn",
        "total_frames": total_steps * frame_skip,
        "envs_per_seed": s["NUM_ENVS"],
        "rollout_steps": s["NUM_STEPS"],
        "learning_starts": 0,  # no replay start: the first rollout is learned from
        "epsilon_start": s["EPS_START"],
        "epsilon_end": s["EPS_FINISH"],
        "exploration_steps": int(s["EPS_DECAY"] * total_steps),
        "exploration_from_learning_starts": False,
        "num_minibatches": s["NUM_MINIBATCHES"],
        "num_epochs": s["NUM_EPOCHS"],
        "layer_norm": s["NORM_TYPE"] == "layer_norm",
        "learning_rate": s["LR"],
        "learning_rate_end": 0.0 if s["LR_LINEAR_DECAY"] else None,  # 1e-20 there
        "max_grad_norm": float(s["MAX_GRAD_NORM"]),
        "gamma": s["GAMMA"],
        "td_lambda": s["LAMBDA"],
        "optimizer": "radam",
        "optimizer_eps": RADAM_EPS,
        "head": "q",
    }


def test_pqn_minatar_matches_purejaxql():
    s = MINATAR_SOURCE
    expected = common(s, frame_skip=1) | {
        "env_id": s["ENV_NAME"],
        "network": "minatar",  # CNN: conv 16 3×3, dense 128
        "repeat_action_probability": 0.0,  # gymnax's MinAtar has no sticky actions
        "eval_every": int(s["TEST_INTERVAL"] * s["TOTAL_TIMESTEPS"]),
        "eval_episodes": s["TEST_NUM_ENVS"],
        "eval_epsilon": s["EPS_TEST"],
    }
    assert expected["exploration_steps"] == 1_000_000 and expected["eval_every"] == 500_000
    assert_matches(presets.pqn_minatar(), expected)
    doc = " ".join(presets.pqn_minatar.__doc__.split())
    for phrase in ("pqn_minatar.yaml", "47af6d7", "radam", "divides the observations by 255"):
        assert phrase in doc
    assert presets.PRESET_OPTIONS["pqn_minatar"]["env_backend"] == "gymnax"


def test_pqn_atari_matches_purejaxql():
    s = ATARI_SOURCE
    expected = common(s, frame_skip=s["frame_skip"]) | {
        "env_id": "Assault-v5",  # ENV_NAME: "Pong-v5", the headline game instead (doc says)
        "network": "nature",  # CNN: Nature's convolutions, VALID, dense 512
        "conv_padding": "VALID",
        "episodic_life": s["episodic_life"],
        "reward_clip": s["reward_clip"],
        "repeat_action_probability": s["repeat_action_probability"],
        "noop_max": s["noop_max"],
        "frame_skip": s["frame_skip"],
        "eval_episodes": s["TEST_ENVS"],
        "eval_epsilon": s["EPS_TEST"],
    }
    assert expected["total_frames"] == 200_000_000 and expected["learning_rate_end"] is None
    assert_matches(presets.pqn_atari(), expected)
    doc = " ".join(presets.pqn_atari.__doc__.split())
    for phrase in ("pqn_atari.yaml", "47af6d7", "Pong-v5 → Assault-v5", "200M frames"):
        assert phrase in doc


def test_pqn_presets_run_one_rollout_per_iteration():
    for preset in (presets.pqn_minatar(), presets.pqn_atari()):
        assert preset.env_steps_per_iteration == 32
        assert preset.updates_per_iteration == 2 * 32  # epochs × minibatches
        assert preset.replay_capacity == 32 * 128  # the rollout, read whole
