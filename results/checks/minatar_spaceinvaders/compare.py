"""Compare gymnax 0.0.9 SpaceInvaders-MinAtar with the original MinAtar (1.0.15) SpaceInvaders.

Run (from this folder, after `pip install --no-deps --target site MinAtar==1.0.15`):

    taskset -c 0 nice -n 10 env JAX_PLATFORMS=cpu python -W ignore compare.py [exact|stats|all] \
        [--episodes N] [--stats-episodes M] [--seed S]

(defaults N=200 lock-step episodes per policy and variant, M=400 episodes per statistics row,
seed 0; the committed logs are exact.log and stats.log, made with the defaults).

Both parts run a batch of N episodes side by side: gymnax's `step_env` vmapped and jitted over
the batch, the original's bare `Env` (no wrapper) once per episode in a Python loop, and one
policy function (numpy, on the [B, 10, 10, 6] observations) choosing the actions for both.

The original SpaceInvaders draws no random numbers at all (its `self.random` is never used;
only the `Environment` wrapper's sticky actions are random), and neither does gymnax's
(`key` is unused by `step_env`/`reset_env`). So the lock-step check needs no replayed draws.

Part A ("exact"): lock-step. Same actions on both sides, sticky actions off, gymnax's time
limit out of reach. Observation (all 6 channels), reward and terminal are compared before the
first step (reset) and after every step; an episode stops being compared at its first mismatch,
which is recorded and classified. gymnax variants:
  * "gymnax"        gymnax 0.0.9 as installed (what the project trains on);
  * "+reset fix"    gymnax with its reset alien block set to MinAtar's (rows 0-3, columns 2-7);
  * "+both fixes"   also its enemy-bullet hit test moved from the pre-move to the post-move
                    cannon position (MinAtar's rule);
  * "+bullet fix"   only the hit test fixed, compared with the original *started from gymnax's
                    4x7 block*, to check the rest of the rules over gymnax's wider first wave.
Policies: "random", "scripted", "aim eps0.1" (below; the last one clears waves, so the wave
reset and the difficulty ramp are exercised).

Part B ("stats"): each env on its own (no coupling), sticky actions p (0.1, and 0) drawn by one
numpy generator with the same scheme on both sides (previous action repeated with prob. p,
previous action reset to no-op at the episode start, as the project does), no time limit
(episodes capped at CAP = 5,000 steps, 2,000 for the "aim" policies; the count cut at the cap is
reported). Envs: the original, gymnax as installed, gymnax with only one of the two fixes (to
attribute the effect), and gymnax with both fixes (a sanity row: it must equal the original's
row exactly, as all draws are shared). Reported: mean return and length (± s.e.), return within
the first 1,000 steps (what the project's 1,000-step truncation keeps), P(length >= 1,000), waves
cleared, and deaths by an enemy bullet that the *other* hit-test rule would have spared.

Policies (observation only, so they play both games the same way; see the functions):
  * "random": uniform over the 6 actions;
  * "scripted": fire when an alien is in the cannon's column (and none of its own bullets is),
    else walk toward the nearest column holding an alien; never end a step in a column whose
    rows 7-8 hold an enemy bullet (safe under both hit tests when possible);
    "scripted-early": the same, avoiding rows 5-8; "scripted-early eps0.1": with 10% random
    actions (like an epsilon-greedy agent in training, epsilon 0.1);
  * "aim eps0.1" / "aim eps0.2": AimingPolicy, a lead-shooting policy that tracks the alien
    move timer and simulates the block forward, dodging rows 5-8, with 10% / 20% random actions;
    "aim eps0.1 late": the same dodging only rows 7-8.
"""

from __future__ import annotations

import functools
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from gymnax.environments.minatar import space_invaders as gx  # noqa: E402
from minatar.environments import space_invaders as mn  # noqa: E402

ENV = gx.MinSpaceInvaders(use_minimal_action_set=False)  # full 6 actions, as the project uses
PARAMS = gx.EnvParams(max_steps_in_episode=2**31 - 1)  # no time limit (MinAtar has none)
CAP = 5000
CHANNELS = ["cannon", "alien", "alien_left", "alien_right", "friendly_bullet", "enemy_bullet"]
ORIG_STEP_AGENT = gx.step_agent


def step_agent_fixed(action, state, params):
    """gymnax's step_agent, with MinAtar's hit test: enemy bullet at [9, pos] *after* the move.

    gymnax (space_invaders.py:243) tests e_bullet_map[9, state.pos] with the pre-move pos;
    MinAtar (space_invaders.py:70) tests self.pos after the move (lines 58-61)."""
    out = ORIG_STEP_AGENT(action, state, params)
    hit = out.e_bullet_map[9, out.pos] > 0
    return out.replace(terminal=jnp.logical_or(state.terminal, hit))


def _step(fix_bullet):
    def one(state, action):
        if fix_bullet:  # swapped only while this function is traced
            gx.step_agent = step_agent_fixed
        try:
            obs, st, r, d, _ = ENV.step_env(jax.random.PRNGKey(0), state, action, PARAMS)
        finally:
            gx.step_agent = ORIG_STEP_AGENT
        return obs, st, r, d, st.ramp_index

    return jax.jit(jax.vmap(one))


def _reset(fix_reset, n):
    obs, st = ENV.reset_env(jax.random.PRNGKey(0), PARAMS)  # deterministic (key unused)
    if fix_reset:  # MinAtar's start block: rows 0-3, columns 2-7 (gymnax: 2-8)
        st = st.replace(alien_map=jnp.zeros((10, 10)).at[0:4, 2:8].set(1))
        obs = ENV.get_obs(st)
    batch = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), st)
    return np.broadcast_to(np.asarray(obs, bool), (n, 10, 10, 6)), batch


VARIANTS = {  # name: (fix_reset, fix_bullet)
    "gymnax": (False, False),
    "+reset fix": (True, False),
    "+bullet fix": (False, True),
    "+both fixes": (True, True),
}
STEPS = {fb: _step(fb) for fb in (False, True)}


# ---------------------------------------------------------------- policies (batched, numpy)
# A policy is made fresh for each batch of episodes by POLICIES[name](); it maps the batch's
# observations [B, 10, 10, 6] (bool) and a numpy Generator to actions [B] in MinAtar's indices
# (n 0, l 1, u 2, r 3, d 4, f 5). It sees only observations, so it plays both games the same way.
def random_policy(obs, rng):
    return rng.integers(6, size=len(obs))


def _dodge(obs, act, danger_rows):
    """Replace an action whose destination column holds an enemy bullet in `danger_rows` by
    the first of (no-op, left, right) whose destination does not, if any."""
    idx = np.arange(len(obs))
    pos = obs[:, 9, :, 0].argmax(1)
    danger = obs[..., 5][:, list(danger_rows)].any(1)  # [B, 10]
    dest = {0: pos, 1: np.maximum(pos - 1, 0), 3: np.minimum(pos + 1, 9)}
    unsafe = danger[idx, np.select([act == 1, act == 3], [dest[1], dest[3]], pos)]
    for alt in (0, 1, 3):
        swap = unsafe & ~danger[idx, dest[alt]]
        act = np.where(swap, alt, act)
        unsafe = unsafe & ~swap
    return act


def scripted_policy(obs, rng=None, danger_rows=(7, 8)):
    """Fire if an alien is in the cannon's column and no friendly bullet is; else walk toward
    the nearest column holding an alien (ties to the left); dodge (see _dodge)."""
    idx = np.arange(len(obs))
    pos = obs[:, 9, :, 0].argmax(1)
    alien_cols = obs[..., 1].any(1)  # [B, 10]
    fb_cols = obs[..., 4].any(1)
    dist = np.where(alien_cols, np.abs(np.arange(10)[None] - pos[:, None]), 99)
    target = dist.argmin(1)
    walk = np.where(target < pos, 1, np.where(target > pos, 3, 0))
    act = np.where(alien_cols[idx, pos] & ~fb_cols[idx, pos], 5, walk)
    return _dodge(obs, act, danger_rows)


class AimingPolicy:
    """A stronger, stateful policy (still observation-only): it tracks the alien move timer,
    the waves cleared (hence the move interval) and its own shot cool-down from consecutive
    observations, simulates the alien block (and its own bullets in flight) forward, and fires
    now, or walks to the column from which a shot fired at the earliest possible step hits an
    alien (else walks under the lowest alien). Dodges as _dodge. With probability `eps` the
    action is replaced by a uniform random one (an epsilon-greedy agent, as in training)."""

    horizon = 12  # latest firing delay considered

    def __init__(self, eps=0.0, danger_rows=(5, 6, 7, 8)):
        self.eps, self.danger_rows, self.prev = eps, danger_rows, None

    def _track(self, obs):
        al, cnt = obs[..., 1], obs[..., 1].sum((1, 2))
        if self.prev is None:
            self.timer = np.full(len(obs), mn.enemy_move_interval)  # alien_move_timer at reset
            self.waves = np.zeros(len(obs), np.int64)
            self.cool = np.zeros(len(obs), np.int64)
        else:
            pal = self.prev[..., 1]
            pcnt = pal.sum((1, 2))
            new_wave = cnt > pcnt
            moved = (al & ~pal).any((1, 2)) & ~new_wave  # a cell became occupied
            interval = np.maximum(mn.enemy_move_interval - self.waves, 6)
            self.timer = np.where(moved, np.minimum(pcnt, interval) - 1,
                                  np.maximum(self.timer - 1, 0))  # fmt: skip
            self.waves = self.waves + new_wave
            fired = obs[:, 8, :, 4].any(1)  # a friendly bullet on row 8 was fired last step
            self.cool = np.where(fired, mn.shot_cool_down - 1, np.maximum(self.cool - 1, 0))
        self.prev = obs.copy()

    def _futures(self, obs):
        """Alien maps at the end of each of the next horizon + 9 steps [J, B, 10, 10]."""
        m, fb = obs[..., 1].copy(), obs[..., 4].copy()
        d = np.where(obs[..., 2].any((1, 2)), -1, 1)
        timer, cnt = self.timer.copy(), m.sum((1, 2))
        interval = np.maximum(mn.enemy_move_interval - self.waves, 6)
        maps = []
        for _ in range(self.horizon + 9):
            move = timer == 0
            border = move & (((d < 0) & m[:, :, 0].any(1)) | ((d > 0) & m[:, :, 9].any(1)))
            side = np.where((d < 0)[:, None, None], np.roll(m, -1, axis=2), np.roll(m, 1, axis=2))
            m = np.where(border[:, None, None], np.roll(m, 1, axis=1),
                         np.where(move[:, None, None], side, m))  # fmt: skip
            d = np.where(border, -d, d)
            timer = np.where(move, np.minimum(cnt, interval), timer) - 1
            fb = np.roll(fb, -1, axis=1)
            fb[:, 9] = False
            kill = m & fb
            m, fb = m & ~kill, fb & ~kill
            cnt = m.sum((1, 2))
            maps.append(m)
        return np.stack(maps)

    def __call__(self, obs, rng):
        self._track(obs)
        b, cols = len(obs), np.arange(10)
        pos = obs[:, 9, :, 0].argmax(1)
        futures = self._futures(obs)
        walk_dist = np.abs(cols[None] - pos[:, None])  # [B, 10]
        best_tau, best_c = np.full(b, 99), pos.copy()
        for tau in range(self.horizon, -1, -1):  # a shot fired at step t+tau from column c
            hit = np.zeros((b, 10), bool)  # is on row 8-k at the end of step t+tau+k
            for k in range(9):
                hit |= futures[tau + k][:, 8 - k, :]
            ok = hit & (walk_dist <= tau) & (self.cool[:, None] <= tau)
            has = ok.any(1)
            best_tau = np.where(has, tau, best_tau)
            best_c = np.where(has, np.where(ok, walk_dist, 99).argmin(1), best_c)
        lowest = np.where(obs[..., 1], np.arange(10)[None, :, None], -1).max(1)  # [B, 10]
        under = np.where(lowest >= 0, -20 * lowest + walk_dist, 10**6).argmin(1)
        target = np.where(best_tau < 99, best_c, under)
        walk = np.where(target < pos, 1, np.where(target > pos, 3, 0))
        act = _dodge(obs, np.where((best_tau == 0) & (best_c == pos), 5, walk), self.danger_rows)
        return np.where(rng.random(b) < self.eps, rng.integers(6, size=b), act)


def with_eps(policy, eps):
    """Replace the policy's action by a uniform random one with probability eps."""

    def act(obs, rng):
        a = policy(obs, rng)
        return np.where(rng.random(len(obs)) < eps, rng.integers(6, size=len(obs)), a)

    return act


POLICIES = {
    "random": lambda: random_policy,
    "scripted": lambda: scripted_policy,  # dodges bullets on rows 7-8 of its destination
    "scripted-early": lambda: functools.partial(scripted_policy, danger_rows=(5, 6, 7, 8)),
    "scripted-early eps0.1": lambda: with_eps(POLICIES["scripted-early"](), 0.1),
    "aim eps0.1": lambda: AimingPolicy(eps=0.1),  # dodges rows 5-8
    "aim eps0.2": lambda: AimingPolicy(eps=0.2),
    "aim eps0.1 late": lambda: AimingPolicy(eps=0.1, danger_rows=(7, 8)),
}


def bullet_death_kind(prev_obs, obs):
    """For envs whose step just ended the game: did an enemy bullet reach row 9 at the
    pre-move cannon column (gymnax's hit) / the post-move column (MinAtar's hit)?"""
    b = np.arange(len(obs))
    old = prev_obs[:, 9, :, 0].argmax(1)
    new = obs[:, 9, :, 0].argmax(1)
    arriving = prev_obs[:, 8, :, 5]  # bullets at row 8 reach row 9 in this step
    return arriving[b, old], arriving[b, new]


# ---------------------------------------------------------------- part A: lock-step
def exact(variant, policy, n_episodes, seed, minatar_wide_start=False):
    """minatar_wide_start: start the original with gymnax's 4x7 block (columns 2-8) instead."""
    fix_reset, fix_bullet = VARIANTS[variant]
    step = STEPS[fix_bullet]
    rng = np.random.default_rng(seed)
    obs_g, st = _reset(fix_reset, n_episodes)
    envs = [mn.Env(ramping=True) for _ in range(n_episodes)]
    for e in envs if minatar_wide_start else ():
        e.alien_map[0:4, 2:9] = 1
    obs_m = np.stack([e.state() for e in envs])
    active = np.ones(n_episodes, bool)  # still being compared (no mismatch, not over)
    first = {}  # episode -> description of its first mismatch
    kinds = {}
    steps = 0
    ret_g = ret_m = 0.0
    for i in np.flatnonzero((obs_g != obs_m).any((1, 2, 3))):
        ch = [CHANNELS[c] for c in range(6) if (obs_g[i, ..., c] != obs_m[i, ..., c]).any()]
        first[i] = dict(t="reset", channels=ch, kind="reset block")
        active[i] = False
    pol = POLICIES[policy]()
    clears = 0  # wave clears (alien count rises) inside the compared steps
    for t in range(CAP):
        if not active.any():
            break
        a = pol(obs_m, rng)
        o, st, r, d, _ = step(st, jnp.asarray(a, jnp.int32))
        o, r, d = np.asarray(o, bool), np.asarray(r), np.asarray(d)
        new_m = obs_m.copy()
        for i in np.flatnonzero(active):
            rm, dm = envs[i].act(int(a[i]))
            new_m[i] = envs[i].state()
            steps += 1
            ret_g += float(r[i])
            ret_m += float(rm)
            same = np.array_equal(o[i], new_m[i]) and float(r[i]) == float(rm) and bool(d[i]) == dm
            if not same:
                ch = [CHANNELS[c] for c in range(6) if (o[i, ..., c] != new_m[i, ..., c]).any()]
                hit_old, hit_new = bullet_death_kind(obs_m[i : i + 1], new_m[i : i + 1])
                kind = "other"
                if bool(d[i]) != dm and bool(hit_old[0]) == bool(d[i]) and bool(hit_new[0]) == dm:
                    kind = "bullet hit test (pre- vs post-move column)"
                first[i] = dict(t=t, action=int(a[i]), channels=ch, r_g=float(r[i]), r_m=float(rm),
                                term_g=bool(d[i]), term_m=bool(dm), kind=kind)  # fmt: skip
                active[i] = False
            else:
                clears += int(new_m[i, ..., 1].sum() > obs_m[i, ..., 1].sum())
                if dm:
                    active[i] = False
        obs_m = new_m
    for v in first.values():
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    ep0 = min(first) if first else None
    return dict(variant=variant, minatar_wide_start=minatar_wide_start, policy=policy,
                episodes=n_episodes, steps_compared=steps, wave_clears_compared=clears,
                episodes_mismatched=len(first), kinds=kinds, still_running_at_cap=int(active.sum()),
                return_g=ret_g, return_m=ret_m,
                first_mismatch=(ep0, first[ep0]) if first else None)  # fmt: skip


# ---------------------------------------------------------------- part B: statistics
def run_stats(which, policy, sticky, n_episodes, seed, cap=CAP):
    """One episode per batch row, no coupling between envs."""
    rng = np.random.default_rng(seed)
    n = n_episodes
    if which == "minatar":
        envs = [mn.Env(ramping=True) for _ in range(n)]
        obs = np.stack([e.state() for e in envs])
    else:
        fix_reset, fix_bullet = VARIANTS[which]
        step = STEPS[fix_bullet]
        obs, st = _reset(fix_reset, n)
    last = np.zeros(n, np.int64)
    ret = np.zeros(n)
    ret1000 = np.zeros(n)
    length = np.zeros(n, np.int64)
    waves = np.zeros(n, np.int64)
    alive = np.ones(n, bool)
    death_old_only = death_new_only = 0  # bullet deaths the other rule would have spared
    pol = POLICIES[policy]()
    for t in range(cap):
        if not alive.any():
            break
        a = pol(obs, rng)
        a = np.where(rng.random(n) < sticky, last, a)
        last = a
        if which == "minatar":
            new = obs.copy()
            r = np.zeros(n)
            d = np.zeros(n, bool)
            for i in np.flatnonzero(alive):
                r[i], d[i] = envs[i].act(int(a[i]))
                new[i] = envs[i].state()
        else:
            new, st, r, d, _ = step(st, jnp.asarray(a, jnp.int32))
            new, r, d = np.asarray(new, bool), np.asarray(r, float), np.asarray(d)
        r = np.where(alive, r, 0.0)
        ret += r
        if t < 1000:
            ret1000 += r
        length += alive
        waves += alive & (new[:, :, :, 1].sum((1, 2)) > obs[:, :, :, 1].sum((1, 2)))
        ended = alive & d
        hit_old, hit_new = bullet_death_kind(obs, new)
        death_old_only += int((ended & hit_old & ~hit_new).sum())
        death_new_only += int((ended & hit_new & ~hit_old).sum())
        alive &= ~d
        obs = new
    se = lambda x: x.std(ddof=1) / np.sqrt(len(x))  # noqa: E731
    return dict(env=which, policy=policy, sticky=sticky, episodes=n,
                ret=ret.mean(), ret_se=se(ret), len=length.mean(), len_se=se(length.astype(float)),
                ret1000=ret1000.mean(), ret1000_se=se(ret1000),
                p1000=float(np.mean(length >= 1000)),
                waves=waves.mean(), p_wave=float(np.mean(waves >= 1)),
                death_old_only=death_old_only, death_new_only=death_new_only,
                cut_at_cap=int(alive.sum()))  # fmt: skip


def fmt(d):
    return (
        f"| {d['env']} | {d['policy']} | {d['sticky']:.1f} | {d['episodes']} | "
        f"{d['ret']:.2f} ± {d['ret_se']:.2f} | {d['len']:.1f} ± {d['len_se']:.1f} | "
        f"{d['ret1000']:.2f} ± {d['ret1000_se']:.2f} | {d['p1000']:.3f} | "
        f"{d['waves']:.2f} | {d['p_wave']:.2f} | {d['death_old_only']} / {d['death_new_only']} | "
        f"{d['cut_at_cap']} |"
    )


HEADER = (
    "| env | policy | sticky | episodes | return ± se | length ± se | return in first 1000 steps"
    " | P(len ≥ 1000) | waves cleared | P(≥1 wave) | bullet deaths: pre-move col only / "
    "post-move col only | cut at cap |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "all"
    n = int(sys.argv[sys.argv.index("--episodes") + 1]) if "--episodes" in sys.argv else 200
    ns = 400
    if "--stats-episodes" in sys.argv:
        ns = int(sys.argv[sys.argv.index("--stats-episodes") + 1])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    t0 = time.time()
    if mode in ("exact", "all"):
        for variant, wide in (("gymnax", False), ("+reset fix", False), ("+both fixes", False),
                              ("+bullet fix", True)):  # fmt: skip
            for pol in ("random", "scripted", "aim eps0.1"):
                print("EXACT", exact(variant, pol, n, seed, wide), flush=True)
        print(f"elapsed {time.time() - t0:.0f}s", flush=True)
    if mode in ("stats", "all"):
        print(HEADER)
        every = ("minatar", "gymnax", "+reset fix", "+bullet fix", "+both fixes")
        for pol in ("random", "scripted", "scripted-early"):
            for sticky in (0.1, 0.0):
                for which in every:
                    print(fmt(run_stats(which, pol, sticky, ns, seed + 1)), flush=True)
        for which in every[:4]:  # an epsilon-greedy-like version, at sticky 0.1 only
            print(fmt(run_stats(which, "scripted-early eps0.1", 0.1, ns, seed + 1)), flush=True)
        # the stronger policy: sticky 0.1 only, half the episodes, capped at 2,000 steps
        for pol, envs in (("aim eps0.1", every[:4]), ("aim eps0.2", every[:4]),
                          ("aim eps0.1 late", every[:2])):  # fmt: skip
            for which in envs:
                print(fmt(run_stats(which, pol, 0.1, ns // 2, seed + 1, cap=2000)), flush=True)
    print(f"elapsed {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
