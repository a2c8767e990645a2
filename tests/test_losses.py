"""TD errors and batch losses against hand-worked numbers and a numpy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.config import AgentConfig
from jaxdqn.losses import LOSSES, LossInputs, double_q_learning, q_learning, td_loss
from jaxdqn.networks import QOutput

# One transition used throughout: A = 3 actions, a_tm1 = 1, r_t = 0.5, γ = 0.9.
Q_TM1 = jnp.array([1.0, 2.0, 3.0])
A_TM1 = jnp.array(1, jnp.int32)
R_T = jnp.array(0.5)
GAMMA = jnp.array(0.9)
TERMINAL = jnp.array(0.0)
Q_T = jnp.array([4.0, -1.0, 2.0])  # max = 4.0 at action 0
Q_T_SELECTOR = jnp.array([0.0, 1.0, 5.0])  # argmax = 2, where Q_T is 2.0


def test_q_learning_hand_worked():
    # target = 0.5 + 0.9 * max(4, -1, 2) = 0.5 + 3.6 = 4.1;  td = 4.1 - q_tm1[1] = 4.1 - 2.0 = 2.1
    td = q_learning(Q_TM1, A_TM1, R_T, GAMMA, Q_T)
    np.testing.assert_allclose(td, 2.1, rtol=1e-6)
    assert td.shape == ()


def test_q_learning_terminal_ignores_next_state():
    # discount 0: target = 0.5 + 0 * 4 = 0.5;  td = 0.5 - 2.0 = -1.5
    td = q_learning(Q_TM1, A_TM1, R_T, TERMINAL, Q_T)
    np.testing.assert_allclose(td, -1.5, rtol=1e-6)
    # Whatever q_t is (even huge), a terminal transition gives the same TD error.
    td_big = q_learning(Q_TM1, A_TM1, R_T, TERMINAL, Q_T * 1e6)
    np.testing.assert_allclose(td_big, -1.5, rtol=1e-6)


def test_q_learning_other_action():
    # a_tm1 = 2: td = 4.1 - q_tm1[2] = 4.1 - 3.0 = 1.1
    td = q_learning(Q_TM1, jnp.array(2, jnp.int32), R_T, GAMMA, Q_T)
    np.testing.assert_allclose(td, 1.1, rtol=1e-6)


def test_double_q_learning_hand_worked():
    # selector argmax = 2 → evaluate q_t_value[2] = 2.0 (not the max 4.0 that Q-learning uses).
    # target = 0.5 + 0.9 * 2.0 = 2.3;  td = 2.3 - 2.0 = 0.3
    td = double_q_learning(Q_TM1, A_TM1, R_T, GAMMA, Q_T, Q_T_SELECTOR)
    np.testing.assert_allclose(td, 0.3, rtol=1e-5)


def test_double_q_learning_terminal():
    # discount 0: target = 0.5;  td = 0.5 - 2.0 = -1.5
    td = double_q_learning(Q_TM1, A_TM1, R_T, TERMINAL, Q_T, Q_T_SELECTOR)
    np.testing.assert_allclose(td, -1.5, rtol=1e-6)


def test_double_q_learning_selector_ties_take_lowest_index():
    # selector [3, 3, 1]: argmax ties → action 0, q_t_value[0] = 4.0.
    # target = 0.5 + 0.9 * 4.0 = 4.1;  td = 4.1 - 2.0 = 2.1
    td = double_q_learning(Q_TM1, A_TM1, R_T, GAMMA, Q_T, jnp.array([3.0, 3.0, 1.0]))
    np.testing.assert_allclose(td, 2.1, rtol=1e-6)


def test_double_q_equals_q_learning_when_selector_is_value():
    # With the same network selecting and evaluating, double Q reduces to the max-Q target.
    td_double = double_q_learning(Q_TM1, A_TM1, R_T, GAMMA, Q_T, Q_T)
    td_q = q_learning(Q_TM1, A_TM1, R_T, GAMMA, Q_T)
    np.testing.assert_allclose(td_double, td_q, rtol=1e-6)


def _random_batch(seed, batch=64, num_actions=5):
    rng = np.random.default_rng(seed)
    q_tm1 = rng.normal(size=(batch, num_actions)).astype(np.float32)
    a_tm1 = rng.integers(0, num_actions, size=batch).astype(np.int32)
    r_t = rng.normal(size=batch).astype(np.float32)
    # A quarter of the transitions are terminal (discount 0).
    discount_t = np.where(rng.random(batch) < 0.25, 0.0, 0.99).astype(np.float32)
    q_t = rng.normal(size=(batch, num_actions)).astype(np.float32)
    q_t_sel = rng.normal(size=(batch, num_actions)).astype(np.float32)
    assert (discount_t == 0).any() and (discount_t > 0).any()
    return q_tm1, a_tm1, r_t, discount_t, q_t, q_t_sel


def test_q_learning_vmap_matches_numpy_loop():
    q_tm1, a_tm1, r_t, discount_t, q_t, _ = _random_batch(0)
    expected = np.array(
        [
            np.float64(r_t[i]) + discount_t[i] * q_t[i].max() - q_tm1[i, a_tm1[i]]
            for i in range(len(a_tm1))
        ]
    )
    td = jax.vmap(q_learning)(q_tm1, a_tm1, r_t, discount_t, q_t)
    assert td.shape == (64,)
    np.testing.assert_allclose(td, expected, rtol=1e-5, atol=1e-6)


def test_double_q_learning_vmap_matches_numpy_loop():
    q_tm1, a_tm1, r_t, discount_t, q_t, q_t_sel = _random_batch(1)
    expected = np.array(
        [
            np.float64(r_t[i]) + discount_t[i] * q_t[i, np.argmax(q_t_sel[i])] - q_tm1[i, a_tm1[i]]
            for i in range(len(a_tm1))
        ]
    )
    td = jax.vmap(double_q_learning)(q_tm1, a_tm1, r_t, discount_t, q_t, q_t_sel)
    np.testing.assert_allclose(td, expected, rtol=1e-5, atol=1e-6)


def loss_inputs(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online) -> LossInputs:
    """LossInputs of Q-value-only outputs (the target at s_tm1: a copy of the online one)."""
    out = lambda q: QOutput(q_values=jnp.asarray(q))  # noqa: E731
    return LossInputs(out(q_tm1), out(q_tm1), a_tm1, r_t, discount_t, out(q_t_online),
                      out(q_t_target))  # fmt: skip


@pytest.mark.parametrize("name", ["q", "double_q"])
def test_jit_matches_eager(name):
    fn = jax.vmap(LOSSES[name](AgentConfig()))
    args = loss_inputs(*_random_batch(2))
    chex_close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # noqa: E731
    jax.tree.map(chex_close, jax.jit(fn)(args), fn(args))


def test_registry_routes_networks_and_gives_priorities():
    # "q" evaluates max over the target network and ignores the online one: td 2.1 (above);
    # "double_q" selects with the online network and evaluates with the target one: td 0.3.
    x = loss_inputs(Q_TM1, A_TM1, R_T, GAMMA, Q_T, Q_T_SELECTOR)
    loss_q, priority_q = LOSSES["q"](AgentConfig(td_loss="mse"))(x)
    np.testing.assert_allclose(loss_q, 0.5 * 2.1**2, rtol=1e-6)  # ½δ²
    np.testing.assert_allclose(priority_q, 2.1, rtol=1e-6)  # |δ|
    loss_d, priority_d = LOSSES["double_q"](AgentConfig(td_loss="huber"))(x)
    np.testing.assert_allclose(loss_d, 0.5 * 0.3**2, rtol=1e-5)  # |δ| < 1: ½δ²
    np.testing.assert_allclose(priority_d, 0.3, rtol=1e-5)
    loss_q, _ = LOSSES["q"](AgentConfig(td_loss="huber"))(x)
    np.testing.assert_allclose(loss_q, 2.1 - 0.5, rtol=1e-6)  # |δ| > 1: |δ| - ½


@pytest.mark.parametrize("name", ["categorical", "categorical_double_q", "quantile"])
def test_distributional_loss_on_a_q_only_network_fails_clearly(name):
    x = loss_inputs(Q_TM1, A_TM1, R_T, GAMMA, Q_T, Q_T_SELECTOR)
    with pytest.raises(ValueError, match=f"loss '{name}' needs a network output with"):
        LOSSES[name](AgentConfig())(x)


def test_gradients_flow_only_through_q_tm1():
    # loss = ½ td²; d loss / d q_tm1 = td · d td / d q_tm1 = -td at a_tm1, 0 elsewhere
    # (td = 2.1 from the hand-worked example); the target is held fixed so d loss / d q_t = 0.
    def loss(q_tm1, q_t):
        return 0.5 * q_learning(q_tm1, A_TM1, R_T, GAMMA, q_t) ** 2

    g_tm1, g_t = jax.grad(loss, argnums=(0, 1))(Q_TM1, Q_T)
    np.testing.assert_allclose(g_tm1, [0.0, -2.1, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(g_t, np.zeros(3))


def test_double_q_gradients_flow_only_through_q_tm1():
    # td = 0.3 (hand-worked above) → d(½ td²)/d q_tm1 = [0, -0.3, 0]; zero for both next-state
    # Q-vectors.
    def loss(q_tm1, q_t_value, q_t_selector):
        return 0.5 * double_q_learning(q_tm1, A_TM1, R_T, GAMMA, q_t_value, q_t_selector) ** 2

    g_tm1, g_value, g_sel = jax.grad(loss, argnums=(0, 1, 2))(Q_TM1, Q_T, Q_T_SELECTOR)
    np.testing.assert_allclose(g_tm1, [0.0, -0.3, 0.0], rtol=1e-5)
    np.testing.assert_array_equal(g_value, np.zeros(3))
    np.testing.assert_array_equal(g_sel, np.zeros(3))


def test_batched_gradient_matches_minus_td_one_hot():
    q_tm1, a_tm1, r_t, discount_t, q_t, _ = _random_batch(3, batch=16)

    def loss(q_tm1, q_t):
        td = jax.vmap(q_learning)(q_tm1, a_tm1, r_t, discount_t, q_t)
        return jnp.sum(0.5 * td**2)

    g_tm1, g_t = jax.grad(loss, argnums=(0, 1))(q_tm1, q_t)
    td = np.asarray(jax.vmap(q_learning)(q_tm1, a_tm1, r_t, discount_t, q_t))
    expected = np.zeros_like(q_tm1)
    expected[np.arange(16), a_tm1] = -td
    np.testing.assert_allclose(g_tm1, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(g_t, np.zeros_like(q_t))


# td = [0.5, -2.0, 1.0, 3.0]
# huber (δ = 1): 0.5·0.25 = 0.125 | 2 - 0.5 = 1.5 | 0.5·1 = 0.5 (boundary) | 3 - 0.5 = 2.5
#   mean = (0.125 + 1.5 + 0.5 + 2.5) / 4 = 4.625 / 4 = 1.15625
# mse (½x²): 0.125 | 2.0 | 0.5 | 4.5  →  mean = 7.125 / 4 = 1.78125
TD_ERRORS_BATCH = jnp.array([0.5, -2.0, 1.0, 3.0])


def test_td_loss_huber_hand_worked():
    np.testing.assert_allclose(td_loss(TD_ERRORS_BATCH, "huber"), 1.15625, rtol=1e-6)
    # Default kind is Huber.
    np.testing.assert_allclose(td_loss(TD_ERRORS_BATCH), 1.15625, rtol=1e-6)


def test_td_loss_mse_hand_worked():
    np.testing.assert_allclose(td_loss(TD_ERRORS_BATCH, "mse"), 1.78125, rtol=1e-6)


def test_td_loss_huber_gradient_is_clipped():
    # d huber / d x = x for |x| <= 1, sign(x) otherwise; divided by B = 4 for the mean:
    # [0.5, -1, 1, 1] / 4
    g = jax.grad(lambda td: td_loss(td, "huber"))(TD_ERRORS_BATCH)
    np.testing.assert_allclose(g, [0.125, -0.25, 0.25, 0.25], rtol=1e-6)


def test_td_loss_jit_matches_eager():
    td = jnp.asarray(np.random.default_rng(4).normal(scale=3.0, size=32).astype(np.float32))
    for kind in ("huber", "mse"):
        jitted = jax.jit(td_loss, static_argnums=1)(td, kind)
        np.testing.assert_allclose(jitted, td_loss(td, kind), rtol=1e-6)


def test_td_loss_unknown_kind_raises():
    with pytest.raises(ValueError, match="'l1'"):
        td_loss(TD_ERRORS_BATCH, "l1")
