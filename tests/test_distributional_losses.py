"""Distributional losses (C51, QR-DQN) against hand-worked numbers, numpy references written
from the papers, and rlax 0.1.9 (whose argument order, shapes and semantics they follow).

The rlax tests need `rlax` importable; they are skipped where it is not (see the `rlax` fixture).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.losses import (
    categorical_double_q_learning,
    categorical_l2_project,
    categorical_q_learning,
    quantile_midpoints,
    quantile_q_learning,
    quantile_regression_loss,
)

LN2 = math.log(2.0)

# ------------------------------------------------------------------- hand-worked: the projection

# Support {-1, 0, 1}; the next state's distribution over the same atoms.
ATOMS = jnp.array([-1.0, 0.0, 1.0])
P_GREEDY = jnp.array([0.2, 0.5, 0.3])  # mean -0.2 + 0.3 = 0.1
P_OTHER = jnp.array([0.6, 0.3, 0.1])  # mean -0.6 + 0.1 = -0.5
R_T = jnp.array(0.5)
ONE = jnp.array(1.0)
A_TM1 = jnp.array(1, jnp.int32)
# log-probabilities are logits whose softmax is the probabilities themselves.
LOGITS_T = jnp.log(jnp.stack([P_GREEDY, P_OTHER]))  # [A = 2, N = 3]; greedy (max mean): action 0
P_TM1 = jnp.array([0.25, 0.25, 0.5])  # the prediction for a_tm1 = 1
LOGITS_TM1 = jnp.log(jnp.stack([jnp.array([0.7, 0.2, 0.1]), P_TM1]))


def test_projection_hand_worked_shift_by_half():
    # r = 0.5, γ = 1: atoms move to {-0.5, 0.5, 1.5}; 1.5 is clipped to v_max = 1.
    #   -0.5 (p 0.2): halfway between -1 and 0 → 0.1 to -1, 0.1 to 0
    #    0.5 (p 0.5): halfway between 0 and 1  → 0.25 to 0, 0.25 to 1
    #    1.0 (p 0.3): on the atom 1            → 0.3 to 1
    # target = [0.1, 0.1 + 0.25, 0.25 + 0.3] = [0.1, 0.35, 0.55]
    target = categorical_l2_project(R_T + ONE * ATOMS, P_GREEDY, ATOMS)
    np.testing.assert_allclose(target, [0.1, 0.35, 0.55], atol=1e-6)
    assert target.shape == (3,)


def test_projection_hand_worked_other_distribution_and_terminal():
    # P_OTHER shifted by 0.5: -0.5 (0.6) → 0.3, 0.3;  0.5 (0.3) → 0.15, 0.15;  1.0 (0.1) → 0.1
    target = categorical_l2_project(R_T + ATOMS, P_OTHER, ATOMS)
    np.testing.assert_allclose(target, [0.3, 0.45, 0.25], atol=1e-6)
    # γ = 0: every atom lands on r = 0.5, halfway between 0 and 1 → [0, 0.5, 0.5]
    target = categorical_l2_project(R_T + 0.0 * ATOMS, P_OTHER, ATOMS)
    np.testing.assert_allclose(target, [0.0, 0.5, 0.5], atol=1e-6)


def test_projection_point_mass_splits_linearly_non_uniform_support():
    z_q = jnp.array([0.0, 1.0, 3.0])
    one = jnp.array([1.0])
    # 1.5 lies a quarter of the way from 1 to 3 → 0.75 to 1, 0.25 to 3
    np.testing.assert_allclose(categorical_l2_project(jnp.array([1.5]), one, z_q), [0, 0.75, 0.25])
    # 0.25 lies a quarter of the way from 0 to 1 → 0.75 to 0, 0.25 to 1
    np.testing.assert_allclose(categorical_l2_project(jnp.array([0.25]), one, z_q), [0.75, 0.25, 0])
    # Beyond either end: all the mass on that end.
    np.testing.assert_allclose(categorical_l2_project(jnp.array([-7.0]), one, z_q), [1, 0, 0])
    np.testing.assert_allclose(categorical_l2_project(jnp.array([9.0]), one, z_q), [0, 0, 1])


def test_projection_of_atoms_on_the_support_is_the_identity():
    rng = np.random.default_rng(0)
    z_q = jnp.asarray(np.sort(rng.normal(size=7)), jnp.float32)  # non-uniform
    probs = jnp.asarray(rng.dirichlet(np.ones(7)), jnp.float32)
    np.testing.assert_allclose(categorical_l2_project(z_q, probs, z_q), probs, atol=1e-6)
    perm = rng.permutation(7)  # the source atoms in another order
    np.testing.assert_allclose(
        categorical_l2_project(z_q[perm], probs[perm], z_q), probs, atol=1e-6
    )
    # A source support of other size whose atoms are all target atoms.
    np.testing.assert_allclose(
        categorical_l2_project(z_q[jnp.array([1, 4])], jnp.array([0.4, 0.6]), z_q),
        [0, 0.4, 0, 0, 0.6, 0, 0],
        atol=1e-6,
    )


@pytest.mark.parametrize("uniform", [True, False])
def test_projection_conserves_mass_and_mean(uniform):
    rng = np.random.default_rng(1)
    batch, n_p, n_q = 128, 9, 11
    z_q = np.linspace(-2.0, 2.0, n_q) if uniform else np.sort(rng.normal(size=n_q))
    z_q = jnp.asarray(z_q, jnp.float32)
    z_p = jnp.asarray(rng.normal(scale=3.0, size=(batch, n_p)), jnp.float32)  # many outside
    assert (z_p < z_q[0]).any() and (z_p > z_q[-1]).any()
    probs = jnp.asarray(rng.dirichlet(np.ones(n_p), size=batch), jnp.float32)
    out = jax.jit(jax.vmap(categorical_l2_project, (0, 0, None)))(z_p, probs, z_q)
    assert out.shape == (batch, n_q)
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    # Linear interpolation keeps the mean of the clipped source distribution.
    clipped_mean = (np.clip(z_p, z_q[0], z_q[-1]) * probs).sum(axis=1)
    np.testing.assert_allclose((out * z_q).sum(axis=1), clipped_mean, atol=1e-5)


# ------------------------------------------------------------------------ hand-worked: the losses


def test_categorical_q_learning_hand_worked():
    # Greedy next action: 0 (mean 0.1 > -0.5), whose projected target is [0.1, 0.35, 0.55].
    # Prediction for a_tm1 = 1: [0.25, 0.25, 0.5].
    # CE = -(0.1 ln 0.25 + 0.35 ln 0.25 + 0.55 ln 0.5) = 0.45·2 ln 2 + 0.55 ln 2 = 1.45 ln 2
    loss = categorical_q_learning(ATOMS, LOGITS_TM1, A_TM1, R_T, ONE, ATOMS, LOGITS_T)
    np.testing.assert_allclose(loss, 1.45 * LN2, rtol=1e-5)
    assert loss.shape == ()


def test_categorical_q_learning_terminal():
    # γ = 0: target [0, 0.5, 0.5];  CE = 0.5·2 ln 2 + 0.5 ln 2 = 1.5 ln 2
    loss = categorical_q_learning(ATOMS, LOGITS_TM1, A_TM1, R_T, jnp.array(0.0), ATOMS, LOGITS_T)
    np.testing.assert_allclose(loss, 1.5 * LN2, rtol=1e-5)


def test_categorical_double_q_learning_hand_worked():
    # The selector picks action 1 (not the greedy 0): target [0.3, 0.45, 0.25].
    # CE = -(0.3 ln 0.25 + 0.45 ln 0.25 + 0.25 ln 0.5) = 0.75·2 ln 2 + 0.25 ln 2 = 1.75 ln 2
    selector = jnp.array([0.0, 1.0])
    loss = categorical_double_q_learning(
        ATOMS, LOGITS_TM1, A_TM1, R_T, ONE, ATOMS, LOGITS_T, selector
    )
    np.testing.assert_allclose(loss, 1.75 * LN2, rtol=1e-5)
    # A selector agreeing with the greedy action gives categorical Q-learning's 1.45 ln 2.
    loss = categorical_double_q_learning(
        ATOMS, LOGITS_TM1, A_TM1, R_T, ONE, ATOMS, LOGITS_T, jnp.array([0.1, -0.5])
    )
    np.testing.assert_allclose(loss, 1.45 * LN2, rtol=1e-5)


# Two quantiles at τ = 1/4, 3/4, valued [0, 1]; target samples [0.5, 2].
SRC = jnp.array([0.0, 1.0])
TAU = jnp.array([0.25, 0.75])
TARGET = jnp.array([0.5, 2.0])


def test_quantile_regression_loss_hand_worked_kappa_0():
    # δ_ij = target_j - src_i;  weight |τ_i - 1{δ < 0}|
    #   i = 0 (src 0, τ 1/4): δ = [0.5, 2]  → weights [1/4, 1/4] → ρ = [0.125, 0.5],  mean 0.3125
    #   i = 1 (src 1, τ 3/4): δ = [-0.5, 1] → weights [1/4, 3/4] → ρ = [0.125, 0.75], mean 0.4375
    # loss = 0.3125 + 0.4375 = 0.75
    np.testing.assert_allclose(quantile_regression_loss(SRC, TAU, TARGET), 0.75, rtol=1e-6)
    np.testing.assert_allclose(quantile_regression_loss(SRC, TAU, TARGET, 0.0), 0.75, rtol=1e-6)


def test_quantile_regression_loss_hand_worked_kappa_1():
    # Huber (κ = 1): |δ| = 0.5 → ½·0.25 = 0.125;  |δ| = 2 → 1·(2 - ½) = 1.5;  |δ| = 1 → 0.5
    #   i = 0: ρ = [0.25·0.125, 0.25·1.5] = [0.03125, 0.375] → mean 0.203125
    #   i = 1: ρ = [0.25·0.125, 0.75·0.5] = [0.03125, 0.375] → mean 0.203125
    # loss = 0.40625
    np.testing.assert_allclose(quantile_regression_loss(SRC, TAU, TARGET, 1.0), 0.40625, rtol=1e-6)


def test_quantile_q_learning_hand_worked():
    # dist_q [N = 2, A = 2]: column a_tm1 = 1 holds SRC.
    dist_q_tm1 = jnp.array([[9.0, 0.0], [9.0, 1.0]])
    # Means at s_t: action 0 → 0.75, action 1 → 0. Greedy 0: target 0.5 + [0, 1.5] = TARGET.
    dist_q_t = jnp.array([[0.0, 5.0], [1.5, -5.0]])
    args = (dist_q_tm1, TAU, A_TM1, R_T, ONE, dist_q_t, dist_q_t)
    np.testing.assert_allclose(quantile_q_learning(*args), 0.75, rtol=1e-6)
    np.testing.assert_allclose(quantile_q_learning(*args, 1.0), 0.40625, rtol=1e-6)
    # A selector preferring action 1: target 0.5 + [5, -5] = [5.5, -4.5]
    #   i = 0 (src 0, τ 1/4): δ = [5.5, -4.5] → ρ = [0.25·5.5, 0.75·4.5] = [1.375, 3.375]
    #   i = 1 (src 1, τ 3/4): δ = [4.5, -5.5] → ρ = [0.75·4.5, 0.25·5.5] = [3.375, 1.375]
    # loss = 2.375 + 2.375 = 4.75
    selector = jnp.array([[0.0, 1.0], [0.0, 1.0]])
    loss = quantile_q_learning(dist_q_tm1, TAU, A_TM1, R_T, ONE, selector, dist_q_t)
    np.testing.assert_allclose(loss, 4.75, rtol=1e-6)


def test_quantile_midpoints():
    np.testing.assert_allclose(quantile_midpoints(4), [1 / 8, 3 / 8, 5 / 8, 7 / 8], rtol=1e-7)
    np.testing.assert_allclose(quantile_midpoints(1), [0.5])
    n = 200
    np.testing.assert_allclose(quantile_midpoints(n), (2 * np.arange(n) + 1) / (2 * n), rtol=1e-6)
    assert quantile_midpoints(3).dtype == jnp.float32
    with pytest.raises(ValueError):
        quantile_midpoints(0)


# ---------------------------------------------------------------------------------- gradients


def test_categorical_gradients_flow_only_into_the_taken_actions_logits():
    def loss(logits_tm1, logits_t, atoms_t, r_t):
        return categorical_q_learning(ATOMS, logits_tm1, A_TM1, r_t, ONE, atoms_t, logits_t)

    g_tm1, g_t, g_atoms_t, g_r = jax.grad(loss, argnums=(0, 1, 2, 3))(
        LOGITS_TM1, LOGITS_T, ATOMS, R_T
    )
    # d CE / d logits = softmax(logits) - target = [0.25, 0.25, 0.5] - [0.1, 0.35, 0.55]
    np.testing.assert_allclose(g_tm1[1], [0.15, -0.1, -0.05], atol=1e-6)
    np.testing.assert_array_equal(g_tm1[0], 0.0)
    np.testing.assert_array_equal(g_t, 0.0)
    np.testing.assert_array_equal(g_atoms_t, 0.0)
    np.testing.assert_array_equal(g_r, 0.0)


def test_categorical_double_q_gradients():
    def loss(logits_tm1, logits_t, selector):
        return categorical_double_q_learning(
            ATOMS, logits_tm1, A_TM1, R_T, ONE, ATOMS, logits_t, selector
        )

    g_tm1, g_t, g_sel = jax.grad(loss, argnums=(0, 1, 2))(LOGITS_TM1, LOGITS_T, jnp.array([0.0, 1]))
    # softmax - target = [0.25, 0.25, 0.5] - [0.3, 0.45, 0.25]
    np.testing.assert_allclose(g_tm1[1], [-0.05, -0.2, 0.25], atol=1e-6)
    np.testing.assert_array_equal(g_tm1[0], 0.0)
    np.testing.assert_array_equal(g_t, 0.0)
    np.testing.assert_array_equal(g_sel, 0.0)


def test_quantile_gradients_flow_only_into_the_taken_actions_quantiles():
    dist_q_tm1 = jnp.array([[9.0, 0.0], [9.0, 1.0]])
    dist_q_t = jnp.array([[0.0, 5.0], [1.5, -5.0]])

    def loss(dist_q_tm1, selector, dist_q_t, r_t):
        return quantile_q_learning(dist_q_tm1, TAU, A_TM1, r_t, ONE, selector, dist_q_t)

    g_tm1, g_sel, g_t, g_r = jax.grad(loss, argnums=(0, 1, 2, 3))(
        dist_q_tm1, dist_q_t, dist_q_t, R_T
    )
    # d/d src_i = (fraction of targets below src_i) - τ_i: [0 - 1/4, 1/2 - 3/4]
    np.testing.assert_allclose(g_tm1[:, 1], [-0.25, -0.25], atol=1e-7)
    np.testing.assert_array_equal(g_tm1[:, 0], 0.0)
    np.testing.assert_array_equal(g_sel, 0.0)
    np.testing.assert_array_equal(g_t, 0.0)
    np.testing.assert_array_equal(g_r, 0.0)


# ------------------------------------------------------------------------------- bad shapes


def test_bad_shapes_and_dtypes_raise():
    logits = LOGITS_TM1
    with pytest.raises(AssertionError):  # logits of one action only: rank 1
        categorical_q_learning(ATOMS, logits[1], A_TM1, R_T, ONE, ATOMS, LOGITS_T)
    with pytest.raises(AssertionError):  # 4 atoms for 3 logits
        categorical_q_learning(jnp.zeros(4), logits, A_TM1, R_T, ONE, ATOMS, LOGITS_T)
    with pytest.raises(AssertionError):  # a float action
        categorical_q_learning(ATOMS, logits, jnp.array(1.0), R_T, ONE, ATOMS, LOGITS_T)
    with pytest.raises(AssertionError):  # a batched reward
        categorical_q_learning(ATOMS, logits, A_TM1, jnp.ones(2), ONE, ATOMS, LOGITS_T)
    with pytest.raises(AssertionError):  # a selector over 3 actions for 2
        categorical_double_q_learning(ATOMS, logits, A_TM1, R_T, ONE, ATOMS, LOGITS_T, jnp.zeros(3))
    with pytest.raises(AssertionError):  # 3 probabilities for 2 atoms
        categorical_l2_project(jnp.zeros(2), P_GREEDY, ATOMS)
    with pytest.raises(AssertionError):  # 3 levels for 2 quantiles
        quantile_regression_loss(SRC, jnp.array([0.2, 0.5, 0.8]), TARGET)
    dist = jnp.zeros((2, 5))  # [N = 2, A = 5]
    with pytest.raises(AssertionError):  # [A, N] where rlax's layout is [N, A]: τ is [N]
        quantile_q_learning(dist.T, TAU, A_TM1, R_T, ONE, dist.T, dist.T)
    with pytest.raises(AssertionError):  # next-state quantiles over 4 actions, not 5
        quantile_q_learning(dist, TAU, A_TM1, R_T, ONE, dist, jnp.zeros((2, 4)))


# ------------------------------------------------- random batches: numpy references from the papers


def algorithm_1(z_p, probs, v_min, v_max, num_atoms):
    """Bellemare et al. 2017, Algorithm 1, as listed: for a uniform support on [v_min, v_max]."""
    dz = (v_max - v_min) / (num_atoms - 1)
    m = np.zeros(num_atoms)
    for tz, p in zip(np.float64(z_p), np.float64(probs), strict=True):
        b = (min(max(tz, v_min), v_max) - v_min) / dz
        lo, hi = min(math.floor(b), num_atoms - 1), min(math.ceil(b), num_atoms - 1)
        if lo == hi:  # b an integer: the paper's listing would drop this mass
            m[lo] += p
        else:
            m[lo] += p * (hi - b)
            m[hi] += p * (b - lo)
    return m


def split_between_neighbours(z_p, probs, z_q):
    """Any ascending support: each clipped atom's mass split between the atoms around it."""
    z_q = np.float64(z_q)
    m = np.zeros(len(z_q))
    for x, p in zip(np.clip(np.float64(z_p), z_q[0], z_q[-1]), np.float64(probs), strict=True):
        k = min(np.searchsorted(z_q, x, side="right") - 1, len(z_q) - 2)  # z_q[k] ≤ x ≤ z_q[k+1]
        frac = (x - z_q[k]) / (z_q[k + 1] - z_q[k])
        m[k] += p * (1 - frac)
        m[k + 1] += p * frac
    return m


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def categorical_batch(seed, batch=64, num_actions=4, num_atoms=11):
    """C51-like transitions, with rewards that push many target atoms beyond [v_min, v_max]."""
    rng = np.random.default_rng(seed)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    atoms = f32(np.linspace(-5.0, 5.0, num_atoms))
    return dict(
        atoms_tm1=np.tile(atoms, (batch, 1)),
        logits_tm1=f32(rng.normal(scale=2.0, size=(batch, num_actions, num_atoms))),
        a_tm1=rng.integers(0, num_actions, size=batch).astype(np.int32),
        r_t=f32(rng.normal(scale=3.0, size=batch)),
        discount_t=f32(np.where(rng.random(batch) < 0.25, 0.0, 0.99)),
        atoms_t=np.tile(atoms, (batch, 1)),
        logits_t=f32(rng.normal(scale=2.0, size=(batch, num_actions, num_atoms))),
        q_t_selector=f32(rng.normal(size=(batch, num_actions))),
    )


def quantile_batch(seed, batch=64, num_actions=4, num_quantiles=8, num_target=6):
    rng = np.random.default_rng(seed)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    return dict(
        dist_q_tm1=f32(rng.normal(size=(batch, num_quantiles, num_actions))),
        tau_q_tm1=np.tile(np.asarray(quantile_midpoints(num_quantiles)), (batch, 1)),
        a_tm1=rng.integers(0, num_actions, size=batch).astype(np.int32),
        r_t=f32(rng.normal(size=batch)),
        discount_t=f32(np.where(rng.random(batch) < 0.25, 0.0, 0.99)),
        dist_q_t_selector=f32(rng.normal(size=(batch, num_target, num_actions))),
        dist_q_t=f32(rng.normal(size=(batch, num_target, num_actions))),
    )


def test_projection_matches_algorithm_1_on_a_uniform_support():
    b = categorical_batch(2)
    z_p = b["r_t"][:, None] + b["discount_t"][:, None] * b["atoms_t"]
    probs = softmax(b["logits_t"][:, 0])
    out = jax.jit(jax.vmap(categorical_l2_project))(z_p, probs, b["atoms_tm1"])
    expected = [algorithm_1(z, p, -5.0, 5.0, 11) for z, p in zip(z_p, probs, strict=True)]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_projection_matches_neighbour_split_on_a_non_uniform_support():
    rng = np.random.default_rng(3)
    z_q = np.sort(rng.normal(scale=2.0, size=(64, 9)), axis=1).astype(np.float32)
    z_p = rng.normal(scale=3.0, size=(64, 13)).astype(np.float32)
    probs = rng.dirichlet(np.ones(13), size=64).astype(np.float32)
    out = jax.jit(jax.vmap(categorical_l2_project))(z_p, probs, z_q)
    expected = [split_between_neighbours(*x) for x in zip(z_p, probs, z_q, strict=True)]
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("double", [False, True])
def test_categorical_losses_match_numpy(double):
    b = categorical_batch(4)
    expected = []
    for i in range(len(b["a_tm1"])):
        probs_t = softmax(np.float64(b["logits_t"][i]))
        a_t = np.argmax(b["q_t_selector"][i] if double else probs_t @ b["atoms_t"][i])
        z_p = np.float64(b["r_t"][i]) + b["discount_t"][i] * b["atoms_t"][i]
        target = algorithm_1(z_p, probs_t[a_t], -5.0, 5.0, 11)
        log_p = np.log(softmax(np.float64(b["logits_tm1"][i, b["a_tm1"][i]])))
        expected.append(-(target * log_p).sum())
    if double:
        loss = jax.jit(jax.vmap(categorical_double_q_learning))(**b)
    else:
        b.pop("q_t_selector")
        loss = jax.jit(jax.vmap(categorical_q_learning))(**b)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.0])
def test_quantile_q_learning_matches_numpy(kappa):
    b = quantile_batch(5)
    expected = []
    for i in range(len(b["a_tm1"])):
        a_t = np.argmax(b["dist_q_t_selector"][i].mean(axis=0))
        target = np.float64(b["r_t"][i]) + b["discount_t"][i] * b["dist_q_t"][i][:, a_t]
        src, tau = b["dist_q_tm1"][i][:, b["a_tm1"][i]], b["tau_q_tm1"][i]
        total = 0.0
        for q, t in zip(src, tau, strict=True):
            d = target - q
            lq = np.where(np.abs(d) <= kappa, 0.5 * d**2, kappa * (np.abs(d) - 0.5 * kappa))
            total += np.mean(np.abs(t - (d < 0)) * (lq if kappa > 0 else np.abs(d)))
        expected.append(total)
    fn = jax.vmap(lambda *a: quantile_q_learning(*a, huber_param=kappa))
    loss = jax.jit(fn)(*b.values())
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------- against rlax


@pytest.fixture(scope="module")
def rlax():
    """rlax 0.1.9, the reference these losses follow. Not in requirements.txt: importing it
    needs distrax, which needs tfp-nightly (a ~60 MB nightly of TensorFlow Probability). To run
    these tests: pip install --no-deps rlax==0.1.9 distrax==0.1.9 gast==0.7.0
    tfp-nightly==0.26.0.dev20261027 (the rest of their dependencies are in requirements.txt's
    environment already)."""
    return pytest.importorskip(
        "rlax", reason="rlax (with distrax and tfp-nightly) is not installed; see the fixture"
    )


def assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("uniform", [True, False])
def test_projection_matches_rlax(rlax, uniform):
    rng = np.random.default_rng(6)
    z_q = np.linspace(-3, 3, 21) if uniform else np.sort(rng.normal(scale=2.0, size=21))
    z_q = np.tile(np.float32(z_q), (64, 1))
    z_p = rng.normal(scale=4.0, size=(64, 15)).astype(np.float32)
    probs = rng.dirichlet(np.ones(15), size=64).astype(np.float32)
    args = (z_p, probs, z_q)
    assert_close(
        jax.vmap(categorical_l2_project)(*args), jax.vmap(rlax.categorical_l2_project)(*args)
    )


def grads(fn, batch, wrt):
    """Gradients of fn's loss, vmapped over the batch and summed, in the arguments `wrt`.
    Arguments go by position: rlax names them differently (q_atoms_tm1, …), in the same order."""
    total = lambda x: jax.vmap(fn)(*(batch | x).values()).sum()  # noqa: E731
    return jax.grad(total)({name: jnp.asarray(batch[name]) for name in wrt})


# rlax's categorical_cross_entropy warns that it will move to distrax.
@pytest.mark.filterwarnings("ignore:Rlax categorical_cross_entropy:PendingDeprecationWarning")
@pytest.mark.parametrize("double", [False, True])
def test_categorical_losses_match_rlax(rlax, double):
    b = categorical_batch(7)
    if not double:
        b.pop("q_t_selector")
    ours = categorical_double_q_learning if double else categorical_q_learning
    theirs = rlax.categorical_double_q_learning if double else rlax.categorical_q_learning
    assert_close(jax.vmap(ours)(*b.values()), jax.vmap(theirs)(*b.values()))
    # The same gradients in every float argument (zero in all but logits_tm1, as rlax's).
    floats = [name for name in b if name != "a_tm1"]
    ours_grads, theirs_grads = grads(ours, b, floats), grads(theirs, b, floats)
    for name in floats:
        assert_close(ours_grads[name], theirs_grads[name])


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.0])
def test_quantile_regression_loss_matches_rlax(rlax, kappa):
    rng = np.random.default_rng(8)
    b = dict(
        dist_src=rng.normal(size=(64, 8)).astype(np.float32),
        tau_src=rng.random(size=(64, 8)).astype(np.float32),
        dist_target=rng.normal(scale=2.0, size=(64, 5)).astype(np.float32),
    )
    ours = lambda *a: quantile_regression_loss(*a, huber_param=kappa)  # noqa: E731
    theirs = lambda *a: rlax.quantile_regression_loss(*a, huber_param=kappa)  # noqa: E731
    assert_close(jax.vmap(ours)(*b.values()), jax.vmap(theirs)(*b.values()))
    ours_grads, theirs_grads = grads(ours, b, list(b)), grads(theirs, b, list(b))
    for name in b:  # dist_target included: neither holds it fixed
        assert_close(ours_grads[name], theirs_grads[name])


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.0])
def test_quantile_q_learning_matches_rlax(rlax, kappa):
    b = quantile_batch(9)
    ours = lambda *a: quantile_q_learning(*a, huber_param=kappa)  # noqa: E731
    theirs = lambda *a: rlax.quantile_q_learning(*a, huber_param=kappa)  # noqa: E731
    assert_close(jax.vmap(ours)(*b.values()), jax.vmap(theirs)(*b.values()))
    floats = [name for name in b if name != "a_tm1"]
    ours_grads, theirs_grads = grads(ours, b, floats), grads(theirs, b, floats)
    for name in floats:
        assert_close(ours_grads[name], theirs_grads[name])
