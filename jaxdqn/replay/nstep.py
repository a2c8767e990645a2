"""n-step returns, computed at sample time from the stored rows.

With `n_step > 1` (Sutton & Barto 2018 §7.1; Hessel et al. 2018), from a drawn transition
(i-1, i) the return follows the column forward while the next row continues the episode,

    r_t = r(i) + d(i)·r(i+1) + … + d(i)…d(i+m-2)·r(i+m-1),   discount_t = d(i)…d(i+m-1),
    s_t = obs(i+m-1),                                         m = steps used, 1 ≤ m ≤ n,

where d is the stored discount (γ, or 0 after a terminal or a life loss). It stops early (m < n)
where the next row starts an episode (`first`: after a game end, a truncation or a life loss),
so nothing crosses an episode boundary: a terminal makes `discount_t` 0, a truncation
bootstraps from the last state with γ^m. The n-1 newest rows of each column are not drawn
(`storage.num_candidates`), so every drawn return that is cut short is cut by its episode,
never by the end of the data.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp

from jaxdqn.replay.layout import Layout
from jaxdqn.replay.storage import ReplayState

Array = chex.Array


def n_step_return(
    layout: Layout, state: ReplayState, row_t: Array, column: Array
) -> tuple[Array, Array, Array]:
    """(return, discount, row of the bootstrap state) `[B]` of the transitions ending at
    `row_t`, following each column forward up to n-1 more rows within the episode; for
    n = 1, the stored reward, discount and `row_t` itself."""
    r_t = state.reward[row_t, column]
    discount_t = state.discount[row_t, column]
    if layout.n_step == 1:
        return r_t, discount_t, row_t
    last = row_t
    going = jnp.ones_like(row_t, dtype=jnp.bool_)
    for k in range(1, layout.n_step):
        row = (row_t + k) % layout.rows
        going &= ~state.first[row, column] & (discount_t > 0)
        r_t = r_t + jnp.where(going, discount_t * state.reward[row, column], 0.0)
        discount_t = jnp.where(going, discount_t * state.discount[row, column], discount_t)
        last = jnp.where(going, row, last)
    return r_t, discount_t, last
