"""Output heads of the Q-networks: the `QOutput` contract, Q / categorical / quantile /
implicit quantile heads, dueling streams and factorised noisy layers (see `jaxdqn.networks` for
the whole contract; the implicit quantile head's fraction embedding is `jaxdqn.iqn`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
HEAD_KINDS = ("q", "categorical", "quantile", "implicit_quantile")


class QOutput(NamedTuple):
    """What a network returns (a pytree: None fields are empty, so it jits and vmaps)."""

    q_values: Array  # [..., A] float32, always
    logits: Array | None = None  # [..., A, N] categorical head (C51)
    atoms: Array | None = None  # [..., N] the categorical support, broadcast over batch dims
    quantiles: Array | None = None  # [..., A, N] quantile heads (QR-DQN, IQN): N values per action
    fractions: Array | None = None  # [..., N] implicit quantile head (IQN): the τ of `quantiles`


class FractionSamples(NamedTuple):
    """How many quantile fractions τ a network draws per forward pass (Dabney et al. 2018,
    "Implicit Quantile Networks", eq. 3 and 4: N, N' and K)."""

    online: int  # N: the online network at s_tm1, the quantiles being learned
    target: int  # N': the target network at s_t, the quantiles learned towards
    act: int  # K: acting, and selecting the next action (every other pass)


@dataclasses.dataclass(frozen=True)
class Head:
    """The output head of a network.

    kind: "q" (one Q-value per action), "categorical" (C51: logits over `num_atoms` returns
      evenly spaced in [v_min, v_max]; Bellemare et al. 2017), "quantile" (QR-DQN:
      `num_atoms` quantile values of the return per action; Dabney et al. 2018) or
      "implicit_quantile" (IQN: one value per action at each of N fractions τ ~ U[0, 1] drawn
      anew every forward pass, embedded into the torso's features; Dabney et al. 2018).
    num_atoms: atoms (C51: 51) or quantiles (QR-DQN: 200); unused by "q".
    v_min, v_max: the categorical support (C51: -10, 10); used by "categorical" only.
    noisy: the dense layers after the torso are `NoisyDense` (Fortunato et al. 2018).
    sigma0: σ0 of the noisy layers (0.5, factorised noise in the paper).
    num_tau_samples, num_tau_prime_samples, num_quantile_samples: N, N' and K of
      `FractionSamples` (IQN: 64, 64, 32); used by "implicit_quantile" only.
    embedding_dim: n, the cosines cos(π·i·τ) that embed a fraction (IQN: 64).
    """

    kind: str = "q"
    num_atoms: int = 51
    v_min: float = -10.0
    v_max: float = 10.0
    noisy: bool = False
    sigma0: float = 0.5
    num_tau_samples: int = 64
    num_tau_prime_samples: int = 64
    num_quantile_samples: int = 32
    embedding_dim: int = 64

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head kind {self.kind!r}: expected one of {', '.join(HEAD_KINDS)}")
        if self.kind == "implicit_quantile":
            counts = (self.num_tau_samples, self.num_tau_prime_samples, self.num_quantile_samples)
            if min(*counts, self.embedding_dim) < 1:
                raise ValueError(f"fraction samples {counts} and embedding_dim "
                                 f"{self.embedding_dim} must be >= 1")  # fmt: skip
        elif self.kind != "q" and self.num_atoms < (2 if self.kind == "categorical" else 1):
            raise ValueError(f"num_atoms {self.num_atoms} is too small for a {self.kind} head")
        if self.kind == "categorical" and not self.v_min < self.v_max:
            raise ValueError(f"v_min {self.v_min} must be < v_max {self.v_max}")

    @property
    def values_per_action(self) -> int:
        """n: the output layer gives A × n values, `[..., A, n]` (1 for "q" and for
        "implicit_quantile", whose N values per action come from N passes of the layer)."""
        return 1 if self.kind in ("q", "implicit_quantile") else self.num_atoms

    @property
    def fraction_samples(self) -> FractionSamples | None:
        """N, N' and K of an implicit quantile head; None for the heads that draw no τ."""
        if self.kind != "implicit_quantile":
            return None
        return FractionSamples(
            self.num_tau_samples, self.num_tau_prime_samples, self.num_quantile_samples
        )

    def support(self) -> Array:
        """The categorical atoms linspace(v_min, v_max, num_atoms), float32 `[N]`."""
        return jnp.linspace(self.v_min, self.v_max, self.num_atoms, dtype=jnp.float32)


def head_from_config(agent_config: Any) -> Head:
    """The `Head` of an agent config: its fields head, num_atoms, v_min, v_max, noisy and the
    implicit quantile head's num_tau_samples, num_tau_prime_samples, num_quantile_samples and
    quantile_embedding_dim (each read with a default, so configs without them give the plain
    Q head)."""
    get = functools.partial(getattr, agent_config)
    return Head(
        kind=get("head", "q"),
        num_atoms=int(get("num_atoms", 51)),
        v_min=float(get("v_min", -10.0)),
        v_max=float(get("v_max", 10.0)),
        noisy=bool(get("noisy", False)),
        num_tau_samples=int(get("num_tau_samples", 64)),
        num_tau_prime_samples=int(get("num_tau_prime_samples", 64)),
        num_quantile_samples=int(get("num_quantile_samples", 32)),
        embedding_dim=int(get("quantile_embedding_dim", 64)),
    )


def fraction_samples(network: Any) -> FractionSamples | None:
    """How many τ a network draws per forward pass (`FractionSamples`), read from what the
    network is: its own `fraction_samples` attribute (a forked network), else its head's;
    None for a network that draws none."""
    own = getattr(network, "fraction_samples", None)
    if own is not None:
        return own
    head = getattr(network, "head", None)
    return head.fraction_samples if isinstance(head, Head) else None


def signed_sqrt(x: Array) -> Array:
    """f(x) = sgn(x)·√|x|, the noise transform of factorised noisy layers."""
    return jnp.sign(x) * jnp.sqrt(jnp.abs(x))


class NoisyDense(nn.Module):
    """A dense layer with factorised Gaussian noise (Fortunato et al. 2018, "Noisy Networks
    for Exploration", §3 (b) factorised noise, §3.2 initialisation), p inputs, q outputs:
    y = (μ_w + σ_w ⊙ ε_w) x + μ_b + σ_b ⊙ ε_b with ε_w = f(ε_i) f(ε_j)ᵀ, ε_b = f(ε_j),
    ε_i ~ N(0, I_p), ε_j ~ N(0, I_q), f(x) = sgn(x)√|x|.

    Parameters `kernel_mu`, `kernel_sigma` `[p, q]`, `bias_mu`, `bias_sigma` `[q]`; μ initialised
    U[−1/√p, 1/√p] (weights and biases), σ constant σ0/√p (σ0 = 0.5), as in the paper.
    kernel_init / bias_init replace the initialiser of μ_w / μ_b (None: the paper's).

    Noise: ε_i, ε_j are drawn from flax's "noise" rng stream (`self.make_rng("noise")`) anew on
    every call, one draw shared by the whole batch `[..., p]`. **Without a "noise" rng** (apply
    or init called with no rngs["noise"]) the layer is noise-free: y = μ_w x + μ_b, a plain
    dense layer on the mean weights (greedy evaluation, tests).
    """

    features: int
    sigma0: float = 0.5
    kernel_init: Callable | None = None
    bias_init: Callable | None = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        p = x.shape[-1]
        bound = 1.0 / math.sqrt(p)

        def uniform_mu(key, shape, dtype=jnp.float32):
            return jax.random.uniform(key, shape, dtype, -bound, bound)

        def constant_sigma(key, shape, dtype=jnp.float32):
            return jnp.full(shape, self.sigma0 / math.sqrt(p), dtype)

        shape = (p, self.features)
        kernel_mu = self.param("kernel_mu", self.kernel_init or uniform_mu, shape)
        kernel_sigma = self.param("kernel_sigma", constant_sigma, shape)
        bias_mu = self.param("bias_mu", self.bias_init or uniform_mu, (self.features,))
        bias_sigma = self.param("bias_sigma", constant_sigma, (self.features,))
        kernel, bias = kernel_mu, bias_mu
        if self.has_rng("noise"):
            key_in, key_out = jax.random.split(self.make_rng("noise"))
            eps_in = signed_sqrt(jax.random.normal(key_in, (p,), kernel_mu.dtype))
            eps_out = signed_sqrt(jax.random.normal(key_out, (self.features,), kernel_mu.dtype))
            kernel = kernel_mu + kernel_sigma * jnp.outer(eps_in, eps_out)
            bias = bias_mu + bias_sigma * eps_out
        return jnp.matmul(x, kernel) + bias


def head_dense(
    head: Head, features: int, name: str | None = None, kernel_init: Callable | None = None
) -> nn.Module:
    """A dense layer of a head: `NoisyDense` when `head.noisy` (with the paper's initialisers),
    else `nn.Dense` (kernel_init: its kernel initialiser; None: flax's default). Call inside a
    module's compact `__call__` (the layer joins that module; name None: flax's auto-name,
    Dense_k or NoisyDense_k)."""
    if head.noisy:
        return NoisyDense(features, sigma0=head.sigma0, name=name)
    if kernel_init is None:
        return nn.Dense(features, name=name)
    return nn.Dense(features, kernel_init=kernel_init, name=name)


def head_output(
    head: Head,
    advantage: Array,
    num_actions: int,
    value: Array | None = None,
    fractions: Array | None = None,
) -> QOutput:
    """The `QOutput` of an output layer's values.

    advantage: `[..., A·n]` (n = `head.values_per_action`), the output layer of a network
      without dueling, or the advantage stream of a dueling one, read as z `[..., A, n]`.
    value: None, or the value stream `[..., n]` of a dueling network (Wang et al. 2016): then
      z = value + advantage − mean_a advantage, per atom, before the softmax or the mean (as
      Hessel et al. 2018 and Dopamine's FullRainbowNetwork).
    "q": q_values = z[..., 0]; "categorical": logits = z, atoms = linspace(v_min, v_max, N)
    broadcast to `[..., N]`, q_values = Σ_i softmax(z)_i atoms_i; "quantile": quantiles = z,
    q_values = the mean of the N quantiles; "implicit_quantile": `advantage` `[..., N, A]` (and
    `value` `[..., N, 1]`) are the values at the N `fractions` `[..., N]` (`jaxdqn.iqn`), read
    as quantiles `[..., A, N]`, q_values = their mean (Dabney et al. 2018, "Implicit Quantile
    Networks", eq. 5, K samples when acting).
    """
    if head.kind == "implicit_quantile":
        return implicit_quantile_output(advantage, value, fractions)
    if head.kind == "q":  # n = 1: computed on [..., A] directly, as before heads existed
        return QOutput(q_values=advantage if value is None else dueling_head(value, advantage))
    z = advantage.reshape(advantage.shape[:-1] + (num_actions, head.values_per_action))
    if value is not None:
        z = dueling_head(value[..., None, :], z, axis=-2)  # [..., 1, n] + [..., A, n]
    if head.kind == "quantile":
        return QOutput(q_values=jnp.mean(z, axis=-1), quantiles=z)
    atoms = jnp.broadcast_to(head.support(), z.shape[:-2] + (head.num_atoms,))
    q_values = jnp.sum(jax.nn.softmax(z, axis=-1) * atoms[..., None, :], axis=-1)
    return QOutput(q_values=q_values, logits=z, atoms=atoms)


def implicit_quantile_output(
    advantage: Array, value: Array | None, fractions: Array | None
) -> QOutput:
    """The `QOutput` of an implicit quantile head's values `[..., N, A]` at `fractions`
    `[..., N]` (dueling: value `[..., N, 1]` joins per fraction)."""
    if fractions is None:
        raise ValueError(
            "the implicit_quantile head needs the network to embed sampled fractions into its "
            "features (jaxdqn.iqn.FractionEmbedding); this network does not"
        )
    z = advantage if value is None else dueling_head(value, advantage)  # [..., N, A]
    quantiles = jnp.swapaxes(z, -1, -2)  # [..., A, N], the quantile heads' layout
    return QOutput(q_values=jnp.mean(quantiles, axis=-1), quantiles=quantiles, fractions=fractions)


def output_layer(
    head: Head,
    x: Array,
    num_actions: int,
    kernel_init: Callable | None = None,
    fractions: Array | None = None,
) -> QOutput:
    """The last dense layer of a network without dueling (A·n units, auto-named) and its
    `QOutput` (fractions: the implicit quantile head's τ `[..., N]`, x then `[..., N, D]`).
    Call inside a module's compact `__call__`."""
    layer = head_dense(head, num_actions * head.values_per_action, kernel_init=kernel_init)
    return head_output(head, layer(x), num_actions, fractions=fractions)


def dueling_head(value: jnp.ndarray, advantage: jnp.ndarray, axis: int = -1) -> jnp.ndarray:
    """Q = V + A - mean_a A (Wang et al. 2016, eq. 9), the mean over the action `axis`:
    V `[..., 1]`, A `[..., A]` → `[..., A]` (axis -1); per atom, V `[..., 1, n]`,
    A `[..., A, n]` → `[..., A, n]` (axis -2)."""
    return value + advantage - jnp.mean(advantage, axis=axis, keepdims=True)
