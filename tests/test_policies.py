"""Action selection: exact cases, and sampled frequencies against probabilities (chi-square)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdqn.policies import (
    POLICIES,
    boltzmann,
    boltzmann_probs,
    epsilon_greedy,
    epsilon_greedy_probs,
    greedy,
)

# Chi-square critical values at p = 0.001 (upper tail), by degrees of freedom. A correct sampler
# fails one of these tests with probability 0.001 for a random seed; the seeds are fixed.
CHI2_CRIT_P001 = {3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46}

NUM_SAMPLES = 100_000


def chi_square(counts, probs):
    expected = np.sum(counts) * np.asarray(probs, np.float64)
    assert (expected > 5).all(), "chi-square needs every expected count > 5"
    return float(np.sum((counts - expected) ** 2 / expected))


def sample_counts(sample_fn, q_row, param, seed):
    """Counts of actions drawn for NUM_SAMPLES copies of one Q-row, from a single key."""
    q = jnp.tile(jnp.asarray(q_row, jnp.float32), (NUM_SAMPLES, 1))
    actions = np.asarray(jax.jit(sample_fn)(jax.random.key(seed), q, jnp.float32(param)))
    assert actions.shape == (NUM_SAMPLES,)
    assert actions.dtype == np.int32
    assert actions.min() >= 0 and actions.max() < len(q_row)
    return np.bincount(actions, minlength=len(q_row))


def numpy_epsilon_greedy_probs(q_row, eps):
    q_row = np.asarray(q_row, np.float64)
    probs = np.full(len(q_row), eps / len(q_row))
    probs[np.argmax(q_row)] += 1.0 - eps
    return probs


def numpy_softmax(q_row, tau):
    z = np.asarray(q_row, np.float64) / tau
    z -= z.max()
    return np.exp(z) / np.exp(z).sum()


# ---------------------------------------------------------------------------------------------
# greedy


def test_greedy_picks_argmax():
    assert int(greedy(jnp.array([0.1, 0.7, -2.0, 0.3]))) == 1


def test_greedy_ties_go_to_lowest_index_unbatched():
    assert int(greedy(jnp.array([1.0, 3.0, 3.0, 3.0]))) == 1
    assert int(greedy(jnp.array([2.0, 2.0, 2.0]))) == 0


def test_greedy_ties_batched():
    q = jnp.array(
        [
            [1.0, 3.0, 3.0, 0.0],  # tie 1/2 → 1
            [5.0, 5.0, 5.0, 5.0],  # all tied → 0
            [0.0, -1.0, 2.0, 2.0],  # tie 2/3 → 2
            [-3.0, -3.0, -4.0, -3.0],  # tie 0/1/3 → 0
        ]
    )
    actions = greedy(q)
    assert actions.shape == (4,)
    assert actions.dtype == jnp.int32
    np.testing.assert_array_equal(actions, [1, 0, 2, 0])


# ---------------------------------------------------------------------------------------------
# ε-greedy


@pytest.mark.slow
def test_epsilon_zero_is_greedy():
    q = jax.random.normal(jax.random.key(0), (5_000, 6))
    actions = epsilon_greedy(jax.random.key(1), q, jnp.float32(0.0))
    np.testing.assert_array_equal(actions, np.argmax(np.asarray(q), axis=-1))
    # Unbatched too, for many keys.
    q_row = jnp.array([0.2, -1.0, 0.9, 0.5])
    keys = jax.random.split(jax.random.key(2), 500)
    unbatched = jax.jit(jax.vmap(lambda k: epsilon_greedy(k, q_row, 0.0)))(keys)
    assert (np.asarray(unbatched) == 2).all()


def test_epsilon_one_is_uniform():
    # Strongly preferred action 0 must get no extra mass at ε = 1. 6 actions → df = 5.
    counts = sample_counts(epsilon_greedy, [9.0, 0.0, 0.0, 1.0, 2.0, 3.0], 1.0, seed=3)
    assert chi_square(counts, np.full(6, 1 / 6)) < CHI2_CRIT_P001[5]


def test_epsilon_greedy_probs_hand_worked():
    # ε = 0.3, A = 4, greedy = 2: 0.3/4 = 0.075 elsewhere, 0.075 + 0.7 = 0.775 on action 2.
    probs = epsilon_greedy_probs(jnp.array([0.0, 1.0, 2.0, -1.0]), 0.3)
    np.testing.assert_allclose(probs, [0.075, 0.075, 0.775, 0.075], rtol=1e-6)
    # Batched, with a tie (→ lowest index gets the 1 - ε).
    probs = epsilon_greedy_probs(jnp.array([[0.0, 1.0, 2.0, -1.0], [1.0, 1.0, 0.0, 0.0]]), 0.3)
    np.testing.assert_allclose(probs[1], [0.775, 0.075, 0.075, 0.075], rtol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), [1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("eps", [0.3, 0.8])
def test_epsilon_greedy_frequencies_match_probs(eps):
    q_row = [0.4, -0.2, 1.3, 0.9, 0.0]  # greedy = 2; 5 actions → df = 4
    expected_np = numpy_epsilon_greedy_probs(q_row, eps)
    probs = np.asarray(epsilon_greedy_probs(jnp.asarray(q_row), jnp.float32(eps)))
    np.testing.assert_allclose(probs, expected_np, rtol=1e-6)
    counts = sample_counts(epsilon_greedy, q_row, eps, seed=4)
    assert chi_square(counts, probs) < CHI2_CRIT_P001[4]
    assert chi_square(counts, expected_np) < CHI2_CRIT_P001[4]


def test_epsilon_greedy_chi_square_detects_wrong_probs():
    # Guard that the statistical test has power: the ε = 0.3 samples are rejected against the
    # probabilities of ε = 0.25.
    q_row = [0.4, -0.2, 1.3, 0.9, 0.0]
    counts = sample_counts(epsilon_greedy, q_row, 0.3, seed=4)
    assert chi_square(counts, numpy_epsilon_greedy_probs(q_row, 0.25)) > CHI2_CRIT_P001[4]


def test_epsilon_greedy_rows_are_independent():
    # Different rows of a batch follow their own greedy action.
    q = jnp.tile(jnp.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]), (20_000, 1))
    actions = np.asarray(epsilon_greedy(jax.random.key(5), q, 0.2)).reshape(20_000, 2)
    # ε = 0.2, A = 4: greedy mass 0.8 + 0.05 = 0.85; sd of the mean ≈ 0.0025.
    np.testing.assert_allclose((actions[:, 0] == 0).mean(), 0.85, atol=0.015)
    np.testing.assert_allclose((actions[:, 1] == 3).mean(), 0.85, atol=0.015)


# ---------------------------------------------------------------------------------------------
# Boltzmann


def test_boltzmann_probs_hand_worked():
    # q = [0, ln 2, ln 3], τ = 1 → exp(q) = [1, 2, 3] → [1/6, 2/6, 3/6].
    probs = boltzmann_probs(jnp.array([0.0, np.log(2.0), np.log(3.0)]), 1.0)
    np.testing.assert_allclose(probs, [1 / 6, 2 / 6, 3 / 6], rtol=1e-5)
    # τ = 0.5 doubles the logits: exp(2q) = [1, 4, 9] → [1/14, 4/14, 9/14].
    probs = boltzmann_probs(jnp.array([0.0, np.log(2.0), np.log(3.0)]), 0.5)
    np.testing.assert_allclose(probs, [1 / 14, 4 / 14, 9 / 14], rtol=1e-5)


@pytest.mark.parametrize("tau", [0.7, 2.0])
def test_boltzmann_frequencies_match_probs(tau):
    q_row = [1.0, 0.5, -0.3, 2.0, 1.2]  # 5 actions → df = 4
    expected_np = numpy_softmax(q_row, tau)
    probs = np.asarray(boltzmann_probs(jnp.asarray(q_row), jnp.float32(tau)))
    np.testing.assert_allclose(probs, expected_np, rtol=1e-5)
    counts = sample_counts(boltzmann, q_row, tau, seed=6)
    assert chi_square(counts, probs) < CHI2_CRIT_P001[4]
    assert chi_square(counts, expected_np) < CHI2_CRIT_P001[4]


def test_boltzmann_chi_square_detects_wrong_temperature():
    q_row = [1.0, 0.5, -0.3, 2.0, 1.2]
    counts = sample_counts(boltzmann, q_row, 0.7, seed=6)
    assert chi_square(counts, numpy_softmax(q_row, 0.8)) > CHI2_CRIT_P001[4]


def test_boltzmann_batched_probs_match_numpy():
    q = np.random.default_rng(7).normal(scale=3.0, size=(8, 6)).astype(np.float32)
    probs = boltzmann_probs(jnp.asarray(q), 1.5)
    assert probs.shape == (8, 6) and probs.dtype == jnp.float32
    np.testing.assert_allclose(probs, [numpy_softmax(row, 1.5) for row in q], rtol=1e-5)


def test_boltzmann_small_temperature_approaches_greedy():
    q = jnp.array([1.0, 1.5, 0.2, 1.49])
    probs = boltzmann_probs(q, 1e-3)
    # The runner-up is 0.01 below: exp(-0.01 / 1e-3) = exp(-10) ≈ 4.5e-5.
    np.testing.assert_allclose(probs, [0.0, 1.0, 0.0, 0.0], atol=1e-4)
    actions = boltzmann(jax.random.key(8), jnp.tile(q, (2_000, 1)), 1e-3)
    # P(any of 2,000 draws is not 1) ≈ 2,000 · 4.5e-5 ≈ 0.09 for an unlucky seed; allow 1%.
    assert (np.asarray(actions) == 1).mean() > 0.99


def test_boltzmann_large_temperature_approaches_uniform():
    q = jnp.array([3.0, -2.0, 0.5, 1.0, 0.0])
    probs = boltzmann_probs(q, 1e4)
    # Logit spread ≤ 5 / 1e4 = 5e-4 → each prob within ≈ 0.2 · 5e-4 of 0.2.
    np.testing.assert_allclose(probs, np.full(5, 0.2), atol=2e-4)
    counts = sample_counts(boltzmann, [3.0, -2.0, 0.5, 1.0, 0.0], 1e4, seed=9)
    assert chi_square(counts, np.full(5, 0.2)) < CHI2_CRIT_P001[4]


def test_boltzmann_huge_q_values_are_stable():
    # exp(1e4 / 1e-3) overflows any float; the probabilities must still be finite and right.
    q = jnp.array([1e4, 9_999.0, -1e4, 1e4])
    probs = np.asarray(boltzmann_probs(q, 1e-3))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs, [0.5, 0.0, 0.0, 0.5], atol=1e-6)
    actions = np.asarray(boltzmann(jax.random.key(10), jnp.tile(q, (4_000, 1)), 1e-3))
    assert set(np.unique(actions)) <= {0, 3}
    # Two tied best actions: each about half (sd ≈ 0.008).
    np.testing.assert_allclose((actions == 0).mean(), 0.5, atol=0.04)
    # τ = 1 on values near 1e4: softmax([0, -1, -2]) = [0.6652, 0.2447, 0.0900].
    probs = np.asarray(boltzmann_probs(jnp.array([1e4, 1e4 - 1.0, 1e4 - 2.0]), 1.0))
    np.testing.assert_allclose(probs, numpy_softmax([0.0, -1.0, -2.0], 1.0), rtol=1e-4)
    np.testing.assert_allclose(probs, [0.66524, 0.24473, 0.09003], atol=1e-5)


def test_unbatched_sampling_shapes():
    q = jnp.array([0.1, 0.2, 0.3])
    for fn, param in ((epsilon_greedy, 0.5), (boltzmann, 1.0)):
        a = fn(jax.random.key(0), q, param)
        assert a.shape == () and a.dtype == jnp.int32
        assert 0 <= int(a) < 3


def test_policy_registry():
    """Each policy brings its sampler, probabilities, logged name and schedule ends."""
    from jaxdqn.config import AgentConfig

    eps, tau = POLICIES["epsilon"], POLICIES["boltzmann"]
    assert (eps.sample, eps.probs, eps.parameter_name) == (epsilon_greedy, epsilon_greedy_probs,
                                                           "epsilon")  # fmt: skip
    assert (tau.sample, tau.probs, tau.parameter_name) == (boltzmann, boltzmann_probs,
                                                           "temperature")  # fmt: skip
    agent = AgentConfig(epsilon_start=0.9, epsilon_end=0.05, temperature_start=(1.0, 5.0),
                        temperature_end=0.1)  # fmt: skip
    starts, end = eps.parameters(agent, 2)
    np.testing.assert_array_equal(starts, [0.9, 0.9])
    assert end == 0.05
    starts, end = tau.parameters(agent, 2)
    np.testing.assert_array_equal(starts, [1.0, 5.0])  # one per seed: a τ sweep
    assert end == 0.1
    starts, _ = tau.parameters(AgentConfig(temperature_start=(3.0,)), 4)
    np.testing.assert_array_equal(starts, [3.0] * 4)  # one value for every seed


def test_linear_schedule_hand_worked():
    """start until `delay`, then linear to end over decay_steps, then flat."""
    from jaxdqn.policies import linear_schedule

    steps = jnp.array([0, 100, 150, 200, 300, 1_000])
    got = linear_schedule(jnp.float32(1.0), 0.1, steps, decay_steps=200, delay=100)
    np.testing.assert_allclose(got, [1.0, 1.0, 1.0 - 0.9 * 0.25, 0.55, 0.1, 0.1], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# traced parameters and schedules


@pytest.mark.parametrize("name", ["epsilon", "boltzmann"])
def test_traced_parameter_does_not_retrace(name):
    sample_fn, probs_fn = POLICIES[name].sample, POLICIES[name].probs
    traces = []

    @jax.jit
    def act(key, q, param):
        traces.append(None)
        return sample_fn(key, q, param), probs_fn(q, param)

    q = jnp.tile(jnp.array([0.0, 1.0, 0.5, -1.0]), (1_000, 1))
    key = jax.random.key(11)
    # ε: 0 → always greedy (action 1), 1 → uniform. τ: 1e-3 → greedy, 1e3 → near uniform.
    low, high = (0.0, 1.0) if name == "epsilon" else (1e-3, 1e3)
    a_low, p_low = act(key, q, jnp.float32(low))
    a_high, p_high = act(key, q, jnp.float32(high))
    act(key, q, jnp.float32(0.5))
    assert len(traces) == 1
    # The traced value is really used: greedy at one end, spread out at the other.
    assert (np.asarray(a_low) == 1).all()
    np.testing.assert_allclose(p_low[0], [0.0, 1.0, 0.0, 0.0], atol=1e-6)
    assert (np.asarray(a_high) != 1).mean() > 0.6  # 0.75 expected
    np.testing.assert_allclose(p_high[0], np.full(4, 0.25), atol=2e-3)


def test_linear_schedule_on_traced_step():
    # ε from 1.0 to 0.1 over 100 steps: step 50 → 1.0 - 0.9 · 0.5 = 0.55; clamps after 100.
    schedule = optax.linear_schedule(init_value=1.0, end_value=0.1, transition_steps=100)
    traces = []

    @jax.jit
    def eps_and_probs(step, q):
        traces.append(None)
        eps = schedule(step)
        return eps, epsilon_greedy_probs(q, eps)

    q = jnp.array([0.0, 2.0, 1.0, -1.0])
    for step, expected in ((0, 1.0), (25, 0.775), (50, 0.55), (100, 0.1), (250, 0.1)):
        eps, probs = eps_and_probs(jnp.int32(step), q)
        np.testing.assert_allclose(eps, expected, rtol=1e-6)
        np.testing.assert_allclose(probs, numpy_epsilon_greedy_probs(q, expected), rtol=1e-6)
    assert len(traces) == 1
    # At step 50 (ε = 0.55, A = 4): greedy 0.55/4 + 0.45 = 0.5875, others 0.1375.
    _, probs = eps_and_probs(jnp.int32(50), q)
    np.testing.assert_allclose(probs, [0.1375, 0.5875, 0.1375, 0.1375], rtol=1e-6)
