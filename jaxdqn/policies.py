"""Action selection from Q-values: greedy, ε-greedy and Boltzmann (softmax with temperature τ).

Every function takes Q-values of shape `[A]` or `[B, A]` (one key serves the whole batch) and
accepts ε and τ as traced arrays, so a schedule evaluated on a step counter never recompiles.
Schedules themselves are optax schedules (`optax.linear_schedule`, `optax.exponential_decay`).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxdqn.registry import Registry

Array = chex.Array


def greedy(q: Array) -> Array:
    """argmax_a q[..., a]; ties go to the lowest action index (deterministic, no key)."""
    return jnp.argmax(q, axis=-1).astype(jnp.int32)


def epsilon_greedy_probs(q: Array, epsilon: Array) -> Array:
    """Action probabilities of ε-greedy: ε/A everywhere plus 1-ε on the greedy action."""
    num_actions = q.shape[-1]
    epsilon = jnp.asarray(epsilon, q.dtype)
    one_hot = jax.nn.one_hot(greedy(q), num_actions, dtype=q.dtype)
    return epsilon / num_actions + (1.0 - epsilon) * one_hot


def epsilon_greedy(key: chex.PRNGKey, q: Array, epsilon: Array) -> Array:
    """With probability ε a uniformly random action, otherwise the greedy one.

    Args:
      key: PRNG key (one for the whole batch).
      q: Q-values, `[A]` or `[B, A]`.
      epsilon: exploration rate in [0, 1], scalar (may be traced).

    Returns:
      int32 actions, `[]` or `[B]`.
    """
    chex.assert_rank(q, {1, 2})
    explore_key, action_key = jax.random.split(key)
    batch_shape = q.shape[:-1]
    random_actions = jax.random.randint(action_key, batch_shape, 0, q.shape[-1], jnp.int32)
    explore = jax.random.uniform(explore_key, batch_shape) < epsilon
    return jnp.where(explore, random_actions, greedy(q))


def _boltzmann_logits(q: Array, temperature: Array) -> Array:
    # Subtracting the max before dividing keeps every logit in [-inf, 0]: huge Q-values or a
    # tiny τ can overflow q/τ itself, never (q - max q)/τ.
    q = q.astype(jnp.float32)
    shifted = q - jax.lax.stop_gradient(jnp.max(q, axis=-1, keepdims=True))
    return shifted / jnp.asarray(temperature, jnp.float32)


def boltzmann_probs(q: Array, temperature: Array) -> Array:
    """p(a|s) = softmax(q/τ), computed stably. τ→0 approaches greedy, τ→∞ uniform.

    Args:
      q: Q-values, `[A]` or `[B, A]`.
      temperature: τ > 0, scalar (may be traced).

    Returns:
      float32 probabilities of q's shape.
    """
    chex.assert_rank(q, {1, 2})
    return jax.nn.softmax(_boltzmann_logits(q, temperature), axis=-1)


def boltzmann(key: chex.PRNGKey, q: Array, temperature: Array) -> Array:
    """Sample a ~ softmax(q/τ).

    Args:
      key: PRNG key (one for the whole batch).
      q: Q-values, `[A]` or `[B, A]`.
      temperature: τ > 0, scalar (may be traced).

    Returns:
      int32 actions, `[]` or `[B]`.
    """
    chex.assert_rank(q, {1, 2})
    return jax.random.categorical(key, _boltzmann_logits(q, temperature), axis=-1).astype(jnp.int32)


# Name → (sample, probs). A policy takes (key, q, parameter) where the parameter is ε or τ.
POLICIES = {
    "epsilon": (epsilon_greedy, epsilon_greedy_probs),
    "boltzmann": (boltzmann, boltzmann_probs),
}
POLICIES = Registry(POLICIES)  # remembers the module that registers each name
