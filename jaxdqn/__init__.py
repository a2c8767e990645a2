"""jaxdqn: Deep Q-Networks in JAX."""

from jaxdqn.agent import AgentState, make_agent
from jaxdqn.analysis import load_run, plot_runs, write_curves
from jaxdqn.augmentations import AUGMENTATIONS, intensity, random_shift
from jaxdqn.checkpoint import Checkpointer, CheckpointError
from jaxdqn.config import (
    AgentConfig,
    Config,
    EnvConfig,
    EvalConfig,
    ReplayConfig,
    TrainConfig,
    cartpole,
    cleanrl,
    dopamine,
    drq_eps,
    nature,
)
from jaxdqn.losses import double_q_learning, q_learning, td_loss
from jaxdqn.networks import DuelingQNetwork, MLPQNetwork, NatureQNetwork, SharedDuelingQNetwork
from jaxdqn.policies import boltzmann, boltzmann_probs, epsilon_greedy, greedy
from jaxdqn.replay import ReplayState, Transition, make_replay
from jaxdqn.train import TrainState, make_train, train

__all__ = [
    "AUGMENTATIONS",
    "AgentConfig",
    "AgentState",
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
    "cartpole",
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
    "random_shift",
    "td_loss",
    "train",
    "write_curves",
]
