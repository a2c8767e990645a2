"""CartPole-v1 with a forked TD loss: expected SARSA under the Boltzmann policy."""

import sys

import jax

from jaxdqn import cli, losses, policies

TAU = 0.05  # τ of the target policy: the cartpole preset's final temperature


def expected_sarsa(x: losses.LossInputs):
    """δ = r + γ·Σ_a π(a|s')·Q_target(s', a) − Q(s, a), π = softmax(Q_online(s') / τ)."""
    pi_t = policies.boltzmann_probs(x.online_t.q_values, TAU)
    target = x.r_t + x.discount_t * pi_t @ x.target_t.q_values
    return jax.lax.stop_gradient(target) - x.online_tm1.q_values[x.a_tm1]


# One function, one name: Huber or MSE of δ as --td-loss says, priority |δ|.
losses.LOSSES["expected_sarsa"] = losses.from_td_error(expected_sarsa)

if __name__ == "__main__":  # a new run's defaults; flags given after them override them
    new_run = ["--policy", "boltzmann", "--loss", "expected_sarsa"]
    flags = sys.argv[1:] if "--resume" in sys.argv else new_run + sys.argv[1:]
    cli.run(*cli.parse("cartpole", __doc__, flags))
