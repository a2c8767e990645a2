"""The uniform draw: O(batch), not O(capacity).

Draw (column, age) uniformly among the held transitions and redraw the ones that start an
episode — up to `max_draws` rounds, all drawn at once. Rejection keeps the draw exactly uniform
over valid transitions. If all `max_draws` candidates of one batch element are episode starts
(probability p**max_draws for a fraction p of episode-start rows: p ≈ 0.05 on early CartPole →
≈1e-42 at 32 rounds), the column's newest valid transition is used, which each `add` tracks. A
transition across an episode start is therefore never sampled while the drawn column holds any
valid transition (`can_sample` counts row pairs, not valid pairs; a column made only of episode
starts, i.e. one-step episodes, holds none).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxdqn.replay.layout import Layout
from jaxdqn.replay.storage import ReplayState, held, num_candidates

Array = chex.Array


def candidate_slots(
    layout: Layout, state: ReplayState, key: chex.PRNGKey, batch_size: int
) -> tuple[Array, Array, Array]:
    """(ages, rows_t, columns) `[max_draws, batch]`: candidates drawn uniformly among the
    row pairs of the window, the n-1 newest rows left out; valid or not."""
    column_key, age_key = jax.random.split(key)
    shape = (layout.max_draws, batch_size)
    columns = jax.random.randint(column_key, shape, 0, layout.num_envs)
    ages = jax.random.randint(age_key, shape, 0, jnp.maximum(num_candidates(layout, state), 1))
    ages = ages + (layout.n_step - 1)  # the n-1 newest rows are never drawn
    rows_t = (state.cursor - 1 - ages) % layout.rows
    return ages, rows_t, columns


def first_valid(
    layout: Layout, state: ReplayState, ages: Array, rows_t: Array, columns: Array
) -> tuple[Array, Array]:
    """(row_t, column) `[B]`: each batch element's first valid candidate round; where none is
    valid (probability p**max_draws), the column's newest valid transition."""
    valid = held(layout, state, ages, rows_t, columns)
    pick = jnp.argmax(valid, axis=0)  # first valid round (0 when none is)
    batch_index = jnp.arange(rows_t.shape[1])
    row_t, column = rows_t[pick, batch_index], columns[pick, batch_index]
    none_valid = ~jnp.any(valid, axis=0)
    row_t = jnp.where(none_valid, state.newest_valid[column] % layout.rows, row_t)
    return row_t, column


def uniform_draw(
    layout: Layout, state: ReplayState, key: chex.PRNGKey, batch_size: int
) -> tuple[Array, Array, Array]:
    """(row_t, column, probability) `[B]`: uniform among the valid transitions, by rejection
    (module docstring); the probability is 1/N, N the candidates drawn among."""
    row_t, column = first_valid(layout, state, *candidate_slots(layout, state, key, batch_size))
    candidates = num_candidates(layout, state) * layout.num_envs
    candidates = jnp.maximum(candidates, 1).astype(jnp.float32)
    return row_t, column, jnp.full((batch_size,), 1.0 / candidates, jnp.float32)
