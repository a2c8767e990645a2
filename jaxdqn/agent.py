"""The DQN agent: state, acting and learning, assembled from parts handed in by the caller.

Mnih et al. 2015: act by an exploration policy on the online network's Q-values; learn by
minimising the TD loss of a replayed batch against a target network that is synced every N
updates (or Polyak-averaged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxdqn.losses import TDErrorFn, td_loss
from jaxdqn.registry import Registry
from jaxdqn.replay import ReplayState

Array = chex.Array
Params = Any


@flax.struct.dataclass
class AgentState:
    """Everything that changes as one seed's agent trains."""

    params: Params
    target_params: Params
    opt_state: optax.OptState
    steps: Array  # int32: agent steps taken (drives the ε / τ schedule)
    updates: Array  # int32: parameter updates done (drives target syncs)
    key: chex.PRNGKey
    policy_start: Array  # float32: this seed's start of the ε / τ schedule (a τ sweep)


class Agent(NamedTuple):
    init: Callable[..., AgentState]
    act: Callable[[AgentState, Array], tuple[AgentState, Array, Array]]
    act_randomly: Callable[[AgentState, Array], tuple[AgentState, Array, Array]]
    learn: Callable[[AgentState, ReplayState], tuple[AgentState, dict]]
    q_values: Callable[[Params, Array], Array]
    sample_batch: Callable[[AgentState, ReplayState], tuple[AgentState, Any]]
    update: Callable[[AgentState, Any], tuple[AgentState, dict]]


def hard_target_update(period: int) -> Callable:
    """Copy the online params into the target every `period` updates (Mnih et al. 2015)."""

    def update(params, target_params, updates):
        return optax.periodic_update(params, target_params, updates, period)

    return update


def polyak_target_update(rate: float) -> Callable:
    """target ← (1 - rate)·target + rate·online after every update (Lillicrap et al. 2016)."""

    def update(params, target_params, updates):
        del updates
        return optax.incremental_update(params, target_params, rate)

    return update


# Name → fn(agent_config: config.AgentConfig) → update fn(params, target_params, updates) → new
# target params, called after every parameter update (`updates` counts them, from 1).
# AgentConfig validates `--target-update` against these names.
TargetUpdateFn = Callable[[Params, Params, Array], Params]
TARGET_UPDATES: dict[str, Callable[[Any], TargetUpdateFn]] = {
    "hard": lambda agent_config: hard_target_update(agent_config.target_update_period),
    "polyak": lambda agent_config: polyak_target_update(agent_config.polyak_rate),
}
TARGET_UPDATES = Registry(TARGET_UPDATES)  # remembers the module that registers each name


def make_agent(
    network: nn.Module,
    optimizer: optax.GradientTransformation,
    td_error: TDErrorFn,
    policy: Callable[[chex.PRNGKey, Array, Array], Array],
    policy_schedule: Callable[[Array, Array], Array],
    target_update: Callable,
    sample: Callable,
    batch_size: int,
    num_actions: int,
    loss_kind: str = "huber",
    augment: Callable[[chex.PRNGKey, Array], Array] | None = None,
    target_is_online: bool = False,
) -> Agent:
    """Builds a DQN agent from its parts.

    Args:
      network: flax module mapping observations `[..., *obs]` to Q-values `[..., A]`.
      optimizer: optax transformation (gradient clipping included).
      td_error: per-transition fn(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online).
      policy: fn(key, q `[B, A]`, parameter) → actions `[B]` (ε-greedy, Boltzmann, …).
      policy_schedule: fn(agent steps, start) → the policy parameter (ε or τ); `start` is
        the agent state's `policy_start`, so seeds trained side by side may follow different
        schedules (a τ sweep).
      target_update: fn(params, target_params, updates) → new target params.
      sample: the replay's `sample(state, key, batch_size)`.
      batch_size: transitions per update.
      num_actions: size of the discrete action space.
      loss_kind: "huber" or "mse".
      augment: fn(key, observations `[B, *obs]`) → augmented observations, applied to the
        replayed `s_tm1` and `s_t` with independent keys while learning only (DrQ); None: none.
      target_is_online: the target network is synced after every update (hard updates every
        update, as DrQ(ε)), so target params equal the online params whenever a loss is taken:
        one forward pass at `s_t` serves as both selector and target (same numbers, one pass
        fewer).
    """
    td_loss(jnp.zeros((1,)), loss_kind)  # fail now, not at trace time, on an unknown kind

    def init(key: chex.PRNGKey, example_obs: Array, policy_start: Array = 0.0) -> AgentState:
        init_key, key = jax.random.split(key)
        params = network.init(init_key, example_obs)
        return AgentState(
            params=params,
            # A copy, not the same buffers: donation rejects a buffer donated twice.
            target_params=jax.tree_util.tree_map(jnp.array, params),
            opt_state=optimizer.init(params),
            steps=jnp.zeros((), jnp.int32),
            updates=jnp.zeros((), jnp.int32),
            key=key,
            policy_start=jnp.asarray(policy_start, jnp.float32),
        )

    def act(state: AgentState, obs: Array) -> tuple[AgentState, Array, Array]:
        """Actions `[E]` for observations `[E, *obs]`; returns (state, actions, ε or τ)."""
        key, act_key = jax.random.split(state.key)
        parameter = policy_schedule(state.steps, state.policy_start)
        q = network.apply(state.params, obs)
        chex.assert_shape(q, (obs.shape[0], num_actions))  # [E, A]
        chex.assert_type(q, float)
        actions = policy(act_key, q, parameter)
        chex.assert_shape(actions, (obs.shape[0],))
        chex.assert_type(actions, int)
        state = state.replace(key=key, steps=state.steps + obs.shape[0])
        return state, actions, parameter

    def act_randomly(state: AgentState, obs: Array) -> tuple[AgentState, Array, Array]:
        """Uniform random actions (replay warm-up, as in Mnih et al. 2015)."""
        key, act_key = jax.random.split(state.key)
        actions = jax.random.randint(act_key, (obs.shape[0],), 0, num_actions, jnp.int32)
        parameter = policy_schedule(state.steps, state.policy_start)  # as `act` reports it
        state = state.replace(key=key, steps=state.steps + obs.shape[0])
        return state, actions, parameter

    def loss_fn(params, target_params, batch):
        q_tm1 = network.apply(params, batch.s_tm1)  # [B, A]
        # Only double-Q reads q_t_online; XLA drops this forward pass when it is unused.
        q_t_online = jax.lax.stop_gradient(network.apply(params, batch.s_t))
        if target_is_online:
            q_t_target = q_t_online
        else:
            q_t_target = network.apply(target_params, batch.s_t)
        chex.assert_shape([q_tm1, q_t_target, q_t_online], (batch_size, num_actions))
        chex.assert_type([q_tm1, q_t_target, q_t_online], float)
        chex.assert_equal_shape([batch.s_tm1, batch.s_t])
        td_errors = jax.vmap(td_error)(
            q_tm1, batch.a_tm1, batch.r_t, batch.discount_t, q_t_target, q_t_online
        )
        loss = td_loss(td_errors, loss_kind)
        return loss, jnp.mean(jnp.max(q_tm1, axis=-1))

    def sample_batch(state: AgentState, replay_state: ReplayState):
        """Draws the next batch with the agent's key; returns (state with new key, batch)."""
        key, sample_key = jax.random.split(state.key)
        return state.replace(key=key), sample(replay_state, sample_key, batch_size)

    def learn(state: AgentState, replay_state: ReplayState) -> tuple[AgentState, dict]:
        """Samples a batch, takes one optimiser step, updates the target network."""
        return update(*sample_batch(state, replay_state))

    def update(state: AgentState, batch) -> tuple[AgentState, dict]:
        """One optimiser step on a batch (augmented first, if the agent augments), then the
        target network update."""
        if augment is not None:
            key, tm1_key, t_key = jax.random.split(state.key, 3)
            s_tm1, s_t = augment(tm1_key, batch.s_tm1), augment(t_key, batch.s_t)
            batch = batch._replace(s_tm1=s_tm1, s_t=s_t)
            state = state.replace(key=key)
        (loss, mean_q), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.target_params, batch
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        num_updates = state.updates + 1
        target_params = target_update(params, state.target_params, num_updates)
        state = state.replace(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            updates=num_updates,
        )
        return state, {"loss": loss, "mean_q": mean_q}

    return Agent(init, act, act_randomly, learn, network.apply, sample_batch, update)
