"""TD errors for one transition, and the batch loss that reduces them.

Per-transition functions follow rlax's conventions: unbatched arrays named by time step
(`q_tm1`, `a_tm1`, `r_t`, `discount_t`, `q_t`), rank and dtype checks up front, an explicit
`stop_gradient` on the target. The caller batches them with `jax.vmap`.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax

from jaxdqn.registry import Registry

Array = chex.Array

LOSS_KINDS = ("huber", "mse")


def q_learning(q_tm1: Array, a_tm1: Array, r_t: Array, discount_t: Array, q_t: Array) -> Array:
    """TD error of the Q-learning (max-Q) target.

    Watkins & Dayan 1992; used with a target network by Mnih et al. 2015.
    target = r_t + discount_t * max_a q_t[a], held fixed.

    Args:
      q_tm1: Q-values at the state where the action was taken, `[A]`.
      a_tm1: the action taken, int scalar.
      r_t: reward, scalar.
      discount_t: γ, or 0 at a terminal, scalar.
      q_t: Q-values at the next state (usually from the target network), `[A]`.

    Returns:
      td_error = target - q_tm1[a_tm1], scalar.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t], [1, 0, 0, 0, 1])
    chex.assert_type([q_tm1, a_tm1, r_t, discount_t, q_t], [float, int, float, float, float])
    target = r_t + discount_t * jnp.max(q_t)
    return jax.lax.stop_gradient(target) - q_tm1[a_tm1]


def double_q_learning(
    q_tm1: Array,
    a_tm1: Array,
    r_t: Array,
    discount_t: Array,
    q_t_value: Array,
    q_t_selector: Array,
) -> Array:
    """TD error of the double Q-learning target.

    van Hasselt, Guez & Silver 2016, "Deep Reinforcement Learning with Double Q-learning":
    the online network selects the next action, the target network evaluates it.
    target = r_t + discount_t * q_t_value[argmax_a q_t_selector[a]], held fixed.

    Args:
      q_tm1: Q-values at the state where the action was taken, `[A]`.
      a_tm1: the action taken, int scalar.
      r_t: reward, scalar.
      discount_t: γ, or 0 at a terminal, scalar.
      q_t_value: Q-values at the next state used to evaluate (target network), `[A]`.
      q_t_selector: Q-values at the next state used to select (online network), `[A]`.

    Returns:
      td_error = target - q_tm1[a_tm1], scalar.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector], [1, 0, 0, 0, 1, 1])
    chex.assert_type(
        [q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector],
        [float, int, float, float, float, float],
    )
    best_action = jnp.argmax(q_t_selector)
    target = r_t + discount_t * q_t_value[best_action]
    return jax.lax.stop_gradient(target) - q_tm1[a_tm1]


def td_loss(td_errors: Array, kind: str = "huber") -> Array:
    """Mean loss over a batch of TD errors.

    Args:
      td_errors: `[B]` TD errors.
      kind: "huber" (δ = 1, as the error clipping of Mnih et al. 2015) or "mse" (½·δ²).

    Returns:
      scalar mean loss.
    """
    chex.assert_rank(td_errors, 1)
    if kind == "huber":
        per_item = optax.losses.huber_loss(td_errors, delta=1.0)
    elif kind == "mse":
        per_item = 0.5 * jnp.square(td_errors)
    else:
        raise ValueError(f"td_loss: kind={kind!r} is not one of {LOSS_KINDS}")
    return jnp.mean(per_item)


# Name → per-transition TD error function. Every entry is called as
# fn(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online); a fork adds a name and a function.
TDErrorFn = Callable[[Array, Array, Array, Array, Array, Array], Array]


def _q_learning_adapter(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online):
    del q_t_online  # max-Q target uses the target network alone
    return q_learning(q_tm1, a_tm1, r_t, discount_t, q_t_target)


def _double_q_adapter(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online):
    return double_q_learning(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online)


TD_ERRORS: dict[str, TDErrorFn] = {"q": _q_learning_adapter, "double_q": _double_q_adapter}
TD_ERRORS = Registry(TD_ERRORS)  # remembers the module that registers each name
