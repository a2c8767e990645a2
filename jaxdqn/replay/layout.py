"""The replay's static layout: every size the pure functions need, validated and computed once.

A `Layout` is plain Python data (hashable, never traced): `make_replay` builds it and binds it as
the first argument of the module-level functions, so that each of them reads the sizes it needs
from one place instead of from a factory's local variables.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from jaxdqn.replay.sum_tree import tree_leaves


class Layout(NamedTuple):
    """Static sizes of one replay buffer (one seed)."""

    capacity_per_env: int  # transitions held per env column
    num_envs: int  # env columns written by each `add`
    obs_shape: tuple[int, ...]  # one observation as the env returns it, e.g. (4, 84, 84)
    obs_dtype: Any  # storage dtype of observations
    stored_shape: tuple[int, ...]  # one stored row of one column: a frame when deduplicated
    dedup_frames: bool
    stack: int  # K frames per observation when deduplicated, else 1
    window: int  # capacity_per_env + 1: the rows whose transitions may be drawn
    rows: int  # window + stack - 1: plus the older frames those stacks reach back to
    n_step: int
    max_draws: int  # rejection-sampling rounds per batch element
    prioritized: bool
    alpha: float  # priority exponent α
    num_leaves: int  # rows * num_envs: one sum-tree leaf per stored row and column


def is_frame_stack(obs_shape, obs_dtype) -> bool:
    """Stacked uint8 image observations `[K, H, W]` (K > 1), stored frame-deduplicated."""
    return len(obs_shape) == 3 and obs_shape[0] > 1 and np.dtype(obs_dtype) == np.uint8


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


def check_arguments(capacity, num_envs, max_draws, n_step, prioritized, priority_exponent) -> None:
    """Refuses sizes and flags `make_replay` cannot build with a ValueError naming the value."""
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


def make_layout(
    capacity: int,
    num_envs: int,
    obs_shape,
    obs_dtype,
    max_draws: int = 32,
    dedup_frames: bool | None = None,
    n_step: int = 1,
    prioritized: bool = False,
    priority_exponent: float = 0.6,
) -> Layout:
    """Validates `make_replay`'s arguments and derives the layout (see `make_replay`)."""
    check_arguments(capacity, num_envs, max_draws, n_step, prioritized, priority_exponent)
    obs_shape = tuple(int(d) for d in obs_shape)
    if dedup_frames is None:
        dedup_frames = is_frame_stack(obs_shape, obs_dtype)
    if dedup_frames and len(obs_shape) != 3:
        raise ValueError(f"make_replay: dedup_frames needs [K, H, W] observations, got {obs_shape}")
    capacity_per_env = int(capacity) // int(num_envs)
    stack = obs_shape[0] if dedup_frames else 1
    window = capacity_per_env + 1
    rows = window + stack - 1
    return Layout(
        capacity_per_env=capacity_per_env,
        num_envs=int(num_envs),
        obs_shape=obs_shape,
        obs_dtype=obs_dtype,
        stored_shape=obs_shape[1:] if dedup_frames else obs_shape,
        dedup_frames=bool(dedup_frames),
        stack=stack,
        window=window,
        rows=rows,
        n_step=int(n_step),
        max_draws=int(max_draws),
        prioritized=bool(prioritized),
        alpha=float(priority_exponent),
        num_leaves=rows * int(num_envs),
    )
