"""jaxdqn: Deep Q-Networks in JAX."""

from jaxdqn.agent import AgentState, make_agent
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
    nature,
)
from jaxdqn.losses import double_q_learning, q_learning, td_loss
from jaxdqn.networks import DuelingQNetwork, MLPQNetwork, NatureQNetwork
from jaxdqn.plotting import write_curves
from jaxdqn.policies import boltzmann, boltzmann_probs, epsilon_greedy, greedy
from jaxdqn.replay import ReplayState, Transition, make_replay
from jaxdqn.train import TrainState, make_train, train

__all__ = [
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
    "TrainConfig",
    "TrainState",
    "Transition",
    "boltzmann",
    "boltzmann_probs",
    "cartpole",
    "cleanrl",
    "dopamine",
    "double_q_learning",
    "epsilon_greedy",
    "greedy",
    "make_agent",
    "make_replay",
    "make_train",
    "nature",
    "q_learning",
    "td_loss",
    "train",
    "write_curves",
]
