"""Proportional prioritised replay (`prioritized=True`, Schaul et al. 2016).

Transition i is drawn with probability P(i) = p_i^α / Σ_j p_j^α over the drawable transitions,
p the priority the learner reports (`set_priorities`; |δ| or the loss). A sum tree
(`sum_tree.py`) over one leaf per stored row and column (flat index `row * num_envs + column`,
padded to a power of two) holds p^α, so a draw and an update are O(log N).

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
in `prioritized_draw`. Batches carry `indices` (for `set_priorities`) and `probabilities` (for
`importance_weights`); a uniform buffer reports 1/N, N the row pairs it draws among.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxdqn.replay import storage, sum_tree
from jaxdqn.replay.layout import Layout
from jaxdqn.replay.storage import ReplayState
from jaxdqn.replay.uniform import uniform_draw

Array = chex.Array

PRIORITY_FLOOR = 1e-6
"""Priorities below this (zero TD error, or negative ones inside jit) count as this, so that every
drawable transition keeps a non-zero chance."""
LEAF_RANGE = (float(np.finfo(np.float32).tiny), 1e30)
"""p^α is clipped into this range: non-zero (also for large α: 1e-6^10 underflows float32) and
small enough that the sum of 3e8 leaves stays finite."""


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


def priority_leaves(priorities: Array, exponent: float, max_priority: Array) -> Array:
    """p^α as stored: negative p clipped to the floor, non-finite p → `max_priority`."""
    p = jnp.asarray(priorities, jnp.float32)
    finite = jnp.isfinite(p)
    p = jnp.maximum(jnp.where(finite, p, 0.0), PRIORITY_FLOOR)
    leaves = jnp.clip(p**exponent, *LEAF_RANGE)
    return jnp.where(finite, leaves, max_priority)


def check_concrete_priorities(indices, priorities, num_leaves: int) -> None:
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


def track_priorities(layout: Layout, state: ReplayState, i: Array) -> ReplayState:
    """Keeps the tree's invariant after row `i` was written (module docstring): two leaves per
    column change, O(num_envs · log N)."""
    num_envs, rows = layout.num_envs, layout.rows
    columns = jnp.arange(num_envs)
    age = layout.n_step - 1
    ready = (i - age) % rows  # the row whose transition just became drawable
    ages, readies = jnp.full(num_envs, age), jnp.full(num_envs, ready)
    valid = storage.held(layout, state, ages, readies, columns)
    valid &= state.count >= layout.n_step + 1  # its predecessor is held
    gone = (i - (layout.window - 1)) % rows  # its predecessor just left the window
    # Row i itself (ready for n = 1) is 0 already: it was zeroed when it reached age
    # window - 1 (rows ≥ window), and only non-zero leaves are ever raised.
    leaves = jnp.concatenate([ready * num_envs + columns, gone * num_envs + columns])
    values = jnp.concatenate([jnp.where(valid, state.max_priority, 0.0), jnp.zeros(num_envs)])
    return state.replace(priority_tree=sum_tree.set_leaves(state.priority_tree, leaves, values))


def add(
    layout: Layout,
    state: ReplayState,
    obs_t: Array,
    a_tm1: Array,
    r_t: Array,
    discount_t: Array,
    first_t: Array,
) -> ReplayState:
    """`storage.add`, then the tree's leaves kept in step with what became drawable."""
    written = storage.add(layout, state, obs_t, a_tm1, r_t, discount_t, first_t)
    return track_priorities(layout, written, state.cursor)


def set_priorities(
    layout: Layout, state: ReplayState, indices: Array, priorities: Array
) -> ReplayState:
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
    check_concrete_priorities(indices, priorities, layout.num_leaves)
    tree, size = state.priority_tree, state.priority_tree.shape[-1] // 2
    indices = jnp.asarray(indices, jnp.int32)
    inside = (indices >= 0) & (indices < layout.num_leaves)
    nodes = jnp.where(inside, indices, 0) + size
    write = inside & (tree[nodes] > 0)
    values = priority_leaves(priorities, layout.alpha, state.max_priority)
    target = jnp.where(write, nodes, 2 * size)  # out of bounds: dropped
    # 0 first, then the largest of duplicates: a deterministic winner.
    tree = tree.at[target].set(0.0, mode="drop").at[target].max(values, mode="drop")
    top = jnp.max(jnp.where(write, values, 0.0), initial=0.0)
    return state.replace(
        priority_tree=sum_tree.refresh_parents(tree, nodes),
        max_priority=jnp.maximum(state.max_priority, top),
    )


def prioritized_draw(
    layout: Layout, state: ReplayState, key: chex.PRNGKey, batch_size: int
) -> tuple[Array, Array, Array]:
    """(row_t, column, probability) `[B]`: independent draws with probability p^α / Σ p^α.
    Fallback while the tree is empty (no drawable transition yet: `can_sample` is false, or
    every held row starts an episode): the uniform draw, as a uniform buffer makes it."""
    tree_key, uniform_key = jax.random.split(key)
    tree = state.priority_tree
    total = tree[1]
    u = jax.random.uniform(tree_key, (batch_size,), jnp.float32) * total
    empty = jnp.all(tree[2:4] <= 0)  # a reduction, like `sum_tree.descend`'s (see there)
    leaf, share = sum_tree.descend(tree, u, jnp.where(total > 0, total, 1.0))
    row_t, column, probability = uniform_draw(layout, state, uniform_key, batch_size)
    return (
        jnp.where(empty, row_t, leaf // layout.num_envs),
        jnp.where(empty, column, leaf % layout.num_envs),
        jnp.where(empty, probability, share),
    )
