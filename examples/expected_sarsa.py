"""CartPole-v1 with a forked TD loss: expected SARSA under the Boltzmann policy."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments"))
import _cli  # noqa: E402  (the experiment CLI; it puts the repository on sys.path)
import jax  # noqa: E402

from jaxdqn import losses, policies  # noqa: E402

TAU = 0.05  # τ of the target policy: the cartpole preset's final temperature


def expected_sarsa(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online):
    """δ = r + γ·Σ_a π(a|s')·Q_target(s', a) − Q(s, a), π = softmax(Q_online(s') / τ)."""
    target = r_t + discount_t * policies.boltzmann_probs(q_t_online, TAU) @ q_t_target
    return jax.lax.stop_gradient(target) - q_tm1[a_tm1]


losses.TD_ERRORS["expected_sarsa"] = expected_sarsa  # one function, one name

if __name__ == "__main__":  # a new run's defaults; flags given after them override them
    new_run = ["--policy", "boltzmann", "--loss", "expected_sarsa"]
    flags = sys.argv[1:] if "--resume" in sys.argv else new_run + sys.argv[1:]
    _cli.run(*_cli.parse("cartpole", __doc__, flags))
