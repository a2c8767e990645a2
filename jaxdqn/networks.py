"""Q-networks (flax.linen): observations → a `QOutput`.

Output contract. A network registered in `NETWORKS` maps observations `[..., *obs]` to a
`QOutput`: `q_values` `[..., A]` in float32, always, and the head's distribution where it has
one: `logits` `[..., A, N]` with `atoms` `[..., N]` (categorical head, C51: Bellemare et al.
2017) or `quantiles` `[..., A, N]` (quantile head, QR-DQN: Dabney et al. 2018), with their
`fractions` `[..., N]` for the implicit quantile head (IQN, `jaxdqn.iqn`: N fractions drawn from
the "noise" stream every pass; such a network takes `num_fractions` after `obs` and says how
many each pass draws with `fraction_samples`); fields a head does not have are None. A forked
network may instead return a plain Q-value array `[..., A]`: callers wrap whatever `apply`
returns in `as_output`, which reads an array as `QOutput(q_values=array)`.

Noise. Callers pass a key in flax's "noise" rng stream, `network.apply(params, obs,
rngs={"noise": key})`, and initialise with `network.init({"params": k1, "noise": k2}, obs)`;
deterministic networks ignore it. Noisy networks (`Head.noisy`, Fortunato et al. 2018) draw new
factorised Gaussian noise from it on every forward pass; applied without a "noise" rng they use
their mean weights μ, noise-free (see `NoisyDense`).

`NETWORKS` maps a `--network` name to fn(num_actions, agent_config) → flax module; a fork adds
a module and one name (and lists it in `IMAGE_NETWORKS` if it takes Atari frames). The built-in
networks take their output head from the agent config (`head_from_config`: its fields head,
num_atoms, v_min, v_max, noisy). With the default head ("q", not noisy) each network has exactly
the parameter tree and computes exactly the Q-values it did before heads existed, so old
checkpoints load and old runs reproduce. The nature, mlp and minatar networks also read
`layer_norm` (default False: no layer added): a LayerNorm before every ReLU, as PQN's networks
(Gallici et al. 2024). `QOutput`, the heads and the noisy layer live in
`jaxdqn.heads` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdqn.heads import (  # noqa: F401  (re-exported: importable from here)
    HEAD_KINDS,
    FractionSamples,
    Head,
    NoisyDense,
    QOutput,
    dueling_head,
    fraction_samples,
    head_dense,
    head_from_config,
    head_output,
    output_layer,
    signed_sqrt,
)
from jaxdqn.iqn import embed_fractions
from jaxdqn.registry import Registry

Array = jax.Array


def as_output(x: Any) -> QOutput:
    """A network's output as a `QOutput`: a QOutput passes through, an array (a forked
    network's Q-values `[..., A]`) becomes `QOutput(q_values=x)`."""
    return x if isinstance(x, QOutput) else QOutput(q_values=x)


def forward(
    network: nn.Module, params: Any, obs: Array, key: Array, num_fractions: int | None = None
) -> QOutput:
    """The `QOutput` of observations through a registered network, a noisy one drawing its
    noise from `key` (the "noise" rng stream; other networks ignore it). num_fractions: the τ
    an implicit quantile network draws in this pass (None: its default, K; only networks with
    `fraction_samples` take it)."""
    if num_fractions is None:
        return as_output(network.apply(params, obs, rngs={"noise": key}))
    return as_output(network.apply(params, obs, num_fractions, rngs={"noise": key}))


def normalize(x: Array, layer_norm: bool) -> Array:
    """`x` through a LayerNorm over its last axis (features, or a convolution's channels) when
    `layer_norm`, else unchanged. PQN (Gallici et al. 2024) puts one before every ReLU of the
    torso: it is what keeps Q-learning stable there without a target network. Off, no layer is
    created, so parameter trees and numbers are those of the network without it. Call inside a
    module's compact `__call__`."""
    return nn.LayerNorm()(x) if layer_norm else x


def layer_norm_from_config(agent_config: Any) -> bool:
    """The agent config's `layer_norm` (False for configs without the field)."""
    return bool(getattr(agent_config, "layer_norm", False))


class NatureQNetwork(nn.Module):
    """The Atari CNN of Mnih et al. 2015 (Nature), Methods "Model architecture".

    Input: uint8 frames in envpool's layout `[..., 4, 84, 84]` (stack, height, width).
    Conv 32×8×8 stride 4 → conv 64×4×4 stride 2 → conv 64×3×3 stride 1 → dense 512 → dense A
    (A·n with a distributional head), ReLU between, VALID padding (84 → 20 → 9 → 7). Noisy
    heads make both dense layers noisy (NoisyDense_0, NoisyDense_1); the convolutions stay.
    """

    num_actions: int
    padding: str = "VALID"
    head: Head = Head()
    layer_norm: bool = False  # a LayerNorm before every ReLU (PQN)

    @nn.compact
    def __call__(self, obs: Array, num_fractions: int | None = None) -> QOutput:
        x = nature_torso(obs, self.padding, layer_norm=self.layer_norm)
        x, fractions = embed_fractions(self.head, x, num_fractions)  # IQN; else unchanged
        x = nn.relu(normalize(head_dense(self.head, 512)(x), self.layer_norm))
        return output_layer(self.head, x, self.num_actions, fractions=fractions)


def nature_torso(
    obs: jnp.ndarray,
    padding: str = "VALID",
    kernel_init: Callable = nn.linear.default_kernel_init,
    layer_norm: bool = False,
) -> jnp.ndarray:
    """The three convolutions of Mnih et al. 2015, flattened: uint8 `[..., 4, 84, 84]` →
    `[..., 3136]` with VALID padding (84 → 20 → 9 → 7), `[..., 7744]` with SAME (84 → 21 → 11
    → 11, flax's default, as in Dopamine's JAX networks); `layer_norm`: a LayerNorm over the
    channels after each convolution, before its ReLU (PQN). Call inside a module's compact
    `__call__` (its layers join that module)."""
    # Observations stay uint8 in replay (4× less memory); scale here, once, on the device.
    # Augmented observations arrive as float32 in pixel units and are scaled the same way.
    x = obs.astype(jnp.float32) / 255.0
    # envpool gives channels first; flax convolutions want channels last.
    x = jnp.moveaxis(x, -3, -1)  # [..., 84, 84, 4]
    for features, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
        conv = nn.Conv(features, (size, size), (stride, stride), padding, kernel_init=kernel_init)
        x = nn.relu(normalize(conv(x), layer_norm))
    return x.reshape(x.shape[:-3] + (-1,))  # [..., 3136] (VALID) or [..., 7744] (SAME)


class DuelingQNetwork(nn.Module):
    """Dueling architecture (Wang et al. 2016, "Dueling Network Architectures for Deep
    Reinforcement Learning"): the Nature torso, then a value stream and an advantage stream of
    512 hidden units each, combined with the mean-subtracted advantage (per atom with a
    distributional head: value `[..., n]`, advantage `[..., A·n]`). Noisy heads make the four
    dense layers noisy."""

    num_actions: int
    padding: str = "VALID"
    head: Head = Head()

    @nn.compact
    def __call__(self, obs: Array, num_fractions: int | None = None) -> QOutput:
        head, n = self.head, self.head.values_per_action
        x = nature_torso(obs, self.padding)
        x, fractions = embed_fractions(head, x, num_fractions)  # IQN; else unchanged
        value = nn.relu(head_dense(head, 512, "value_hidden")(x))
        value = head_dense(head, n, "value")(value)  # [..., n]
        advantage = nn.relu(head_dense(head, 512, "advantage_hidden")(x))
        advantage = head_dense(head, self.num_actions * n, "advantage")(advantage)  # [..., A·n]
        return head_output(head, advantage, self.num_actions, value, fractions)


class SharedDuelingQNetwork(nn.Module):
    """The dueling network of Dopamine's Atari 100k agents (DrQ(ε), DER): `FullRainbowNetwork`
    of `dopamine/jax/networks.py` with dueling=True (and noisy, num_atoms from the head). Unlike
    Wang et al. 2016's two 512-unit streams, one 512-unit hidden layer feeds both the value and
    the advantage heads; every layer is initialised Xavier-uniform, as there (noisy layers: the
    paper's initialisation, as Dopamine's NoisyNetwork)."""

    num_actions: int
    padding: str = "SAME"
    head: Head = Head()

    @nn.compact
    def __call__(self, obs: Array, num_fractions: int | None = None) -> QOutput:
        head, n = self.head, self.head.values_per_action
        init = nn.initializers.xavier_uniform()
        x = nature_torso(obs, self.padding, init)
        x, fractions = embed_fractions(head, x, num_fractions)  # IQN; else unchanged
        x = nn.relu(head_dense(head, 512, "hidden", init)(x))
        advantage = head_dense(head, self.num_actions * n, "advantage", init)(x)
        value = head_dense(head, n, "value", init)(x)
        return head_output(head, advantage, self.num_actions, value, fractions)


class MLPQNetwork(nn.Module):
    """A multilayer perceptron for vector observations `[..., D]` (e.g. CartPole). It has no
    torso: a noisy head makes every layer noisy."""

    num_actions: int
    hidden: Sequence[int] = (128, 128)
    head: Head = Head()
    layer_norm: bool = False  # a LayerNorm before every ReLU (PQN)

    @nn.compact
    def __call__(self, obs: Array, num_fractions: int | None = None) -> QOutput:
        x = obs.astype(jnp.float32)
        *torso, last = self.hidden
        for width in torso:
            x = nn.relu(normalize(head_dense(self.head, width)(x), self.layer_norm))
        # IQN's fractions join before the last hidden layer, as before the Nature network's
        # dense 512 (other heads: unchanged, the same layers in the same order).
        x, fractions = embed_fractions(self.head, x, num_fractions)
        x = nn.relu(normalize(head_dense(self.head, last)(x), self.layer_norm))
        return output_layer(self.head, x, self.num_actions, fractions=fractions)


class MLPDuelingQNetwork(nn.Module):
    """Dueling streams (Wang et al. 2016) on an MLP for vector observations: the hidden layers
    of `hidden`, then a value layer `[..., n]` and an advantage layer `[..., A·n]` on the last
    hidden layer (as Dopamine's FullRainbowNetwork does on its one hidden layer)."""

    num_actions: int
    hidden: Sequence[int] = (128, 128)
    head: Head = Head()

    @nn.compact
    def __call__(self, obs: Array, num_fractions: int | None = None) -> QOutput:
        head, n = self.head, self.head.values_per_action
        x = obs.astype(jnp.float32)
        *torso, last = self.hidden
        for width in torso:
            x = nn.relu(head_dense(head, width)(x))
        x, fractions = embed_fractions(head, x, num_fractions)  # IQN; else unchanged
        x = nn.relu(head_dense(head, last)(x))
        value = head_dense(head, n, "value")(x)  # [..., n]
        advantage = head_dense(head, self.num_actions * n, "advantage")(x)  # [..., A·n]
        return head_output(head, advantage, self.num_actions, value, fractions)


class MinAtarQNetwork(nn.Module):
    """The MinAtar network of Young & Tian 2019 ("MinAtar: An Atari-Inspired Testbed for
    Thorough and Reproducible Reinforcement Learning Experiments"; kenjyoung/MinAtar
    examples/dqn.py, QNetwork): a quarter of the Nature network's widths.

    Input: MinAtar grids `[..., 10, 10, C]` (booleans, channels last as gymnax gives them).
    Conv 16×3×3 stride 1 (VALID, PyTorch's default: 10 → 8, 1,024 features) → dense 128 →
    dense A (A·n with a distributional head), ReLU between. Initialised with flax's defaults
    (LeCun normal, zero biases), where PyTorch draws U(±1/√fan_in). Noisy heads make both dense
    layers noisy.
    """

    num_actions: int
    head: Head = Head()
    layer_norm: bool = False  # a LayerNorm before every ReLU (PQN)

    @nn.compact
    def __call__(self, obs: Array, num_fractions: int | None = None) -> QOutput:
        x = obs.astype(jnp.float32)  # booleans → 0/1; the grids need no scaling
        x = nn.Conv(16, (3, 3), (1, 1), "VALID")(x)
        x = nn.relu(normalize(x, self.layer_norm))  # [..., 8, 8, 16]
        x = x.reshape(x.shape[:-3] + (-1,))  # [..., 1024]
        x, fractions = embed_fractions(self.head, x, num_fractions)  # IQN; else unchanged
        x = nn.relu(normalize(head_dense(self.head, 128)(x), self.layer_norm))
        return output_layer(self.head, x, self.num_actions, fractions=fractions)


def minatar_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network minatar`: Young & Tian 2019's network for MinAtar's `[10, 10, C]` grids."""
    return MinAtarQNetwork(
        num_actions, head_from_config(agent_config), layer_norm_from_config(agent_config)
    )


def nature_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network nature`: the Nature CNN (image observations)."""
    return NatureQNetwork(num_actions, agent_config.conv_padding, head_from_config(agent_config),
                          layer_norm_from_config(agent_config))  # fmt: skip


def dueling_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network dueling`: value and advantage streams on the Nature torso (images)."""
    return DuelingQNetwork(num_actions, agent_config.conv_padding, head_from_config(agent_config))


def shared_dueling_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network shared_dueling`: Dopamine's Atari 100k dueling network (images)."""
    return SharedDuelingQNetwork(
        num_actions, agent_config.conv_padding, head_from_config(agent_config)
    )


def mlp_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network mlp`: an MLP of `agent_config.hidden` widths (vector observations)."""
    return MLPQNetwork(num_actions, tuple(agent_config.hidden), head_from_config(agent_config),
                       layer_norm_from_config(agent_config))  # fmt: skip


# Name → fn(num_actions, agent_config: config.AgentConfig) → flax module mapping observations
# `[..., *obs]` to a `QOutput` (or to Q-values `[..., A]`, read through `as_output`).
# AgentConfig validates `--network` against these names.
NetworkFn = Callable[[int, Any], nn.Module]


def mlp_dueling_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network mlp_dueling`: dueling streams on the mlp's hidden layers (vectors)."""
    hidden = tuple(agent_config.hidden)
    return MLPDuelingQNetwork(num_actions, hidden, head_from_config(agent_config))


NETWORKS: dict[str, NetworkFn] = {
    "nature": nature_network,
    "dueling": dueling_network,
    "shared_dueling": shared_dueling_network,
    "mlp": mlp_network,
    "mlp_dueling": mlp_dueling_network,
    "minatar": minatar_network,
}
NETWORKS = Registry(NETWORKS)  # remembers the module that registers each name

# Networks that take Atari frames (uint8 `[..., 4, 84, 84]`): the config refuses them on other
# envs. (The CPU strategy asks the built network whether it has convolutions instead:
# `runtime.uses_convolutions`, so a forked conv network needs no list.)
IMAGE_NETWORKS: set[str] = {"nature", "dueling", "shared_dueling"}
