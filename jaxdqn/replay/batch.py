"""From drawn slots to a batch: whichever draw picked the transitions, a batch is read the same
way (stacked observations, n-step returns, the indices `set_priorities` takes)."""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax.numpy as jnp

from jaxdqn.replay.layout import Layout
from jaxdqn.replay.nstep import n_step_return
from jaxdqn.replay.storage import ReplayState, Transition, stacked

Array = chex.Array

Draw = Callable[[Layout, ReplayState, chex.PRNGKey, int], tuple[Array, Array, Array]]
"""A draw: `(layout, state, key, batch_size) -> (row_t, column, probability)`, each `[B]`."""


def read_transitions(
    layout: Layout, state: ReplayState, row_t: Array, column: Array, probabilities: Array
) -> Transition:
    """The transitions ending at rows `row_t` of `column` `[B]`, as a batch."""
    r_t, discount_t, row_s_t = n_step_return(layout, state, row_t, column)
    return Transition(
        s_tm1=stacked(layout, state, (row_t - 1) % layout.rows, column),
        a_tm1=state.action[row_t, column],
        r_t=r_t,
        discount_t=discount_t,
        s_t=stacked(layout, state, row_s_t, column),
        indices=(row_t * layout.num_envs + column).astype(jnp.int32),
        probabilities=probabilities,
    )


def sample(
    layout: Layout, draw: Draw, state: ReplayState, key: chex.PRNGKey, batch_size: int
) -> Transition:
    """Draws `batch_size` transitions (with replacement) with `draw` and reads them."""
    if batch_size > layout.capacity_per_env * layout.num_envs:
        raise ValueError(
            f"sample: batch_size={batch_size} exceeds the buffer's capacity "
            f"({layout.capacity_per_env * layout.num_envs} transitions)"
        )
    row_t, column, probabilities = draw(layout, state, key, batch_size)
    return read_transitions(layout, state, row_t, column, probabilities)
