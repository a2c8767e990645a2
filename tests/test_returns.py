"""λ-returns: hand-worked numbers, a plain-Python recursion, and rlax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from jaxdqn.returns import lambda_returns

R = np.array([1.0, 2.0, 3.0], np.float32)
V = np.array([10.0, 20.0, 30.0], np.float32)


def python_lambda_returns(r_t, discount_t, v_t, lambda_):
    """G_t = r_t + γ_t((1-λ_t) v_t + λ_t G_{t+1}), G_{T-1} = r_{T-1} + γ_{T-1} v_{T-1}, in
    float64, one step at a time."""
    T = len(r_t)
    lam = np.broadcast_to(np.asarray(lambda_, np.float64), (T,))
    returns = np.zeros(T)
    for t in reversed(range(T)):
        g_next = v_t[t] if t == T - 1 else returns[t + 1]
        returns[t] = r_t[t] + discount_t[t] * ((1 - lam[t]) * v_t[t] + lam[t] * g_next)
    return returns


def random_trajectory(seed, T=20):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=T).astype(np.float32)
    discount = (0.99 * (rng.random(T) > 0.2)).astype(np.float32)  # some terminals
    v = rng.normal(size=T).astype(np.float32)
    return r, discount, v


@pytest.mark.parametrize("jit", [False, True])
def test_hand_worked(jit):
    # γ = 0.5, λ = 0.5: G_2 = 3 + 0.5·30 = 18; G_1 = 2 + 0.5(0.5·20 + 0.5·18) = 11.5;
    # G_0 = 1 + 0.5(0.5·10 + 0.5·11.5) = 6.375.
    fn = jax.jit(lambda_returns) if jit else lambda_returns
    out = fn(R, np.full(3, 0.5, np.float32), V, 0.5)
    np.testing.assert_allclose(out, [6.375, 11.5, 18.0], rtol=1e-6)


def test_terminal_cuts_the_return():
    # A terminal after step 1 (γ_1 = 0): G_1 = r_1 = 2, and G_0 = 1 + 0.5(0.5·10 + 0.5·2) = 4;
    # step 2 (a new episode) is untouched: 18.
    out = lambda_returns(R, np.array([0.5, 0.0, 0.5], np.float32), V, 0.5)
    np.testing.assert_allclose(out, [4.0, 2.0, 18.0], rtol=1e-6)


def test_lambda_zero_is_one_step_and_one_is_monte_carlo():
    discount = np.full(3, 0.5, np.float32)
    np.testing.assert_allclose(lambda_returns(R, discount, V, 0.0), R + discount * V, rtol=1e-6)
    # λ = 1: discounted rewards to the end, bootstrapped on v_{T-1} = 30.
    expected = [1 + 0.5 * (2 + 0.5 * (3 + 0.5 * 30)), 2 + 0.5 * (3 + 0.5 * 30), 3 + 0.5 * 30]
    np.testing.assert_allclose(lambda_returns(R, discount, V, 1.0), expected, rtol=1e-6)


def test_lambda_per_step():
    # λ_0 = 0 cuts the return at step 0 (G_0 = r_0 + γ v_0); later steps keep λ = 1.
    discount = np.full(3, 0.5, np.float32)
    out = lambda_returns(R, discount, V, np.array([0.0, 1.0, 1.0], np.float32))
    np.testing.assert_allclose(out, [1 + 0.5 * 10, 2 + 0.5 * 18, 18.0], rtol=1e-6)


@pytest.mark.parametrize("lambda_", [0.0, 1.0, 0.65, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_python_and_rlax(lambda_, seed):
    r, discount, v = random_trajectory(seed)
    out = np.asarray(lambda_returns(r, discount, v, lambda_))
    np.testing.assert_allclose(out, python_lambda_returns(r, discount, v, lambda_), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(out, rlax.lambda_returns(r, discount, v, lambda_), rtol=1e-6,
                               atol=1e-6)  # fmt: skip


def test_vector_lambda_against_rlax():
    r, discount, v = random_trajectory(3)
    lam = np.random.default_rng(3).random(len(r)).astype(np.float32)
    np.testing.assert_allclose(lambda_returns(r, discount, v, lam),
                               rlax.lambda_returns(r, discount, v, lam), rtol=1e-6,
                               atol=1e-6)  # fmt: skip


def test_vmapped_over_envs_against_rlax():
    # [T, E]: one trajectory per env, vmapped over the env axis as the callers do.
    trajectories = [random_trajectory(seed, T=8) for seed in range(5)]
    r, discount, v = (np.stack(x, axis=1) for x in zip(*trajectories, strict=True))
    fn = jax.vmap(lambda_returns, in_axes=(1, 1, 1, None), out_axes=1)
    out = jax.jit(fn)(r, discount, v, 0.65)
    assert out.shape == (8, 5)
    for e in range(5):
        np.testing.assert_allclose(out[:, e], rlax.lambda_returns(r[:, e], discount[:, e],
                                   v[:, e], 0.65), rtol=1e-6, atol=1e-6)  # fmt: skip


def test_stop_target_gradients():
    r, discount, v = random_trajectory(4, T=5)

    def total(v, stop):
        return jnp.sum(lambda_returns(r, discount, v, 0.65, stop_target_gradients=stop))

    assert np.abs(jax.grad(total)(v, False)).sum() > 0
    np.testing.assert_array_equal(jax.grad(total)(v, True), np.zeros_like(v))


def test_rejects_batched_and_integer_inputs():
    r, discount, v = random_trajectory(5, T=4)
    with pytest.raises(AssertionError):
        lambda_returns(r[:, None], discount[:, None], v[:, None], 0.5)
    with pytest.raises(AssertionError):
        lambda_returns(r.astype(np.int32), discount, v, 0.5)
