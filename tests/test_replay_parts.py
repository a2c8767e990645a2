"""The replay's parts one by one (`jaxdqn/replay/*.py`), each against a brute-force model: the
sum tree against a prefix-sum search, n-step returns and stacked reads of single slots against
the plain-Python models of `test_nstep.py` and `test_replay_prioritized.py`, the uniform draw
against its validity rule. Pure functions are checked with and without jit."""

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.replay import (
    batch,
    layout,
    nstep,
    prioritized,
    replay_nbytes,
    storage,
    sum_tree,
    uniform,
)
from tests.test_nstep import reference_n_step
from tests.test_replay_prioritized import HW, Reference, Stream, newest_id

JIT = pytest.mark.parametrize("jit", [False, True], ids=["plain", "jit"])


def maybe_jit(fn, jit, **kwargs):
    return jax.jit(fn, **kwargs) if jit else fn


# ---------------------------------------------------------------------------------------------
# layout.py


def test_layout_sizes_and_bytes():
    plain = layout.make_layout(24, 3, (2,), np.float32, n_step=2, prioritized=True)
    assert (plain.capacity_per_env, plain.window, plain.rows, plain.stack) == (8, 9, 9, 1)
    assert plain.num_leaves == 27 and plain.stored_shape == (2,) and not plain.dedup_frames
    frames = layout.make_layout(24, 3, (4, 5, 6), np.uint8)
    assert (frames.window, frames.rows, frames.stack, frames.stored_shape) == (9, 12, 4, (5, 6))
    assert frames.dedup_frames and hash(frames) == hash(frames._replace())
    for lay, args in ((plain, (24, 3, (2,), np.float32, None, True)),
                      (frames, (24, 3, (4, 5, 6), np.uint8))):  # fmt: skip
        state = storage.init(lay)
        allocated = sum(x.nbytes for x in jax.tree_util.tree_leaves(state))
        assert allocated == replay_nbytes(*args)


@pytest.mark.parametrize(
    "kwargs, field",
    [(dict(num_envs=0), "num_envs"), (dict(capacity=1), "capacity"), (dict(max_draws=0),
     "max_draws"), (dict(n_step=9), "n_step"), (dict(priority_exponent=-1.0), "priority_exp")],
)  # fmt: skip
def test_layout_refuses_bad_arguments(kwargs, field):
    arguments = dict(capacity=16, num_envs=2, obs_shape=(3,), obs_dtype=np.float32) | kwargs
    with pytest.raises(ValueError, match=field):
        layout.make_layout(**arguments)


# ---------------------------------------------------------------------------------------------
# sum_tree.py


def prefix_search(values, u):
    """The first leaf whose cumulative sum passes u: the brute-force proportional draw."""
    return int(np.searchsorted(np.cumsum(values), u, side="right"))


@JIT
def test_set_leaves_and_descend_match_a_prefix_sum_search(jit):
    rng = np.random.default_rng(0)
    num_leaves = 13  # padded to 16
    values = rng.integers(0, 5, num_leaves).astype(np.float32)  # integers: exact float32 sums
    values[[0, 6, 7, 12]] = 0.0  # zero leaves, also at both ends
    set_leaves = maybe_jit(sum_tree.set_leaves, jit)
    tree = sum_tree.init_tree(num_leaves)
    assert tree.shape == (2 * sum_tree.tree_leaves(num_leaves),) == (32,)
    tree = set_leaves(tree, jnp.arange(num_leaves), jnp.asarray(values))
    inner = np.asarray(tree)
    for node in range(1, 16):  # every inner node is the sum of its children
        assert inner[node] == inner[2 * node] + inner[2 * node + 1]
    total = values.sum()
    u = np.arange(total, dtype=np.float32) + 0.5  # one draw inside every unit of mass
    leaves, shares = maybe_jit(sum_tree.descend, jit)(tree, jnp.asarray(u), jnp.float32(total))
    expected = [prefix_search(values, x) for x in u]
    np.testing.assert_array_equal(leaves, expected)
    np.testing.assert_allclose(shares, values[expected] / total, rtol=1e-6)


@JIT
def test_refresh_parents_after_a_leaf_write(jit):
    tree = sum_tree.set_leaves(sum_tree.init_tree(5), jnp.arange(5), jnp.arange(1.0, 6.0))
    nodes = jnp.array([3, 3]) + 8  # a duplicate node writes the same sum twice
    tree = maybe_jit(sum_tree.refresh_parents, jit)(tree.at[nodes].set(10.0), nodes)
    assert float(tree[1]) == 1 + 2 + 3 + 10 + 5
    assert float(tree[5]) == 3 + 10  # leaves 2 and 3


def test_tree_leaves_pads_to_a_power_of_two():
    assert [sum_tree.tree_leaves(n) for n in (1, 2, 3, 8, 9)] == [2, 2, 4, 8, 16]


# ---------------------------------------------------------------------------------------------
# storage.py and nstep.py, one slot at a time


def fill_one_by_one(lay, stream, steps):
    """Adds `steps` rows with `storage.add`; returns the state and the rows as added."""
    state, add = storage.init(lay), jax.jit(functools.partial(storage.add, lay))
    rows = []
    for _ in range(steps):
        obs, a, r, d, first, _ = stream.next()
        state = add(state, jnp.asarray(obs), a, r, d, first)
        rows.append((obs, a, r, d, first))
    return state, rows


@JIT
def test_stacked_read_of_one_slot_is_the_stack_the_env_returned(jit):
    lay = layout.make_layout(18, 2, (4, *HW), np.uint8)  # rows 12: the buffer wraps
    stream = Stream(2, 4, seed=3)
    state, _ = fill_one_by_one(lay, stream, 30)
    read = maybe_jit(functools.partial(storage.stacked, lay), jit)
    for age in range(lay.rows):  # every held row, the oldest's frames reaching back included
        step = 30 - 1 - age
        row = (int(state.cursor) - 1 - age) % lay.rows
        for column in range(2):
            observed = stream.observations[(column, step)]
            depth = int(state.depth[row, column])
            if age + depth >= lay.rows:  # a frame of this stack is overwritten already
                continue
            got = read(state, jnp.array([row]), jnp.array([column]))[0]
            np.testing.assert_array_equal(got, observed)


def test_frame_depth_counts_back_to_the_refill():
    lay = layout.make_layout(8, 1, (3, 2, 2), np.uint8)
    a, b, c = (np.full((2, 2), v, np.uint8) for v in (1, 2, 3))
    depth = jnp.zeros((lay.rows, 1), jnp.uint8)
    refilled = jnp.asarray(np.stack([a, a, a])[None])
    shifted = jnp.asarray(np.stack([a, b, c])[None])
    newest, d = storage.frame_depth(lay, depth, jnp.int32(1), refilled)
    assert int(d[0]) == 0 and np.array_equal(newest[0], a)
    depth = depth.at[0].set(1)
    _, d = storage.frame_depth(lay, depth, jnp.int32(1), shifted)
    assert int(d[0]) == 2  # depth(i-1) + 1
    depth = depth.at[0].set(2)
    _, d = storage.frame_depth(lay, depth, jnp.int32(1), shifted)
    assert int(d[0]) == 2  # capped at K-1


@JIT
@pytest.mark.parametrize("n", [1, 3])
def test_n_step_return_of_one_slot_matches_brute_force(n, jit):
    rng = np.random.default_rng(n)
    num_envs, capacity = 2, 16
    lay = layout.make_layout(capacity, num_envs, (1,), np.float32, n_step=n)
    state, add = storage.init(lay), jax.jit(functools.partial(storage.add, lay))
    columns = [collections.deque(maxlen=lay.window) for _ in range(num_envs)]
    for step in range(25):
        ids = (step * num_envs + np.arange(num_envs)).astype(np.float32)
        a = rng.integers(0, 4, num_envs).astype(np.int32)
        r = rng.normal(size=num_envs).astype(np.float32)
        d = np.where(rng.random(num_envs) < 0.15, 0.0, 0.97).astype(np.float32)
        first = np.ones(num_envs, bool) if step == 0 else rng.random(num_envs) < 0.15
        state = add(state, jnp.asarray(ids[:, None]), a, r, d, first)
        for e in range(num_envs):
            columns[e].append((float(ids[e]), int(a[e]), float(r[e]), float(d[e]), bool(first[e])))
    expected = reference_n_step(columns, n)
    read = maybe_jit(functools.partial(nstep.n_step_return, lay), jit)
    checked = 0
    for age in range(n - 1, lay.window - 1):
        row_t = (int(state.cursor) - 1 - age) % lay.rows
        for column in range(num_envs):
            s_tm1 = float(state.obs[(row_t - 1) % lay.rows, column, 0])
            if s_tm1 not in expected:  # an episode start: no transition
                assert bool(state.first[row_t, column])
                continue
            a_tm1, ret, disc, s_t = expected[s_tm1]
            r_t, discount_t, last = read(state, jnp.array([row_t]), jnp.array([column]))
            np.testing.assert_allclose(r_t[0], ret, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(discount_t[0], disc, rtol=1e-5)
            assert float(state.obs[int(last[0]), column, 0]) == s_t
            assert int(state.action[row_t, column]) == a_tm1
            checked += 1
    assert checked == len(expected)


# ---------------------------------------------------------------------------------------------
# uniform.py and batch.py


@JIT
@pytest.mark.parametrize("n_step, stack", [(1, 1), (2, 4)])
def test_uniform_draw_returns_only_drawable_transitions(n_step, stack, jit):
    num_envs, capacity = 3, 15
    obs_shape = (stack, *HW) if stack > 1 else (2,)
    dtype = np.uint8 if stack > 1 else np.float32
    lay = layout.make_layout(capacity, num_envs, obs_shape, dtype, n_step=n_step, max_draws=4)
    reference = Reference(capacity, num_envs, n_step=n_step, stack=stack)
    stream = Stream(num_envs, stack, seed=5, first_prob=0.3, start=stack == 1)
    state, add = storage.init(lay), jax.jit(functools.partial(storage.add, lay))
    for _ in range(17):
        obs, a, r, d, first, oldest = stream.next()
        state = add(state, jnp.asarray(obs), a, r, d, first)
        reference.add(first, d, oldest)
    drawable = reference.drawable()
    draw = maybe_jit(functools.partial(uniform.uniform_draw, lay), jit, static_argnums=2)
    for seed in range(5):
        row_t, column, probability = draw(state, jax.random.PRNGKey(seed), 64)
        candidates = int(storage.num_candidates(lay, state)) * num_envs
        np.testing.assert_allclose(probability, 1.0 / candidates)
        transitions = batch.read_transitions(lay, state, row_t, column, probability)
        for b in range(64):
            step_tm1, env = newest_id(np.asarray(transitions.s_tm1[b]))
            assert (env, step_tm1 + 1) in drawable


def test_candidate_slots_stay_in_the_window_less_the_newest():
    lay = layout.make_layout(12, 2, (1,), np.float32, n_step=3, max_draws=8)
    state = storage.init(lay).replace(count=jnp.int32(lay.rows), cursor=jnp.int32(4))
    ages, rows_t, columns = uniform.candidate_slots(lay, state, jax.random.PRNGKey(0), 500)
    assert ages.shape == rows_t.shape == columns.shape == (8, 500)
    # count - 1 row pairs, the n-1 newest left out: ages n-1 .. window-2.
    assert set(np.unique(ages)) == set(range(2, lay.window - 1))
    np.testing.assert_array_equal(rows_t, (4 - 1 - ages) % lay.rows)
    assert set(np.unique(columns)) == {0, 1}


def test_first_valid_takes_the_first_valid_round_else_the_newest_valid():
    lay = layout.make_layout(16, 2, (1,), np.float32, max_draws=3)
    first = np.ones((lay.rows, 2), bool)
    first[[2, 5], 0] = False
    state = storage.init(lay).replace(
        first=jnp.asarray(first), newest_valid=jnp.array([5, -1]), count=jnp.int32(9)
    )
    rows_t = jnp.array([[1, 3], [2, 4], [5, 6]])  # rounds × batch
    columns = jnp.array([[0, 0], [0, 0], [0, 0]])
    ages = (int(state.cursor) - 1 - rows_t) % lay.rows
    row_t, column = uniform.first_valid(lay, state, ages, rows_t, columns)
    assert row_t.tolist() == [2, 5] and column.tolist() == [0, 0]
    none_valid = jnp.array([[1], [3], [4]])
    row_t, _ = uniform.first_valid(lay, state, ages[:, :1], none_valid, columns[:, :1])
    assert row_t.tolist() == [5]  # the column's newest valid row


def test_sample_binds_any_draw():
    lay = layout.make_layout(8, 2, (1,), np.float32)
    state = storage.init(lay)

    def always_row_three(lay, state, key, batch_size):
        del lay, state, key
        return (jnp.full(batch_size, 3), jnp.ones(batch_size, jnp.int32), jnp.ones(batch_size))

    out = batch.sample(lay, always_row_three, state, jax.random.PRNGKey(0), 4)
    assert out.indices.tolist() == [3 * 2 + 1] * 4
    with pytest.raises(ValueError, match="batch_size=17 exceeds"):
        batch.sample(lay, always_row_three, state, jax.random.PRNGKey(0), 17)


# ---------------------------------------------------------------------------------------------
# prioritized.py


@JIT
def test_priority_leaves_by_hand(jit):
    leaves = maybe_jit(prioritized.priority_leaves, jit, static_argnums=1)
    out = leaves(jnp.array([4.0, 0.0, -1.0, np.nan, np.inf]), 0.5, jnp.float32(7.0))
    np.testing.assert_allclose(out, [2.0, 1e-3, 1e-3, 7.0, 7.0], rtol=1e-6)


@pytest.mark.parametrize("n_step, stack", [(1, 1), (3, 1), (2, 4)])
def test_add_keeps_the_leaves_of_the_drawable_transitions(n_step, stack):
    num_envs, capacity = 2, 12
    obs_shape = (stack, *HW) if stack > 1 else (2,)
    dtype = np.uint8 if stack > 1 else np.float32
    lay = layout.make_layout(capacity, num_envs, obs_shape, dtype, n_step=n_step, prioritized=True)
    reference = Reference(capacity, num_envs, n_step=n_step, stack=stack, alpha=lay.alpha)
    stream = Stream(num_envs, stack, seed=2, start=stack == 1)
    state = storage.init(lay)
    add = jax.jit(functools.partial(prioritized.add, lay))
    set_priorities = jax.jit(functools.partial(prioritized.set_priorities, lay))
    size = state.priority_tree.shape[0] // 2
    rng = np.random.default_rng(0)
    for step in range(20):
        obs, a, r, d, first, oldest = stream.next()
        state = add(state, jnp.asarray(obs), a, r, d, first)
        reference.add(first, d, oldest)
        keys = list(reference.leaf)
        if step % 3 == 2 and keys:
            chosen = [keys[i] for i in rng.integers(0, len(keys), 3)]
            priorities = rng.random(3).astype(np.float32) * 4
            indices = np.array([reference.index(k) for k in chosen], np.int32)
            state = set_priorities(state, indices, priorities)
            reference.set_priorities(chosen, priorities)
        leaves = np.asarray(state.priority_tree)[size:]
        np.testing.assert_allclose(leaves, reference.expected_leaves(size), rtol=1e-5)
