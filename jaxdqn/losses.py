"""TD errors for one transition, and the batch loss that reduces them.

Per-transition functions follow rlax's conventions: unbatched arrays named by time step
(`q_tm1`, `a_tm1`, `r_t`, `discount_t`, `q_t`), rank and dtype checks up front, an explicit
`stop_gradient` on the target. The caller batches them with `jax.vmap`. The categorical and
quantile TD functions live in `jaxdqn.distributional` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from jaxdqn.distributional import (  # noqa: F401  (re-exported: importable from here)
    _categorical_cross_entropy,
    _check_categorical,
    categorical_double_q_learning,
    categorical_l2_project,
    categorical_q_learning,
    quantile_midpoints,
    quantile_q_learning,
    quantile_regression_loss,
)
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
    return jnp.mean(regression(td_errors, kind))


# ----------------------------------------------------------------------------- the loss contract


class LossInputs(NamedTuple):
    """One transition as a registered loss sees it (unbatched: the agent vmaps the loss).

    The four network outputs are `jaxdqn.networks.QOutput`s: `q_values` `[A]` always, and the
    head's distribution where it has one (`logits` `[A, N]` with `atoms` `[N]`, or `quantiles`
    `[A, N]`). Only `online_tm1` carries a gradient; the others are held fixed. An output the
    loss does not read costs nothing: XLA drops its forward pass.
    """

    online_tm1: Any  # QOutput of the online network at s_tm1 (the one being trained)
    target_tm1: Any  # QOutput of the target network at s_tm1 (e.g. Munchausen's log-policy)
    a_tm1: Array  # int scalar: the action taken
    r_t: Array  # scalar: the (n-step) reward
    discount_t: Array  # scalar: γ^n, or 0 after a terminal
    online_t: Any  # QOutput of the online network at s_t (double-Q's selector)
    target_t: Any  # QOutput of the target network at s_t


# A per-transition loss: LossInputs → (loss, priority), both scalars. The priority is what a
# prioritised replay stores for this transition (|δ| for TD losses, the distributional loss for
# C51 and QR-DQN, as Hessel et al. 2018); uniform replays ignore it.
LossFn = Callable[[LossInputs], tuple[Array, Array]]
# A registered loss: fn(agent_config: config.AgentConfig) → LossFn, so that it may read its
# settings (--td-loss, --quantile-kappa) from the config.
LossFactory = Callable[[Any], LossFn]


def regression(td_errors: Array, kind: str = "huber") -> Array:
    """Per-item loss of TD errors: "huber" (δ = 1) or "mse" (½·δ²)."""
    if kind == "huber":
        return optax.losses.huber_loss(td_errors, delta=1.0)
    if kind == "mse":
        return 0.5 * jnp.square(td_errors)
    raise ValueError(f"td_loss: kind={kind!r} is not one of {LOSS_KINDS}")


def from_td_error(td_error: Callable[[LossInputs], Array]) -> LossFactory:
    """A registered loss from a TD error fn(LossInputs) → δ: Huber or MSE of δ as `--td-loss`
    says, priority |δ| (Schaul et al. 2016). The way to fork a new TD target."""

    def factory(agent_config) -> LossFn:
        kind = agent_config.td_loss

        def loss(x: LossInputs) -> tuple[Array, Array]:
            delta = td_error(x)
            return regression(delta, kind), jnp.abs(delta)

        return loss

    return factory


def needs(x: LossInputs, field: str, loss_name: str) -> None:
    """Fails at trace time (before anything is allocated) when the network gives no `field`."""
    if getattr(x.online_tm1, field, None) is None:
        head = {"logits": "categorical", "quantiles": "quantile",
                "fractions": "implicit_quantile"}.get(field, field)  # fmt: skip
        raise ValueError(
            f"loss {loss_name!r} needs a network output with {field} (--head {head}); this "
            "network gives Q-values only"
        )


def _q(x: LossInputs) -> Array:
    return q_learning(x.online_tm1.q_values, x.a_tm1, x.r_t, x.discount_t, x.target_t.q_values)


def _double_q(x: LossInputs) -> Array:
    return double_q_learning(
        x.online_tm1.q_values, x.a_tm1, x.r_t, x.discount_t, x.target_t.q_values,
        x.online_t.q_values,
    )  # fmt: skip


def categorical_loss(double: bool) -> LossFactory:
    """C51 (Bellemare et al. 2017): cross-entropy to the projected target distribution; with
    `double`, the online network selects the next action (Hessel et al. 2018)."""
    name = "categorical_double_q" if double else "categorical"

    def factory(agent_config) -> LossFn:
        del agent_config

        def loss(x: LossInputs) -> tuple[Array, Array]:
            needs(x, "logits", name)
            o, t = x.online_tm1, x.target_t
            if double:
                value = categorical_double_q_learning(
                    o.atoms, o.logits, x.a_tm1, x.r_t, x.discount_t, t.atoms, t.logits,
                    x.online_t.q_values,
                )  # fmt: skip
            else:
                value = categorical_q_learning(
                    o.atoms, o.logits, x.a_tm1, x.r_t, x.discount_t, t.atoms, t.logits
                )
            return value, value

        return loss

    return factory


def quantile_loss(double: bool, implicit: bool = False) -> LossFactory:
    """QR-DQN (Dabney et al. 2018): quantile Huber regression (κ = --quantile-kappa) onto the
    target quantiles at the fixed midpoint fractions; with `double`, the online network selects
    the next action.

    With `implicit`, IQN (Dabney et al. 2018, "Implicit Quantile Networks", eq. 3): the online
    quantiles sit at the N fractions its head sampled (`QOutput.fractions`) and regress onto the
    target's N' quantiles at s_t. The next action maximises the mean of the target pass's N'
    quantiles, or with `double` of the online network's K (Dopamine's double_dqn). Without
    double_dqn Dopamine selects with a target pass of K fractions of its own; here the N'
    evaluated ones select: the same means estimated, one pass fewer, not drawn apart."""
    kind = "implicit_quantile" if implicit else "quantile"
    name = f"{kind}_double_q" if double else kind

    def factory(agent_config) -> LossFn:
        kappa = agent_config.quantile_kappa

        def loss(x: LossInputs) -> tuple[Array, Array]:
            needs(x, "fractions" if implicit else "quantiles", name)
            # Our heads give [A, N]; rlax's quantile functions take [N, A].
            dist_tm1, dist_t = x.online_tm1.quantiles.T, x.target_t.quantiles.T
            selector = (x.online_t if double else x.target_t).quantiles.T
            tau = x.online_tm1.fractions if implicit else quantile_midpoints(dist_tm1.shape[0])
            value = quantile_q_learning(
                dist_tm1, tau, x.a_tm1, x.r_t, x.discount_t, selector, dist_t, kappa
            )
            return value, value

        return loss

    return factory


# Name → LossFactory; `--loss` names one. A fork adds a name: `LOSSES["mine"] =
# from_td_error(my_td_error)` for a new TD target, or any LossFactory.
LOSSES: dict[str, LossFactory] = {
    "q": from_td_error(_q),
    "double_q": from_td_error(_double_q),
    "categorical": categorical_loss(double=False),
    "categorical_double_q": categorical_loss(double=True),
    "quantile": quantile_loss(double=False),
    "quantile_double_q": quantile_loss(double=True),
    "implicit_quantile": quantile_loss(double=False, implicit=True),
    "implicit_quantile_double_q": quantile_loss(double=True, implicit=True),
}
LOSSES = Registry(LOSSES)  # remembers the module that registers each name

# The head each library loss needs (config validation names it before anything is built).
LOSS_HEADS = {
    "categorical": "categorical",
    "categorical_double_q": "categorical",
    "quantile": "quantile",
    "quantile_double_q": "quantile",
    "implicit_quantile": "implicit_quantile",
    "implicit_quantile_double_q": "implicit_quantile",
}
