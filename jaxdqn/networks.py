"""Q-networks (flax.linen). Each maps observations to Q-values `[..., A]` in float32.

`NETWORKS` maps a `--network` name to fn(num_actions, agent_config) → flax module; a fork adds
a module and one name (and lists it in `IMAGE_NETWORKS` if it takes Atari frames).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class NatureQNetwork(nn.Module):
    """The Atari CNN of Mnih et al. 2015 (Nature), Methods "Model architecture".

    Input: uint8 frames in envpool's layout `[..., 4, 84, 84]` (stack, height, width).
    Conv 32×8×8 stride 4 → conv 64×4×4 stride 2 → conv 64×3×3 stride 1 → dense 512 → dense A,
    ReLU between, VALID padding (84 → 20 → 9 → 7).
    """

    num_actions: int

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = nature_torso(obs)
        x = nn.relu(nn.Dense(512)(x))
        return nn.Dense(self.num_actions)(x)


def nature_torso(obs: jnp.ndarray) -> jnp.ndarray:
    """The three convolutions of Mnih et al. 2015, flattened: uint8 `[..., 4, 84, 84]` →
    `[..., 3136]`. Call inside a module's compact `__call__` (its layers join that module)."""
    # Observations stay uint8 in replay (4× less memory); scale here, once, on the device.
    x = obs.astype(jnp.float32) / 255.0
    # envpool gives channels first; flax convolutions want channels last.
    x = jnp.moveaxis(x, -3, -1)  # [..., 84, 84, 4]
    x = nn.relu(nn.Conv(32, (8, 8), strides=(4, 4), padding="VALID")(x))
    x = nn.relu(nn.Conv(64, (4, 4), strides=(2, 2), padding="VALID")(x))
    x = nn.relu(nn.Conv(64, (3, 3), strides=(1, 1), padding="VALID")(x))
    return x.reshape(x.shape[:-3] + (-1,))  # [..., 3136]


def dueling_head(value: jnp.ndarray, advantage: jnp.ndarray) -> jnp.ndarray:
    """Q = V + A - mean_a A (Wang et al. 2016, eq. 9): V `[..., 1]`, A `[..., A]` → `[..., A]`."""
    return value + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


class DuelingQNetwork(nn.Module):
    """Dueling architecture (Wang et al. 2016, "Dueling Network Architectures for Deep
    Reinforcement Learning"): the Nature torso, then a value stream and an advantage stream of
    512 hidden units each, combined with the mean-subtracted advantage."""

    num_actions: int

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = nature_torso(obs)
        value = nn.relu(nn.Dense(512, name="value_hidden")(x))
        value = nn.Dense(1, name="value")(value)  # [..., 1]
        advantage = nn.relu(nn.Dense(512, name="advantage_hidden")(x))
        advantage = nn.Dense(self.num_actions, name="advantage")(advantage)  # [..., A]
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
    del agent_config
    return NatureQNetwork(num_actions)


def dueling_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network dueling`: value and advantage streams on the Nature torso (images)."""
    del agent_config
    return DuelingQNetwork(num_actions)


def mlp_network(num_actions: int, agent_config: Any) -> nn.Module:
    """`--network mlp`: an MLP of `agent_config.hidden` widths (vector observations)."""
    return MLPQNetwork(num_actions, hidden=tuple(agent_config.hidden))


# Name → fn(num_actions, agent_config: config.AgentConfig) → flax module mapping observations
# `[..., *obs]` to Q-values `[..., A]`. AgentConfig validates `--network` against these names.
NetworkFn = Callable[[int, Any], nn.Module]
NETWORKS: dict[str, NetworkFn] = {
    "nature": nature_network,
    "dueling": dueling_network,
    "mlp": mlp_network,
}

# Networks that take Atari frames (uint8 `[..., 4, 84, 84]`): the config refuses them on other
# envs, and on CPU runs their learning chunk unrolled (see config.Config.conv_on_cpu).
IMAGE_NETWORKS: set[str] = {"nature", "dueling"}
