"""CartPole-v1 with Munchausen-DQN (Vieillard, Pietquin & Geist 2020), from outside jaxdqn.

δ = r + α·τ·clip(log π(a|s), l0, 0) + γ·Σ_a' π(a'|s')·(Q̄(s', a') − τ·log π(a'|s')) − Q(s, a)
with π = softmax(Q̄ / τ) of the target network Q̄ (the paper's eq. 2; τ 0.03, α 0.9, l0 −1).
"""

import sys

import jax
import jax.numpy as jnp

from jaxdqn import cli, losses

TAU, ALPHA, L0 = 0.03, 0.9, -1.0  # entropy temperature, Munchausen scale, log-policy clip


def munchausen(x: losses.LossInputs):
    log_pi_tm1 = jax.nn.log_softmax(x.target_tm1.q_values / TAU)
    log_pi_t = jax.nn.log_softmax(x.target_t.q_values / TAU)
    bonus = ALPHA * TAU * jnp.clip(log_pi_tm1[x.a_tm1], L0, 0.0)
    soft_value_t = jnp.exp(log_pi_t) @ (x.target_t.q_values - TAU * log_pi_t)
    target = x.r_t + bonus + x.discount_t * soft_value_t
    return jax.lax.stop_gradient(target) - x.online_tm1.q_values[x.a_tm1]


losses.LOSSES["munchausen"] = losses.from_td_error(munchausen)  # Huber/MSE of δ, priority |δ|

if __name__ == "__main__":  # a new run's defaults; flags given after them override them
    flags = sys.argv[1:] if "--resume" in sys.argv else ["--loss", "munchausen", *sys.argv[1:]]
    cli.run(*cli.parse("cartpole", __doc__, flags))
