"""Replay buffer against a plain-Python reference model.

The reference keeps, per env column, the last `capacity_per_env + 1` rows
`(obs, a_tm1, r_t, discount_t, first_t)`; its transitions are the pairs of consecutive held rows
`(i-1, i)` with `first_t[i]` false. Every observation encodes (seed, step, env) so that a sampled
transition names the two rows it came from.
"""

import collections
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.replay import make_replay

NUM_ACTIONS = 6


class Row(NamedTuple):
    obs: np.ndarray
    a_tm1: np.int32
    r_t: np.float32
    discount_t: np.float32
    first_t: np.bool_


class ReferenceReplay:
    def __init__(self, capacity, num_envs):
        self.capacity_per_env = capacity // num_envs
        rows = self.capacity_per_env + 1
        self.columns = [collections.deque(maxlen=rows) for _ in range(num_envs)]
        self.adds = 0

    def add(self, obs, a_tm1, r_t, discount_t, first_t):
        fields = (np.array(obs), a_tm1, r_t, discount_t, first_t)
        for column, *row in zip(self.columns, *fields, strict=True):
            column.append(Row(*row))
        self.adds += 1

    def num_candidates(self):
        """Pairs of consecutive held rows, valid or not."""
        return sum(max(len(column) - 1, 0) for column in self.columns)

    def transitions(self):
        """{(id of s_tm1, id of s_t): (s_tm1, a_tm1, r_t, discount_t, s_t)} for valid pairs."""
        held = {}
        for column in self.columns:
            rows = list(column)
            for prev, row in zip(rows[:-1], rows[1:], strict=True):
                if not row.first_t:
                    key = (obs_id(prev.obs), obs_id(row.obs))
                    held[key] = (prev.obs, row.a_tm1, row.r_t, row.discount_t, row.obs)
        return held


def obs_id(obs):
    """(seed, step, env) encoded in an observation (see `make_obs`)."""
    flat = np.asarray(obs).reshape(-1).astype(np.int64)
    if np.asarray(obs).dtype == np.uint8:
        return int(flat[0]), int(flat[1]) + 256 * int(flat[2]), int(flat[3])
    return int(flat[0]), int(flat[1]), int(flat[2])


def make_obs(seed, step, num_envs, obs_shape, dtype, rng):
    """Observations that start with (seed, step, env) — uint8 ones with (seed, step % 256,
    step // 256, env) — followed by noise, so that whole arrays are compared, not only ids."""
    obs = rng.integers(0, 256, (num_envs,) + obs_shape).astype(dtype)
    flat = obs.reshape(num_envs, -1)
    ids = [np.full(num_envs, seed), np.full(num_envs, step), np.arange(num_envs)]
    if dtype == np.uint8:
        ids[1:2] = [np.full(num_envs, step % 256), np.full(num_envs, step // 256)]
    for i, value in enumerate(ids):
        flat[:, i] = value
    return flat.reshape(obs.shape)


def random_step(rng, step, num_envs, first_prob):
    a_tm1 = rng.integers(0, NUM_ACTIONS, num_envs).astype(np.int32)
    r_t = rng.normal(size=num_envs).astype(np.float32)
    discount_t = np.where(rng.random(num_envs) < 0.3, 0.0, 0.99).astype(np.float32)
    # The very first row of every column starts an episode.
    first_t = np.ones(num_envs, bool) if step == 0 else rng.random(num_envs) < first_prob
    return a_tm1, r_t, discount_t, first_t


def to_numpy(transition):
    return jax.tree.map(np.asarray, transition)


def check_samples(batch, reference, *, seed=0):
    """Every sampled transition is a valid one the reference holds, field by field; returns the
    sampled (id_tm1, id_t) keys."""
    held = reference.transitions()
    keys = []
    for b in range(batch.a_tm1.shape[0]):
        key = (obs_id(batch.s_tm1[b]), obs_id(batch.s_t[b]))
        assert key in held, f"sampled {key} is not a valid held transition"
        s_tm1, a_tm1, r_t, discount_t, s_t = held[key]
        np.testing.assert_array_equal(batch.s_tm1[b], s_tm1)
        np.testing.assert_array_equal(batch.s_t[b], s_t)
        assert batch.a_tm1[b] == a_tm1
        assert batch.r_t[b] == r_t and batch.discount_t[b] == discount_t
        assert key[0][0] == seed and key[1][0] == seed
        keys.append(key)
    return keys


def fill(replay, reference, rng, steps, first_prob, obs_shape, dtype, add=None, state=None):
    add = add or jax.jit(replay.add)
    state = replay.init() if state is None else state
    for _ in range(steps):
        step = reference.adds
        obs = make_obs(0, step, replay.num_envs, obs_shape, dtype, rng)
        data = random_step(rng, step, replay.num_envs, first_prob)
        state = add(state, obs, *data)
        reference.add(obs, *data)
    return state


# ---------------------------------------------------------------------------------------------
# (a) (b) (c) (e): random step sequences, small capacities, many wraps


@pytest.mark.parametrize(
    "capacity, num_envs, obs_shape, dtype",
    [
        (10, 3, (3,), np.float32),  # 3 per column (10 // 3), 4 rows
        (4, 4, (3,), np.int32),  # capacity_per_env = 1: a single transition per column
        (7, 1, (3,), np.float32),
        (12, 2, (2, 5, 5), np.uint8),  # Atari-like frames
    ],
)
@pytest.mark.slow
def test_random_sequences_match_reference(capacity, num_envs, obs_shape, dtype):
    # max_draws is raised from the default 32 because these buffers are tiny: with as few as one
    # valid transition among 9 candidates, the last-resort fallback (all max_draws candidates of
    # a batch element are episode starts) would fire with probability (8/9)**32 ≈ 0.02, and in
    # a column this small its newest valid transition may not exist, which would make the
    # reference comparison depend on the fallback. At 512 rounds (11/12)**512 ≈ 4e-20.
    # The default is exercised in test_default_max_draws_realistic_episode_starts.
    # Random frames are not envpool-like stacks: this test pins the plain storage.
    replay = make_replay(
        capacity, num_envs, obs_shape, obs_dtype=dtype, max_draws=512, dedup_frames=False
    )
    capacity_per_env = capacity // num_envs
    assert replay.capacity_per_env == capacity_per_env and replay.num_envs == num_envs
    reference = ReferenceReplay(capacity, num_envs)
    add = jax.jit(replay.add)
    batch_size = min(8, capacity_per_env * num_envs)
    sample = jax.jit(replay.sample, static_argnums=2)
    can_sample = jax.jit(replay.can_sample, static_argnums=1)
    rng = np.random.default_rng(capacity * 100 + num_envs)
    key = jax.random.key(0)
    state = replay.init()
    steps = 12 * (capacity_per_env + 1)  # ≈ 12 wraps of every column
    sampled_at_least_once = 0
    for step in range(steps):
        obs = make_obs(0, step, num_envs, obs_shape, dtype, rng)
        data = random_step(rng, step, num_envs, first_prob=0.2)
        state = add(state, obs, *data)
        reference.add(obs, *data)
        # (e) can_sample: at least batch_size candidate row pairs held (valid or not).
        for b in (1, batch_size, reference.num_candidates(), reference.num_candidates() + 1):
            if 1 <= b <= capacity_per_env * num_envs:
                assert bool(can_sample(state, b)) == (reference.num_candidates() >= b)
        if not bool(can_sample(state, batch_size)) or not reference.transitions():
            continue
        key, sample_key = jax.random.split(key)
        batch = to_numpy(sample(state, sample_key, batch_size))
        assert batch.a_tm1.shape == (batch_size,)
        assert batch.s_t.shape == (batch_size,) + obs_shape and batch.s_t.dtype == dtype
        # (a) a held transition with the right payload, (b) never across an episode start.
        keys = check_samples(batch, reference)
        for (_, step_tm1, env_tm1), (_, step_t, env_t) in keys:
            # Consecutive rows of one column ...
            assert env_tm1 == env_t and step_t == step_tm1 + 1
            # (c) ... and no older than the last capacity_per_env transitions of that column.
            assert step_t >= reference.adds - capacity_per_env
        sampled_at_least_once += 1
    assert sampled_at_least_once > steps // 2
    # Coverage: enough samples from the final state hit every held transition, so the buffer
    # really keeps capacity_per_env transitions per column (not fewer).
    keys = set()
    for sample_key in jax.random.split(key, 200):
        keys |= set(check_samples(to_numpy(sample(state, sample_key, batch_size)), reference))
    assert keys == set(reference.transitions())


def test_can_sample_counts_row_pairs():
    replay = make_replay(capacity=9, num_envs=3, obs_shape=(3,), obs_dtype=np.float32)
    rng = np.random.default_rng(1)
    reference = ReferenceReplay(9, 3)
    state = replay.init()
    assert not bool(replay.can_sample(state, 1))
    state = fill(replay, reference, rng, 1, 0.0, (3,), np.float32, state=state)
    assert not bool(replay.can_sample(state, 1))  # one row per column: no pair yet
    state = fill(replay, reference, rng, 1, 0.0, (3,), np.float32, state=state)
    assert bool(replay.can_sample(state, 3)) and not bool(replay.can_sample(state, 4))
    state = fill(replay, reference, rng, 10, 0.0, (3,), np.float32, state=state)
    # Full: capacity_per_env (3) transitions in each of 3 columns.
    assert bool(replay.can_sample(state, 9))
    assert reference.num_candidates() == 9


# ---------------------------------------------------------------------------------------------
# (b) with the default max_draws, in the regime it is designed for


@pytest.mark.slow
def test_default_max_draws_realistic_episode_starts():
    replay = make_replay(capacity=128, num_envs=4, obs_shape=(3,), obs_dtype=np.float32)
    reference = ReferenceReplay(128, 4)
    rng = np.random.default_rng(2)
    sample = jax.jit(replay.sample, static_argnums=2)
    state = fill(replay, reference, rng, 100, 0.1, (3,), np.float32)
    for sample_key in jax.random.split(jax.random.key(3), 20):
        check_samples(to_numpy(sample(state, sample_key, 128)), reference)


def one_valid_of_four():
    """1 env, capacity 4, all 5 rows held, first = [T, T, F, T, T]: of the 4 candidate pairs only
    (row 1, row 2) is a transition."""
    replay = make_replay(capacity=4, num_envs=1, obs_shape=(3,), obs_dtype=np.float32)
    state = replay.init()
    for step, first in enumerate([True, True, False, True, True]):
        obs = np.array([[0, step, 0]], np.float32)
        zeros = np.zeros(1, np.float32)
        state = replay.add(state, obs, np.zeros(1, np.int32), zeros, zeros, np.array([first]))
    return replay, state


@pytest.mark.slow
def test_fallback_never_straddles_a_reset():
    # 3 of 4 candidates are episode starts, so with max_draws=2 about 0.75**2 ≈ 56% of the batch
    # elements exhaust their draws and take the fallback: the column's newest valid transition,
    # here the only one, (row 1, row 2). Every sample must still be that transition.
    replay, state = one_valid_of_four()
    assert int(state.newest_valid[0]) == 2
    few = make_replay(capacity=4, num_envs=1, obs_shape=(3,), obs_dtype=np.float32, max_draws=2)
    batch = to_numpy(
        jax.jit(jax.vmap(lambda k: few.sample(state, k, 4)))(
            jax.random.split(jax.random.key(10), 5_000)
        )
    )
    assert (batch.s_t[..., 1] == 2).all() and (batch.s_tm1[..., 1] == 1).all()
    # The default max_draws gives the same without the fallback mattering.
    batch = to_numpy(
        jax.jit(jax.vmap(lambda k: replay.sample(state, k, 4)))(
            jax.random.split(jax.random.key(11), 5_000)
        )
    )
    assert (batch.s_t[..., 1] == 2).all() and (batch.s_tm1[..., 1] == 1).all()


# ---------------------------------------------------------------------------------------------
# (d) uniform over the valid transitions


@pytest.mark.slow
def test_sampling_is_uniform_over_valid_transitions():
    capacity, num_envs = 60, 3  # 20 transitions per column, ≈ 48 valid at first_prob 0.2
    replay = make_replay(capacity, num_envs, (3,), obs_dtype=np.float32)
    reference = ReferenceReplay(capacity, num_envs)
    state = fill(replay, reference, np.random.default_rng(4), 55, 0.2, (3,), np.float32)
    held = reference.transitions()
    assert reference.num_candidates() == 60
    assert 30 < len(held) < 60

    draws = 2_000
    sample = jax.jit(jax.vmap(lambda k: replay.sample(state, k, capacity)))
    batch = to_numpy(sample(jax.random.split(jax.random.key(5), draws)))
    # Vectorised ids: obs = (seed, step, env). Name a transition by its s_t row (step, env) and
    # check that s_tm1 is the row before it in the same column.
    s_tm1 = batch.s_tm1.reshape(-1, 3).astype(np.int64)
    s_t = batch.s_t.reshape(-1, 3).astype(np.int64)
    np.testing.assert_array_equal(s_tm1[:, 1] + 1, s_t[:, 1])
    np.testing.assert_array_equal(s_tm1[:, 2], s_t[:, 2])
    sampled, counts = np.unique(s_t[:, 1:], axis=0, return_counts=True)
    held_rows = sorted(key[1][1:] for key in held)
    # Every valid transition was drawn, and nothing else (e.g. no episode start).
    assert [tuple(row) for row in sampled] == held_rows
    n = draws * capacity
    assert counts.sum() == n
    expected = n / len(held)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    df = len(held) - 1
    # Normal approximation for many categories: chi2 ~ N(df, 2 df); 4 sd ↔ p ≈ 3e-5.
    assert (chi2 - df) / math.sqrt(2 * df) < 4, (chi2, df)


# ---------------------------------------------------------------------------------------------
# (f) vmapped over seeds


@pytest.mark.slow
def test_vmap_over_seeds_keeps_seeds_apart():
    num_seeds, capacity, num_envs, obs_shape = 3, 8, 2, (3,)
    replay = make_replay(capacity, num_envs, obs_shape, obs_dtype=np.float32, max_draws=512)
    state = jax.vmap(lambda _: replay.init())(jnp.arange(num_seeds))
    assert state.obs.shape == (num_seeds, capacity // num_envs + 1, num_envs) + obs_shape
    add = jax.jit(jax.vmap(replay.add))
    batch_size = 8
    sample = jax.jit(jax.vmap(lambda s, k: replay.sample(s, k, batch_size)))
    can_sample = jax.jit(jax.vmap(lambda s: replay.can_sample(s, batch_size)))
    rng = np.random.default_rng(6)
    references = [ReferenceReplay(capacity, num_envs) for _ in range(num_seeds)]
    key = jax.random.key(7)
    for step in range(23):
        obs = np.stack(
            [make_obs(s, step, num_envs, obs_shape, np.float32, rng) for s in range(num_seeds)]
        )  # [seeds, envs, 3]
        # Each seed its own actions, rewards, discounts and episode starts.
        data = [random_step(rng, step, num_envs, 0.25) for _ in range(num_seeds)]
        stacked = [np.stack(field) for field in zip(*data, strict=True)]
        state = add(state, obs, *stacked)
        for s, reference in enumerate(references):
            reference.add(obs[s], *data[s])
        ready = np.asarray(can_sample(state))
        assert ready.shape == (num_seeds,)
        np.testing.assert_array_equal(ready, [r.num_candidates() >= batch_size for r in references])
        if not ready.all() or not all(r.transitions() for r in references):
            continue
        key, sample_key = jax.random.split(key)
        batches = to_numpy(sample(state, jax.random.split(sample_key, num_seeds)))
        assert batches.s_t.shape == (num_seeds, batch_size) + obs_shape
        for s, reference in enumerate(references):
            check_samples(jax.tree.map(lambda x, s=s: x[s], batches), reference, seed=s)


# ---------------------------------------------------------------------------------------------
# (g) donation


@pytest.mark.slow
def test_donated_jit_add_equals_plain_add():
    replay = make_replay(capacity=6, num_envs=2, obs_shape=(2, 5, 5), obs_dtype=np.uint8)
    donating_add = jax.jit(replay.add, donate_argnums=0)
    rng = np.random.default_rng(8)
    donated, plain = replay.init(), replay.init()
    for step in range(11):
        obs = make_obs(0, step, 2, (2, 5, 5), np.uint8, rng)
        data = random_step(rng, step, 2, 0.3)
        previous = donated
        donated = donating_add(donated, obs, *data)
        plain = replay.add(plain, obs, *data)
        # Every buffer was donated (updated in place, no copy of the storage).
        assert all(leaf.is_deleted() for leaf in jax.tree.leaves(previous))
    for got, want in zip(jax.tree.leaves(donated), jax.tree.leaves(plain), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    rows = donated.obs.shape[0]  # 4, plus 1 history row in the deduplicated storage
    assert replay.dedup_frames and rows == 5
    assert int(donated.cursor) == 11 % rows and int(donated.count) == rows


# ---------------------------------------------------------------------------------------------
# (h) argument checks


@pytest.mark.parametrize(
    "capacity, num_envs, field",
    [(2, 3, "capacity=2"), (0, 1, "capacity=0"), (4, 0, "num_envs=0"), (4, -1, "num_envs=-1")],
)
def test_make_replay_rejects_bad_sizes(capacity, num_envs, field):
    with pytest.raises(ValueError, match=field):
        make_replay(capacity, num_envs, (3,))


@pytest.mark.slow
def test_sample_rejects_batch_larger_than_capacity():
    replay = make_replay(capacity=10, num_envs=3, obs_shape=(3,), obs_dtype=np.float32)
    reference = ReferenceReplay(10, 3)
    state = fill(replay, reference, np.random.default_rng(9), 20, 0.0, (3,), np.float32)
    # 10 // 3 = 3 per column → 9 transitions held: a batch of 9 is fine, 10 is not.
    sample = jax.jit(replay.sample, static_argnums=2)
    check_samples(to_numpy(sample(state, jax.random.key(0), 9)), reference)
    with pytest.raises(ValueError, match="batch_size=10"):
        replay.sample(state, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="batch_size=10"):
        sample(state, jax.random.key(0), 10)
