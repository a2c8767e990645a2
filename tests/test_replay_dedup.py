"""Frame-deduplicated replay: every sampled stack is bit-identical to the stack the environment
returned, and the deduplicated and plain buffers sample the same transitions for the same key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn import envs
from jaxdqn.config import EnvConfig
from jaxdqn.replay import make_replay, replay_nbytes


def synthetic_stream(rng, steps, num_envs, k=4, hw=(6, 5), reset_prob=0.05, life_prob=0.05):
    """envpool-shaped stacks: each step shifts the stack by one new frame; a game start refills
    it with one repeated frame (first_t); a life loss marks the next step first_t without a
    refill. Every frame is unique (its first pixels encode step and env)."""

    def frame(t, e):
        f = rng.integers(0, 256, hw, dtype=np.uint8)
        f[0, 0], f[0, 1], f[0, 2] = t % 256, t // 256, e
        return f

    stacks = np.stack([np.stack([frame(0, e)] * k) for e in range(num_envs)])
    out = [(stacks.copy(), np.ones(num_envs, bool))]
    for t in range(1, steps):
        first = np.zeros(num_envs, bool)
        new = np.empty_like(stacks)
        for e in range(num_envs):
            f = frame(t, e)
            if rng.random() < reset_prob:  # game start: refilled
                new[e] = np.stack([f] * k)
                first[e] = True
            else:  # ordinary step, or the step after a life loss: shifted
                new[e] = np.concatenate([stacks[e, 1:], f[None]])
                first[e] = rng.random() < life_prob
        stacks = new
        out.append((stacks.copy(), first))
    return out


def fill_both(stream, capacity, num_envs, obs_shape, rng):
    dedup = make_replay(capacity, num_envs, obs_shape, jnp.uint8, dedup_frames=True)
    plain = make_replay(capacity, num_envs, obs_shape, jnp.uint8, dedup_frames=False)
    add_d, add_p = jax.jit(dedup.add), jax.jit(plain.add)
    sd, sp = dedup.init(), plain.init()
    for obs, first in stream:
        a = rng.integers(0, 7, num_envs).astype(np.int32)
        r = rng.normal(size=num_envs).astype(np.float32)
        d = np.where(rng.random(num_envs) < 0.1, 0.0, 0.99).astype(np.float32)
        sd = add_d(sd, jnp.asarray(obs), a, r, d, first)
        sp = add_p(sp, jnp.asarray(obs), a, r, d, first)
    return dedup, plain, sd, sp


def assert_same_samples(dedup, plain, sd, sp, batch=256, rounds=40):
    batch = min(batch, dedup.capacity_per_env * dedup.num_envs)
    sample_d = jax.jit(dedup.sample, static_argnums=2)
    sample_p = jax.jit(plain.sample, static_argnums=2)
    for key in jax.random.split(jax.random.PRNGKey(0), rounds):
        assert_same_batch(sample_d(sd, key, batch), sample_p(sp, key, batch), dedup.num_envs)


def assert_same_batch(bd, bp, num_envs):
    """Field by field; `indices` (row * num_envs + column) only by column: the deduplicated
    storage holds K-1 more rows, so the same step sits in another row."""
    for name, x, y in zip(bd._fields, bd, bp, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if name == "indices":
            x, y = x % num_envs, y % num_envs
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("capacity, num_envs, steps", [(60, 3, 50), (60, 3, 400), (8, 2, 100)])
def test_synthetic_stacks_rebuilt_exactly(capacity, num_envs, steps):
    """Before and after wrapping (400 steps ≫ 20 per column) and with tiny columns."""
    rng = np.random.default_rng(capacity + steps)
    stream = synthetic_stream(rng, steps, num_envs)
    dedup, plain, sd, sp = fill_both(stream, capacity, num_envs, (4, 6, 5), rng)
    assert sd.obs.shape[2:] == (6, 5) and sp.obs.shape[2:] == (4, 6, 5)
    assert_same_samples(dedup, plain, sd, sp)


@pytest.mark.slow
def test_vmapped_over_seeds():
    rng = np.random.default_rng(5)
    streams = [synthetic_stream(rng, 120, 2) for _ in range(3)]
    dedup = make_replay(40, 2, (4, 6, 5), jnp.uint8)
    plain = make_replay(40, 2, (4, 6, 5), jnp.uint8, dedup_frames=False)
    assert dedup.dedup_frames and not plain.dedup_frames
    add_d, add_p = jax.jit(jax.vmap(dedup.add)), jax.jit(jax.vmap(plain.add))
    sd = jax.vmap(lambda _: dedup.init())(jnp.arange(3))
    sp = jax.vmap(lambda _: plain.init())(jnp.arange(3))
    for t in range(120):
        obs = jnp.stack([s[t][0] for s in streams])
        first = jnp.stack([s[t][1] for s in streams])
        zeros = jnp.zeros((3, 2))
        a = jnp.zeros((3, 2), jnp.int32)
        sd, sp = add_d(sd, obs, a, zeros, zeros, first), add_p(sp, obs, a, zeros, zeros, first)
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    bd = jax.vmap(lambda s, k: dedup.sample(s, k, 40))(sd, keys)
    bp = jax.vmap(lambda s, k: plain.sample(s, k, 40))(sp, keys)
    assert_same_batch(bd, bp, num_envs=2)


def test_memory_per_transition_atari():
    per = replay_nbytes(1_000_000, 4, (4, 84, 84), np.uint8) / 1_000_000
    assert per <= 7_200  # ≤ 7.2 KB per transition
    assert replay_nbytes(1_000_000, 4, (4, 84, 84), np.uint8) <= 7.5e9
    state = make_replay(1_000, 4, (4, 84, 84), jnp.uint8).init()
    allocated = sum(x.nbytes for x in jax.tree_util.tree_leaves(state))
    assert allocated == replay_nbytes(1_000, 4, (4, 84, 84), np.uint8)
    plain = make_replay(1_000, 4, (4, 84, 84), jnp.uint8, dedup_frames=False).init()
    assert sum(x.nbytes for x in jax.tree_util.tree_leaves(plain)) == replay_nbytes(
        1_000, 4, (4, 84, 84), np.uint8, dedup_frames=False
    )


@pytest.mark.slow
@pytest.mark.long  # synthetic streams above check the same rebuild
def test_real_assault_stream_bit_identical():
    """A recorded envpool Assault stream (4 envs, 2,000 steps, 300-step truncation: life losses,
    real game ends and truncations) goes through the trainer's first_t rule into both buffers;
    every sampled transition's stacks equal what envpool returned, in both buffers."""
    config = EnvConfig(env_id="Assault-v5", envs_per_seed=4, max_episode_steps=300)
    env = envs.make_env(config)
    obs, _ = env.reset()
    rng = np.random.default_rng(3)
    num_envs, capacity = 4, 1_200  # 300 per column: wraps ~6 times
    dedup = make_replay(capacity, num_envs, obs.shape[1:], jnp.uint8)
    plain = make_replay(capacity, num_envs, obs.shape[1:], jnp.uint8, dedup_frames=False)
    add_d, add_p = jax.jit(dedup.add), jax.jit(plain.add)
    zeros = np.zeros(num_envs, np.float32)
    first = np.ones(num_envs, bool)
    sd = add_d(dedup.init(), obs, np.zeros(num_envs, np.int32), zeros, zeros, first)
    sp = add_p(plain.init(), obs, np.zeros(num_envs, np.int32), zeros, zeros, first)
    done = np.zeros(num_envs, bool)
    kinds = set()
    for _ in range(2_000):
        a = rng.integers(0, 7, num_envs).astype(np.int32)
        obs, r, term, trunc, info = env.step(a)
        d = (0.99 * (1 - term)).astype(np.float32)
        sd = add_d(sd, obs, a, r, d, done)
        sp = add_p(sp, obs, a, r, d, done)
        kinds |= {"truncated"} if trunc.any() else set()
        kinds |= {"game_over"} if (term & (info["terminated"] == 1)).any() else set()
        kinds |= {"life_lost"} if (term & (info["terminated"] == 0)).any() else set()
        done = term | trunc
    assert kinds == {"truncated", "game_over", "life_lost"}
    # The plain buffer holds envpool's stacks as returned; the dedup buffer must match it.
    assert_same_samples(dedup, plain, sd, sp, batch=512, rounds=10)
    # And directly: the newest held row's rebuilt stack is envpool's latest observation.
    newest = (int(sd.cursor) - 1) % sd.obs.shape[0]
    back = np.minimum(np.arange(3, -1, -1)[None], np.asarray(sd.depth[newest])[:, None])
    rows = (newest - back) % sd.obs.shape[0]
    rebuilt = np.asarray(sd.obs)[rows, np.arange(num_envs)[:, None]]
    np.testing.assert_array_equal(rebuilt, obs)


@pytest.mark.parametrize("flag, expected", [(None, True), (True, True), (False, False)])
def test_config_flag_selects_storage(flag, expected):
    from jaxdqn.config import Config, ReplayConfig, TrainConfig
    from jaxdqn.plan import make_plan
    from jaxdqn.train import make_train

    config = Config(
        env=EnvConfig(envs_per_seed=1),
        replay=ReplayConfig(replay_capacity=1_000, dedup_frames=flag),
        train=TrainConfig(learning_starts=100, total_frames=1_000),
    )
    trainer = make_train(make_plan(config))
    assert trainer.replay.dedup_frames is expected
    per_transition = replay_nbytes(1_000, 1, (4, 84, 84), np.uint8, flag) / 1_000
    assert (per_transition < 7_200) is expected
