"""Replay storage: a time series of rows per env column, written in a circle.

Row `i` of a column holds what the environment returned at one step — the observation `obs_t`,
and the `a_tm1`, `r_t`, `discount_t` that led to it — plus `first_t`, set when `obs_t` starts a
new episode. A transition is a pair of consecutive rows (i-1, i) with `first_t[i]` false:

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
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import flax.struct
import jax.numpy as jnp

from jaxdqn.replay.layout import Layout
from jaxdqn.replay.sum_tree import init_tree

Array = chex.Array


class Transition(NamedTuple):
    """A batch of transitions, each field with a leading batch axis.

    `indices` and `probabilities` are filled by every replay's `sample` (None when a batch is
    built by hand): the drawn row's flat index `row * num_envs + column`, the index
    `set_priorities` takes (int32), and the probability with which that transition was drawn
    (float32; see `make_replay`)."""

    s_tm1: Array
    a_tm1: Array
    r_t: Array
    discount_t: Array
    s_t: Array
    indices: Array | None = None
    probabilities: Array | None = None


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
    # Prioritised replay only: [2 * leaves] float32 sum tree of p^α (node 1 the root, leaves at
    # leaves + row * num_envs + column, leaves = rows * num_envs padded to a power of two).
    priority_tree: Array | None = None
    max_priority: Array | None = None  # float32 scalar: the largest p^α stored so far (from 1)


def init(layout: Layout) -> ReplayState:
    """An empty buffer: every row marked `first`, so nothing is drawable yet."""
    rows, num_envs = layout.rows, layout.num_envs
    return ReplayState(
        obs=jnp.zeros((rows, num_envs) + layout.stored_shape, layout.obs_dtype),
        action=jnp.zeros((rows, num_envs), jnp.int32),
        reward=jnp.zeros((rows, num_envs), jnp.float32),
        discount=jnp.zeros((rows, num_envs), jnp.float32),
        first=jnp.ones((rows, num_envs), jnp.bool_),
        newest_valid=jnp.full((num_envs,), -1, jnp.int32),
        cursor=jnp.zeros((), jnp.int32),
        count=jnp.zeros((), jnp.int32),
        depth=jnp.zeros((rows, num_envs), jnp.uint8) if layout.dedup_frames else None,
        priority_tree=init_tree(layout.num_leaves) if layout.prioritized else None,
        max_priority=jnp.ones((), jnp.float32) if layout.prioritized else None,
    )


def frame_depth(layout: Layout, depth: Array, row: Array, obs_t: Array) -> tuple[Array, Array]:
    """(newest frames `[num_envs, H, W]`, their depths `[num_envs]` uint8) of stacks `obs_t`
    written at `row`, given the depths held (module docstring)."""
    newest = obs_t[:, -1]  # [num_envs, H, W]
    refilled = jnp.all(obs_t == newest[:, None], axis=(1, 2, 3))
    previous = depth[(row - 1) % layout.rows].astype(jnp.int32)
    depth_t = jnp.where(refilled, 0, jnp.minimum(previous + 1, layout.stack - 1))
    return newest, depth_t.astype(jnp.uint8)


def add(
    layout: Layout,
    state: ReplayState,
    obs_t: Array,
    a_tm1: Array,
    r_t: Array,
    discount_t: Array,
    first_t: Array,
) -> ReplayState:
    """Writes one time step for every env column, overwriting the oldest row when full."""
    chex.assert_shape(obs_t, (layout.num_envs,) + layout.obs_shape)
    chex.assert_shape([a_tm1, r_t, discount_t, first_t], (layout.num_envs,))
    i = state.cursor
    obs_t = obs_t.astype(layout.obs_dtype)
    depth = state.depth
    if layout.dedup_frames:
        obs_t, depth_t = frame_depth(layout, depth, i, obs_t)
        depth = depth.at[i].set(depth_t)
    return state.replace(
        depth=depth,
        obs=state.obs.at[i].set(obs_t),
        action=state.action.at[i].set(a_tm1.astype(jnp.int32)),
        reward=state.reward.at[i].set(r_t.astype(jnp.float32)),
        discount=state.discount.at[i].set(discount_t.astype(jnp.float32)),
        first=state.first.at[i].set(first_t.astype(jnp.bool_)),
        newest_valid=jnp.where(first_t, state.newest_valid, i),
        cursor=(i + 1) % layout.rows,
        count=jnp.minimum(state.count + 1, layout.rows),
    )


def stacked(layout: Layout, state: ReplayState, row: Array, column: Array) -> Array:
    """Observations at (row, column) pairs `[B]` → `[B, *obs_shape]`, stacks rebuilt from their
    frames when deduplicated."""
    if not layout.dedup_frames:
        return state.obs[row, column]
    back = jnp.arange(layout.stack - 1, -1, -1)  # [K]: oldest frame first
    depth = state.depth[row, column].astype(jnp.int32)
    source = (row[:, None] - jnp.minimum(back[None, :], depth[:, None])) % layout.rows
    return state.obs[source, column[:, None]]  # [B, K, H, W]


def held(layout: Layout, state: ReplayState, ages: Array, rows_t: Array, columns: Array) -> Array:
    """Whether the row pairs ending at `rows_t` (`ages` rows before the newest) are
    transitions whose s_tm1 frames are all held; the window is the caller's concern."""
    valid = ~state.first[rows_t, columns]
    if layout.dedup_frames:  # every frame of s_tm1 must still be held
        reach = 1 + ages + state.depth[(rows_t - 1) % layout.rows, columns].astype(jnp.int32)
        valid &= reach < jnp.minimum(state.count, layout.rows)
    return valid


def num_candidates(layout: Layout, state: ReplayState) -> Array:
    """Candidate transitions per column: every row of the window whose predecessor is also
    held, less the n-1 newest (their n-step returns are not complete yet)."""
    return jnp.maximum(jnp.minimum(state.count, layout.window) - 1 - (layout.n_step - 1), 0)


def can_sample(layout: Layout, state: ReplayState, batch_size: int) -> Array:
    """True once the buffer holds at least `batch_size` candidate transitions."""
    return num_candidates(layout, state) * layout.num_envs >= batch_size
