"""Checks of configuration values, each raising a ValueError that names the field, the value and
what is allowed (`field=value is invalid: ...`)."""

from __future__ import annotations

import math


def atari_hint(env_id: str) -> str:
    """ " Did you mean Assault-v5?" for an id close to an Atari game's, else ""."""
    import difflib

    from jaxdqn.atari_data import ATARI_GAMES

    name = env_id.removeprefix("ALE/").split("-v")[0]
    close = difflib.get_close_matches(name, ATARI_GAMES, n=3, cutoff=0.75)
    return f". Did you mean {' or '.join(f'{g}-v5' for g in close)}?" if close else ""


def fail(field: str, value, allowed: str) -> None:
    """Raises the ValueError of every check: `field=value is invalid: allowed`."""
    raise ValueError(f"{field}={value!r} is invalid: {allowed}")


def check_int(field: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(field, value, f"must be an integer >= {minimum}")


def check_range(field: str, value, lo: float, hi: float, *, lo_open=False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        fail(field, value, f"must be a finite number in {'(' if lo_open else '['}{lo}, {hi}]")


def check_fields(obj, ints=None, ranges=None, optional: tuple[str, ...] = ()) -> None:
    """Checks `obj`'s integer fields, `ints` {field: minimum}, then its number fields, `ranges`
    {field: (lo, hi) or (lo, hi, "open")}; a field named in `optional` may also be None."""
    for field, minimum in (ints or {}).items():
        if not (field in optional and getattr(obj, field) is None):
            check_int(field, getattr(obj, field), minimum)
    for field, (lo, hi, *is_open) in (ranges or {}).items():
        if not (field in optional and getattr(obj, field) is None):
            check_range(field, getattr(obj, field), lo, hi, lo_open=bool(is_open))


def check_sizes(config) -> None:
    """Checks the sections of a Config against each other (replay against envs, budget
    against warm-up, train_freq against envs_per_seed)."""
    e, r, t = config.env, config.replay, config.train
    taus = config.agent.temperature_start
    if len(taus) not in (1, e.num_seeds):
        fail("temperature_start", ",".join(f"{t:g}" for t in taus), f"give one value, or "
             f"one per seed (num_seeds={e.num_seeds}): --num-seeds {len(taus)} runs these "
             f"{len(taus)} schedules side by side")  # fmt: skip
    if config.total_steps <= config.learning_starts_rounded:
        fail("total_frames", t.total_frames, "must exceed learning_starts × frame_skip "
             f"({t.learning_starts * e.frame_skip})")  # fmt: skip
    if config.agent.pqn:
        check_pqn(config)
        return
    per_env = r.replay_capacity // e.envs_per_seed
    if r.replay_capacity < e.envs_per_seed:
        fail("replay_capacity", r.replay_capacity, f"must be >= envs_per_seed "
             f"({e.envs_per_seed})")  # fmt: skip
    if r.n_step > per_env:
        fail("n_step", r.n_step, f"must be <= replay_capacity // envs_per_seed ({per_env} "
             "transitions per env)")  # fmt: skip
    # learning_starts may exceed the capacity: the buffer fills and overwrites before learning.
    if t.learning_starts < r.batch_size:
        fail("learning_starts", t.learning_starts, f"must be >= batch_size ({r.batch_size}) "
             "so the first update has a full batch")  # fmt: skip
    n, f = e.envs_per_seed, t.train_freq
    if n % f and f % n:
        fail("train_freq", f, f"must divide envs_per_seed ({n}) or be a multiple of it, so "
             "that every iteration does whole env steps and whole updates")  # fmt: skip


def check_pqn(config) -> None:
    """What PQN reads besides the DQN settings: a rollout that its minibatches divide, and
    only the parts it has (a Q-value head, one-step transitions, no replay priorities)."""
    a, r = config.agent, config.replay
    transitions = config.train.rollout_steps * config.env.envs_per_seed
    if transitions % a.num_minibatches:
        fail("num_minibatches", a.num_minibatches, f"must divide rollout_steps × envs_per_seed "
             f"({config.train.rollout_steps} × {config.env.envs_per_seed} = {transitions} "
             "transitions per rollout)")  # fmt: skip
    if a.head != "q":
        fail("head", a.head, "must be q with --learner pqn (its targets are Q-values)")
    if r.n_step != 1 or r.prioritized:
        field, value = ("n_step", r.n_step) if r.n_step != 1 else ("prioritized", True)
        fail(field, value, "is not read by --learner pqn (its targets are λ-returns over each "
             "rollout, and it has no replay): leave the default")  # fmt: skip
