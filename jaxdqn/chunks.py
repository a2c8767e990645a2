"""Chunks of training around an env backend: warm-up and learning, in one place.

`train.make_body` gives the iteration's pure pieces (`Body`); a backend gives reset and step
(`jaxdqn.backends.Backend`). `make_chunks` puts them together in one of two ways:

    in jit     act → env step → observe, all one jitted program; the chunk's iterations
               looped inside it by the runtime's strategy (`repeat`), the state donated
    host       act, observe and learn jitted one by one (each donating the state) and the env
               stepped from Python in between, in the same order: with a synchronous pool the
               results equal the in-jit backend's

Either way a warm-up chunk is `num_env_steps` steps of uniform random actions, and a learning
chunk `iterations` of `Body.iteration`. The next env step cannot overlap the update (its
actions need the updated parameters); JAX's asynchronous dispatch overlaps each call with the
host's conversion of the env's outputs.

The runtime's CPU strategies are here too, chosen once so the iteration has no variant branch:
`learn_strategy` (all seeds vmapped, or seed by seed) and `repeat_strategy` (straight-line code
or a `lax.scan`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from jaxdqn.agent import Agent, AgentState
from jaxdqn.backends import Backend, Step, python_repeat, stack_trees
from jaxdqn.replay import ReplayState


class Body(NamedTuple):
    """The training iteration's pure pieces over the TrainState of all seeds (`train.make_body`)."""

    choose: Callable  # (state, act_fn) → (state, actions [S, E], ε or τ [S])
    observe: Callable  # (state, actions, parameter, Step [S, E, ...], handle) → (state, out)
    learn: Callable  # state → (state, losses): the iteration's updates, every seed
    iteration: Callable  # (state, env_step, learn, loop) → (state, metrics): one iteration, in
    # order; `loop(fn, state, n)` repeats its env steps
    act: Callable  # the agent's exploration policy: (agent_state, obs) → (state, a, param)
    act_randomly: Callable  # uniform random actions (warm-up)
    place: Callable  # a host Step [S, E, ...] → its seeds' rows on their devices


def make_chunks(body: Body, backend: Backend, repeat: Callable) -> tuple[Callable, Callable]:
    """(warmup(state, num_env_steps), run(state, iterations)) around `backend`; both donate
    the state. `repeat(fn, state, n)`: how a jitted learning chunk loops (`repeat_strategy`)."""
    if backend.in_jit:
        env_step = functools.partial(_jit_env_step, body, backend.step)
        warmup_chunk = functools.partial(warmup, _scan, env_step, body.act_randomly)
        steps = repeat_strategy(ENV_STEPS_UNROLL)
        run_chunk = functools.partial(run, repeat, body.iteration, env_step, body.learn, steps)
        jit = functools.partial(jax.jit, static_argnums=1, donate_argnums=0)
        return jit(warmup_chunk), jit(run_chunk)
    choose = {fn: jax.jit(functools.partial(body.choose, act_fn=fn), donate_argnums=0)
              for fn in (body.act, body.act_randomly)}  # fmt: skip
    observe = jax.jit(body.observe, donate_argnums=0)
    env_step = functools.partial(_host_env_step, choose, observe, body.place, backend.step)
    learn = jax.jit(body.learn, donate_argnums=0)
    return (functools.partial(warmup, python_repeat, env_step, body.act_randomly),
            functools.partial(run, python_repeat, body.iteration, env_step, learn,
                              python_repeat))  # fmt: skip


def warmup(loop: Callable, env_step: Callable, act_randomly: Callable, state, n: int):
    """A warm-up chunk: `n` env steps of uniform random actions (no learning), looped by
    `loop(fn, state, n)`."""
    return loop(lambda s: env_step(s, act_randomly), state, n)


def run(loop: Callable, iteration: Callable, env_step: Callable, learn: Callable,
        steps_loop: Callable, state, n: int):  # fmt: skip
    """A learning chunk: `n` iterations, looped by `loop(fn, state, n)`; each iteration's env
    steps looped by `steps_loop`."""
    return loop(lambda s: iteration(s, env_step, learn, steps_loop), state, n)


def _scan(fn: Callable, state, n: int):
    return jax.lax.scan(lambda s, _: fn(s), state, length=n)


def _split(step: Step, actions) -> Step:
    """`[S·E, ...]` → `[S, E, ...]`, each seed's envs (the layout of `actions [S, E]`)."""
    return Step(*(x.reshape(actions.shape + x.shape[1:]) for x in step))


def _jit_env_step(body: Body, step: Callable, state, act_fn: Callable):
    """One env step inside jit: the handle threaded through the TrainState."""
    state, actions, parameter = body.choose(state, act_fn)
    handle, out = step(state.handle, actions.reshape(-1))
    return body.observe(state, actions, parameter, _split(out, actions), handle)


def _host_env_step(choose: dict, observe: Callable, place: Callable, step: Callable, state,
                   act_fn: Callable):  # fmt: skip
    """One env step from Python between the jitted `choose[act_fn]` and `observe`."""
    state, actions, parameter = choose[act_fn](state)
    out = place(_split(step(np.asarray(actions).reshape(-1)), actions))
    return observe(state, actions, parameter, out, state.handle)


# ----------------------------------------------------------------------------- CPU strategies


def learn_strategy(agent: Agent, num_seeds: int, seed_loop: bool) -> Callable:
    """(agent_state, replay_state) → (agent_state, replay_state, metrics) for every seed:
    `jax.vmap(agent.learn)`, or each seed's gradient on its own (`seed_loop`)."""
    if not seed_loop:
        return jax.vmap(agent.learn)
    if agent.sample_batch is None:  # a learner that draws no batch (PQN): its learn, per seed
        return functools.partial(learn_each_seed, agent, num_seeds)
    return functools.partial(learn_seed_by_seed, agent, num_seeds)


def learn_each_seed(agent: Agent, num_seeds: int, agent_state, replay_state):
    """Same result as vmap(agent.learn), each seed's whole `learn` on its own."""
    out = [agent.learn(_seed(agent_state, s), _seed(replay_state, s)) for s in range(num_seeds)]
    states, replay_states, metrics = (stack_trees(x) for x in zip(*out, strict=True))
    return states, replay_states, metrics


def learn_seed_by_seed(agent: Agent, num_seeds: int, agent_state: AgentState,
                       replay_state: ReplayState):  # fmt: skip
    """Same result as vmap(agent.learn), but each seed's gradient is computed on its own:
    a vmapped conv gradient becomes a grouped convolution, slow on XLA CPU."""
    agent_state, batch = jax.vmap(agent.sample_batch)(agent_state, replay_state)
    out = [agent.update(_seed(agent_state, s), _seed(batch, s)) for s in range(num_seeds)]
    states, metrics, priorities = (stack_trees(x) for x in zip(*out, strict=True))
    replay_state = jax.vmap(agent.set_priorities)(replay_state, batch.indices, priorities)
    return states, replay_state, metrics


def _seed(tree, s: int):
    """Seed `s`'s slice of a tree whose leaves lead with the seed axis."""
    return jax.tree_util.tree_map(lambda x: x[s], tree)


# An iteration's env steps inside jit: straight-line up to this many (DQN's iterations take 1
# to 4), a `lax.scan` beyond (PQN's rollouts of 32: unrolled, they take minutes to compile).
ENV_STEPS_UNROLL = 4


def repeat_strategy(unroll: int) -> Callable:
    """`repeat(fn, state, n)`: a learning chunk's loop inside jit, `lax.scan` unrolled by
    `unroll`, or straight-line code when that unrolls it whole."""
    return functools.partial(repeat, unroll)


def repeat(unroll: int, fn: Callable, state, n: int):
    """`fn(state) → (state, out)` n times inside jit; outs stacked as `lax.scan` stacks them."""
    if unroll >= n:
        # Straight-line code, no while loop at all: a fully unrolled lax.scan still emits a
        # one-trip while loop, and XLA CPU's conv gradients are slow inside loops.
        return python_repeat(fn, state, n)
    return jax.lax.scan(lambda s, _: fn(s), state, length=n, unroll=unroll)
