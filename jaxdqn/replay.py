"""Experience replay over the k most recent transitions, uniform or prioritised, as pure
functions on arrays.

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

Proportional prioritised replay (`prioritized=True`, Schaul et al. 2016) draws transition i with
probability P(i) = p_i^α / Σ_j p_j^α over the drawable transitions, p the priority the learner
reports (`set_priorities`; |δ| or the loss). A sum tree over one leaf per stored row and column
(flat index `row * num_envs + column`, padded to a power of two; node 1 the root, node k's
children 2k and 2k+1) holds p^α, so a draw (u ~ U[0, Σ), descend) and an update are O(log N).
Invariant: a leaf is non-zero exactly when its row is a transition the uniform sampler could
draw — first[row] false; inside the window of the newest `capacity_per_env + 1` rows with its
predecessor held; not among the n-1 newest rows; with dedup, every frame of its s_tm1 held.
Each `add` keeps it: the row that just became drawable (age n-1: the written one itself for
n = 1) gets `max_priority` (the largest p^α stored so far, from 1.0) if it is a transition, and
the row that left the window (age capacity_per_env: its predecessor overwritten or outside)
gets 0; the row written is 0 already for n > 1, zeroed when it left the window. A row's first
flag and its dedup condition never change while it is in the window, so no other leaf changes.
Priorities are floored at 1e-6 (a transition with zero TD error stays drawable); the rules for
duplicate indices and bad values are in `set_priorities`, the fallback while nothing is drawable
in `sample`. Batches carry `indices` (for `set_priorities`) and `probabilities` (for
`importance_weights`); a uniform buffer reports 1/N, N the row pairs it draws among.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

Array = chex.Array

PRIORITY_FLOOR = 1e-6
"""Priorities below this (zero TD error, or negative ones inside jit) count as this, so that every
drawable transition keeps a non-zero chance."""
LEAF_RANGE = (float(np.finfo(np.float32).tiny), 1e30)
"""p^α is clipped into this range: non-zero (also for large α: 1e-6^10 underflows float32) and
small enough that the sum of 3e8 leaves stays finite."""


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


def _keep_state(state: ReplayState, indices: Array, priorities: Array) -> ReplayState:
    """A uniform buffer's `set_priorities`: nothing to store."""
    del indices, priorities
    return state


class Replay(NamedTuple):
    """A replay buffer as a bundle of pure functions over a `ReplayState`."""

    init: Callable[[], ReplayState]
    add: Callable[..., ReplayState]
    sample: Callable[[ReplayState, chex.PRNGKey, int], Transition]
    can_sample: Callable[[ReplayState, int], Array]
    capacity_per_env: int
    num_envs: int
    dedup_frames: bool
    set_priorities: Callable[[ReplayState, Array, Array], ReplayState] = _keep_state
    prioritized: bool = False


def is_frame_stack(obs_shape, obs_dtype) -> bool:
    """Stacked uint8 image observations `[K, H, W]` (K > 1), stored frame-deduplicated."""
    return len(obs_shape) == 3 and obs_shape[0] > 1 and np.dtype(obs_dtype) == np.uint8


def tree_leaves(num_leaves: int) -> int:
    """The sum tree's leaf count: `num_leaves` padded to a power of two (at least 2)."""
    return max(2, 1 << (int(num_leaves) - 1).bit_length())


def replay_nbytes(
    capacity: int,
    num_envs: int,
    obs_shape,
    obs_dtype,
    dedup_frames: bool | None = None,
    prioritized: bool = False,
) -> int:
    """Bytes `make_replay(...).init()` allocates (one seed)."""
    if dedup_frames is None:
        dedup_frames = is_frame_stack(obs_shape, obs_dtype)
    stored_shape = obs_shape[1:] if dedup_frames else obs_shape
    rows = capacity // num_envs + 1 + (obs_shape[0] - 1 if dedup_frames else 0)
    per_row = int(np.prod(stored_shape, dtype=np.int64)) * np.dtype(obs_dtype).itemsize
    per_row += 4 + 4 + 4 + 1 + (1 if dedup_frames else 0)  # action, reward, discount, first, depth
    tree = 4 * 2 * tree_leaves(rows * num_envs) + 4 if prioritized else 0  # tree, max_priority
    return rows * num_envs * per_row + 4 * num_envs + 8 + tree


def importance_weights(probabilities: Array, exponent) -> Array:
    """Importance-sampling weights `(N·P)^-β / max_j (N·P_j)^-β` over the batch (last axis).

    They correct the bias of prioritised draws (Schaul et al. 2016, §3.4; β annealed 0.4 → 1 in
    Rainbow). N, the number of transitions, cancels in the ratio, so this is `(min_j P_j / P)^β`:
    it needs only the batch's draw probabilities, and lies in (0, 1], 1 for the least likely
    transition of the batch. β = 0, or equal probabilities (uniform draws), give all ones.

    Args:
      probabilities: `[..., B]` draw probabilities (`Transition.probabilities`), positive.
      exponent: β ≥ 0 (a Python number or a traced scalar).
    """
    p = jnp.maximum(jnp.asarray(probabilities, jnp.float32), LEAF_RANGE[0])
    return (jnp.min(p, axis=-1, keepdims=True) / p) ** jnp.asarray(exponent, jnp.float32)


def _priority_leaves(priorities: Array, exponent: float, max_priority: Array) -> Array:
    """p^α as stored: negative p clipped to the floor, non-finite p → `max_priority`."""
    p = jnp.asarray(priorities, jnp.float32)
    finite = jnp.isfinite(p)
    p = jnp.maximum(jnp.where(finite, p, 0.0), PRIORITY_FLOOR)
    leaves = jnp.clip(p**exponent, *LEAF_RANGE)
    return jnp.where(finite, leaves, max_priority)


def _refresh_parents(tree: Array, nodes: Array) -> Array:
    """Recomputes every ancestor of `nodes` (tree positions) from its children, level by level;
    duplicate nodes are harmless (they write the same sum)."""
    for _ in range(int(math.log2(tree.shape[-1] // 2))):
        nodes = nodes // 2
        tree = tree.at[nodes].set(tree[2 * nodes] + tree[2 * nodes + 1])
    return tree


def _set_leaves(tree: Array, leaves: Array, values: Array) -> Array:
    """Writes distinct `leaves` (flat indices) and their ancestors: O(len(leaves) · log N)."""
    nodes = leaves + tree.shape[-1] // 2
    return _refresh_parents(tree.at[nodes].set(values), nodes)


def _descend(tree: Array, u: Array, total: Array) -> tuple[Array, Array]:
    """(leaves, their value / total) `[B]`: the leaves (flat indices) where the cumulative sum
    passes `u`. Never enters a zero-sum subtree, so every draw ends on a non-zero leaf unless
    the whole tree is zero.

    Both come out of one reduction over the turns taken, not read off the last node, so that
    every read of the tree is done before anything uses a draw: otherwise XLA recomputes the
    cheap descent (or reads the leaf) inside fusions that run after `set_priorities` has
    started writing the tree in place, and copies the whole tree to keep the old values for
    them (when a jitted sample + update donates the state)."""
    node = jnp.ones(u.shape, jnp.int32)
    turns = []
    for _ in range(int(math.log2(tree.shape[-1] // 2))):
        left, right = tree[2 * node], tree[2 * node + 1]
        go_right = ((u >= left) & (right > 0)) | (left <= 0)
        u = jnp.where(go_right, u - left, u)
        node = 2 * node + go_right.astype(jnp.int32)
        turns.append(go_right.astype(jnp.int32))
    share = jnp.where(go_right, right, left) / total
    place = 2 ** jnp.arange(len(turns) - 1, -1, -1, dtype=jnp.int32)  # the root's turn first
    shares = jnp.zeros((len(turns) - 1,) + u.shape, jnp.float32)
    return jax.lax.reduce(
        (jnp.stack(turns) * place[:, None], jnp.concatenate([shares, share[None]])),
        (np.int32(0), np.float32(0)),
        lambda a, b: (a[0] + b[0], a[1] + b[1]),
        (0,),
    )


def _check_concrete_priorities(indices, priorities, num_leaves: int) -> None:
    """Outside jit/vmap (concrete arrays), refuses bad priorities and indices with a ValueError;
    traced values are handled as `set_priorities` documents."""
    if isinstance(priorities, jax.core.Tracer) or isinstance(indices, jax.core.Tracer):
        return
    values, where = np.asarray(priorities), np.asarray(indices)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValueError(
            f"set_priorities: priorities must be finite and >= 0, got {values[bad][:5].tolist()} "
            f"at batch position(s) {np.flatnonzero(bad)[:5].tolist()}"
        )
    outside = (where < 0) | (where >= num_leaves)
    if outside.any():
        raise ValueError(
            f"set_priorities: indices {where[outside][:5].tolist()} are outside "
            f"0..{num_leaves - 1} (use Transition.indices of a batch this buffer drew)"
        )


def _check_arguments(capacity, num_envs, max_draws, n_step, prioritized, priority_exponent):
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
    if not isinstance(prioritized, (bool, np.bool_)):
        raise ValueError(f"make_replay: prioritized={prioritized!r} must be True or False")
    number = isinstance(priority_exponent, (int, float, np.integer, np.floating))
    if isinstance(priority_exponent, bool) or not number or not math.isfinite(priority_exponent):
        raise ValueError(
            f"make_replay: priority_exponent={priority_exponent!r} must be a finite number >= 0"
        )
    if priority_exponent < 0:
        raise ValueError(
            f"make_replay: priority_exponent={priority_exponent!r} must be >= 0 "
            "(0: uniform over the drawable transitions, 1: proportional to the priority)"
        )


def make_replay(
    capacity: int,
    num_envs: int,
    obs_shape: tuple[int, ...],
    obs_dtype=jnp.uint8,
    max_draws: int = 32,
    dedup_frames: bool | None = None,
    n_step: int = 1,
    prioritized: bool = False,
    priority_exponent: float = 0.6,
) -> Replay:
    """Builds a replay buffer, uniform or proportionally prioritised.

    Args:
      capacity: transitions held over all env columns; each column keeps capacity // num_envs.
      num_envs: env columns written by each `add`.
      obs_shape: shape of one observation, e.g. `(4, 84, 84)` or `(4,)`.
      obs_dtype: storage dtype of observations (uint8 for Atari frames).
      max_draws: rejection-sampling rounds per batch element (see module docstring).
      dedup_frames: store each frame of a `[K, H, W]` stack once (None: automatically for
        uint8 stacks, see module docstring).
      n_step: length of the sampled returns (1: one-step Q-learning; see module docstring).
      prioritized: draw transitions with probability p^α / Σ p^α (Schaul et al. 2016; see the
        module docstring) instead of uniformly.
      priority_exponent: α ≥ 0 of prioritised replay (0: uniform over the drawable transitions).

    Returns:
      `Replay(init, add, sample, can_sample, capacity_per_env, num_envs, dedup_frames,
      set_priorities, prioritized)`. `sample`'s batches carry `indices` (`row * num_envs +
      column`) and `probabilities`: prioritised, exactly the p^α / Σ p^α the draw used (over the
      drawable transitions); uniform, 1/N with N = the candidate transitions (row pairs) the
      uniform sampler draws among, `can_sample`'s count — valid or not, so an upper bound on
      the true 1/(valid ones); the same for every element, so importance weights are all 1.
    """
    _check_arguments(capacity, num_envs, max_draws, n_step, prioritized, priority_exponent)
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
    num_leaves = rows * num_envs
    alpha = float(priority_exponent)

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
            priority_tree=(
                jnp.zeros((2 * tree_leaves(num_leaves),), jnp.float32) if prioritized else None
            ),
            max_priority=jnp.ones((), jnp.float32) if prioritized else None,
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
        state = state.replace(
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
        return track_priorities(state, i) if prioritized else state

    def track_priorities(state: ReplayState, i: Array) -> ReplayState:
        """Keeps the tree's invariant after row `i` was written (module docstring): two
        leaves per column change, O(num_envs · log N)."""
        columns = jnp.arange(num_envs)
        age = n_step - 1
        ready = (i - age) % rows  # the row whose transition just became drawable
        valid = held(state, jnp.full(num_envs, age), jnp.full(num_envs, ready), columns)
        valid &= state.count >= n_step + 1  # its predecessor is held
        gone = (i - (window - 1)) % rows  # its predecessor just left the window
        # Row i itself (ready for n = 1) is 0 already: it was zeroed when it reached age
        # window - 1 (rows ≥ window), and only non-zero leaves are ever raised.
        leaves = jnp.concatenate([ready * num_envs + columns, gone * num_envs + columns])
        values = jnp.concatenate([jnp.where(valid, state.max_priority, 0.0), jnp.zeros(num_envs)])
        return state.replace(priority_tree=_set_leaves(state.priority_tree, leaves, values))

    def set_priorities(state: ReplayState, indices: Array, priorities: Array) -> ReplayState:
        """Stores priorities `[B]` (|δ| or a loss, ≥ 0) of the transitions at `indices` `[B]`
        (`Transition.indices` of a batch drawn from this state): leaf = clip(max(p, 1e-6)^α)
        (`PRIORITY_FLOOR`, `LEAF_RANGE`), then the ancestors, level by level (B · log N); raises
        `max_priority` to the largest leaf written. Uniform buffers return `state` unchanged.

        Duplicate indices in one call: the largest priority among them wins. Leaves that are
        not drawable (anymore) stay 0, so the invariant holds whatever the indices. Bad values:
        called on concrete arrays (outside jit and vmap), negative or non-finite priorities and
        indices outside 0..rows·num_envs-1 raise a ValueError naming them; traced (inside jit
        or vmap), a negative priority counts as 0 (so, the floor), a non-finite one (NaN, ±inf)
        as the current `max_priority`, and outside indices are ignored.
        """
        chex.assert_rank([indices, priorities], 1)
        chex.assert_equal_shape([indices, priorities])
        _check_concrete_priorities(indices, priorities, num_leaves)
        tree, size = state.priority_tree, state.priority_tree.shape[-1] // 2
        indices = jnp.asarray(indices, jnp.int32)
        inside = (indices >= 0) & (indices < num_leaves)
        nodes = jnp.where(inside, indices, 0) + size
        write = inside & (tree[nodes] > 0)
        values = _priority_leaves(priorities, alpha, state.max_priority)
        target = jnp.where(write, nodes, 2 * size)  # out of bounds: dropped
        # 0 first, then the largest of duplicates: a deterministic winner.
        tree = tree.at[target].set(0.0, mode="drop").at[target].max(values, mode="drop")
        top = jnp.max(jnp.where(write, values, 0.0), initial=0.0)
        return state.replace(
            priority_tree=_refresh_parents(tree, nodes),
            max_priority=jnp.maximum(state.max_priority, top),
        )

    def num_candidates(state: ReplayState) -> Array:
        # Per column: every row of the window whose predecessor is also held, less the n-1
        # newest (their n-step returns are not complete yet).
        return jnp.maximum(jnp.minimum(state.count, window) - 1 - (n_step - 1), 0)

    def held(state: ReplayState, ages: Array, rows_t: Array, columns: Array) -> Array:
        """Whether the row pairs ending at `rows_t` (`ages` rows before the newest) are
        transitions whose s_tm1 frames are all held; the window is the caller's concern."""
        valid = ~state.first[rows_t, columns]
        if dedup_frames:  # every frame of s_tm1 must still be held
            reach = 1 + ages + state.depth[(rows_t - 1) % rows, columns].astype(jnp.int32)
            valid &= reach < jnp.minimum(state.count, rows)
        return valid

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

    def uniform_draw(state: ReplayState, key: chex.PRNGKey, batch_size: int):
        """(row_t, column, probability) `[B]`: uniform among the valid transitions, by rejection
        (module docstring); the probability is 1/N, N the candidates drawn among."""
        column_key, age_key = jax.random.split(key)
        shape = (max_draws, batch_size)
        columns = jax.random.randint(column_key, shape, 0, num_envs)
        ages = jax.random.randint(age_key, shape, 0, jnp.maximum(num_candidates(state), 1))
        ages = ages + (n_step - 1)  # the n-1 newest rows are never drawn
        rows_t = (state.cursor - 1 - ages) % rows  # [max_draws, batch]
        valid = held(state, ages, rows_t, columns)
        pick = jnp.argmax(valid, axis=0)  # first valid round (0 when none is)
        batch_index = jnp.arange(batch_size)
        row_t, column = rows_t[pick, batch_index], columns[pick, batch_index]
        # Last resort (probability p**max_draws): the column's newest valid transition.
        none_valid = ~jnp.any(valid, axis=0)
        row_t = jnp.where(none_valid, state.newest_valid[column] % rows, row_t)
        candidates = jnp.maximum(num_candidates(state) * num_envs, 1).astype(jnp.float32)
        return row_t, column, jnp.full((batch_size,), 1.0 / candidates, jnp.float32)

    def prioritized_draw(state: ReplayState, key: chex.PRNGKey, batch_size: int):
        """(row_t, column, probability) `[B]`: independent draws with probability p^α / Σ p^α.
        Fallback while the tree is empty (no drawable transition yet: `can_sample` is false, or
        every held row starts an episode): the uniform draw, as a uniform buffer makes it."""
        tree_key, uniform_key = jax.random.split(key)
        tree = state.priority_tree
        total = tree[1]
        u = jax.random.uniform(tree_key, (batch_size,), jnp.float32) * total
        empty = jnp.all(tree[2:4] <= 0)  # a reduction, like `_descend`'s (see there)
        leaf, share = _descend(tree, u, jnp.where(total > 0, total, 1.0))
        row_t, column, probability = uniform_draw(state, uniform_key, batch_size)
        return (
            jnp.where(empty, row_t, leaf // num_envs),
            jnp.where(empty, column, leaf % num_envs),
            jnp.where(empty, probability, share),
        )

    def sample(state: ReplayState, key: chex.PRNGKey, batch_size: int) -> Transition:
        """Draws `batch_size` transitions (with replacement) among the valid ones: uniformly,
        or in proportion to p^α when prioritised — while a prioritised buffer holds nothing
        drawable (the tree's sum is 0), it falls back to the uniform draw."""
        if batch_size > capacity_per_env * num_envs:
            raise ValueError(
                f"sample: batch_size={batch_size} exceeds the buffer's capacity "
                f"({capacity_per_env * num_envs} transitions)"
            )
        draw = prioritized_draw if prioritized else uniform_draw
        row_t, column, probabilities = draw(state, key, batch_size)
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
            indices=(row_t * num_envs + column).astype(jnp.int32),
            probabilities=probabilities,
        )

    chosen = set_priorities if prioritized else _keep_state
    return Replay(init, add, sample, can_sample, capacity_per_env, int(num_envs), dedup_frames,
                  chosen, bool(prioritized))  # fmt: skip
