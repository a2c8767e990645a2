"""Distributional TD losses for one transition: categorical (C51) and quantile (QR-DQN).

rlax's conventions, as `jaxdqn.losses`: unbatched arrays named by time step, rank and dtype
checks up front, the target held fixed; the caller batches them with `jax.vmap`.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax

Array = chex.Array


def categorical_l2_project(z_p: Array, probs: Array, z_q: Array) -> Array:
    """Projects a categorical distribution onto another support (the Cramér / L2-CDF projection).

    Bellemare, Dabney & Munos 2017, "A Distributional Perspective on Reinforcement Learning",
    Algorithm 1 (the projection Φ), for any ascending support `z_q` as in rlax: its atoms need
    not be evenly spaced, nor as many as `z_p`'s. Each source atom is clipped into
    [z_q[0], z_q[-1]], then its mass is split between the two target atoms around it, linearly
    in the distance to each. Equivalently, target atom i receives Σ_j probs[j]·h_i(clip(z_p[j])),
    where the hat function h_i is 1 at z_q[i] and falls linearly to 0 at z_q[i-1] and z_q[i+1].

    Args:
      z_p: support of the source distribution, `[N_p]`, in any order (e.g. r_t + γ·atoms_t).
      probs: its probabilities, `[N_p]`.
      z_q: the support to project onto, `[N_q]`, strictly ascending.

    Returns:
      probabilities on `z_q`, `[N_q]`, non-negative and summing to Σ probs.
    """
    chex.assert_rank([z_p, probs, z_q], 1)
    chex.assert_type([z_p, probs, z_q], float)
    chex.assert_equal_shape([z_p, probs])
    x = jnp.clip(z_p, z_q[0], z_q[-1])
    gaps = z_q[1:] - z_q[:-1]  # [N_q - 1]
    # 1 / (run of each slope of a hat), guarded so that equal atoms give 0, not inf (nor NaN
    # gradients). 0 also past the two ends: the end atoms' hats stay flat at 1 beyond them.
    inv_gaps = jnp.where(gaps > 0, 1.0 / jnp.where(gaps > 0, gaps, 1.0), 0.0)
    end = jnp.zeros((1,), inv_gaps.dtype)
    inv_right = jnp.concatenate([inv_gaps, end])  # 1 / (z_q[i+1] - z_q[i])
    inv_left = jnp.concatenate([end, inv_gaps])  # 1 / (z_q[i] - z_q[i-1])
    offset = x[None, :] - z_q[:, None]  # [N_q, N_p]: source atom j as seen from target atom i
    inv_run = jnp.where(offset >= 0, inv_right[:, None], inv_left[:, None])
    hat = jnp.clip(1.0 - jnp.abs(offset) * inv_run, 0.0, 1.0)
    # An elementwise sum, not a matmul: accelerators may run float32 matmuls at lower precision.
    return jnp.sum(hat * probs[None, :], axis=1)


def categorical_q_learning(
    atoms_tm1: Array,
    logits_tm1: Array,
    a_tm1: Array,
    r_t: Array,
    discount_t: Array,
    atoms_t: Array,
    logits_t: Array,
) -> Array:
    """Cross-entropy loss of C51's Q-learning target (categorical return distribution).

    Bellemare, Dabney & Munos 2017, "A Distributional Perspective on Reinforcement Learning":
    the greedy next action a* = argmax_a Σ_i softmax(logits_t[a])_i·atoms_t[i] (greatest mean);
    the target is its distribution, its atoms moved to r_t + discount_t·atoms_t and projected
    onto atoms_tm1 (`categorical_l2_project`), held fixed.

    Args:
      atoms_tm1: support of the distributions at s_tm1, `[N]`, ascending.
      logits_tm1: logits of the return distribution of each action at s_tm1, `[A, N]`.
      a_tm1: the action taken, int scalar.
      r_t: reward, scalar.
      discount_t: γ, or 0 at a terminal, scalar.
      atoms_t: support of the distributions at s_t, `[N_t]`.
      logits_t: logits at s_t (usually from the target network), `[A, N_t]`.

    Returns:
      loss = -Σ_i target_i · log softmax(logits_tm1[a_tm1])_i, scalar.
    """
    _check_categorical(atoms_tm1, logits_tm1, a_tm1, r_t, discount_t, atoms_t, logits_t)
    probs_t = jax.nn.softmax(logits_t)  # [A, N_t]
    best_action = jnp.argmax(jnp.sum(probs_t * atoms_t[None, :], axis=1))
    return _categorical_cross_entropy(
        atoms_tm1, logits_tm1[a_tm1], r_t, discount_t, atoms_t, probs_t[best_action]
    )


def categorical_double_q_learning(
    atoms_tm1: Array,
    logits_tm1: Array,
    a_tm1: Array,
    r_t: Array,
    discount_t: Array,
    atoms_t: Array,
    logits_t: Array,
    q_t_selector: Array,
) -> Array:
    """Cross-entropy loss of the double Q-learning target for categorical distributions.

    Bellemare, Dabney & Munos 2017 with van Hasselt et al. 2016's double Q-learning, as in
    Rainbow (Hessel et al. 2018, "Rainbow: Combining Improvements in Deep Reinforcement
    Learning"): the next action is a* = argmax_a q_t_selector[a] (the online network), and
    the target is logits_t[a*]'s distribution moved to r_t + discount_t·atoms_t, projected
    onto atoms_tm1 and held fixed.

    Args:
      atoms_tm1: support of the distributions at s_tm1, `[N]`, ascending.
      logits_tm1: logits of the return distribution of each action at s_tm1, `[A, N]`.
      a_tm1: the action taken, int scalar.
      r_t: reward, scalar.
      discount_t: γ, or 0 at a terminal, scalar.
      atoms_t: support of the distributions at s_t, `[N_t]`.
      logits_t: logits at s_t used to evaluate (target network), `[A, N_t]`.
      q_t_selector: Q-values at s_t used to select (online network), `[A]`.

    Returns:
      loss = -Σ_i target_i · log softmax(logits_tm1[a_tm1])_i, scalar.
    """
    _check_categorical(atoms_tm1, logits_tm1, a_tm1, r_t, discount_t, atoms_t, logits_t)
    chex.assert_rank(q_t_selector, 1)
    chex.assert_type(q_t_selector, float)
    chex.assert_shape(q_t_selector, (logits_tm1.shape[0],))
    probs_t = jax.nn.softmax(logits_t[jnp.argmax(q_t_selector)])
    return _categorical_cross_entropy(
        atoms_tm1, logits_tm1[a_tm1], r_t, discount_t, atoms_t, probs_t
    )


def _check_categorical(atoms_tm1, logits_tm1, a_tm1, r_t, discount_t, atoms_t, logits_t):
    """Ranks, dtypes and agreeing shapes of the categorical losses' common arguments."""
    args = [atoms_tm1, logits_tm1, a_tm1, r_t, discount_t, atoms_t, logits_t]
    chex.assert_rank(args, [1, 2, 0, 0, 0, 1, 2])
    chex.assert_type(args, [float, float, int, float, float, float, float])
    chex.assert_shape(logits_tm1, (None, atoms_tm1.shape[0]))
    chex.assert_shape(logits_t, (logits_tm1.shape[0], atoms_t.shape[0]))


def _categorical_cross_entropy(atoms_tm1, logits_a_tm1, r_t, discount_t, atoms_t, probs_t):
    """Cross-entropy from the projected, fixed target (atoms_t, probs_t) to softmax(logits)."""
    target = categorical_l2_project(r_t + discount_t * atoms_t, probs_t, atoms_tm1)
    target = jax.lax.stop_gradient(target)
    return -jnp.sum(target * jax.nn.log_softmax(logits_a_tm1))


def quantile_midpoints(num_quantiles: int) -> Array:
    """The quantile levels τ̂_i = (2i + 1) / (2N), i = 0 … N-1, as `[N]` float32.

    Dabney et al. 2018, "Distributional Reinforcement Learning with Quantile Regression",
    Lemma 2: the midpoints of N equal probability bins, whose quantiles give the N-atom
    distribution closest in 1-Wasserstein distance. The `tau_q_tm1` of `quantile_q_learning`.
    """
    if num_quantiles < 1:
        raise ValueError(f"quantile_midpoints: num_quantiles={num_quantiles} must be ≥ 1")
    return (2 * jnp.arange(num_quantiles, dtype=jnp.float32) + 1) / (2 * num_quantiles)


def quantile_regression_loss(
    dist_src: Array, tau_src: Array, dist_target: Array, huber_param: float = 0.0
) -> Array:
    """Quantile (Huber) regression loss of source quantiles onto samples of a target.

    Dabney et al. 2018, "Distributional Reinforcement Learning with Quantile Regression", eq. 10,
    with rlax's scaling: for every pair δ_ij = dist_target[j] - dist_src[i],
      ρ_ij = |tau_src[i] - 1{δ_ij < 0}| · L(δ_ij),
    L = |δ| when huber_param κ = 0, else the Huber loss ½δ² for |δ| ≤ κ, κ(|δ| - ½κ) beyond
    (not divided by κ as in the paper). The loss is Σ_i mean_j ρ_ij. As in rlax, only the
    indicator is held fixed, not `dist_target`: `quantile_q_learning` fixes its own target.

    Args:
      dist_src: the quantiles being learned, `[N]`.
      tau_src: their quantile levels, `[N]` (e.g. `quantile_midpoints(N)`).
      dist_target: samples (or quantiles) of the target distribution, `[M]`.
      huber_param: κ ≥ 0, a Python float (it picks the loss at trace time).

    Returns:
      the loss, scalar.
    """
    chex.assert_rank([dist_src, tau_src, dist_target], 1)
    chex.assert_type([dist_src, tau_src, dist_target], float)
    chex.assert_equal_shape([dist_src, tau_src])
    delta = dist_target[None, :] - dist_src[:, None]  # [N, M]
    below = jax.lax.stop_gradient((delta < 0).astype(delta.dtype))
    weight = jnp.abs(tau_src[:, None] - below)
    if huber_param > 0:
        per_pair = optax.losses.huber_loss(delta, delta=huber_param)
    else:
        per_pair = jnp.abs(delta)
    return jnp.sum(jnp.mean(weight * per_pair, axis=1))


def quantile_q_learning(
    dist_q_tm1: Array,
    tau_q_tm1: Array,
    a_tm1: Array,
    r_t: Array,
    discount_t: Array,
    dist_q_t_selector: Array,
    dist_q_t: Array,
    huber_param: float = 0.0,
) -> Array:
    """Quantile regression loss of QR-DQN's (and IQN's) Q-learning target.

    Dabney et al. 2018, "Distributional Reinforcement Learning with Quantile Regression": the
    next action a* maximises the mean of dist_q_t_selector's quantiles (the target network for
    QR-DQN, the online one for a double-Q variant); the target quantiles
    r_t + discount_t·dist_q_t[:, a*] are held fixed, and `quantile_regression_loss` fits
    dist_q_tm1[:, a_tm1] to them. Note rlax's layout: quantiles first, actions second. With
    the fractions an implicit quantile network sampled as `tau_q_tm1`, and N' target samples,
    this is IQN's loss (Dabney, Ostrovski et al. 2018, "Implicit Quantile Networks", eq. 3).

    Args:
      dist_q_tm1: quantiles of each action's return at s_tm1, `[N, A]`.
      tau_q_tm1: their quantile levels, `[N]` (`quantile_midpoints(N)`, or IQN's sampled τ).
      a_tm1: the action taken, int scalar.
      r_t: reward, scalar.
      discount_t: γ, or 0 at a terminal, scalar.
      dist_q_t_selector: quantiles at s_t used to select the next action, `[N', A]`.
      dist_q_t: quantiles at s_t used to evaluate it (target network), `[M, A]`.
      huber_param: κ ≥ 0 of `quantile_regression_loss`, a Python float.

    Returns:
      the loss, scalar.
    """
    args = [dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t, dist_q_t_selector, dist_q_t]
    chex.assert_rank(args, [2, 1, 0, 0, 0, 2, 2])
    chex.assert_type(args, [float, float, int, float, float, float, float])
    chex.assert_shape(tau_q_tm1, (dist_q_tm1.shape[0],))
    chex.assert_shape([dist_q_t_selector, dist_q_t], (None, dist_q_tm1.shape[1]))
    best_action = jnp.argmax(jnp.mean(dist_q_t_selector, axis=0))
    target = jax.lax.stop_gradient(r_t + discount_t * dist_q_t[:, best_action])
    return quantile_regression_loss(dist_q_tm1[:, a_tm1], tau_q_tm1, target, huber_param)
