"""Implicit quantile networks (IQN): quantile fractions drawn per forward pass and embedded.

Dabney, Ostrovski, Silver & Munos 2018, "Implicit Quantile Networks for Distributional
Reinforcement Learning". Where QR-DQN's head gives N fixed quantiles per action, an IQN
network is asked for the return's quantile at any fraction τ ∈ [0, 1]: every forward pass
draws N fractions τ ~ U[0, 1], embeds each with n cosines, φ(τ) = ReLU(W·cos(π·i·τ) + b)
(eq. 4), and multiplies φ(τ) into the torso's features ψ(x) before the rest of the network,
which then gives one value per action at each τ (Z_τ(x, a) ≈ f(ψ(x) ⊙ φ(τ))_a).

How it rides the existing contracts:
- the head `Head(kind="implicit_quantile")` (`jaxdqn.heads`) carries N, N' and K
  (`FractionSamples`); the built-in networks call `embed_fractions` between their torso and
  their last layers and return `QOutput(q_values, quantiles [..., A, N], fractions [..., N])`;
- the fractions come from flax's "noise" rng stream, the key every forward pass already gets
  (noisy networks); the agent gives each of the loss's passes its own key, and asks the
  online pass at s_tm1 for N fractions and the target pass at s_t for N'; every other pass
  (acting, evaluation, the online pass at s_t that selects for double-Q) draws K;
- the loss is `jaxdqn.distributional.quantile_q_learning` with the sampled fractions as its
  `tau_q_tm1` (`jaxdqn.losses`: `implicit_quantile`, `implicit_quantile_double_q`).

The fractions are drawn per transition (as the paper and Dopamine's TensorFlow agent; its JAX
agent shares one draw across the batch). Applied without a "noise" rng (as noisy layers fall
back to their mean weights) a network uses the N midpoints (2i + 1) / 2N instead: deterministic.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdqn.heads import Head

Array = jax.Array


def cosine_embedding(fractions: Array, embedding_dim: int) -> Array:
    """cos(π·i·τ) for i = 1 … n (Dopamine's choice; the paper's i = 0 term is the constant 1,
    which the dense layer's bias already gives): τ `[..., N]` → `[..., N, n]`."""
    i = jnp.arange(1, embedding_dim + 1, dtype=jnp.float32)  # [n]
    return jnp.cos(jnp.pi * i * fractions[..., None])


def draw_fractions(key: Array | None, batch_shape: tuple[int, ...], num: int) -> Array:
    """`num` fractions per batch element, `[*batch_shape, num]` float32: τ ~ U[0, 1]
    independently, or, with key None, the midpoints (2i + 1) / 2·num (no noise)."""
    shape = (*batch_shape, num)
    if key is None:
        midpoints = (2 * jnp.arange(num, dtype=jnp.float32) + 1) / (2 * num)
        return jnp.broadcast_to(midpoints, shape)
    return jax.random.uniform(key, shape, jnp.float32)


class FractionEmbedding(nn.Module):
    """Draws fractions and multiplies their embedding into features (Dabney et al. 2018,
    eq. 4): features `[..., D]` → (`[..., N, D]` = ψ(x) ⊙ φ(τ), fractions τ `[..., N]`), with
    φ(τ) = ReLU(Dense_D(cos(π·i·τ), i = 1 … embedding_dim)). τ comes from the "noise" rng.
    """

    embedding_dim: int = 64

    @nn.compact
    def __call__(self, x: Array, num_fractions: int) -> tuple[Array, Array]:
        key = self.make_rng("noise") if self.has_rng("noise") else None
        fractions = draw_fractions(key, x.shape[:-1], num_fractions)  # [..., N]
        phi = nn.Dense(x.shape[-1], name="dense")(cosine_embedding(fractions, self.embedding_dim))
        return x[..., None, :] * nn.relu(phi), fractions  # [..., N, D]


def embed_fractions(head: Head, x: Array, num_fractions: int | None) -> tuple[Array, Array | None]:
    """Features `[..., D]` for the layers after a torso: with an implicit quantile head,
    `FractionEmbedding`'s `[..., N, D]` and the fractions `[..., N]` (N = num_fractions, or K
    when None); with any other head, x unchanged and None (no parameter, no key drawn). Call
    inside a module's compact `__call__` (the embedding joins that module as
    "fraction_embedding")."""
    samples = head.fraction_samples
    if samples is None:
        return x, None
    num = samples.act if num_fractions is None else num_fractions
    return FractionEmbedding(head.embedding_dim, name="fraction_embedding")(x, num)
