"""Compare gymnax 0.0.9 Asterix-MinAtar with the original MinAtar (1.0.15) Asterix.

Run:  taskset -c 0 env JAX_PLATFORMS=cpu python compare.py [exact|stats|all] [--episodes N]

Part A ("exact"): step-for-step lock-step comparison. Both envs get the same action sequence; the
original env's random draws are replaced by the draws gymnax made (lr, is_gold, slot) in the same
step, read by calling gymnax's own `spawn_entity(key, state)` with the key that `step_env` gets.
Sticky actions are off on both sides (the original's bare `Env`, not the `Environment` wrapper;
gymnax's `step_env`, no auto-reset, time limit out of reach). Observations, rewards and terminals
are compared every step. When gymnax's spawn picks a slot that is *occupied* (its slot sampler
bug, see README.md), the original cannot reproduce it; the event is counted and mimicked on
the original's side (that row's entity deleted, nothing spawned) so the rest of the rules can
still be compared.

Part B ("stats"): statistics over independent episodes, each env with its own RNG: mean return,
mean length, reward per step, fraction reaching 1,000 steps, difficulty-ramp reached, mean number
of entities on screen, and (gymnax only) how many spawns overwrote an occupied slot. Policies:
uniform random over the 6 actions, and a scripted 1-step-lookahead policy (avoid cells an enemy
is on or is about to enter; else step toward the nearest gold). Sticky actions 0 and 0.1, drawn
by the same numpy generator on both sides, the previous action reset to no-op at each episode
start. No time limit (episodes capped at 5,000 steps for safety; none was cut at the cap unless
reported).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from gymnax.environments.minatar import asterix as gx  # noqa: E402
from minatar.environments import asterix as mn  # noqa: E402

ENV = gx.MinAsterix(use_minimal_action_set=False)  # full 6 actions, as MinAtar's DQN used
PARAMS = gx.EnvParams(max_steps_in_episode=2**31 - 1)  # no time limit (MinAtar has none)
CAP = 5000


@jax.jit
def gx_step(key, state, action):
    """step_env, plus the spawn draws gymnax made with this key (before the step)."""
    entity, slot = gx.spawn_entity(key, state)
    spawn_now = state.spawn_timer == 0
    slot_was_filled = state.entities[slot, 4] != 0
    obs, nstate, r, done, _ = ENV.step_env(key, state, action, PARAMS)
    n_ent = jnp.sum(nstate.entities[:, 4] != 0)
    return obs, nstate, r, done, entity, slot, spawn_now, slot_was_filled, n_ent


def gx_reset():
    return ENV.reset_env(jax.random.PRNGKey(0), PARAMS)  # reset is deterministic


class ScriptedRandom:
    """Stands in for the original Env's np.random.RandomState: replays gymnax's draws."""

    def __init__(self):
        self.lr = self.gold = self.slot = None
        self.used = False

    def rand(self):
        # _spawn_entity calls rand() twice: lr = rand() < 1/2, then is_gold = rand() < 1/3
        if not self._second:
            self._second = True
            return 0.25 if self.lr else 0.75
        return 0.1 if self.gold else 0.9

    def randint(self, n):
        self.used = True
        return self.slot_index

    def arm(self, lr, gold, slot, env):
        self._second = False
        self.lr, self.gold = bool(lr), bool(gold)
        options = [i for i in range(len(env.entities)) if env.entities[i] is None]
        self.slot_index = options.index(slot) if slot in options else None


def exact(n_episodes=300, seed=0, policy="random"):
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    stats = dict(
        episodes=0,
        steps=0,
        mismatches=0,
        bug_events=0,
        bug_row_was_full_screen=0,
        matched_episodes=0,
        ret_gx=0.0,
        ret_mn=0.0,
    )
    first_mismatch = None
    for ep in range(n_episodes):
        obs_g, st = gx_reset()
        env = mn.Env(ramping=True)
        sr = ScriptedRandom()
        env.random = sr
        env.reset()
        assert np.array_equal(np.asarray(obs_g).astype(bool), env.state())
        ok = True
        for t in range(CAP):  # noqa: B007 (t is read after the loop)
            obs_np = env.state()
            a = int(rng.integers(6)) if policy == "random" else scripted_action(obs_np, rng)
            key, sk = jax.random.split(key)
            obs_g, st_next, r_g, d_g, ent, slot, spawn_now, slot_filled, _ = gx_step(sk, st, a)
            env.__dict__.pop("_spawn_entity", None)
            if bool(spawn_now):
                if bool(slot_filled):
                    # gymnax wrote an entity with its 'filled' flag = 0 over an occupied row, i.e.
                    # deleted that row's entity and spawned nothing. The original cannot do this;
                    # to keep comparing the rest of the rules, mimic it on the original's side.
                    stats["bug_events"] += 1
                    stats["bug_row_was_full_screen"] += all(e is not None for e in env.entities)
                    s_ = int(slot)
                    env._spawn_entity = lambda s_=s_, env=env: env.entities.__setitem__(s_, None)
                else:
                    sr.arm(int(ent[2]), int(ent[3]), int(slot), env)
            r_m, d_m = env.act(a)
            stats["steps"] += 1
            stats["ret_gx"] += float(r_g)
            stats["ret_mn"] += float(r_m)
            same = (
                np.array_equal(np.asarray(obs_g).astype(bool), env.state())
                and float(r_g) == float(r_m)
                and bool(d_g) == bool(d_m)
            )
            if not same:
                stats["mismatches"] += 1
                if first_mismatch is None:
                    first_mismatch = (ep, t, a, float(r_g), r_m, bool(d_g), d_m)
                ok = False
                break
            st = st_next
            if d_m:
                break
        stats["episodes"] += 1
        stats["matched_episodes"] += ok
    stats["first_mismatch"] = first_mismatch
    return stats


# ---------------------------------------------------------------- scripted policy (on the obs)
MOVES = {0: (0, 0), 1: (-1, 0), 2: (0, -1), 3: (1, 0), 4: (0, 1)}  # n l u r d  (dx, dy)


def scripted_action(obs, rng):
    """1-step lookahead on the [10,10,4] observation; works on either env's observation."""
    obs = np.asarray(obs).astype(bool)
    py, px = np.argwhere(obs[:, :, 0])[0]
    enemy, trail, gold = obs[:, :, 1], obs[:, :, 2], obs[:, :, 3]
    danger = enemy.copy()
    for y, x in np.argwhere(enemy):
        # direction from the trail: trail left of it -> moving right
        if x - 1 >= 0 and trail[y, x - 1]:
            nx = x + 1
        elif x + 1 <= 9 and trail[y, x + 1]:
            nx = x - 1
        else:  # just spawned at an edge: direction follows from the edge
            nx = x + 1 if x == 0 else x - 1
        if 0 <= nx <= 9:
            danger[y, nx] = True
    golds = np.argwhere(gold)
    best, best_score = [], None
    for a, (dx, dy) in MOVES.items():
        nx, ny = min(9, max(0, px + dx)), min(8, max(1, py + dy))
        if danger[ny, nx]:
            continue
        score = -min((abs(gy - ny) + abs(gx_ - nx) for gy, gx_ in golds), default=0)
        if best_score is None or score > best_score:
            best, best_score = [a], score
        elif score == best_score:
            best.append(a)
    if not best:
        return int(rng.integers(5))
    return int(rng.choice(best))


# ---------------------------------------------------------------- statistics
def run_stats(which, policy, sticky, n_episodes, seed):
    rng = np.random.default_rng(seed)  # policy + sticky draws (same scheme on both sides)
    rets, lens, ramps, ents, bug, spawns, trunc = [], [], [], [], 0, 0, 0
    key = jax.random.PRNGKey(seed)
    menv = mn.Env(ramping=True)
    menv.random = np.random.RandomState(seed)
    for _ in range(n_episodes):
        last = 0
        ret = 0.0
        ent_sum = 0
        if which == "gymnax":
            obs, st = gx_reset()
            obs = np.asarray(obs)
        else:
            menv.reset()
            obs = menv.state()
        for t in range(CAP):  # noqa: B007 (t is read after the loop)
            a = int(rng.integers(6)) if policy == "random" else scripted_action(obs, rng)
            if rng.random() < sticky:
                a = last
            last = a
            if which == "gymnax":
                key, sk = jax.random.split(key)
                obs, st, r, d, _, _, spawn_now, slot_filled, n_ent = gx_step(sk, st, a)
                obs = np.asarray(obs)
                spawns += bool(spawn_now)
                bug += bool(spawn_now) and bool(slot_filled)
                ent_sum += int(n_ent)
                r, d = float(r), bool(d)
                ramp = int(st.ramp_index)
            else:
                r, d = menv.act(a)
                obs = menv.state()
                ent_sum += sum(e is not None for e in menv.entities)
                ramp = menv.ramp_index
            ret += r
            if d:
                break
        else:
            trunc += 1
        rets.append(ret)
        lens.append(t + 1)
        ramps.append(ramp)
        ents.append(ent_sum / (t + 1))
    rets, lens = np.array(rets), np.array(lens)
    return dict(
        env=which,
        policy=policy,
        sticky=sticky,
        episodes=n_episodes,
        mean_return=rets.mean(),
        se_return=rets.std(ddof=1) / np.sqrt(len(rets)),
        mean_length=lens.mean(),
        se_length=lens.std(ddof=1) / np.sqrt(len(lens)),
        reward_per_step=rets.sum() / lens.sum(),
        frac_len_ge_1000=float(np.mean(lens >= 1000)),
        mean_return_capped_1000=None,
        mean_final_ramp=float(np.mean(ramps)),
        mean_entities_on_screen=float(np.mean(ents)),
        spawns=spawns,
        spawns_into_occupied_slot=bug,
        cut_at_cap=trunc,
    )


def fmt(d):
    return (
        f"| {d['env']:7s} | {d['policy']:8s} | {d['sticky']:.1f} | {d['episodes']} | "
        f"{d['mean_return']:.2f} ± {d['se_return']:.2f} | "
        f"{d['mean_length']:.1f} ± {d['se_length']:.1f} | {d['reward_per_step']:.4f} | "
        f"{d['frac_len_ge_1000']:.2f} | {d['mean_final_ramp']:.2f} | "
        f"{d['mean_entities_on_screen']:.2f} | "
        + (f"{d['spawns_into_occupied_slot']}/{d['spawns']}" if d["env"] == "gymnax" else "–")
        + " |"
    )


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    n = int(sys.argv[sys.argv.index("--episodes") + 1]) if "--episodes" in sys.argv else 200
    t0 = time.time()
    if mode in ("exact", "all"):
        for pol in ("random", "scripted"):
            s = exact(n_episodes=n, seed=1, policy=pol)
            print(f"EXACT policy={pol}:", s, flush=True)
    if mode in ("stats", "all"):
        print(
            "| env | policy | sticky | episodes | return ± se | length ± se | reward/step |"
            " P(len≥1000) | final ramp_index | entities on screen | gymnax spawns into"
            " occupied slot |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for pol in ("random", "scripted"):
            for sticky in (0.0, 0.1):
                for which in ("minatar", "gymnax"):
                    d = run_stats(which, pol, sticky, n, seed=123)
                    print(fmt(d), flush=True)
    print(f"elapsed {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
