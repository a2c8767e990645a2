"""n-step returns sampled from the replay: a hand-worked episode and a brute-force reference."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxdqn.replay import make_replay


def draw(replay, state, seed, batches, batch_size):
    """`batches × batch_size` samples (one batch may not exceed the buffer's capacity)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), batches)
    out = jax.vmap(lambda k: replay.sample(state, k, batch_size))(keys)
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:]), out)


def check_draws(batch, expected, r_tol, d_tol) -> collections.Counter:
    """Every drawn transition, named by its s_tm1 (an id), is an expected one field by field:
    `expected[s_tm1] = (a_tm1, return, discount, s_t)`; every expected one was drawn.
    Returns the draws per s_tm1."""
    seen = collections.Counter()
    for b in range(batch.r_t.shape[0]):
        key = float(batch.s_tm1[b, 0])
        assert key in expected, f"drew s_tm1={key}, not a valid transition"
        a, r, d, s_t = expected[key]
        assert batch.a_tm1[b] == a
        np.testing.assert_allclose(batch.r_t[b], r, **r_tol)
        np.testing.assert_allclose(batch.discount_t[b], d, **d_tol)
        assert float(batch.s_t[b, 0]) == s_t
        seen[key] += 1
    assert set(seen) == set(expected)
    return seen


def add_rows(replay, rows):
    """rows: (obs value, a_tm1, r_t, discount_t, first_t) for a one-column buffer."""
    state = replay.init()
    add = jax.jit(replay.add)
    for obs, a, r, d, first in rows:
        state = add(
            state,
            jnp.full((1, 1), obs, jnp.float32),
            jnp.array([a]),
            jnp.array([r], jnp.float32),
            jnp.array([d], jnp.float32),
            jnp.array([first]),
        )
    return state


@pytest.mark.slow
def test_hand_worked_three_step_returns():
    g = 0.9
    rows = [
        (0, 0, 0.0, 0.0, True),  # reset
        (1, 1, 1.0, g, False),
        (2, 2, 2.0, g, False),
        (3, 0, 3.0, 0.0, False),  # terminal (or a life loss): discount 0
        (4, 0, 0.0, g, True),  # the step after it is not an experience
        (5, 1, 5.0, g, False),
        (6, 2, 6.0, g, False),  # truncated here: bootstraps, but the episode ends
        (7, 0, 0.0, g, True),
        (8, 1, 8.0, g, False),
        (9, 2, 9.0, g, False),
        (10, 0, 10.0, g, False),
    ]
    replay = make_replay(20, 1, (1,), jnp.float32, n_step=3)
    state = add_rows(replay, rows)
    batch = draw(replay, state, 0, 150, 20)
    # s_tm1 → (a_tm1, r_t, discount_t, s_t), worked by hand:
    expected = {
        0: (1, 1 + g * 2 + g * g * 3, 0.0, 3),  # three steps, ends at the terminal
        1: (2, 2 + g * 3, 0.0, 3),  # two steps: row 4 starts an episode
        2: (0, 3.0, 0.0, 3),
        4: (1, 5 + g * 6, g * g, 6),  # cut by the truncation: bootstraps with γ²
        5: (2, 6.0, g, 6),
        7: (1, 8 + g * 9 + g * g * 10, g**3, 10),  # a full three-step return
        # 8 and 9 are the two newest rows: their returns are not complete, never drawn.
    }
    seen = check_draws(batch, expected, r_tol=dict(rtol=1e-6), d_tol=dict(rtol=1e-6))
    # Uniform over the six valid transitions.
    assert stats.chisquare(list(seen.values())).pvalue > 1e-3


@pytest.mark.slow
def test_one_step_is_unchanged_by_the_n_step_code_path():
    rows = [(0, 0, 0.0, 0.0, True)] + [(t, t % 3, float(t), 0.5, False) for t in range(1, 8)]
    one = make_replay(20, 1, (1,), jnp.float32, n_step=1)
    batch = draw(one, add_rows(one, rows), 1, 25, 20)
    np.testing.assert_array_equal(batch.s_t[:, 0], batch.s_tm1[:, 0] + 1)
    np.testing.assert_array_equal(batch.r_t, batch.s_t[:, 0])
    np.testing.assert_array_equal(batch.discount_t, np.full(500, 0.5, np.float32))


def reference_n_step(columns, n):
    """{s_tm1 id: (a_tm1, return, discount, s_t id)} over every valid drawable transition."""
    held = {}
    for column in columns:
        rows = list(column)
        for j in range(1, len(rows) - (n - 1)):
            if rows[j][4]:  # first: not an experience
                continue
            ret, disc, last = rows[j][2], rows[j][3], j
            for k in range(1, n):
                nxt = rows[j + k]
                if nxt[4] or disc == 0:
                    break
                ret += disc * nxt[2]
                disc *= nxt[3]
                last = j + k
            held[rows[j - 1][0]] = (rows[j][1], ret, disc, rows[last][0])
    return held


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 5])
def test_random_sequences_match_brute_force(n):
    rng = np.random.default_rng(n)
    num_envs, capacity = 3, 60  # 20 per column: the buffer wraps, the oldest are dropped
    replay = make_replay(capacity, num_envs, (1,), jnp.float32, n_step=n)
    state, add = replay.init(), jax.jit(replay.add)
    columns = [collections.deque(maxlen=capacity // num_envs + 1) for _ in range(num_envs)]
    for step in range(50):
        ids = (step * num_envs + np.arange(num_envs)).astype(np.float32)
        a = rng.integers(0, 4, num_envs)
        r = rng.normal(size=num_envs).astype(np.float32)
        d = np.where(rng.random(num_envs) < 0.15, 0.0, 0.97).astype(np.float32)
        first = np.ones(num_envs, bool) if step == 0 else rng.random(num_envs) < 0.15
        state = add(state, jnp.asarray(ids[:, None]), jnp.asarray(a), jnp.asarray(r),
                    jnp.asarray(d), jnp.asarray(first))  # fmt: skip
        for e in range(num_envs):
            columns[e].append((float(ids[e]), int(a[e]), float(r[e]), float(d[e]), bool(first[e])))
    held = reference_n_step(columns, n)
    batch = draw(replay, state, 7, 400, 50)
    seen = check_draws(batch, held, r_tol=dict(rtol=1e-5, atol=1e-6), d_tol=dict(rtol=1e-5))
    assert stats.chisquare([seen[k] for k in held]).pvalue > 1e-3


def test_n_step_larger_than_a_column_is_refused():
    with pytest.raises(ValueError, match="n_step=11 exceeds"):
        make_replay(20, 2, (1,), jnp.float32, n_step=11)
    with pytest.raises(ValueError, match="n_step=0"):
        make_replay(20, 2, (1,), jnp.float32, n_step=0)
