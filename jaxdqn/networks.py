"""Q-networks (flax.linen). Each maps observations to Q-values `[..., A]` in float32.

`NETWORKS` maps a `--network` name to fn(num_actions, agent_config) → flax module; a fork adds
a module and one name (and lists it in `IMAGE_NETWORKS` if it takes Atari frames).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxdqn.registry import Registry


class NatureQNetwork(nn.Module):
    """The Atari CNN of Mnih et al. 2015 (Nature), Methods "Model architecture".

    Input: uint8 frames in envpool's layout `[..., 4, 84, 84]` (stack, height, width).
    Conv 32×8×8 stride 4 → conv 64×4×4 stride 2 → conv 64×3×3 stride 1 → dense 512 → dense A,
    ReLU between, VALID padding (84 → 20 → 9 → 7).
    """

    num_actions: int
    padding: str = "VALID"

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = nature_torso(obs, self.padding)
        x = nn.relu(nn.Dense(512)(x))
        return nn.Dense(self.num_actions)(x)


def nature_torso(
    obs: jnp.ndarray, padding: str = "VALID", kernel_init: Callable = nn.linear.default_kernel_init
) -> jnp.ndarray:
    """The three convolutions of Mnih et al. 2015, flattened: uint8 `[..., 4, 84, 84]` →
    `[..., 3136]` with VALID padding (84 → 20 → 9 → 7), `[..., 7744]` with SAME (84 → 21 → 11
    → 11, flax's default, as in Dopamine's JAX networks). Call inside a module's compact
    `__call__` (its layers join that module)."""
    # Observations stay uint8 in replay (4× less memory); scale here, once, on the device.
    # Augmented observations arrive as float32 in pixel units and are scaled the same way.
    x = obs.astype(jnp.float32) / 255.0
    # envpool gives channels first; flax convolutions want channels last.
    x = jnp.moveaxis(x, -3, -1)  # [..., 84, 84, 4]
    for features, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
        conv = nn.Conv(features, (size, size), (stride, stride), padding, kernel_init=kernel_init)
        x = nn.relu(conv(x))
    return x.reshape(x.shape[:-3] + (-1,))  # [..., 3136] (VALID) or [..., 7744] (SAME)


def dueling_head(value: jnp.ndarray, advantage: jnp.ndarray) -> jnp.ndarray:
    """Q = V + A - mean_a A (Wang et al. 2016, eq. 9): V `[..., 1]`, A `[..., A]` → `[..., A]`."""
    return value + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


class DuelingQNetwork(nn.Module):
    """Dueling architecture (Wang et al. 2016, "Dueling Network Architectures for Deep
    Reinforcement Learning"): the Nature torso, then a value stream and an advantage stream of
    512 hidden units each, combined with the mean-subtracted advantage."""

    num_actions: int
    padding: str = "VALID"

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = nature_torso(obs, self.padding)
        value = nn.relu(nn.Dense(512, name="value_hidden")(x))
        value = nn.Dense(1, name="value")(value)  # [..., 1]
        advantage = nn.relu(nn.Dense(512, name="advantage_hidden")(x))
        advantage = nn.Dense(self.num_actions, name="advantage")(advantage)  # [..., A]
        return dueling_head(value, advantage)


class SharedDuelingQNetwork(nn.Module):
    """The dueling network of Dopamine's Atari 100k agents (DrQ(ε), DER): `FullRainbowNetwork`
    of `dopamine/jax/networks.py` with dueling=True, noisy=False, num_atoms=1. Unlike Wang et
    al. 2016's two 512-unit streams, one 512-unit hidden layer feeds both the value and the
    advantage heads; every layer is initialised Xavier-uniform, as there."""

    num_actions: int
    padding: str = "SAME"

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        init = nn.initializers.xavier_uniform()
        x = nature_torso(obs, self.padding, init)
        x = nn.relu(nn.Dense(512, kernel_init=init, name="hidden")(x))
        advantage = nn.Dense(self.num_actions, kernel_init=init, name="advantage")(x)
        value = nn.Dense(1, kernel_init=init, name="value")(x)
        return dueling_head(value, advantage)


class MLPQNetwork(nn.Module):
    """A multilayer perceptron for vector observations `[..., D]` (e.g. CartPole)."""

    num_actions: int
    hidden: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = obs.astype(jnp.float32)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.num_actions)(x)


def nature_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network nature`: the Nature CNN (image observations)."""
    return NatureQNetwork(num_actions, agent_config.conv_padding)


def dueling_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network dueling`: value and advantage streams on the Nature torso (images)."""
    return DuelingQNetwork(num_actions, agent_config.conv_padding)


def shared_dueling_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network shared_dueling`: Dopamine's Atari 100k dueling network (images)."""
    return SharedDuelingQNetwork(num_actions, agent_config.conv_padding)


def mlp_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network mlp`: an MLP of `agent_config.hidden` widths (vector observations)."""
    return MLPQNetwork(num_actions, hidden=tuple(agent_config.hidden))


# Name → fn(num_actions, agent_config: config.AgentConfig) → flax module mapping observations
# `[..., *obs]` to Q-values `[..., A]`. AgentConfig validates `--network` against these names.
NetworkFn = Callable[[int, Any], nn.Module]
NETWORKS: dict[str, NetworkFn] = {
    "nature": nature_network,
    "dueling": dueling_network,
    "shared_dueling": shared_dueling_network,
    "mlp": mlp_network,
}
NETWORKS = Registry(NETWORKS)  # remembers the module that registers each name

# Networks that take Atari frames (uint8 `[..., 4, 84, 84]`): the config refuses them on other
# envs, and on CPU runs their learning chunk unrolled (see config.Config.conv_on_cpu).
IMAGE_NETWORKS: set[str] = {"nature", "dueling", "shared_dueling"}
