"""Proportional prioritised replay against a plain-Python reference model.

The reference keeps every row written per env column and derives, by brute force, the
transitions a buffer may draw: pairs (t-1, t) of consecutive steps with first[t] false, both in
the newest `capacity_per_env + 1` steps, with n-1 newer steps in the column, and — frame-
deduplicated storage — every frame of s_tm1's stack written no earlier than the oldest step the
buffer still holds (the newest `capacity_per_env + K` steps). It also keeps the p^α each such
transition should carry: the largest p^α stored so far (1 at first) when it becomes drawable,
max(p, 1e-6)^α after `set_priorities` (the largest p of duplicate indices). Draw probabilities,
frequencies and the sum tree's leaves are compared with it.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxdqn.replay import _descend, importance_weights, make_replay, replay_nbytes

NUM_ACTIONS = 4
HW = (3, 3)  # frame size of the deduplicated streams


class Reference:
    """Rows per column: (first, discount, oldest step a frame of its observation comes from)."""

    def __init__(self, capacity, num_envs, n_step=1, stack=1, alpha=0.6):
        self.window = capacity // num_envs + 1
        self.rows = self.window + stack - 1  # rows the buffer holds
        self.n, self.alpha, self.num_envs = n_step, alpha, num_envs
        self.columns = [[] for _ in range(num_envs)]
        self.leaf = {}  # (env, step of the transition's second row) → p^α
        self.max_leaf = 1.0

    @property
    def adds(self):
        return len(self.columns[0])

    def add(self, first, discount, oldest_frame):
        for e, column in enumerate(self.columns):
            column.append((bool(first[e]), float(discount[e]), int(oldest_frame[e])))
        drawable = self.drawable()
        self.leaf = {key: self.leaf.get(key, self.max_leaf) for key in drawable}

    def drawable(self):
        """{(env, t): step of the bootstrap state s_t} over every transition that may be drawn."""
        adds, held_from = self.adds, max(0, self.adds - self.rows)
        out = {}
        for e, column in enumerate(self.columns):
            for t in range(max(1, adds - self.window + 1), adds - (self.n - 1)):
                if column[t][0] or column[t - 1][2] < held_from:
                    continue
                last, discount = t, column[t][1]
                for k in range(1, self.n):
                    if column[t + k][0] or discount == 0:
                        break
                    discount *= column[t + k][1]
                    last = t + k
                out[(e, t)] = last
        return out

    def frames_missing(self):
        """{(env, t)}: pairs that would be drawable but for a frame of s_tm1 not held."""
        adds, held_from = self.adds, max(0, self.adds - self.rows)
        return {
            (e, t)
            for e, column in enumerate(self.columns)
            for t in range(max(1, adds - self.window + 1), adds - (self.n - 1))
            if not column[t][0] and column[t - 1][2] < held_from
        }

    def index(self, key):
        e, t = key
        return (t % self.rows) * self.num_envs + e

    def set_priorities(self, keys, priorities):
        best = {}
        for key, p in zip(keys, priorities, strict=True):
            best[key] = max(best.get(key, -1.0), float(p))
        for key, p in best.items():
            self.leaf[key] = max(p, 1e-6) ** self.alpha
            self.max_leaf = max(self.max_leaf, self.leaf[key])

    def probability(self, key):
        return self.leaf[key] / sum(self.leaf.values())

    def expected_leaves(self, size):
        leaves = np.zeros(size)
        for key, value in self.leaf.items():
            leaves[self.index(key)] = value
        return leaves


def frame(step, env, rng):
    f = rng.integers(0, 256, HW, dtype=np.uint8)
    f[0, 0], f[0, 1], f[0, 2] = (step + 10) % 256, (step + 10) // 256, env
    return f


def frame_id(f):
    """(step, env) a frame encodes (see `frame`); plain observations are [step, env]."""
    if f.dtype == np.uint8:
        return int(f[0, 0]) + 256 * int(f[0, 1]) - 10, int(f[0, 2])
    return int(f[0]), int(f[1])


class Stream:
    """Rows for every env column; `stack > 1`: envpool-like stacks (shifted by one frame per
    step, refilled at a game start) that start mid-episode, so that the first stacks reach back
    to frames the buffer never saw."""

    def __init__(self, num_envs, stack, seed, first_prob=0.15, zero_discount=0.15, start=True):
        self.rng, self.start = np.random.default_rng(seed), start
        self.num_envs, self.stack, self.step = num_envs, stack, 0
        self.first_prob, self.zero_discount = first_prob, zero_discount
        self.frames = [
            [frame(s, e, self.rng) for s in range(1 - stack, 1)] for e in range(num_envs)
        ]
        self.origin = [list(range(1 - stack, 1)) for _ in range(num_envs)]
        self.observations = {}  # (env, step) → observation as the env returned it

    def next(self):
        """(obs, a_tm1, r_t, discount_t, first_t, oldest frame step per env)."""
        t, rng, E = self.step, self.rng, self.num_envs
        first = np.full(E, self.start) if t == 0 else rng.random(E) < self.first_prob
        obs = []
        for e in range(E):
            if self.stack == 1:
                obs.append(np.array([t, e], np.float32))
                continue
            if t > 0 and first[e] and rng.random() < 0.5:  # a game start: refilled
                self.frames[e], self.origin[e] = [frame(t, e, rng)] * self.stack, [t] * self.stack
            elif t > 0:  # an ordinary step, or a life loss: shifted
                self.frames[e] = self.frames[e][1:] + [frame(t, e, rng)]
                self.origin[e] = self.origin[e][1:] + [t]
            obs.append(np.stack(self.frames[e]))
        obs = np.stack(obs)
        for e in range(E):
            self.observations[(e, t)] = obs[e]
        a = rng.integers(0, NUM_ACTIONS, E).astype(np.int32)
        r = rng.normal(size=E).astype(np.float32)
        d = np.where(rng.random(E) < self.zero_discount, 0.0, 0.9).astype(np.float32)
        oldest = np.array([min(o) for o in self.origin] if self.stack > 1 else [t] * E)
        self.step += 1
        return obs, a, r, d, first, oldest


def newest_id(obs):
    return frame_id(obs[-1] if obs.dtype == np.uint8 else obs)


def fill(replay, reference, stream, steps, state=None, add=None):
    add = add or jax.jit(replay.add)
    state = replay.init() if state is None else state
    for _ in range(steps):
        obs, a, r, d, first, oldest = stream.next()
        state = add(state, obs, a, r, d, first)
        reference.add(first, d, oldest)
    return state


def draw_keys(batch, reference, stream):
    """Checks every drawn transition against the reference (a drawable one, its stacks as the env
    returned them, its index and probability); returns their (env, t) keys."""
    drawable, keys = reference.drawable(), []
    for b in range(batch.a_tm1.shape[0]):
        step_tm1, env = newest_id(batch.s_tm1[b])
        key = (env, step_tm1 + 1)
        assert key in drawable, f"drew {key}, not a drawable transition"
        np.testing.assert_array_equal(batch.s_tm1[b], stream.observations[(env, step_tm1)])
        np.testing.assert_array_equal(batch.s_t[b], stream.observations[(env, drawable[key])])
        assert batch.indices[b] == reference.index(key)
        np.testing.assert_allclose(batch.probabilities[b], reference.probability(key), rtol=1e-5)
        keys.append(key)
    return keys


def tree_leaves_of(state, num_leaves):
    tree = np.asarray(state.priority_tree)
    return tree[tree.shape[0] // 2 :][:num_leaves]


def as_numpy(tree):
    return jax.tree.map(np.asarray, tree)


# ---------------------------------------------------------------------------------------------
# Draws follow p^α / Σ p^α


@pytest.mark.slow
def test_probabilities_and_frequencies_follow_the_priorities():
    capacity, num_envs, alpha = 24, 2, 0.6
    replay = make_replay(capacity, num_envs, (2,), np.float32, prioritized=True)
    assert replay.prioritized
    reference = Reference(capacity, num_envs, alpha=alpha)
    stream = Stream(num_envs, 1, seed=0)
    state = fill(replay, reference, stream, 40)
    keys = sorted(reference.drawable())
    assert 15 < len(keys) < 24
    priorities = 0.5 + 0.37 * np.arange(len(keys))  # distinct
    indices = np.array([reference.index(k) for k in keys], np.int32)
    state = replay.set_priorities(state, indices, priorities.astype(np.float32))
    reference.set_priorities(keys, priorities)
    expected = priorities**alpha / np.sum(priorities**alpha)  # numpy, float64

    draws, batch_size = 400, 24
    sample = jax.jit(jax.vmap(lambda k: replay.sample(state, k, batch_size)))
    batch = as_numpy(sample(jax.random.split(jax.random.key(1), draws)))
    steps = batch.s_t[..., 0].reshape(-1).astype(int)
    envs = batch.s_t[..., 1].reshape(-1).astype(int)
    position = {key: j for j, key in enumerate(keys)}
    drawn = np.array([position[(e, t)] for e, t in zip(envs, steps, strict=True)])
    np.testing.assert_array_equal(batch.indices.reshape(-1), indices[drawn])
    np.testing.assert_allclose(batch.probabilities.reshape(-1), expected[drawn], rtol=1e-5)
    counts = np.bincount(drawn, minlength=len(keys))
    assert counts.sum() == draws * batch_size
    assert stats.chisquare(counts, expected * counts.sum()).pvalue > 1e-3


@pytest.mark.slow
def test_new_transitions_get_the_largest_priority_so_far():
    alpha = 0.5
    replay = make_replay(12, 1, (2,), np.float32, prioritized=True, priority_exponent=alpha)
    reference = Reference(12, 1, alpha=alpha)
    stream = Stream(1, 1, seed=1, first_prob=0.0)
    state = fill(replay, reference, stream, 5)  # transitions ending at steps 1..4
    leaves = tree_leaves_of(state, 13)
    np.testing.assert_array_equal(leaves[[1, 2, 3, 4]], 1.0)  # the initial max priority
    assert np.count_nonzero(leaves) == 4 and float(state.max_priority) == 1.0
    state = replay.set_priorities(state, np.array([1, 2], np.int32), np.array([9.0, 0.25]))
    assert float(state.max_priority) == pytest.approx(3.0)  # 9^0.5
    state = fill(replay, reference, stream, 1, state=state)  # step 5
    assert tree_leaves_of(state, 13)[5] == pytest.approx(3.0)
    # Lowering the largest one does not lower the maximum: it is the largest ever stored.
    state = replay.set_priorities(state, np.array([1], np.int32), np.array([0.01]))
    assert float(state.max_priority) == pytest.approx(3.0)
    state = fill(replay, reference, stream, 1, state=state)  # step 6
    by_hand = {1: 0.1, 2: 0.5, 3: 1.0, 4: 1.0, 5: 3.0, 6: 3.0}
    np.testing.assert_allclose(tree_leaves_of(state, 13)[list(by_hand)], list(by_hand.values()))
    batch = as_numpy(replay.sample(state, jax.random.key(0), 12))
    total = sum(by_hand.values())
    for t, p in zip(batch.s_t[:, 0].astype(int), batch.probabilities, strict=True):
        assert p == pytest.approx(by_hand[t] / total, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# The invariant: non-zero leaves are exactly the drawable transitions


@pytest.mark.slow
@pytest.mark.parametrize(
    "capacity, num_envs, n_step, stack, steps, start",
    [(12, 2, 1, 1, 40, True), (12, 2, 3, 1, 40, True), (16, 2, 1, 4, 45, True),
     (16, 2, 2, 4, 45, True), (9, 3, 2, 3, 14, True), (8, 2, 1, 1, 12, False),
     (8, 2, 3, 4, 12, False)],
)  # fmt: skip
def test_never_draws_an_invalid_transition(capacity, num_envs, n_step, stack, steps, start):
    """Episode starts, the n-1 newest rows, rows whose predecessor was overwritten, stacks that
    reach back to frames never held, a first row that does not start an episode (`start`
    False: its predecessor was never written); priorities set after every draw, so
    `max_priority` grows while new transitions arrive."""
    alpha = 0.7
    dedup = stack > 1
    shape, dtype = ((stack,) + HW, np.uint8) if dedup else ((2,), np.float32)
    replay = make_replay(capacity, num_envs, shape, dtype, dedup_frames=dedup, n_step=n_step,
                         prioritized=True, priority_exponent=alpha)  # fmt: skip
    reference = Reference(capacity, num_envs, n_step, stack, alpha)
    num_leaves = reference.rows * num_envs
    stream = Stream(num_envs, stack, seed=capacity + n_step, start=start)
    add = jax.jit(replay.add)
    sample = jax.jit(replay.sample, static_argnums=2)
    set_priorities = jax.jit(replay.set_priorities)
    rng = np.random.default_rng(n_step)
    state, key, seen, frames_missing = replay.init(), jax.random.key(n_step), set(), set()
    for step in range(steps):
        state = fill(replay, reference, stream, 1, state=state, add=add)
        leaves = tree_leaves_of(state, num_leaves)
        np.testing.assert_allclose(leaves, reference.expected_leaves(num_leaves), rtol=1e-6)
        frames_missing |= reference.frames_missing()
        assert float(state.max_priority) == pytest.approx(reference.max_leaf, rel=1e-6)
        if not reference.drawable() or step % 2:
            continue
        key, sample_key = jax.random.split(key)
        batch = as_numpy(sample(state, sample_key, 8))
        keys = draw_keys(batch, reference, stream)
        seen |= set(keys)
        priorities = rng.exponential(2.0, 8).astype(np.float32)
        state = set_priorities(state, batch.indices, priorities)
        reference.set_priorities(keys, priorities)
    # Coverage: many draws from the final state reach every drawable transition.
    batch = as_numpy(jax.vmap(lambda k: replay.sample(state, k, 8))(jax.random.split(key, 300)))
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)
    assert set(draw_keys(flat, reference, stream)) == set(reference.drawable())
    assert len(seen) > 3
    # The stream starts mid-episode: its first stacks reach back to frames never written, and
    # those transitions (valid pairs otherwise) were never drawable.
    assert bool(frames_missing) == dedup and not frames_missing & seen


# ---------------------------------------------------------------------------------------------
# jit, vmap over seeds, donation; checkpointable


@pytest.mark.slow
def test_vmapped_donated_equals_per_seed():
    num_seeds, capacity, num_envs, n_step = 3, 8, 2, 2
    replay = make_replay(capacity, num_envs, (2,), np.float32, n_step=n_step, prioritized=True)
    add_v = jax.jit(jax.vmap(replay.add), donate_argnums=0)
    sample_v = jax.jit(jax.vmap(lambda s, k: replay.sample(s, k, 6)))
    set_v = jax.jit(jax.vmap(replay.set_priorities), donate_argnums=0)
    add, set_priorities = jax.jit(replay.add), jax.jit(replay.set_priorities)
    sample = jax.jit(replay.sample, static_argnums=2)
    streams = [Stream(num_envs, 1, seed=10 + s) for s in range(num_seeds)]
    stacked = jax.vmap(lambda _: replay.init())(jnp.arange(num_seeds))
    singles = [replay.init() for _ in range(num_seeds)]
    key = jax.random.key(3)
    for step in range(20):
        rows = [stream.next()[:5] for stream in streams]
        previous = stacked
        stacked = add_v(stacked, *[np.stack(field) for field in zip(*rows, strict=True)])
        assert all(leaf.is_deleted() for leaf in jax.tree.leaves(previous))
        singles = [add(s, *row) for s, row in zip(singles, rows, strict=True)]
        if step < 4:
            continue
        key, sample_key = jax.random.split(key)
        keys = jax.random.split(sample_key, num_seeds)
        batches = sample_v(stacked, keys)
        priorities = jax.random.uniform(jax.random.fold_in(sample_key, 1), (num_seeds, 6)) * 3
        stacked = set_v(stacked, batches.indices, priorities)
        for s in range(num_seeds):
            batch = sample(singles[s], keys[s], 6)
            for got, want in zip(batches, batch, strict=True):
                np.testing.assert_array_equal(np.asarray(got)[s], np.asarray(want))
            singles[s] = set_priorities(singles[s], batch.indices, priorities[s])
    for s in range(num_seeds):
        for got, want in zip(jax.tree.leaves(stacked), jax.tree.leaves(singles[s]), strict=True):
            np.testing.assert_array_equal(np.asarray(got)[s], np.asarray(want))


def test_state_is_a_checkpointable_pytree():
    replay = make_replay(8, 2, (2,), np.float32, prioritized=True)
    state = fill(replay, Reference(8, 2), Stream(2, 1, seed=4), 9)
    leaves, treedef = jax.tree.flatten(state)
    restored = jax.tree.unflatten(treedef, [jnp.asarray(np.array(leaf)) for leaf in leaves])
    for got, want in zip(jax.tree.leaves(restored), leaves, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
    key = jax.random.key(0)
    for got, want in zip(
        replay.sample(restored, key, 8), replay.sample(state, key, 8), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_nbytes_counts_the_tree():
    for shape, dtype in [((2,), np.float32), ((4, 84, 84), np.uint8)]:
        for prioritized in (False, True):
            state = make_replay(100, 4, shape, dtype, prioritized=prioritized).init()
            allocated = sum(x.nbytes for x in jax.tree.leaves(state))
            assert allocated == replay_nbytes(100, 4, shape, dtype, prioritized=prioritized)
    # 26 rows × 4 columns (+3 history rows when deduplicated) → 128 leaves: 256 float32 nodes.
    uniform = replay_nbytes(100, 4, (4, 84, 84), np.uint8)
    assert replay_nbytes(100, 4, (4, 84, 84), np.uint8, prioritized=True) == uniform + 1024 + 4


# ---------------------------------------------------------------------------------------------
# Importance weights


def test_importance_weights_by_hand():
    p = np.array([0.1, 0.2, 0.4, 0.05], np.float32)
    # (N·P)^-β with N = 10: (1, 2, 4, 0.5)^-0.5 = (1, 0.7071, 0.5, 1.4142); over the max 1.4142.
    np.testing.assert_allclose(importance_weights(p, 0.5), [0.70711, 0.5, 0.35355, 1.0], rtol=1e-4)
    np.testing.assert_allclose(importance_weights(p, 1.0), [0.5, 0.25, 0.125, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(importance_weights(p, 0.0), np.ones(4))
    np.testing.assert_array_equal(importance_weights(np.full(5, 0.01), 0.7), np.ones(5))
    # Batched over seeds: each row normalised by its own maximum; β may be traced.
    two = np.stack([p, p[::-1]])
    weights = jax.jit(importance_weights)(two, jnp.float32(1.0))
    np.testing.assert_allclose(weights, [[0.5, 0.25, 0.125, 1.0], [1.0, 0.125, 0.25, 0.5]])


# ---------------------------------------------------------------------------------------------
# Uniform buffers: unchanged draws, 1/N, set_priorities a no-op


def old_uniform_indices(state, key, batch_size, num_envs, n_step, max_draws=32):
    """The uniform sampler's arithmetic as it was before prioritised replay (copied): the drawn
    flat indices `row * num_envs + column`."""
    rows = state.first.shape[0]
    window = rows - (0 if state.depth is None else 3)  # these buffers use K = 4
    candidates = jnp.maximum(jnp.minimum(state.count, window) - 1 - (n_step - 1), 0)
    column_key, age_key = jax.random.split(key)
    shape = (max_draws, batch_size)
    columns = jax.random.randint(column_key, shape, 0, num_envs)
    ages = jax.random.randint(age_key, shape, 0, jnp.maximum(candidates, 1)) + (n_step - 1)
    rows_t = (state.cursor - 1 - ages) % rows
    valid = ~state.first[rows_t, columns]
    if state.depth is not None:
        reach = 1 + ages + state.depth[(rows_t - 1) % rows, columns].astype(jnp.int32)
        valid &= reach < jnp.minimum(state.count, rows)
    pick = jnp.argmax(valid, axis=0)
    row_t, column = rows_t[pick, jnp.arange(batch_size)], columns[pick, jnp.arange(batch_size)]
    row_t = jnp.where(~jnp.any(valid, axis=0), state.newest_valid[column] % rows, row_t)
    return np.asarray(row_t * num_envs + column)


@pytest.mark.slow
@pytest.mark.parametrize("n_step, stack", [(1, 1), (3, 1), (2, 4)])
def test_uniform_buffers_are_unchanged(n_step, stack):
    capacity, num_envs = 16, 2
    dedup = stack > 1
    shape, dtype = ((stack,) + HW, np.uint8) if dedup else ((2,), np.float32)
    replay = make_replay(capacity, num_envs, shape, dtype, dedup_frames=dedup, n_step=n_step)
    assert not replay.prioritized
    reference = Reference(capacity, num_envs, n_step, stack)
    stream = Stream(num_envs, stack, seed=20 + n_step)
    sample = jax.jit(replay.sample, static_argnums=2)
    state = replay.init()
    assert state.priority_tree is None and state.max_priority is None
    assert len(jax.tree.leaves(state)) == 8 + dedup  # the uniform state's structure, as before
    for step in range(30):
        state = fill(replay, reference, stream, 1, state=state)
        if step < 5:
            continue
        key = jax.random.key(step)
        batch = as_numpy(sample(state, key, 8))
        drawable = reference.drawable()
        for b in range(8):
            step_tm1, env = newest_id(batch.s_tm1[b])
            assert (env, step_tm1 + 1) in drawable
            assert batch.indices[b] == reference.index((env, step_tm1 + 1))
        np.testing.assert_array_equal(
            batch.indices, old_uniform_indices(state, key, 8, num_envs, n_step)
        )
        # 1/N, N the candidate row pairs the uniform sampler draws among, valid or not.
        candidates = sum(max(min(reference.adds, reference.window) - n_step, 0) for _ in range(2))
        np.testing.assert_allclose(batch.probabilities, 1.0 / candidates, rtol=1e-7)
        assert batch.indices.dtype == np.int32 and batch.probabilities.dtype == np.float32
    assert replay.set_priorities(state, batch.indices, np.full(8, np.nan)) is state


# ---------------------------------------------------------------------------------------------
# Edge cases and bad inputs


@pytest.mark.parametrize("alpha", [-0.1, -1, float("nan"), float("inf"), "0.5", True])
def test_bad_priority_exponent_is_refused(alpha):
    with pytest.raises(ValueError, match=f"priority_exponent={alpha!r}"):
        make_replay(8, 2, (2,), np.float32, prioritized=True, priority_exponent=alpha)


def test_bad_prioritized_flag_is_refused():
    with pytest.raises(ValueError, match="prioritized='yes'"):
        make_replay(8, 2, (2,), np.float32, prioritized="yes")


def test_zero_exponent_draws_uniformly_over_drawable_transitions():
    replay = make_replay(12, 2, (2,), np.float32, prioritized=True, priority_exponent=0.0)
    reference = Reference(12, 2, alpha=0.0)
    state = fill(replay, reference, Stream(2, 1, seed=5), 20)
    keys = sorted(reference.drawable())
    indices = np.array([reference.index(k) for k in keys], np.int32)
    state = replay.set_priorities(state, indices, np.linspace(0.0, 50.0, len(keys)))
    batch = as_numpy(replay.sample(state, jax.random.key(0), 12))
    np.testing.assert_allclose(batch.probabilities, 1.0 / len(keys), rtol=1e-6)


def drawable_state(alpha=0.5):
    replay = make_replay(8, 1, (2,), np.float32, prioritized=True, priority_exponent=alpha)
    reference = Reference(8, 1, alpha=alpha)
    state = fill(replay, reference, Stream(1, 1, seed=6, first_prob=0.0), 6)  # steps 1..5 valid
    return replay, state


def test_bad_concrete_priorities_raise():
    replay, state = drawable_state()
    indices = np.array([1, 2], np.int32)
    for bad in ([1.0, -0.5], [np.nan, 1.0], [1.0, np.inf]):
        with pytest.raises(ValueError, match="priorities must be finite and >= 0"):
            replay.set_priorities(state, indices, np.array(bad, np.float32))
    with pytest.raises(ValueError, match=r"indices \[9\] are outside 0..8"):
        replay.set_priorities(state, np.array([1, 9], np.int32), np.ones(2, np.float32))


def test_bad_traced_priorities_are_clipped_as_documented():
    replay, state = drawable_state(alpha=0.5)
    state = replay.set_priorities(state, np.array([3], np.int32), np.array([16.0]))  # max 4
    set_priorities = jax.jit(replay.set_priorities)
    out = set_priorities(
        state,
        jnp.array([1, 2, 4, 5, 9, -1], jnp.int32),  # 9 and -1: outside, ignored
        jnp.array([-3.0, jnp.nan, jnp.inf, 0.0, 5.0, 5.0]),
    )
    leaves = tree_leaves_of(out, 9)
    # Negative → 0 → the floor 1e-6, NaN and inf → max_priority (4), 0 → the floor.
    np.testing.assert_allclose(leaves[[1, 2, 3, 4, 5]], [1e-3, 4.0, 4.0, 4.0, 1e-3], rtol=1e-5)
    assert leaves[0] == 0 and leaves[6] == 0  # not drawable: untouched
    assert float(out.max_priority) == 4.0
    np.testing.assert_allclose(np.asarray(out.priority_tree)[1], leaves.sum(), rtol=1e-6)
    # A row that is not a drawable transition (row 0 starts the episode) stays 0.
    out = set_priorities(state, jnp.array([0, 6], jnp.int32), jnp.array([7.0, 7.0]))
    assert tree_leaves_of(out, 9)[[0, 6]].tolist() == [0.0, 0.0]
    assert float(out.max_priority) == 4.0


def test_empty_tree_falls_back_to_uniform_draws():
    """Every row starts an episode: nothing is drawable, but sampling stays well defined."""
    replay = make_replay(8, 2, (2,), np.float32, prioritized=True)
    stream = Stream(2, 1, seed=7, first_prob=1.0)
    state = fill(replay, Reference(8, 2), stream, 6)
    assert float(np.asarray(state.priority_tree)[1]) == 0.0
    batch = as_numpy(replay.sample(state, jax.random.key(0), 8))
    np.testing.assert_array_equal(batch.probabilities, np.float32(1 / 8))  # 4 pairs × 2 columns
    assert ((batch.indices >= 0) & (batch.indices < 10)).all()
    assert np.isfinite(np.asarray(importance_weights(batch.probabilities, 0.4))).all()


@pytest.mark.parametrize("duplicates", [[1.0, 9.0, 4.0], [9.0, 1.0, 4.0]])
def test_duplicate_indices_largest_priority_wins(duplicates):
    replay, state = drawable_state(alpha=1.0)
    for fn in (replay.set_priorities, jax.jit(replay.set_priorities)):
        out = fn(state, jnp.array([2, 2, 2], jnp.int32), jnp.array(duplicates))
        assert tree_leaves_of(out, 9)[2] == 9.0 and float(out.max_priority) == 9.0
        assert math.isclose(float(np.asarray(out.priority_tree)[1]), 9.0 + 4 * 1.0)


@pytest.mark.parametrize(
    "leaves, u, expected",
    [
        ([0, 3, 0, 0], [0.0, 1.5, 2.999, 3.0, 3.5], [1, 1, 1, 1, 1]),  # u ≥ Σ: the last non-zero
        ([2, 0, 0, 5], [0.0, 1.999, 2.0, 6.9, 7.0, 9.0], [0, 0, 3, 3, 3, 3]),
        ([0, 0, 1, 1], [0.0, 0.999, 1.0, 2.0], [2, 2, 3, 3]),
        (
            [1, 2, 3, 4, 0, 0, 0, 0],
            [0.0, 1.0, 2.9, 3.0, 5.9, 6.0, 9.99, 10.0],
            [0, 1, 1, 2, 2, 3, 3, 3],
        ),
    ],
)
def test_descent_never_enters_a_zero_subtree(leaves, u, expected):
    """Hand-built sum trees (leaves padded to a power of two): u past a boundary, at the total
    or beyond it (float rounding) never lands on a zero leaf or on padding."""
    size = len(leaves)
    tree = np.zeros(2 * size, np.float32)
    tree[size:] = leaves
    for node in range(size - 1, 0, -1):
        tree[node] = tree[2 * node] + tree[2 * node + 1]
    leaf, share = _descend(jnp.asarray(tree), jnp.asarray(u, jnp.float32), tree[1])
    np.testing.assert_array_equal(leaf, expected)
    np.testing.assert_allclose(share, np.asarray(leaves)[expected] / sum(leaves), rtol=1e-6)


def test_sample_and_update_under_donation_do_not_copy_the_tree():
    """O(log N) per update also when jitted with donation: the compiled sample + loss +
    set_priorities writes the donated tree in place rather than copying it first (which XLA
    does when a read of the old tree may run after the in-place write)."""
    replay = make_replay(4_000, 4, (3,), np.float32, n_step=3, prioritized=True)
    state = replay.init()

    def learn(params, state, key):
        batch = replay.sample(state, key, 32)

        def loss(params):
            td = batch.r_t + batch.discount_t * (batch.s_t @ params) - batch.s_tm1 @ params
            return jnp.mean(importance_weights(batch.probabilities, 0.4) * td**2), jnp.abs(td)

        (_, priorities), grads = jax.value_and_grad(loss, has_aux=True)(params)
        return params - grads, replay.set_priorities(state, batch.indices, priorities)

    nodes = state.priority_tree.shape[0]
    for fn, args, shape in [
        (learn, (jnp.zeros(3), state, jax.random.key(0)), f"f32[{nodes}]"),
        (jax.vmap(learn), (jnp.zeros((2, 3)), jax.vmap(lambda _: replay.init())(jnp.arange(2)),
                           jax.random.split(jax.random.key(0), 2)), f"f32[2,{nodes}]"),
    ]:  # fmt: skip
        hlo = jax.jit(fn, donate_argnums=(0, 1)).lower(*args).compile().as_text()
        copies = [line for line in hlo.splitlines() if " copy(" in line and shape in line]
        assert not copies, copies
