"""Exploration policies: greedy, ε-greedy and Boltzmann (softmax with temperature τ), and the
`Policy` objects the training loop uses (sampling, probabilities, schedule, logged name).

Every function takes Q-values of shape `[A]` or `[B, A]` (one key serves the whole batch) and
accepts ε and τ as traced arrays, so a schedule evaluated on a step counter never recompiles.
Schedules themselves are optax schedules (`optax.linear_schedule`, `optax.exponential_decay`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

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


class Policy(NamedTuple):
    """An exploration policy as the training loop uses it; nothing outside this module asks
    a policy's name.

    sample: fn(key, q `[B, A]`, parameter) → actions `[B]`.
    probs: fn(q, parameter) → action probabilities.
    parameter_name: what its parameter is called in the metrics (`charts/<name>`).
    parameters: fn(agent_config, num_seeds) → (start per seed `[S]`, end): the parameter
      decays linearly from start to end over exploration_steps; seeds trained side by side
      may start from different values (a τ sweep as seeds).
    """

    sample: Callable[[chex.PRNGKey, Array, Array], Array]
    probs: Callable[[Array, Array], Array]
    parameter_name: str
    parameters: Callable[[Any, int], tuple[np.ndarray, float]]


def epsilon_parameters(agent_config, num_seeds: int) -> tuple[np.ndarray, float]:
    """ε from --epsilon-start to --epsilon-end, the same for every seed."""
    return np.full((num_seeds,), agent_config.epsilon_start), agent_config.epsilon_end


def temperature_parameters(agent_config, num_seeds: int) -> tuple[np.ndarray, float]:
    """τ from --temperature-start (one value, or one per seed) to --temperature-end."""
    starts = np.broadcast_to(np.asarray(agent_config.temperature_start), (num_seeds,))
    return starts, agent_config.temperature_end


def linear_schedule(start: Array, end: float, steps: Array, decay_steps: int, delay: int = 0):
    """start until `delay` agent steps, then linearly to `end` over `decay_steps` steps."""
    frac = jnp.clip((steps - delay) / decay_steps, 0.0, 1.0)
    return start + frac * (end - start)


# Name → Policy. AgentConfig validates `--policy` against these names; a fork adds one.
POLICIES = {
    "epsilon": Policy(epsilon_greedy, epsilon_greedy_probs, "epsilon", epsilon_parameters),
    "boltzmann": Policy(boltzmann, boltzmann_probs, "temperature", temperature_parameters),
}
POLICIES = Registry(POLICIES)  # remembers the module that registers each name
