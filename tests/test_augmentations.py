"""DrQ augmentations against numpy references: brute-force crop search, a chi-square test of the
shift offsets, and the clipped-normal statistics of the intensity factor (fixed seeds)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.augmentations import AUGMENTATIONS, check_pad, drq, intensity, none, random_shift

try:  # scipy is not a dependency; the fallback is chi2.ppf(0.999, 80)
    from scipy.stats import chi2

    CHI2_80_999 = float(chi2.ppf(0.999, 80))
except ImportError:
    CHI2_80_999 = 124.839

# Most tests share one batch shape so that each function compiles once (compiling dominates).
SHAPE = (4, 4, 84, 84)  # [B, stack, H, W]


def _stacks(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _matching_offsets(frame: np.ndarray, padded: np.ndarray, pad: int) -> set[tuple[int, int]]:
    height, width = frame.shape
    return {
        (dy, dx)
        for dy in range(2 * pad + 1)
        for dx in range(2 * pad + 1)
        if np.array_equal(padded[dy : dy + height, dx : dx + width], frame)
    }


@pytest.mark.parametrize("shape,pad", [(SHAPE, 4), ((5, 3, 10, 13), 3)])
def test_random_shift_is_one_crop_of_the_edge_padded_stack(shape, pad):
    obs = _stacks(0, shape)
    out = np.asarray(random_shift(jax.random.PRNGKey(1), jnp.asarray(obs), pad=pad))
    assert out.shape == obs.shape and out.dtype == np.uint8
    padded = np.pad(obs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    offsets = []
    for b in range(shape[0]):
        per_frame = [_matching_offsets(out[b, k], padded[b, k], pad) for k in range(shape[1])]
        assert all(len(m) == 1 for m in per_frame), per_frame  # random pixels: one crop only
        assert all(m == per_frame[0] for m in per_frame), per_frame  # one offset per stack
        offsets.append(per_frame[0].pop())
    assert len(set(offsets)) > 1  # offsets differ across the batch


def test_random_shift_offsets_are_uniform_over_all_81():
    pad, batch, size = 4, 8100, 16
    y, x = np.mgrid[:size, :size]
    # Pixel (y, x) holds 16·y + x, so output pixel (pad, pad) = input (dy, dx) names the offset.
    frame = (size * y + x).astype(np.uint8)
    obs = jnp.broadcast_to(jnp.asarray(frame), (batch, 4, size, size))
    out = np.asarray(random_shift(jax.random.PRNGKey(2024), obs, pad=pad))
    value = out[:, :, pad, pad]  # [B, 4]
    assert (value == value[:, :1]).all()
    dy, dx = value[:, 0] // size, value[:, 0] % size
    assert dy.max() <= 2 * pad and dx.max() <= 2 * pad
    counts = np.bincount(dy * (2 * pad + 1) + dx, minlength=81)
    assert counts.shape == (81,) and counts.min() > 0  # includes dy = 8 and dx = 8
    expected = batch / 81
    statistic = float(((counts - expected) ** 2 / expected).sum())
    assert statistic < CHI2_80_999, statistic


def _clipped_normal_std() -> float:
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)  # standard normal density at 2
    tail = math.erfc(2 / math.sqrt(2))  # P(|Z| > 2)
    return math.sqrt((1 - tail) - 4 * phi2 + 4 * tail)  # E[clip(Z, -2, 2)²]


def test_intensity_factor_is_a_clipped_normal_per_stack():
    scale, batch = 0.05, 40_000
    x = jnp.full((batch, 4, 2, 3), 100, jnp.uint8)
    out = np.asarray(intensity(jax.random.PRNGKey(7), x, scale=scale))
    assert out.shape == x.shape and out.dtype == np.float32
    factor = out / 100.0  # [B, 4, 2, 3]
    assert np.allclose(factor, factor[:, :1, :1, :1], rtol=0, atol=1e-7)  # one per stack
    factor = factor[:, 0, 0, 0].astype(np.float64)
    assert factor.min() >= 1 - 2 * scale - 1e-6 and factor.max() <= 1 + 2 * scale + 1e-6
    mean_se = scale * _clipped_normal_std() / math.sqrt(batch)
    assert abs(factor.mean() - 1) < 4 * mean_se, (factor.mean(), mean_se)
    at_bounds = np.abs(np.abs(factor - 1) - 2 * scale) < 1e-6
    tail = math.erfc(2 / math.sqrt(2))  # ≈ 0.0455
    assert abs(at_bounds.mean() - tail) < 4 * math.sqrt(tail * (1 - tail) / batch)
    assert at_bounds[factor > 1].any() and at_bounds[factor < 1].any()


def test_intensity_scale_zero_is_a_float_copy():
    obs = _stacks(3, SHAPE)
    out = intensity(jax.random.PRNGKey(0), jnp.asarray(obs), scale=0.0)
    np.testing.assert_array_equal(np.asarray(out), obs.astype(np.float32))


@pytest.mark.parametrize("fn", [random_shift, intensity, drq, none])
def test_jit_and_vmap_over_seeds_equal_a_loop(fn):
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    obs = jnp.asarray(_stacks(4, (3, *SHAPE)))  # [seeds, B, 4, H, W]
    loop = np.stack([np.asarray(fn(k, o)) for k, o in zip(keys, obs, strict=True)])  # no jit
    batched = np.asarray(jax.jit(jax.vmap(fn))(keys, obs))
    assert batched.dtype == loop.dtype
    np.testing.assert_allclose(batched, loop, rtol=1e-6)


def test_random_shift_pad_zero_is_identity():
    obs = jnp.asarray(_stacks(6, SHAPE))
    np.testing.assert_array_equal(np.asarray(random_shift(jax.random.PRNGKey(0), obs, 0)), obs)


@pytest.mark.parametrize("pad", [-1, 84, 4.5, True])
def test_random_shift_rejects_bad_pad(pad):
    obs = jnp.zeros(SHAPE, jnp.uint8)
    with pytest.raises(ValueError, match="pad"):
        random_shift(jax.random.PRNGKey(0), obs, pad=pad)


def test_random_shift_pad_limit_is_the_smaller_side():
    assert check_pad(9, 10, 13) == 9
    with pytest.raises(ValueError, match="pad=10"):
        random_shift(jax.random.PRNGKey(0), jnp.zeros((2, 4, 10, 13), jnp.uint8), pad=10)


def test_drq_is_shift_then_intensity_with_split_keys():
    key, obs = jax.random.PRNGKey(11), jnp.asarray(_stacks(8, SHAPE))
    shift_key, intensity_key = jax.random.split(key)
    expected = intensity(intensity_key, random_shift(shift_key, obs, pad=4), scale=0.05)
    out = drq(key, obs)
    assert out.dtype == jnp.float32 and out.shape == obs.shape
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_registry_names():
    assert AUGMENTATIONS == {"none": none, "drq": drq}
    obs = _stacks(9, SHAPE)
    np.testing.assert_array_equal(
        np.asarray(AUGMENTATIONS["none"](jax.random.PRNGKey(0), obs)), obs
    )
