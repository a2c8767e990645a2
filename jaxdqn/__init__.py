"""jaxdqn: Deep Q-Networks in JAX."""

from jaxdqn.losses import double_q_learning, q_learning, td_loss
from jaxdqn.networks import MLPQNetwork, NatureQNetwork
from jaxdqn.policies import boltzmann, boltzmann_probs, epsilon_greedy, greedy
from jaxdqn.replay import ReplayState, Transition, make_replay

__all__ = [
    "MLPQNetwork",
    "NatureQNetwork",
    "ReplayState",
    "Transition",
    "boltzmann",
    "boltzmann_probs",
    "double_q_learning",
    "epsilon_greedy",
    "greedy",
    "make_replay",
    "q_learning",
    "td_loss",
]
