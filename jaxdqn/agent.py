"""The DQN agent: state, acting and learning, assembled from parts handed in by the caller.

Mnih et al. 2015: act by an exploration policy on the online network's Q-values; learn by
minimising a loss of a replayed batch against a target network that is synced every N
updates (or Polyak-averaged).

The network returns a `QOutput` (Q-values, and the head's distribution where it has one) and
may be stochastic: every forward pass gets its own key through flax's "noise" rng stream
(noisy networks; other networks ignore it). The loss is a per-transition `LossFn` over the
online and target outputs at s_tm1 and s_t (`jaxdqn.losses.LossInputs`) returning the loss and
the priority a prioritised replay stores; importance weights correct for prioritised draws.
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
from jaxdqn import replay as replay_lib
from jaxdqn.losses import LossFn, LossInputs
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
    learn: Callable[[AgentState, ReplayState], tuple[AgentState, ReplayState, dict]]
    q_values: Callable[[Params, Array, chex.PRNGKey], Array]  # (params, obs, key) → [..., A]
    sample_batch: Callable[[AgentState, ReplayState], tuple[AgentState, Any]]
    update: Callable[[AgentState, Any], tuple[AgentState, dict, Array]]  # → …, priorities [B]
    set_priorities: Callable[[ReplayState, Array, Array], ReplayState]


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


class Parts(NamedTuple):
    """The static parts of an agent that its functions read.

    Attributes:
      network: flax module mapping observations `[..., *obs]` to a `QOutput` (or to Q-values
        `[..., A]`), drawing any noise from the "noise" rng stream.
      optimizer: optax transformation (gradient clipping included).
      loss: per-transition fn(LossInputs) → (loss, priority) (`jaxdqn.losses.LOSSES`).
      policy: fn(key, q `[B, A]`, parameter) → actions `[B]` (ε-greedy, Boltzmann, …).
      policy_schedule: fn(agent steps, start) → the policy parameter (ε or τ); `start` is
        the agent state's `policy_start`, so seeds trained side by side may follow different
        schedules (a τ sweep).
      target_update: fn(params, target_params, updates) → new target params.
      sample: the replay's `sample(state, key, batch_size)`.
      batch_size: transitions per update.
      num_actions: size of the discrete action space.
      augment: fn(key, observations `[B, *obs]`) → augmented observations, applied to the
        replayed `s_tm1` and `s_t` with independent keys while learning only (DrQ); None: none.
      target_is_online: the target network is synced after every update (hard updates every
        update, as DrQ(ε)), so target params equal the online params whenever a loss is taken:
        one forward pass at `s_t` serves as both selector and target (same numbers, one pass
        fewer; not for noisy networks, whose passes differ by their noise).
      set_priorities: the replay's `set_priorities(state, indices, priorities)`, given the
        loss's priorities after every update (`keep_priorities` for a uniform replay).
      importance_exponent: fn(agent steps) → β of the importance weights `(N·P)^-β / max`
        that correct for prioritised draws (None: uniform draws, every weight 1).
      noisy: the network draws noise: keys are split for its forward passes.
    """

    network: nn.Module
    optimizer: optax.GradientTransformation
    loss: LossFn
    policy: Callable[[chex.PRNGKey, Array, Array], Array]
    policy_schedule: Callable[[Array, Array], Array]
    target_update: Callable
    sample: Callable
    batch_size: int
    num_actions: int
    augment: Callable[[chex.PRNGKey, Array], Array] | None
    target_is_online: bool
    set_priorities: Callable[[ReplayState, Array, Array], ReplayState]
    importance_exponent: Callable[[Array], Array] | None
    noisy: bool


def keep_priorities(replay_state: ReplayState, indices: Array, priorities: Array) -> ReplayState:
    """A uniform replay's `set_priorities`: nothing to tell, the state is returned unchanged."""
    del indices, priorities
    return replay_state


def forward(parts: Parts, params, obs: Array, key: chex.PRNGKey, num_fractions: int | None = None):
    """The network's `QOutput` of observations `[..., *obs]` (key: the network's noise and
    sampled fractions; num_fractions: the τ an implicit quantile network draws, None: K)."""
    return networks.forward(parts.network, params, obs, key, num_fractions)


def stochastic(parts: Parts) -> bool:
    """Whether the network's forward passes differ by their key: noisy layers, or quantile
    fractions drawn per pass (IQN). Such passes each get a fresh key and are never shared."""
    return parts.noisy or networks.fraction_samples(parts.network) is not None


def q_values(parts: Parts, params, obs: Array, key: chex.PRNGKey) -> Array:
    """Q-values `[..., A]` of observations `[..., *obs]` (key: the network's noise)."""
    return forward(parts, params, obs, key).q_values


def init(
    parts: Parts, key: chex.PRNGKey, example_obs: Array, policy_start: Array = 0.0
) -> AgentState:
    """A fresh agent state: initial params, a copy of them as the target, optimiser state."""
    init_key, key = jax.random.split(key)
    rngs = {"params": init_key, "noise": jax.random.fold_in(init_key, 1)}
    params = parts.network.init(rngs, example_obs)
    return AgentState(
        params=params,
        # A copy, not the same buffers: donation rejects a buffer donated twice.
        target_params=jax.tree_util.tree_map(jnp.array, params),
        opt_state=parts.optimizer.init(params),
        steps=jnp.zeros((), jnp.int32),
        updates=jnp.zeros((), jnp.int32),
        key=key,
        policy_start=jnp.asarray(policy_start, jnp.float32),
    )


def act(parts: Parts, state: AgentState, obs: Array) -> tuple[AgentState, Array, Array]:
    """Actions `[E]` for observations `[E, *obs]`; returns (state, actions, ε or τ)."""
    key, act_key = jax.random.split(state.key)
    parameter = parts.policy_schedule(state.steps, state.policy_start)
    q = q_values(parts, state.params, obs, jax.random.fold_in(act_key, 1))
    chex.assert_shape(q, (obs.shape[0], parts.num_actions))  # [E, A]
    chex.assert_type(q, float)
    actions = parts.policy(act_key, q, parameter)
    chex.assert_shape(actions, (obs.shape[0],))
    chex.assert_type(actions, int)
    state = state.replace(key=key, steps=state.steps + obs.shape[0])
    return state, actions, parameter


def act_randomly(parts: Parts, state: AgentState, obs: Array) -> tuple[AgentState, Array, Array]:
    """Uniform random actions (replay warm-up, as in Mnih et al. 2015)."""
    key, act_key = jax.random.split(state.key)
    actions = jax.random.randint(act_key, (obs.shape[0],), 0, parts.num_actions, jnp.int32)
    parameter = parts.policy_schedule(state.steps, state.policy_start)  # as `act` reports it
    state = state.replace(key=key, steps=state.steps + obs.shape[0])
    return state, actions, parameter


def loss_fn(parts: Parts, params, target_params, batch, weights: Array, keys: Array):
    """The importance-weighted mean loss of a batch; returns (loss, (mean max-Q, priorities))."""
    sg = jax.lax.stop_gradient
    # IQN: N fractions where the quantiles are learned, N' in the target; other passes K.
    samples = networks.fraction_samples(parts.network)
    n_online, n_target = (None, None) if samples is None else samples[:2]
    online_tm1 = forward(parts, params, batch.s_tm1, keys[0], n_online)
    # Outputs a loss does not read (q_t online without double-Q, the target at s_tm1
    # without Munchausen) cost nothing: XLA drops their forward passes.
    online_t = sg(forward(parts, params, batch.s_t, keys[1]))
    if parts.target_is_online and not stochastic(parts):
        target_t = online_t
    else:
        target_t = sg(forward(parts, target_params, batch.s_t, keys[2], n_target))
    target_tm1 = sg(forward(parts, target_params, batch.s_tm1, keys[3]))
    for out in (online_tm1, online_t, target_t):
        chex.assert_shape(out.q_values, (parts.batch_size, parts.num_actions))
        chex.assert_type(out.q_values, float)
    chex.assert_equal_shape([batch.s_tm1, batch.s_t])
    inputs = LossInputs(online_tm1, target_tm1, batch.a_tm1, batch.r_t, batch.discount_t,
                        online_t, target_t)  # fmt: skip
    losses, priorities = jax.vmap(parts.loss)(inputs)
    chex.assert_shape([losses, priorities], (parts.batch_size,))
    mean_q = jnp.mean(jnp.max(online_tm1.q_values, axis=-1))
    return jnp.mean(weights * losses), (mean_q, priorities)


def sample_batch(parts: Parts, state: AgentState, replay_state: ReplayState):
    """Draws the next batch with the agent's key; returns (state with new key, batch)."""
    key, sample_key = jax.random.split(state.key)
    return state.replace(key=key), parts.sample(replay_state, sample_key, parts.batch_size)


def learn(parts: Parts, state: AgentState, replay_state: ReplayState):
    """Samples a batch, takes one optimiser step, updates the target network, and gives
    the replay the batch's new priorities; returns (state, replay_state, metrics)."""
    state, batch = sample_batch(parts, state, replay_state)
    state, metrics, priorities = update(parts, state, batch)
    return state, parts.set_priorities(replay_state, batch.indices, priorities), metrics


def augment_batch(parts: Parts, state: AgentState, batch):
    """The batch with `s_tm1` and `s_t` augmented by independent keys (DrQ); unchanged, and
    no key drawn, when the agent does not augment. Returns (state, batch)."""
    if parts.augment is None:
        return state, batch
    key, tm1_key, t_key = jax.random.split(state.key, 3)
    s_tm1, s_t = parts.augment(tm1_key, batch.s_tm1), parts.augment(t_key, batch.s_t)
    return state.replace(key=key), batch._replace(s_tm1=s_tm1, s_t=s_t)


def forward_keys(parts: Parts, state: AgentState) -> tuple[AgentState, Array]:
    """Keys `[4]` for the loss's four forward passes: fresh noise for a noisy network (or fresh
    fractions for IQN), else the state's key repeated (deterministic networks ignore it).
    Returns (state, keys)."""
    if not stochastic(parts):
        return state, jnp.stack([state.key] * 4)
    key, noise_key = jax.random.split(state.key)
    return state.replace(key=key), jax.random.split(noise_key, 4)


def update(parts: Parts, state: AgentState, batch):
    """One optimiser step on a batch (augmented first, if the agent augments), then the
    target network update; returns (state, metrics, the batch's new priorities `[B]`)."""
    state, batch = augment_batch(parts, state, batch)
    state, keys = forward_keys(parts, state)
    weights = jnp.ones((parts.batch_size,), jnp.float32)
    if parts.importance_exponent is not None:
        beta = parts.importance_exponent(state.steps)
        weights = replay_lib.importance_weights(batch.probabilities, beta)
    grad_fn = jax.value_and_grad(functools.partial(loss_fn, parts), has_aux=True)
    (loss, (mean_q, priorities)), grads = grad_fn(
        state.params, state.target_params, batch, weights, keys
    )
    updates, opt_state = parts.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    num_updates = state.updates + 1
    target_params = parts.target_update(params, state.target_params, num_updates)
    state = state.replace(
        params=params,
        target_params=target_params,
        opt_state=opt_state,
        updates=num_updates,
    )
    return state, {"loss": loss, "mean_q": mean_q}, priorities


def make_agent(
    network: nn.Module,
    optimizer: optax.GradientTransformation,
    loss: LossFn,
    policy: Callable[[chex.PRNGKey, Array, Array], Array],
    policy_schedule: Callable[[Array, Array], Array],
    target_update: Callable,
    sample: Callable,
    batch_size: int,
    num_actions: int,
    augment: Callable[[chex.PRNGKey, Array], Array] | None = None,
    target_is_online: bool = False,
    set_priorities: Callable | None = None,
    importance_exponent: Callable[[Array], Array] | None = None,
    noisy: bool = False,
) -> Agent:
    """Builds a DQN agent from its parts: the module-level functions above, bound to one
    `Parts` with `functools.partial`, so each can be read, tested and replaced alone.

    Args: the fields of `Parts` (documented there); set_priorities None: a uniform replay.
    """
    parts = Parts(
        network=network,
        optimizer=optimizer,
        loss=loss,
        policy=policy,
        policy_schedule=policy_schedule,
        target_update=target_update,
        sample=sample,
        batch_size=batch_size,
        num_actions=num_actions,
        augment=augment,
        target_is_online=target_is_online,
        set_priorities=set_priorities or keep_priorities,
        importance_exponent=importance_exponent,
        noisy=noisy,
    )
    bind = functools.partial
    return Agent(
        init=bind(init, parts),
        act=bind(act, parts),
        act_randomly=bind(act_randomly, parts),
        learn=bind(learn, parts),
        q_values=bind(q_values, parts),
        sample_batch=bind(sample_batch, parts),
        update=bind(update, parts),
        set_priorities=parts.set_priorities,
    )
