"""envpool facts the trainer relies on, checked against real pools (if envpool changes them, these
fail), and the episode accounting that turns envpool output into real game scores."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn import envs
from jaxdqn.config import EnvConfig

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)

MAX_STEPS = 400  # short games: truncations and real game ends both happen within ~1,500 steps


def atari_config(**kw):
    return EnvConfig(env_id="Assault-v5", num_seeds=1, envs_per_seed=4, max_episode_steps=MAX_STEPS,
                     **kw)  # fmt: skip


@pytest.fixture(scope="module")
def stream():
    """A recorded random-play stream of 4 Assault envs: obs, rewards, flags, infos per step."""
    env = envs.make_env(atari_config())
    obs, info = env.reset()
    rng = np.random.default_rng(0)
    steps = [dict(obs=obs, info=info)]
    for _ in range(1500):
        action = rng.integers(0, env.action_space.n, 4).astype(np.int32)
        obs, reward, term, trunc, info = env.step(action)
        steps.append(dict(obs=obs, reward=reward, term=term, trunc=trunc, info=info, action=action))
    return steps


def events(stream):
    """(t, env, kind) for every life loss and game end in the stream."""
    out = []
    for t, s in enumerate(stream[1:], 1):
        for i in range(4):
            if s["trunc"][i]:
                out.append((t, i, "truncated"))
            elif s["term"][i] and s["info"]["terminated"][i] == 1:
                out.append((t, i, "game_over"))
            elif s["term"][i]:
                out.append((t, i, "life_lost"))
    return out


def test_stream_covers_every_case(stream):
    kinds = {k for _, _, k in events(stream)}
    assert kinds == {"truncated", "game_over", "life_lost"}


def test_newest_frame_is_last_of_stack(stream):
    shifted = 0
    for t in range(1, len(stream) - 1):
        prev, cur = stream[t], stream[t + 1]
        for i in range(4):
            if not (prev["term"][i] or prev["trunc"][i]):
                assert np.array_equal(cur["obs"][i, :3], prev["obs"][i, 1:])
                shifted += 1
    assert shifted > 5000


def test_life_loss_next_step(stream):
    """After a life loss the game goes on: reward 0, elapsed_step unchanged, the stack is NOT
    refilled (it shifts by one frame as usual), one life fewer."""
    seen = 0
    for t, i, kind in events(stream):
        if kind != "life_lost" or t + 1 >= len(stream):
            continue
        cur, nxt = stream[t], stream[t + 1]
        assert cur["info"]["lives"][i] >= 1
        assert nxt["reward"][i] == 0 and nxt["info"]["reward"][i] == 0
        assert nxt["info"]["elapsed_step"][i] == cur["info"]["elapsed_step"][i]
        assert np.array_equal(nxt["obs"][i, :3], cur["obs"][i, 1:])
        assert nxt["info"]["lives"][i] == cur["info"]["lives"][i]
        seen += 1
    assert seen >= 5


def test_game_end_next_step_is_reset(stream):
    """After a real game end or a truncation, the next step is the first of a new game: reward
    0, elapsed_step 0, all lives back, the frame stack filled with the reset frame."""
    seen = 0
    for t, i, kind in events(stream):
        if kind == "life_lost" or t + 1 >= len(stream):
            continue
        nxt = stream[t + 1]
        assert nxt["reward"][i] == 0 and nxt["info"]["reward"][i] == 0
        assert nxt["info"]["elapsed_step"][i] == 0
        assert nxt["info"]["lives"][i] == stream[0]["info"]["lives"][i]
        frames = nxt["obs"][i]
        assert all(np.array_equal(frames[k], frames[-1]) for k in range(3))
        seen += 1
    assert seen >= 2


def test_truncation_at_limit_and_game_over_flags(stream):
    for t, i, kind in events(stream):
        s = stream[t]
        if kind == "truncated":
            assert s["info"]["elapsed_step"][i] == MAX_STEPS and not s["term"][i]
        if kind == "game_over":
            assert s["info"]["lives"][i] == 0


def test_reward_is_clipped_and_info_reward_is_raw(stream):
    raw = np.concatenate([s["info"]["reward"] for s in stream[1:]])
    clipped = np.concatenate([s["reward"] for s in stream[1:]])
    np.testing.assert_array_equal(clipped, np.sign(raw))
    assert raw.max() > 1  # Assault pays 21 points and more per kill


def test_action_ignored_after_life_loss():
    """Two pools with the same env seeds play the same actions up to the step after a life loss,
    where they send different actions: both return the same observation there."""
    config = dataclasses.replace(atari_config(), envs_per_seed=1)
    a, b = envs.make_env(config, seeds=[7]), envs.make_env(config, seeds=[7])
    a.reset(), b.reset()
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(MAX_STEPS - 1):
        action = rng.integers(0, 7, 1).astype(np.int32)
        oa, _, term_a, trunc_a, _ = a.step(action)
        ob, _, _, _, _ = b.step(action)
        assert np.array_equal(oa, ob)
        if term_a[0] or trunc_a[0]:
            oa, *_ = a.step(np.array([1], np.int32))  # FIRE
            ob, *_ = b.step(np.array([3], np.int32))  # RIGHT
            assert np.array_equal(oa, ob)
            checked += 1
    assert checked >= 1


def test_xla_step_matches_host_step():
    """envpool's XLA step (used inside jit) returns envs in env_id order, like the host step."""
    config = atari_config()
    host, dev = envs.make_env(config), envs.make_env(config)
    host.reset(), dev.reset()
    handle, _, _, step = dev.xla()
    step = jax.jit(step)
    rng = np.random.default_rng(2)
    for _ in range(50):
        action = rng.integers(0, 7, 4).astype(np.int32)
        oh, rh, th, trh, ih = host.step(action)
        handle, (od, rd, td, trd, idev) = step(handle, jnp.asarray(action))
        np.testing.assert_array_equal(oh, np.asarray(od))
        np.testing.assert_array_equal(rh, np.asarray(rd))
        np.testing.assert_array_equal(ih["env_id"], np.arange(4))
        np.testing.assert_array_equal(np.asarray(idev["env_id"]), np.arange(4))


def test_env_seeds_distinct_across_run_seeds():
    a = envs.env_seeds(0, 3, 4)
    b = envs.env_seeds(1, 3, 4)
    assert len(set(a)) == 12
    assert a[4:] == b[:8]  # run seed s owns the same stream whatever the run's first seed
    assert not set(a[:4]) & set(b)
    assert all(0 <= s < 2**31 for s in a)


def test_episode_stats_give_real_game_scores(stream):
    """Scores from update_episode_stats equal a brute-force sum of raw rewards between game ends
    (over all lives), and life losses do not close a game."""
    stats = envs.init_episode_stats(4)
    done_prev = np.zeros(4, bool)
    got = [[] for _ in range(4)]
    for s in stream[1:]:
        over = envs.game_over(jnp.asarray(s["term"]), jnp.asarray(s["trunc"]), s["info"])
        raw = envs.game_reward(jnp.asarray(s["reward"]), s["info"])
        reset_step = jnp.asarray(done_prev) & (stats.length == 0)
        stats, score, _ = envs.update_episode_stats(stats, raw, over, reset_step)
        for i in range(4):
            if not np.isnan(score[i]):
                got[i].append(float(score[i]))
        done_prev = s["term"] | s["trunc"]
    # Brute force: split each env's raw rewards at real game ends.
    for i in range(4):
        expected, total = [], 0.0
        for s in stream[1:]:
            total += float(s["info"]["reward"][i])
            real_end = s["trunc"][i] or (s["term"][i] and s["info"]["terminated"][i] == 1)
            if real_end:
                expected.append(total)
                total = 0.0
        assert got[i] == expected
    assert sum(len(g) for g in got) >= 4


def test_cartpole_game_over_without_atari_info():
    info = {"env_id": np.arange(2), "elapsed_step": np.array([3, 500])}
    over = envs.game_over(jnp.array([True, False]), jnp.array([False, True]), info)
    np.testing.assert_array_equal(over, [True, True])
    np.testing.assert_array_equal(envs.game_reward(jnp.array([1.0, 1.0]), info), [1.0, 1.0])
