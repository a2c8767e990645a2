"""PQN's learner, as pure pieces: Q(λ) targets of a rollout, its minibatches, the update.

Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning" (PQN; purejaxql
`pqn_minatar.py`, `pqn_atari.py`): Q-learning with no replay buffer and no target network.
Many envs act for a short rollout (T steps each) with ε-greedy on the online network; every
transition of the rollout gets a Peng's Q(λ) target, bootstrapped on max_a Q(s_t, a) of the
same (unchanged) network; then a few epochs of shuffled minibatches regress Q(s_tm1, a_tm1)
on those fixed targets. A LayerNorm before every ReLU of the network (`layer_norm` of the
nature, mlp and minatar networks) is what keeps this stable without a target network.

How it plugs into the loop (for the engineer who wires it; nothing here imports train/loop):

- **Reused as is.** The backend seam (`backends.Backend`: reset and step, inside jit for
  envpool-xla, ale-xla and gymnax, or from Python) and the chunking around it
  (`chunks.make_chunks` over a `Body`), the seed axis (states vmapped over `[S, ...]`),
  `loop.run_loop` with its chunks and trackers (games, evaluation, NaN guard, signals,
  checkpoints), `Step` and the episode statistics, `policies.POLICIES` and their schedules on
  agent steps, `networks.NETWORKS` through `networks.forward`. A PQN iteration has the
  `Body.iteration` shape: `env_steps_per_iteration` = T env steps acting on the online
  network (`act` below keeps the agent's `(state, obs) → (state, actions, parameter)`
  contract, so `Body.choose` is unchanged), then `learn(state)`.
- **Replaced.** The replay becomes a rollout buffer of T rows, `Rollout` below, held in
  `TrainState.replay`: `observe` writes row t where it now calls `replay.add`, from what it
  has at hand (the observation acted on, `TrainState.obs` before the step; the action, reward
  and discount; `first` = `TrainState.done`; `done` = terminated | truncated), with the row
  cursor in the buffer's state. `learn(state)` keeps its signature: it reads the whole
  rollout, computes its targets with the latest `TrainState.obs` as the observation after
  the last step (one forward pass over the next observations; recording the Q-values while
  acting, as purejaxql does, would save it but widen `act`'s contract), runs `epochs` and
  rewinds the cursor. There is no target network, no target update, no warm-up
  (learning_starts 0) and no replay ratio: the updates per iteration are
  num_epochs × num_minibatches. The agent state is `PQNState` (`AgentState` without
  `target_params`); checkpoints save it and the (empty, between chunks) rollout like any
  pytree, so exact resume holds as for DQN when a chunk is whole iterations.
- **Masking.** jaxdqn's backends follow envpool: the step after a life loss or a game end is
  not an experience (`first`), so it gets weight 0 in the loss, and the λ-return of the step
  that ended (terminated or truncated) must not run through it: λ is cut to 0 there. A
  terminal also zeroes the discount; a truncation keeps it and bootstraps on the final
  observation, as the replay's transitions do. (purejaxql's gymnax envs reset inside the
  step, so it needs neither; it also treats truncation as terminal.)
- **CPU.** `epochs` loops K·M minibatch updates in one `lax.scan`; pass the runtime's
  `unroll` for conv networks (XLA CPU runs conv gradients slowly inside loops), and mind that
  a fully unrolled K·M = 64 updates (purejaxql's settings) makes a long program to compile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxdqn import networks
from jaxdqn.policies import Policy
from jaxdqn.returns import lambda_returns

Array = chex.Array
Params = Any


class Rollout(NamedTuple):
    """T steps of E envs, time-major (leaves `[T, E, ...]` unless said).

    s_tm1: observations where the actions were taken, `[T, E, *obs]`.
    a_tm1: actions taken, int32 `[T, E]`.
    r_t: learning rewards, float32 `[T, E]`.
    discount_t: γ, or 0 where the step ended a life or a game (terminated), `[T, E]`.
    done: the step ended a life or a game (terminated or truncated), bool `[T, E]`: the next
      step is not an experience, so no λ-return runs through it.
    first: the step is not an experience (the one after a `done`, as the replay's `first`;
      row 0 continues the previous rollout), bool `[T, E]`.
    """

    s_tm1: Array
    a_tm1: Array
    r_t: Array
    discount_t: Array
    done: Array
    first: Array


class Batch(NamedTuple):
    """Transitions with their fixed targets, leading axis `[B]`."""

    s_tm1: Array  # [B, *obs]
    a_tm1: Array  # [B] int32
    target: Array  # [B] float32: the Q(λ) target of Q(s_tm1, a_tm1)
    weight: Array  # [B] float32: 1 for an experience, 0 for a masked step


@flax.struct.dataclass
class PQNState:
    """Everything that changes as one seed's PQN learner trains (no target params)."""

    params: Params
    opt_state: optax.OptState
    steps: Array  # int32: agent steps taken (drives the ε / τ schedule)
    updates: Array  # int32: minibatch updates done
    key: chex.PRNGKey
    policy_start: Array  # float32: this seed's start of the ε / τ schedule


class Parts(NamedTuple):
    """The static parts PQN's functions read (see `make_pqn`)."""

    network: nn.Module
    optimizer: optax.GradientTransformation
    policy: Policy
    policy_schedule: Callable[[Array, Array], Array]  # (agent steps, start) → ε or τ
    lambda_: float
    num_epochs: int
    num_minibatches: int
    unroll: int | bool


class PQN(NamedTuple):
    init: Callable[..., PQNState]
    act: Callable[[PQNState, Array], tuple[PQNState, Array, Array]]
    targets: Callable[[PQNState, Rollout, Array], Array]
    learn: Callable[[PQNState, Rollout, Array], tuple[PQNState, dict]]
    update: Callable[[PQNState, Batch], tuple[PQNState, dict]]


# ----------------------------------------------------------------------------- targets


def q_lambda_targets(
    r_t: Array, discount_t: Array, q_t: Array, done: Array, lambda_: float
) -> Array:
    """Peng's Q(λ) targets of one env's rollout (PQN, Gallici et al. 2024).

    λ-returns (`returns.lambda_returns`) bootstrapped on v_t = max_a q_t[a], with λ cut to 0
    where a step is `done`: its target is r_t + γ_t max_a q_t, which is r_t at a terminal
    (γ_t = 0) and bootstraps on the final observation at a truncation.

    Args:
      r_t: rewards `[T]`.
      discount_t: γ, or 0 at a terminal, `[T]`.
      q_t: Q-values at the observation after each step `[T, A]`.
      done: the step ended a life or a game `[T]` (bool).
      lambda_: λ in [0, 1].

    Returns:
      The targets `[T]`, gradients stopped.
    """
    chex.assert_rank([r_t, discount_t, q_t, done], [1, 1, 2, 1])
    v_t = jnp.max(q_t, axis=-1)
    lambda_t = jnp.where(done, 0.0, jnp.asarray(lambda_, r_t.dtype)).astype(r_t.dtype)
    return lambda_returns(r_t, discount_t, v_t, lambda_t, stop_target_gradients=True)


def next_observations(rollout: Rollout, last_obs: Array) -> Array:
    """The observation after each step, `[T, E, *obs]`: s_tm1 shifted by one, then the
    latest observation `last_obs` `[E, *obs]`."""
    return jnp.concatenate([rollout.s_tm1[1:], last_obs[None]], axis=0)


def rollout_targets(rollout: Rollout, q_t: Array, lambda_: float) -> Array:
    """Q(λ) targets `[T, E]` of a rollout, given Q-values `[T, E, A]` at the observation
    after each step (`next_observations`), every env on its own."""
    chex.assert_rank(q_t, 3)
    per_env = functools.partial(q_lambda_targets, lambda_=lambda_)
    in_axes = (1, 1, 1, 1)
    return jax.vmap(per_env, in_axes, out_axes=1)(
        rollout.r_t, rollout.discount_t, q_t, rollout.done
    )


def flatten(rollout: Rollout, targets: Array) -> Batch:
    """The rollout's T·E transitions as one `Batch` (time-major order), masked steps with
    weight 0."""
    T, E = rollout.r_t.shape
    merge = lambda x: x.reshape((T * E,) + x.shape[2:])  # noqa: E731
    weight = jnp.where(rollout.first, 0.0, 1.0).astype(jnp.float32)
    return Batch(merge(rollout.s_tm1), merge(rollout.a_tm1), merge(targets), merge(weight))


# ----------------------------------------------------------------------------- minibatches


def minibatch_indices(key: chex.PRNGKey, num_transitions: int, num_minibatches: int) -> Array:
    """A random permutation of `range(num_transitions)` cut into `num_minibatches` equal
    minibatches, int32 `[M, num_transitions // M]`: every transition once per epoch."""
    if num_transitions % num_minibatches:
        raise ValueError(f"num_minibatches={num_minibatches} must divide the rollout's "
                         f"{num_transitions} transitions")  # fmt: skip
    order = jax.random.permutation(key, num_transitions).astype(jnp.int32)
    return order.reshape(num_minibatches, num_transitions // num_minibatches)


def epoch_indices(
    key: chex.PRNGKey, num_epochs: int, num_transitions: int, num_minibatches: int
) -> Array:
    """Minibatch indices of every epoch, `[K, M, N // M]`: a key and a permutation per epoch."""
    keys = jax.random.split(key, num_epochs)
    return jnp.stack([minibatch_indices(k, num_transitions, num_minibatches) for k in keys])


def take(batch: Batch, indices: Array) -> Batch:
    """The transitions of `batch` at `indices` (any shape `[...]` → leaves `[..., ...]`)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[indices], batch)


# ----------------------------------------------------------------------------- learner


def init(parts: Parts, key: chex.PRNGKey, example_obs: Array, policy_start=0.0) -> PQNState:
    """A fresh learner state: initial params and optimiser state."""
    init_key, key = jax.random.split(key)
    rngs = {"params": init_key, "noise": jax.random.fold_in(init_key, 1)}
    params = parts.network.init(rngs, example_obs)
    return PQNState(params=params, opt_state=parts.optimizer.init(params),
                    steps=jnp.zeros((), jnp.int32), updates=jnp.zeros((), jnp.int32), key=key,
                    policy_start=jnp.asarray(policy_start, jnp.float32))  # fmt: skip


def act(parts: Parts, state: PQNState, obs: Array) -> tuple[PQNState, Array, Array]:
    """Actions `[E]` for observations `[E, *obs]` by the policy on the online Q-values;
    returns (state, actions, ε or τ), the agent's contract (`agent.act`)."""
    key, act_key, noise_key = jax.random.split(state.key, 3)
    parameter = parts.policy_schedule(state.steps, state.policy_start)
    q = networks.forward(parts.network, state.params, obs, noise_key).q_values
    chex.assert_rank(q, 2)
    actions = parts.policy.sample(act_key, q, parameter)
    return state.replace(key=key, steps=state.steps + obs.shape[0]), actions, parameter


def targets(parts: Parts, state: PQNState, rollout: Rollout, last_obs: Array) -> Array:
    """Q(λ) targets `[T, E]` of a rollout with the current params; `last_obs` `[E, *obs]` is
    the observation after its last step."""
    obs_t = next_observations(rollout, last_obs)
    T, E = rollout.r_t.shape
    flat = obs_t.reshape((T * E,) + obs_t.shape[2:])
    q_t = networks.forward(parts.network, state.params, flat, state.key).q_values
    return rollout_targets(rollout, q_t.reshape(T, E, -1), parts.lambda_)


def td_loss(network: nn.Module, params: Params, batch: Batch, key: chex.PRNGKey):
    """½ (target - Q(s_tm1, a_tm1))², weighted and averaged over the batch (masked steps
    count in the mean with weight 0); returns (loss, mean Q of the actions taken)."""
    q_tm1 = networks.forward(network, params, batch.s_tm1, key).q_values  # [B, A]
    chex.assert_rank(q_tm1, 2)
    q_a = jnp.take_along_axis(q_tm1, batch.a_tm1[:, None], axis=-1)[:, 0]
    td_error = jax.lax.stop_gradient(batch.target) - q_a
    return jnp.mean(batch.weight * 0.5 * jnp.square(td_error)), jnp.mean(q_a)


def update(parts: Parts, state: PQNState, batch: Batch) -> tuple[PQNState, dict]:
    """One optimiser step on a minibatch towards its fixed targets."""
    key, noise_key = jax.random.split(state.key)
    grad_fn = jax.value_and_grad(functools.partial(td_loss, parts.network), has_aux=True)
    (loss, mean_q), grads = grad_fn(state.params, batch, noise_key)
    updates, opt_state = parts.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    state = state.replace(params=params, opt_state=opt_state, updates=state.updates + 1, key=key)
    return state, {"loss": loss, "mean_q": mean_q}


def epochs(parts: Parts, state: PQNState, batch: Batch) -> tuple[PQNState, dict]:
    """`num_epochs` passes over `batch` in `num_minibatches` shuffled minibatches (a new
    permutation per epoch); returns (state, metrics averaged over the updates)."""
    key, order_key = jax.random.split(state.key)
    n = batch.target.shape[0]
    indices = epoch_indices(order_key, parts.num_epochs, n, parts.num_minibatches)
    indices = indices.reshape((-1, n // parts.num_minibatches))  # [K·M, B]

    def step(state: PQNState, minibatch: Array):
        return update(parts, state, take(batch, minibatch))

    state, metrics = jax.lax.scan(step, state.replace(key=key), indices, unroll=parts.unroll)
    return state, jax.tree_util.tree_map(jnp.mean, metrics)


def learn(parts: Parts, state: PQNState, rollout: Rollout, last_obs: Array):
    """A rollout's targets, then its epochs of minibatch updates; returns (state, metrics)."""
    batch = flatten(rollout, targets(parts, state, rollout, last_obs))
    return epochs(parts, state, batch)


def make_pqn(
    network: nn.Module,
    optimizer: optax.GradientTransformation,
    policy: Policy,
    policy_schedule: Callable[[Array, Array], Array],
    *,
    lambda_: float,
    num_epochs: int,
    num_minibatches: int,
    unroll: int | bool = 1,
) -> PQN:
    """PQN's learner from its parts, the functions above bound with `functools.partial`.

    Args:
      network: flax module, observations → `QOutput` (with `layer_norm` for PQN's).
      optimizer: optax transformation (gradient clipping included).
      policy: `policies.Policy` (ε-greedy or Boltzmann).
      policy_schedule: fn(agent steps, start) → the policy's parameter.
      lambda_: λ of the Q(λ) targets, in [0, 1] (purejaxql: 0.65).
      num_epochs: passes over each rollout (purejaxql: 2).
      num_minibatches: minibatches per epoch; must divide T·E (purejaxql: 32).
      unroll: `lax.scan` unroll of the minibatch updates.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda_={lambda_} is invalid: must be in [0, 1]")
    for name, value in (("num_epochs", num_epochs), ("num_minibatches", num_minibatches)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid: must be an integer >= 1")
    parts = Parts(network, optimizer, policy, policy_schedule, float(lambda_), num_epochs,
                  num_minibatches, unroll)  # fmt: skip
    bind = functools.partial
    return PQN(init=bind(init, parts), act=bind(act, parts), targets=bind(targets, parts),
               learn=bind(learn, parts), update=bind(update, parts))  # fmt: skip
