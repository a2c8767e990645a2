"""jaxdqn: Deep Q-Networks in JAX."""

from jaxdqn.agent import AgentState, make_agent
from jaxdqn.analysis import load_run, plot_runs, write_curves
from jaxdqn.augmentations import AUGMENTATIONS, intensity, random_shift
from jaxdqn.checkpoint import Checkpointer, CheckpointError
from jaxdqn.config import AgentConfig, Config, EnvConfig, EvalConfig, ReplayConfig, TrainConfig
from jaxdqn.loop import run_experiment, train
from jaxdqn.losses import LOSSES, LossInputs, double_q_learning, q_learning, td_loss
from jaxdqn.networks import DuelingQNetwork, MLPQNetwork, NatureQNetwork, SharedDuelingQNetwork
from jaxdqn.options import RunOptions
from jaxdqn.plan import Plan, make_plan
from jaxdqn.policies import POLICIES, Policy, boltzmann, boltzmann_probs, epsilon_greedy, greedy
from jaxdqn.presets import (
    PRESETS,
    c51,
    cartpole,
    cleanrl,
    der,
    dopamine,
    drq_eps,
    nature,
    qr_dqn,
    rainbow,
)  # fmt: skip
from jaxdqn.replay import ReplayState, Transition, make_replay
from jaxdqn.runtime import Runtime, RuntimeOptions, resolve
from jaxdqn.train import TrainState, make_train

__all__ = [
    "AUGMENTATIONS",
    "AgentConfig",
    "AgentState",
    "PRESETS",
    "Plan",
    "make_plan",
    "POLICIES",
    "Policy",
    "RunOptions",
    "Runtime",
    "RuntimeOptions",
    "CheckpointError",
    "Checkpointer",
    "Config",
    "DuelingQNetwork",
    "EnvConfig",
    "EvalConfig",
    "MLPQNetwork",
    "NatureQNetwork",
    "ReplayConfig",
    "ReplayState",
    "SharedDuelingQNetwork",
    "TrainConfig",
    "TrainState",
    "Transition",
    "boltzmann",
    "boltzmann_probs",
    "c51",
    "cartpole",
    "der",
    "qr_dqn",
    "rainbow",
    "cleanrl",
    "dopamine",
    "double_q_learning",
    "drq_eps",
    "epsilon_greedy",
    "greedy",
    "intensity",
    "load_run",
    "make_agent",
    "make_replay",
    "make_train",
    "nature",
    "plot_runs",
    "q_learning",
    "LOSSES",
    "LossInputs",
    "random_shift",
    "resolve",
    "run_experiment",
    "td_loss",
    "train",
    "write_curves",
]
