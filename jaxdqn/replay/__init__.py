"""Experience replay over the k most recent transitions, uniform or prioritised, as pure
functions on arrays.

Each part is a module of module-level functions over a static `Layout` (`layout.py`, built and
validated once) and a `ReplayState` pytree; `make_replay` binds them with `functools.partial`:

    layout.py       the static sizes (rows, window, stack, n-step, …), validation, bytes
    storage.py      `ReplayState`, `init`, `add`, stacked reads; the row layout and
                    frame-deduplicated storage are explained there
    nstep.py        n-step returns read at sample time
    uniform.py      the uniform draw: O(batch) rejection sampling among valid transitions
    sum_tree.py     the sum tree's descent and updates
    prioritized.py  the proportional draw, `set_priorities`, importance weights
    batch.py        drawn slots → a `Transition` batch; the newest rows read in order
                    (`read_recent`, PQN's rollout)

To change how a batch is drawn, write a function `(layout, state, key, batch_size) ->
(row_t, column, probability)` like `uniform.uniform_draw` and bind it with `batch.sample`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax.numpy as jnp

from jaxdqn.replay import batch, storage, uniform
from jaxdqn.replay import prioritized as proportional
from jaxdqn.replay.layout import Layout, is_frame_stack, make_layout, replay_nbytes
from jaxdqn.replay.prioritized import LEAF_RANGE, PRIORITY_FLOOR, importance_weights
from jaxdqn.replay.storage import ReplayState, Transition
from jaxdqn.replay.sum_tree import descend as _descend
from jaxdqn.replay.sum_tree import tree_leaves

Array = chex.Array

__all__ = [
    "LEAF_RANGE",
    "PRIORITY_FLOOR",
    "Layout",
    "Replay",
    "ReplayState",
    "Transition",
    "importance_weights",
    "is_frame_stack",
    "make_layout",
    "make_replay",
    "replay_nbytes",
    "tree_leaves",
    "_descend",
]


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
    # (state, num_steps) → (transitions [T, E, ...], first [T, E]): the newest rows, in order.
    read_recent: Callable[[ReplayState, int], tuple[Transition, Array]] | None = None


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
      max_draws: rejection-sampling rounds per batch element (see `uniform.py`).
      dedup_frames: store each frame of a `[K, H, W]` stack once (None: automatically for
        uint8 stacks, see `storage.py`).
      n_step: length of the sampled returns (1: one-step Q-learning; see `nstep.py`).
      prioritized: draw transitions with probability p^α / Σ p^α (Schaul et al. 2016; see
        `prioritized.py`) instead of uniformly.
      priority_exponent: α ≥ 0 of prioritised replay (0: uniform over the drawable transitions).

    Returns:
      `Replay(init, add, sample, can_sample, capacity_per_env, num_envs, dedup_frames,
      set_priorities, prioritized)`. `sample`'s batches carry `indices` (`row * num_envs +
      column`) and `probabilities`: prioritised, exactly the p^α / Σ p^α the draw used (over the
      drawable transitions); uniform, 1/N with N = the candidate transitions (row pairs) the
      uniform sampler draws among, `can_sample`'s count — valid or not, so an upper bound on
      the true 1/(valid ones); the same for every element, so importance weights are all 1.
    """
    layout = make_layout(
        capacity, num_envs, obs_shape, obs_dtype, max_draws, dedup_frames, n_step, prioritized,
        priority_exponent,
    )  # fmt: skip
    if layout.prioritized:
        add, draw = proportional.add, proportional.prioritized_draw
        set_priorities = functools.partial(proportional.set_priorities, layout)
    else:
        add, draw, set_priorities = storage.add, uniform.uniform_draw, _keep_state
    return Replay(
        init=functools.partial(storage.init, layout),
        add=functools.partial(add, layout),
        sample=functools.partial(batch.sample, layout, draw),
        can_sample=functools.partial(storage.can_sample, layout),
        capacity_per_env=layout.capacity_per_env,
        num_envs=layout.num_envs,
        dedup_frames=layout.dedup_frames,
        set_priorities=set_priorities,
        prioritized=layout.prioritized,
        read_recent=functools.partial(batch.read_recent, layout),
    )
