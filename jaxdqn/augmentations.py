"""Image augmentation of uint8 frame stacks `[B, K, H, W]` for DrQ (Kostrikov, Yarats & Fergus,
2021, "Image Augmentation Is All You Need"), as Dopamine's Atari 100k DrQ(ε) agent applies it.

`drq` is a random shift (edge-replicated padding of `pad` pixels, then a crop back to H×W at a
random offset, one offset per stack) followed by a random intensity scaling (one factor per
stack). Every function takes the key first and a batch with a leading batch axis; the whole
stack of one batch element shares its offset and its factor, so the frames stay aligned.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

from jaxdqn.registry import Registry

Array = chex.Array


def check_pad(pad: int, height: int = 84, width: int = 84) -> int:
    """Validate the shift's padding: a Python int with 0 <= pad < min(height, width).

    Raises:
      ValueError naming `pad`, its value and what is allowed (a traced or float `pad` included:
      the padding sets array shapes, so it must be static).
    """
    limit = min(height, width)
    is_int = isinstance(pad, numbers.Integral) and not isinstance(pad, bool)
    if not is_int or not 0 <= pad < limit:
        raise ValueError(
            f"pad={pad!r} is invalid: a Python int with 0 <= pad < min(H, W) = {limit} is allowed"
        )
    return int(pad)


def random_shift(key: chex.PRNGKey, obs: Array, pad: int = 4) -> Array:
    """Pad each stack by `pad` edge-replicated pixels, crop back to H×W at a random offset.

    The offset (dy, dx) is drawn uniformly from {0, ..., 2·pad}², independently per batch
    element and shared by all frames of its stack: (2·pad+1)² = 81 offsets for pad 4, as in the
    original DrQ. Dopamine's `_per_image_random_crop` draws `randint(0, 2·pad)` with an
    exclusive maxval, i.e. only 8×8 = 64 offsets, never the last row or column; we do not.

    Args:
      key: PRNG key (one for the whole batch).
      obs: frame stacks, `[B, K, H, W]`, any dtype (uint8 for Atari).
      pad: padding in pixels, a Python int with 0 <= pad < min(H, W); pad 0 is the identity.

    Returns:
      shifted stacks of obs's shape and dtype, `[B, K, H, W]`.
    """
    chex.assert_rank(obs, 4)
    batch, stack, height, width = obs.shape
    pad = check_pad(pad, height, width)
    if pad == 0:
        return obs
    padded = jnp.pad(obs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * pad + 1)  # [B, (dy, dx)]; max exclusive
    crop = lambda image, dy, dx: jax.lax.dynamic_slice(  # image: [K, H+2p, W+2p]
        image, (0, dy, dx), (stack, height, width)
    )
    return jax.vmap(crop)(padded, offsets[:, 0], offsets[:, 1])


def intensity(key: chex.PRNGKey, x: Array, scale: float = 0.05) -> Array:
    """Scale each stack by `1 + scale·clip(z, -2, 2)`, z ~ N(0, 1) drawn once per stack.

    DrQ's intensity augmentation as in Dopamine's `_intensity_aug` (noise of shape
    `[B, 1, 1, 1]`): the factor lies in [1 - 2·scale, 1 + 2·scale].

    Args:
      key: PRNG key (one for the whole batch).
      x: frame stacks, `[B, K, H, W]`, uint8 or float.
      scale: strength of the scaling (0.05 in DrQ).

    Returns:
      float32 stacks of x's shape, still in pixel units (0..255·(1 + 2·scale) for uint8 input);
      the network's division by 255 works on them unchanged.
    """
    chex.assert_rank(x, 4)
    z = jax.random.normal(key, (x.shape[0], 1, 1, 1))  # [B, 1, 1, 1]
    factor = 1.0 + scale * jnp.clip(z, -2.0, 2.0)
    return x.astype(jnp.float32) * factor


def drq(key: chex.PRNGKey, obs: Array) -> Array:
    """DrQ's augmentation: `random_shift` with pad 4, then `intensity` with scale 0.05.

    Keys: `shift_key, intensity_key = jax.random.split(key)`.

    Args:
      key: PRNG key (one for the whole batch).
      obs: frame stacks, `[B, K, H, W]`, uint8.

    Returns:
      float32 augmented stacks, `[B, K, H, W]`, in pixel units (see `intensity`).
    """
    shift_key, intensity_key = jax.random.split(key)
    return intensity(intensity_key, random_shift(shift_key, obs, pad=4), scale=0.05)


def none(key: chex.PRNGKey, obs: Array) -> Array:
    """No augmentation: returns `obs` unchanged (same shape and dtype)."""
    del key
    return obs


# A fork registers its augmentation under a new name here; the config validates
# `--augmentation` against these keys.
AUGMENTATIONS: dict[str, Callable[[chex.PRNGKey, Array], Array]] = {"none": none, "drq": drq}
AUGMENTATIONS = Registry(AUGMENTATIONS)  # remembers the module that registers each name
