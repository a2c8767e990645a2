"""What every backend shares: the step record, and the seam the training loop steps through."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Step(NamedTuple):
    """One vector env step, numpy arrays with a leading env axis."""

    obs: np.ndarray
    reward: np.ndarray  # learning reward (clipped on Atari training envs)
    terminated: np.ndarray  # learning terminal (also a life loss on Atari training envs)
    truncated: np.ndarray
    game_reward: np.ndarray  # unclipped reward
    game_over: np.ndarray  # the whole game ended (terminal or truncation)


class Backend(NamedTuple):
    """The training envs as the training loop sees them: reset and step, nothing more.

    Stepped inside jit (`in_jit`), `step(handle, actions [N]) -> (handle, Step [N, ...])`: the
    handle rides in the TrainState (it orders envpool's and ale-py's XLA steps; it is gymnax's
    env state). Stepped from Python, `step(actions [N]) -> Step [N, ...]` and the handle is an
    unused placeholder. A backend that `saves_env_state` (gymnax) resets with a traceable
    function, so the shapes of its handle are `jax.eval_shape(reset)[1]`.
    """

    reset: Callable[[], tuple[np.ndarray, Any]]  # () → (obs [N, ...], handle)
    step: Callable
    in_jit: bool
    saves_env_state: bool  # the handle is the whole env state: checkpoints keep it
    close: Callable[[], None]


class HostEnv:
    """A vector env stepped from Python: `reset() -> obs`, `step(actions) -> Step`."""

    num_envs: int
    observation_space: Any  # of one env
    num_actions: int

    def reset(self) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> Step:
        raise NotImplementedError

    def close(self) -> None:
        pass


def host_backend(env: HostEnv) -> Backend:
    """A host-stepped env as a `Backend`: the env is stepped from Python between jitted calls."""
    return Backend(reset=functools.partial(_host_reset, env), step=env.step, in_jit=False,
                   saves_env_state=False, close=env.close)  # fmt: skip


def _host_reset(env: HostEnv) -> tuple[np.ndarray, np.ndarray]:
    return env.reset(), np.zeros((), np.int32)  # nothing orders host steps inside jit


def stack_trees(trees) -> Any:
    """Stacks a sequence of same-structured pytrees along a new leading axis."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def python_repeat(fn: Callable, state, n: int):
    """`fn(state) → (state, out)` n times from Python; outs stacked as `lax.scan` stacks them."""
    outs = []
    for _ in range(n):
        state, out = fn(state)
        outs.append(out)
    return state, stack_trees(outs)
