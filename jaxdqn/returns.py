"""Multistep return targets of a trajectory: λ-returns (Sutton & Barto 2018, §12.1).

Time-major arrays in rlax's naming and argument order: for steps t = 0 … T-1 of a trajectory,
`r_t` is the reward and `discount_t` the discount (γ, or 0 at a terminal) that follow the
action at t, and `v_t` the value estimate of the state reached after it. The returns bootstrap
on the last `v_t`, so a trajectory cut anywhere (a rollout of fixed length) still has a target
at every step. Per-trajectory: the caller vmaps over envs or seeds.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = chex.Array
Numeric = chex.Numeric


def lambda_returns(
    r_t: Array,
    discount_t: Array,
    v_t: Array,
    lambda_: Numeric = 1.0,
    stop_target_gradients: bool = False,
) -> Array:
    """λ-returns of one trajectory, computed backwards from its end (rlax.lambda_returns).

        G_t = r_t + γ_t [(1 - λ_t) v_t + λ_t G_{t+1}],   G_{T-1} = r_{T-1} + γ_{T-1} v_{T-1}

    λ = 0 gives one-step targets r_t + γ_t v_t; λ = 1 the discounted rewards to the end,
    bootstrapped on v_{T-1}. With `v_t = max_a q_t` these are Peng's Q(λ) targets (PQN's).

    Args:
      r_t: rewards `[T]`, float.
      discount_t: discounts `[T]`, float: γ, or 0 where the step ended the episode.
      v_t: values of the states after each step `[T]`, float.
      lambda_: mixing parameter in [0, 1], a scalar or one per step `[T]` (a λ of 0 at a step
        cuts the return there: it bootstraps on v_t alone).
      stop_target_gradients: stop gradients flowing through the returns.

    Returns:
      The λ-returns `[T]`.
    """
    chex.assert_rank([r_t, discount_t, v_t, lambda_], [1, 1, 1, {0, 1}])
    chex.assert_type([r_t, discount_t, v_t, lambda_], float)
    chex.assert_equal_shape([r_t, discount_t, v_t])
    lambda_ = jnp.ones_like(discount_t) * lambda_

    def backward(g_next: Array, step: tuple[Array, Array, Array, Array]):
        r, discount, v, lam = step
        g = r + discount * ((1.0 - lam) * v + lam * g_next)
        return g, g

    # Starting from v_{T-1} makes the last step bootstrap fully, whatever its λ.
    _, returns = jax.lax.scan(backward, v_t[-1], (r_t, discount_t, v_t, lambda_), reverse=True)
    return jax.lax.stop_gradient(returns) if stop_target_gradients else returns
