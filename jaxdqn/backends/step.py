"""What every backend shares: the step record, and the iteration's pieces it steps."""

from __future__ import annotations

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


class Body(NamedTuple):
    """The training iteration's pure pieces, built by `train.make_train`; a stepper runs them
    around its env — jitted whole with the env step inside (envpool-xla), or piece by piece
    with the env stepped from Python in between (host-stepped backends)."""

    choose: Callable  # (state, act_fn) → (state, actions [S, E], ε or τ [S])
    observe: Callable  # (state, actions, parameter, Step [S, E, ...], handle) → (state, out)
    learn: Callable  # state → (state, losses): the iteration's updates, every seed
    iteration: Callable  # (state, env_step, learn) → (state, metrics): one iteration, in order
    repeat: Callable  # (fn, state, n) → (state, metrics [n, ...]): the runtime's loop, in jit
    act: Callable  # the agent's exploration policy: (agent_state, obs) → (state, a, param)
    act_randomly: Callable  # uniform random actions (warm-up)
    split: Callable  # Step [S·E, ...] → Step [S, E, ...]
    place: Callable  # a host Step [S, E, ...] → its seeds' rows on their devices


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


def jit_chunks(body: Body, step: Callable):
    """(warmup, run) for an env stepped inside jit: `step(handle, actions [S·E]) → (handle,
    Step [S·E, ...])`, the handle threaded through the TrainState (it orders envpool's steps;
    it is gymnax's env state). Both jitted whole, the state donated."""

    def env_step(state, act_fn):
        state, actions, parameter = body.choose(state, act_fn)
        handle, out = step(state.handle, actions.reshape(-1))
        return body.observe(state, actions, parameter, body.split(out), handle)

    def warmup(state, num_env_steps: int):
        def random_step(state, _):
            return env_step(state, body.act_randomly)

        return jax.lax.scan(random_step, state, length=num_env_steps)

    def run(state, iterations: int):
        return body.repeat(lambda s: body.iteration(s, env_step, body.learn), state, iterations)

    return (
        jax.jit(warmup, static_argnums=1, donate_argnums=0),
        jax.jit(run, static_argnums=1, donate_argnums=0),
    )
