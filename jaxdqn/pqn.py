"""PQN, a learner without replay or target network: Q(λ) targets of each rollout, then a few
epochs of minibatch updates towards them.

Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning" (PQN; purejaxql
`pqn_minatar.py`, `pqn_atari.py`): many envs act for a short rollout (T steps each) with
ε-greedy (or Boltzmann) on the online network; every transition of the rollout gets a Peng's
Q(λ) target, bootstrapped on max_a Q(s_t, a) of the same (unchanged) network; then
`num_epochs` passes of `num_minibatches` shuffled minibatches regress Q(s_tm1, a_tm1) on those
fixed targets. A LayerNorm before every ReLU of the network (`--layer-norm`) is what keeps this
stable without a target network.

PQN is an `agent.Agent` like DQN's, so the loop runs it unchanged (`--learner pqn`):

- **The rollout is the replay, read whole.** `train.make_parts` sizes the replay to the
  rollout (T transitions per env); the loop adds every env step to it as for DQN, and
  `learn` reads its T newest rows in order (`replay.read_recent`) instead of sampling. The row
  before them is the last of the previous rollout (or a reset observation), so every
  transition is learned from exactly once, across rollouts, resets and resumes.
- **An iteration is a rollout.** `Config.env_steps_per_iteration` is T and `learn` is called
  once per iteration; it runs num_epochs × num_minibatches updates (`Config.updates_per_iteration`,
  which also sets the length of a decaying learning rate). No target network, no replay ratio;
  warm-up is optional (purejaxql has none: `learning_starts` 0).
- **Reused as is**: acting (`agent.act` and `agent.act_randomly`, which read only the
  network, policy, schedule and number of actions of the parts they get), evaluation, the
  backends and chunks, seeds vmapped (or looped), checkpoints and exact resume, tracking.
- **Masking.** jaxdqn's backends follow envpool: the step after a life loss or a game end is
  not an experience (`first`), so it gets weight 0 in the loss, and the λ-return of the step
  that ended (terminated or truncated) must not run through it: λ is cut to 0 there. A
  terminal also zeroes the discount; a truncation keeps it and bootstraps on the final
  observation, as the replay's transitions do. (purejaxql's gymnax envs reset inside the
  step, so it needs neither; it also treats truncation as terminal.)
- **CPU.** `epochs` loops the K·M minibatch updates in one `lax.scan` (`unroll` as given).
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

from jaxdqn import agent as agent_lib
from jaxdqn import networks
from jaxdqn.returns import lambda_returns

Array = chex.Array
Params = Any


class Rollout(NamedTuple):
    """T steps of E envs, time-major (leaves `[T, E, ...]`), as `from_replay` builds them.

    s_tm1, a_tm1, r_t, discount_t, s_t: the transitions (discount_t γ, or 0 where the step
      ended a life or a game: terminated).
    done: the step ended a life or a game (terminated or truncated), bool: the next step is
      not an experience, so no λ-return runs through it.
    first: the step is not an experience (s_t follows a reset, the replay's `first`), bool.
    """

    s_tm1: Array
    a_tm1: Array
    r_t: Array
    discount_t: Array
    s_t: Array
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
    """The static parts PQN's functions read (see `make_pqn`); network, policy,
    policy_schedule and num_actions are what `agent.act` reads."""

    network: nn.Module
    optimizer: optax.GradientTransformation
    policy: Callable[[chex.PRNGKey, Array, Array], Array]  # (key, q [B, A], ε or τ) → actions
    policy_schedule: Callable[[Array, Array], Array]  # (agent steps, start) → ε or τ
    num_actions: int
    read_recent: Callable  # the replay's (state, T) → (transitions [T, E], first [T, E])
    num_steps: int
    lambda_: float
    num_epochs: int
    num_minibatches: int
    unroll: int | bool


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


def from_replay(transitions, first: Array) -> Rollout:
    """A `Rollout` from the replay's newest rows (`replay.read_recent`): a step is `done`
    when the next one is `first`; the last step's successor is not written yet, and its
    λ-return bootstraps whole anyway."""
    done = jnp.concatenate([first[1:], jnp.zeros_like(first[:1])], axis=0)
    return Rollout(transitions.s_tm1, transitions.a_tm1, transitions.r_t,
                   transitions.discount_t, transitions.s_t, done, first)  # fmt: skip


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


def targets(parts: Parts, state: PQNState, rollout: Rollout) -> Array:
    """Q(λ) targets `[T, E]` of a rollout with the current params."""
    T, E = rollout.r_t.shape
    flat = rollout.s_t.reshape((T * E,) + rollout.s_t.shape[2:])
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


def learn_rollout(parts: Parts, state: PQNState, rollout: Rollout) -> tuple[PQNState, dict]:
    """A rollout's targets, then its epochs of minibatch updates; returns (state, metrics)."""
    return epochs(parts, state, flatten(rollout, targets(parts, state, rollout)))


def learn(parts: Parts, state: PQNState, replay_state):
    """The agent's `learn`: the rollout the replay holds (its T newest rows), learned from;
    returns (state, replay_state unchanged, metrics)."""
    state, metrics = learn_rollout(parts, state, read_rollout(parts, replay_state))
    return state, replay_state, metrics


def read_rollout(parts: Parts, replay_state) -> Rollout:
    """The T newest rows of the replay as a `Rollout`."""
    return from_replay(*parts.read_recent(replay_state, parts.num_steps))


def make_pqn(
    network: nn.Module,
    optimizer: optax.GradientTransformation,
    policy: Callable[[chex.PRNGKey, Array, Array], Array],
    policy_schedule: Callable[[Array, Array], Array],
    read_recent: Callable,
    num_actions: int,
    *,
    num_steps: int,
    lambda_: float,
    num_epochs: int,
    num_minibatches: int,
    unroll: int | bool = 1,
) -> agent_lib.Agent:
    """PQN as an `agent.Agent`, the functions above bound with `functools.partial`.

    Args:
      network: flax module, observations → `QOutput` (with `layer_norm` for PQN's).
      optimizer: optax transformation (gradient clipping included).
      policy: fn(key, q `[B, A]`, parameter) → actions `[B]` (ε-greedy or Boltzmann).
      policy_schedule: fn(agent steps, start) → the policy's parameter.
      read_recent: the replay's `read_recent` (a replay sized to hold `num_steps` rows).
      num_actions: size of the discrete action space.
      num_steps: T, env steps per rollout (purejaxql: 32).
      lambda_: λ of the Q(λ) targets, in [0, 1] (purejaxql: 0.65).
      num_epochs: passes over each rollout (purejaxql: 2).
      num_minibatches: minibatches per epoch; must divide T·E (purejaxql: 32).
      unroll: `lax.scan` unroll of the minibatch updates.

    Returns:
      `Agent` whose `learn(state, replay_state)` learns from the rollout the replay holds;
      `sample_batch` and `update` are None (a rollout is learned whole, never sampled).
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda_={lambda_} is invalid: must be in [0, 1]")
    for name, value in (("num_epochs", num_epochs), ("num_minibatches", num_minibatches),
                        ("num_steps", num_steps)):  # fmt: skip
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid: must be an integer >= 1")
    parts = Parts(network, optimizer, policy, policy_schedule, num_actions, read_recent,
                  num_steps, float(lambda_), num_epochs, num_minibatches, unroll)  # fmt: skip
    bind = functools.partial
    return agent_lib.Agent(
        init=bind(init, parts),
        act=bind(agent_lib.act, parts),
        act_randomly=bind(agent_lib.act_randomly, parts),
        learn=bind(learn, parts),
        q_values=bind(agent_lib.q_values, parts),
        sample_batch=None,
        update=None,
        set_priorities=agent_lib.keep_priorities,
    )
