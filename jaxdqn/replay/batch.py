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


def read_recent(layout: Layout, state: ReplayState, num_steps: int) -> tuple[Transition, Array]:
    """Every column's transitions ending at its `num_steps` newest rows, oldest first, and
    whether each follows a reset (`first`): leaves `[T, E, ...]`, time-major, T = num_steps.

    What a learner without replay reads (PQN's rollout): the buffer is then sized to hold the
    rollout (capacity_per_env = T), and the row before the oldest one read is the last of
    the previous rollout (or the reset observation), so no transition is lost between rollouts.
    """
    if not 1 <= num_steps <= layout.capacity_per_env:
        raise ValueError(f"read_recent: num_steps={num_steps} must be in [1, capacity_per_env="
                         f"{layout.capacity_per_env}]")  # fmt: skip
    T, E = num_steps, layout.num_envs
    rows = (state.cursor - T + jnp.arange(T)) % layout.rows  # [T], oldest first
    row_t, column = jnp.repeat(rows, E), jnp.tile(jnp.arange(E), T)
    flat = read_transitions(layout, state, row_t, column, jnp.full((T * E,), 1.0 / (T * E)))
    unflatten = lambda x: x.reshape((T, E) + x.shape[1:])  # noqa: E731
    return Transition(*(unflatten(x) for x in flat)), state.first[rows]
