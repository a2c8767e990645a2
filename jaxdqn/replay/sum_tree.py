"""A sum tree over a flat array: node 1 the root, node k's children 2k and 2k+1, the leaves in
the second half (leaf j at node `leaves + j`, `leaves` a power of two). Each inner node holds the
sum of its children, so a proportional draw (u ~ U[0, Σ), descend) and an update of B leaves are
O(log N) and O(B · log N). The prioritised replay keeps p^α in one (`prioritized.py`).
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np

Array = chex.Array


def tree_leaves(num_leaves: int) -> int:
    """The sum tree's leaf count: `num_leaves` padded to a power of two (at least 2)."""
    return max(2, 1 << (int(num_leaves) - 1).bit_length())


def init_tree(num_leaves: int) -> Array:
    """`[2 * tree_leaves(num_leaves)]` float32 zeros (node 0 unused)."""
    return jnp.zeros((2 * tree_leaves(num_leaves),), jnp.float32)


def refresh_parents(tree: Array, nodes: Array) -> Array:
    """Recomputes every ancestor of `nodes` (tree positions) from its children, level by level;
    duplicate nodes are harmless (they write the same sum)."""
    for _ in range(int(math.log2(tree.shape[-1] // 2))):
        nodes = nodes // 2
        tree = tree.at[nodes].set(tree[2 * nodes] + tree[2 * nodes + 1])
    return tree


def set_leaves(tree: Array, leaves: Array, values: Array) -> Array:
    """Writes distinct `leaves` (flat indices) and their ancestors: O(len(leaves) · log N)."""
    nodes = leaves + tree.shape[-1] // 2
    return refresh_parents(tree.at[nodes].set(values), nodes)


def descend(tree: Array, u: Array, total: Array) -> tuple[Array, Array]:
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
