"""Uniform experience replay over the k most recent transitions, as pure functions on arrays.

The buffer is a time series per env column: row `i` holds what the environment returned at one
step — the observation `obs_t`, and the `a_tm1`, `r_t`, `discount_t` that led to it — plus
`first_t`, set when `obs_t` starts a new episode. A transition is a pair of consecutive rows
(i-1, i) with `first_t[i]` false:

    row:      i-1        i
    obs:      s_tm1      s_t
    a/r/d:    ...        a_tm1, r_t, discount_t
    first:    ...        False      ← True would mean s_t follows a reset: not an experience

With `capacity_per_env + 1` rows a column holds exactly `capacity_per_env` transitions once full;
each `add` overwrites the oldest row (circular write).

Frame-deduplicated storage (Atari; chosen automatically for uint8 `[K, H, W]` observations)
keeps only the newest frame of each stack, `obs_t[-1]`, plus `depth_t` in 0..K-1: how many
earlier rows the stack reaches back before it was refilled. envpool's stacks only ever shift by
one frame per step (also after a life loss) or are refilled with one repeated frame (at a game
start), so every stack is rebuilt exactly:

    stack(i)[K-1-k] = frame(i - min(k, depth(i)))      depth(i) = 0 if all K frames of obs_i are
                                                       equal, else min(depth(i-1) + 1, K-1)

A stack whose frames are all equal is exact under either reading, so no reset flag is needed.
K-1 extra rows keep the frames that the oldest held transition's stacks reach back to, and a
transition is only drawn if every frame its s_tm1 needs is still held. At 84×84 this is 7,070
bytes per transition (1M transitions: 7.07 GB) instead of 28,237.

Sampling is O(batch), not O(capacity): draw (column, age) uniformly among the held transitions
and redraw the ones that start an episode — up to `max_draws` rounds, all drawn at once. Rejection
keeps the draw exactly uniform over valid transitions. If all `max_draws` candidates of one batch
element are episode starts (probability p**max_draws for a fraction p of episode-start rows:
p ≈ 0.05 on early CartPole → ≈1e-42 at 32 rounds), the column's newest valid transition is used,
which each `add` tracks. A transition across an episode start is therefore never sampled while
the drawn column holds any valid transition (`can_sample` counts row pairs, not valid pairs; a
column made only of episode starts, i.e. one-step episodes, holds none).

n-step returns (`n_step > 1`, Sutton & Barto 2018 §7.1; Hessel et al. 2018) are computed at
sample time from the same rows: from a drawn transition (i-1, i) the return follows the column
forward while the next row continues the episode,

    r_t = r(i) + d(i)·r(i+1) + … + d(i)…d(i+m-2)·r(i+m-1),   discount_t = d(i)…d(i+m-1),
    s_t = obs(i+m-1),                                         m = steps used, 1 ≤ m ≤ n,

where d is the stored discount (γ, or 0 after a terminal or a life loss). It stops early (m < n)
where the next row starts an episode (`first`: after a game end, a truncation or a life loss),
so nothing crosses an episode boundary: a terminal makes `discount_t` 0, a truncation
bootstraps from the last state with γ^m. The n-1 newest rows of each column are not drawn,
so every drawn return that is cut short is cut by its episode, never by the end of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

Array = chex.Array


class Transition(NamedTuple):
    """A batch of transitions, each field with a leading batch axis."""

    s_tm1: Array
    a_tm1: Array
    r_t: Array
    discount_t: Array
    s_t: Array


@flax.struct.dataclass
class ReplayState:
    """Preallocated storage; leading axes `[rows, num_envs]` with rows = capacity_per_env + 1."""

    obs: Array  # [rows, num_envs, *obs_shape]
    action: Array  # [rows, num_envs] int32, a_tm1 that led to obs
    reward: Array  # [rows, num_envs] float32
    discount: Array  # [rows, num_envs] float32
    first: Array  # [rows, num_envs] bool
    newest_valid: Array  # [num_envs] int32: newest row with first False (-1: none yet)
    cursor: Array  # int32 scalar: the next row to write
    count: Array  # int32 scalar: rows written so far, saturating at rows
    depth: Array | None = None  # [rows, num_envs] uint8, frame-deduplicated storage only


class Replay(NamedTuple):
    """A replay buffer as a bundle of pure functions over a `ReplayState`."""

    init: Callable[[], ReplayState]
    add: Callable[..., ReplayState]
    sample: Callable[[ReplayState, chex.PRNGKey, int], Transition]
    can_sample: Callable[[ReplayState, int], Array]
    capacity_per_env: int
    num_envs: int
    dedup_frames: bool


def is_frame_stack(obs_shape, obs_dtype) -> bool:
    """Stacked uint8 image observations `[K, H, W]` (K > 1), stored frame-deduplicated."""
    return len(obs_shape) == 3 and obs_shape[0] > 1 and np.dtype(obs_dtype) == np.uint8


def replay_nbytes(
    capacity: int, num_envs: int, obs_shape, obs_dtype, dedup_frames: bool | None = None
) -> int:
    """Bytes `make_replay(...).init()` allocates (one seed)."""
    if dedup_frames is None:
        dedup_frames = is_frame_stack(obs_shape, obs_dtype)
    stored_shape = obs_shape[1:] if dedup_frames else obs_shape
    rows = capacity // num_envs + 1 + (obs_shape[0] - 1 if dedup_frames else 0)
    per_row = int(np.prod(stored_shape, dtype=np.int64)) * np.dtype(obs_dtype).itemsize
    per_row += 4 + 4 + 4 + 1 + (1 if dedup_frames else 0)  # action, reward, discount, first, depth
    return rows * num_envs * per_row + 4 * num_envs + 8


def make_replay(
    capacity: int,
    num_envs: int,
    obs_shape: tuple[int, ...],
    obs_dtype=jnp.uint8,
    max_draws: int = 32,
    dedup_frames: bool | None = None,
    n_step: int = 1,
) -> Replay:
    """Builds a uniform replay buffer.

    Args:
      capacity: transitions held over all env columns; each column keeps capacity // num_envs.
      num_envs: env columns written by each `add`.
      obs_shape: shape of one observation, e.g. `(4, 84, 84)` or `(4,)`.
      obs_dtype: storage dtype of observations (uint8 for Atari frames).
      max_draws: rejection-sampling rounds per batch element (see module docstring).
      dedup_frames: store each frame of a `[K, H, W]` stack once (None: automatically for
        uint8 stacks, see module docstring).
      n_step: length of the sampled returns (1: one-step Q-learning; see module docstring).

    Returns:
      `Replay(init, add, sample, can_sample, capacity_per_env, num_envs, dedup_frames)`.
    """
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"make_replay: num_envs={num_envs!r} must be an integer >= 1")
    if not isinstance(capacity, (int, np.integer)) or capacity < num_envs:
        raise ValueError(
            f"make_replay: capacity={capacity!r} must be an integer >= num_envs ({num_envs}) "
            "so that every env column holds at least one transition"
        )
    if max_draws < 1:
        raise ValueError(f"make_replay: max_draws={max_draws!r} must be >= 1")
    if not isinstance(n_step, (int, np.integer)) or n_step < 1:
        raise ValueError(f"make_replay: n_step={n_step!r} must be an integer >= 1")
    if n_step > capacity // num_envs:
        raise ValueError(
            f"make_replay: n_step={n_step} exceeds the transitions per env column "
            f"({capacity // num_envs}); raise capacity or lower n_step"
        )
    obs_shape = tuple(int(d) for d in obs_shape)
    if dedup_frames is None:
        dedup_frames = is_frame_stack(obs_shape, obs_dtype)
    if dedup_frames and len(obs_shape) != 3:
        raise ValueError(f"make_replay: dedup_frames needs [K, H, W] observations, got {obs_shape}")
    capacity_per_env = int(capacity) // int(num_envs)
    stack = obs_shape[0] if dedup_frames else 1
    window = capacity_per_env + 1  # rows whose transitions may be drawn
    rows = window + stack - 1  # plus the older frames those stacks reach back to
    stored_shape = obs_shape[1:] if dedup_frames else obs_shape

    def init() -> ReplayState:
        return ReplayState(
            obs=jnp.zeros((rows, num_envs) + stored_shape, obs_dtype),
            action=jnp.zeros((rows, num_envs), jnp.int32),
            reward=jnp.zeros((rows, num_envs), jnp.float32),
            discount=jnp.zeros((rows, num_envs), jnp.float32),
            first=jnp.ones((rows, num_envs), jnp.bool_),
            newest_valid=jnp.full((num_envs,), -1, jnp.int32),
            cursor=jnp.zeros((), jnp.int32),
            count=jnp.zeros((), jnp.int32),
            depth=jnp.zeros((rows, num_envs), jnp.uint8) if dedup_frames else None,
        )

    def add(
        state: ReplayState,
        obs_t: Array,
        a_tm1: Array,
        r_t: Array,
        discount_t: Array,
        first_t: Array,
    ) -> ReplayState:
        """Writes one time step for every env column, overwriting the oldest row when full."""
        chex.assert_shape(obs_t, (num_envs,) + obs_shape)
        chex.assert_shape([a_tm1, r_t, discount_t, first_t], (num_envs,))
        i = state.cursor
        obs_t = obs_t.astype(obs_dtype)
        depth = state.depth
        if dedup_frames:
            newest = obs_t[:, -1]  # [num_envs, H, W]
            refilled = jnp.all(obs_t == newest[:, None], axis=(1, 2, 3))
            previous = depth[(i - 1) % rows].astype(jnp.int32)
            depth_t = jnp.where(refilled, 0, jnp.minimum(previous + 1, stack - 1))
            depth = depth.at[i].set(depth_t.astype(jnp.uint8))
            obs_t = newest
        return state.replace(
            depth=depth,
            obs=state.obs.at[i].set(obs_t),
            action=state.action.at[i].set(a_tm1.astype(jnp.int32)),
            reward=state.reward.at[i].set(r_t.astype(jnp.float32)),
            discount=state.discount.at[i].set(discount_t.astype(jnp.float32)),
            first=state.first.at[i].set(first_t.astype(jnp.bool_)),
            newest_valid=jnp.where(first_t, state.newest_valid, i),
            cursor=(i + 1) % rows,
            count=jnp.minimum(state.count + 1, rows),
        )

    def num_candidates(state: ReplayState) -> Array:
        # Per column: every row of the window whose predecessor is also held, less the n-1
        # newest (their n-step returns are not complete yet).
        return jnp.maximum(jnp.minimum(state.count, window) - 1 - (n_step - 1), 0)

    def n_step_return(state: ReplayState, row_t: Array, column: Array):
        """(return, discount, row of the bootstrap state) of the transitions ending at
        `row_t`, following each column forward up to n-1 more rows within the episode."""
        r_t = state.reward[row_t, column]
        discount_t = state.discount[row_t, column]
        last = row_t
        going = jnp.ones_like(row_t, dtype=jnp.bool_)
        for k in range(1, n_step):
            row = (row_t + k) % rows
            going &= ~state.first[row, column] & (discount_t > 0)
            r_t = r_t + jnp.where(going, discount_t * state.reward[row, column], 0.0)
            discount_t = jnp.where(going, discount_t * state.discount[row, column], discount_t)
            last = jnp.where(going, row, last)
        return r_t, discount_t, last

    def stacked(state: ReplayState, row: Array, column: Array) -> Array:
        """Observations at (row, column) pairs `[B]` → `[B, *obs_shape]`."""
        if not dedup_frames:
            return state.obs[row, column]
        back = jnp.arange(stack - 1, -1, -1)  # [K]: oldest frame first
        depth = state.depth[row, column].astype(jnp.int32)
        source = (row[:, None] - jnp.minimum(back[None, :], depth[:, None])) % rows
        return state.obs[source, column[:, None]]  # [B, K, H, W]

    def can_sample(state: ReplayState, batch_size: int) -> Array:
        """True once the buffer holds at least `batch_size` candidate transitions."""
        return num_candidates(state) * num_envs >= batch_size

    def sample(state: ReplayState, key: chex.PRNGKey, batch_size: int) -> Transition:
        """Draws `batch_size` transitions uniformly (with replacement) among the valid ones."""
        if batch_size > capacity_per_env * num_envs:
            raise ValueError(
                f"sample: batch_size={batch_size} exceeds the buffer's capacity "
                f"({capacity_per_env * num_envs} transitions)"
            )
        column_key, age_key = jax.random.split(key)
        shape = (max_draws, batch_size)
        columns = jax.random.randint(column_key, shape, 0, num_envs)
        ages = jax.random.randint(age_key, shape, 0, jnp.maximum(num_candidates(state), 1))
        ages = ages + (n_step - 1)  # the n-1 newest rows are never drawn
        rows_t = (state.cursor - 1 - ages) % rows  # [max_draws, batch]
        valid = ~state.first[rows_t, columns]
        if dedup_frames:  # every frame of s_tm1 must still be held
            reach = 1 + ages + state.depth[(rows_t - 1) % rows, columns].astype(jnp.int32)
            valid &= reach < jnp.minimum(state.count, rows)
        pick = jnp.argmax(valid, axis=0)  # first valid round (0 when none is)
        batch_index = jnp.arange(batch_size)
        row_t, column = rows_t[pick, batch_index], columns[pick, batch_index]
        # Last resort (probability p**max_draws): the column's newest valid transition.
        none_valid = ~jnp.any(valid, axis=0)
        row_t = jnp.where(none_valid, state.newest_valid[column] % rows, row_t)
        row_tm1 = (row_t - 1) % rows
        if n_step == 1:
            r_t, discount_t = state.reward[row_t, column], state.discount[row_t, column]
            row_s_t = row_t
        else:
            r_t, discount_t, row_s_t = n_step_return(state, row_t, column)
        return Transition(
            s_tm1=stacked(state, row_tm1, column),
            a_tm1=state.action[row_t, column],
            r_t=r_t,
            discount_t=discount_t,
            s_t=stacked(state, row_s_t, column),
        )

    return Replay(init, add, sample, can_sample, capacity_per_env, int(num_envs), dedup_frames)
