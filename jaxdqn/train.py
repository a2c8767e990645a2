"""make_train: the training program — one iteration body, vmapped over seeds, run in chunks.

One iteration of learning is, for every seed at once:

    act (ε-greedy / Boltzmann on the online network)  ─┐ env_steps_per_iteration times
    env step → replay add → episode statistics         ─┘ (train_freq agent steps per env)
    updates_per_iteration updates: sample → TD loss → optimiser step → target update

with no per-step condition (under vmap a batched `lax.cond` would run both branches, i.e. an
update every step). Warm-up is the same env step with uniform random actions and no update.
Agent and replay states carry a leading seed axis `[S, ...]` and are vmapped; the env backend
gives reset and step (`jaxdqn.backends`: inside the jitted chunk, or from Python), and
`jaxdqn.chunks` builds the warm-up and learning chunks around it, with the runtime's CPU
strategies (`jaxdqn.runtime` chooses them: chunks as straight-line code, each seed's update
computed on its own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdqn import backends, chunks, distributed, pqn
from jaxdqn import envs as envs_lib
from jaxdqn.agent import TARGET_UPDATES, Agent, AgentState, make_agent
from jaxdqn.augmentations import AUGMENTATIONS
from jaxdqn.backends import Step
from jaxdqn.chunks import Body
from jaxdqn.config import Config
from jaxdqn.losses import LOSSES
from jaxdqn.networks import NETWORKS
from jaxdqn.plan import Plan
from jaxdqn.policies import POLICIES, Policy, linear_schedule
from jaxdqn.replay import Replay, ReplayState, make_replay
from jaxdqn.runtime import Runtime

Array = chex.Array


@flax.struct.dataclass
class TrainState:
    agent: AgentState  # every leaf [S, ...]
    replay: ReplayState  # every leaf [S, ...]
    obs: Array  # [S, E, *obs_shape], the latest observation
    done: Array  # [S, E] bool: the last step ended a life or a game → next obs is first_t
    stats: envs_lib.EpisodeStats  # [S, E]
    handle: Any  # the backend's: envpool's XLA handle (orders its steps), gymnax's env state


class Parts(NamedTuple):
    """The swappable components of a run (`make_parts` builds them from the config's names)."""

    network: Any  # flax module: observations → QOutput (Q-values, and a distribution)
    loss: Callable  # per transition: LossInputs → (loss, priority) (jaxdqn.losses)
    policy: Policy
    optimizer: optax.GradientTransformation
    replay: Replay
    target_update: Callable  # (params, target_params, updates) → target params
    augment: Callable | None  # (key, observations) → observations, while learning only


class Trainer(NamedTuple):
    init: Callable[..., TrainState]
    abstract_checkpoint: Callable[[], Any]
    warmup: Callable[[TrainState, int], tuple[TrainState, dict]]
    run: Callable[[TrainState, int], tuple[TrainState, dict]]
    agent: Agent
    replay: Replay
    env: backends.Backend  # the training envs: reset and step
    config: Config
    runtime: Runtime
    parts: Parts
    abstract_env: Callable[[], Any] = lambda: None  # shapes of `env_checkpoint`, or None
    plan: Any = None  # the jaxdqn.plan.Plan it was built from


# ----------------------------------------------------------------------------- parts


def observation_spec(config: Config, options=None) -> tuple[tuple[int, ...], np.dtype, int]:
    """(obs shape, obs dtype, number of actions) of the configured env on the backend
    `options` (`jaxdqn.options.RunOptions`) ask for, from its spec."""
    return backends.observation_spec(config.env, options)


def make_network(config: Config, num_actions: int):
    """The Q-network named by `--network`, from `jaxdqn.networks.NETWORKS`."""
    return NETWORKS[config.agent.network](num_actions, config.agent)


def make_optimizer(config: Config) -> optax.GradientTransformation:
    a = config.agent
    lr = a.learning_rate
    if a.learning_rate_end is not None:
        lr = optax.linear_schedule(a.learning_rate, a.learning_rate_end, config.total_updates)
    if a.optimizer == "adam":
        opt = optax.adam(lr, eps=a.optimizer_eps)
    elif a.optimizer == "radam":
        opt = optax.radam(lr, eps=a.optimizer_eps)
    else:  # DeepMind's DQN RMSProp: centred, squared-gradient momentum 0.95
        opt = optax.rmsprop(lr, decay=0.95, eps=a.optimizer_eps, centered=True,
                            eps_in_sqrt=a.optimizer_eps_in_sqrt)  # fmt: skip
    if a.max_grad_norm > 0:
        opt = optax.chain(optax.clip_by_global_norm(a.max_grad_norm), opt)
    return opt


def make_target_update(config: Config) -> Callable:
    """The target update named by `--target-update`, from `jaxdqn.agent.TARGET_UPDATES`."""
    return TARGET_UPDATES[config.agent.target_update](config.agent)


def make_policy_schedule(config: Config, policy: Policy) -> Callable[[Array, Array], Array]:
    """fn(agent steps, this seed's start) → ε or τ, decayed linearly over exploration_steps
    from step 0, or from learning_starts with exploration_from_learning_starts."""
    a = config.agent
    _, end = policy.parameters(a, config.env.num_seeds)
    delay = config.learning_starts_rounded if a.exploration_from_learning_starts else 0

    def schedule(steps: Array, start: Array) -> Array:
        return linear_schedule(start, end, steps, a.exploration_steps, delay)

    return schedule


def make_parts(config: Config, spec=None, **overrides) -> Parts:
    """The components named by the config; any of them may be replaced by the caller. `spec`:
    the env's (obs shape, obs dtype, number of actions) when the caller has it already."""
    a, r = config.agent, config.replay
    obs_shape, obs_dtype, num_actions = spec or observation_spec(config)
    if "network" not in overrides:
        overrides["network"] = make_network(config, num_actions)
    builders = {
        "loss": lambda: LOSSES[a.loss](a),
        "policy": lambda: POLICIES[a.policy],
        "optimizer": lambda: make_optimizer(config),
        "replay": lambda: make_replay(config.replay_capacity, config.env.envs_per_seed, obs_shape,
                                      obs_dtype, dedup_frames=r.dedup_frames, n_step=r.n_step,
                                      prioritized=r.prioritized,
                                      priority_exponent=r.priority_exponent),
        "target_update": lambda: make_target_update(config),
        "augment": lambda: None if a.augmentation == "none" else AUGMENTATIONS[a.augmentation],
    }  # fmt: skip
    unknown = set(overrides) - set(Parts._fields)
    if unknown:
        raise ValueError(f"unknown component(s) {sorted(unknown)}: one of {Parts._fields}")
    return Parts(**{name: overrides.get(name) or build() for name, build in builders.items()},
                 network=overrides["network"])  # fmt: skip


def make_importance_exponent(config: Config) -> Callable[[Array], Array]:
    """fn(agent steps) → β of the importance weights, linear from its start to its end over
    the run's agent steps (Schaul et al. 2016; Hessel et al. 2018: 0.4 → 1)."""
    r = config.replay
    return lambda steps: linear_schedule(
        r.importance_exponent_start, r.importance_exponent_end, steps, config.total_steps_rounded
    )


def assemble_agent(config: Config, parts: Parts, num_actions: int) -> Agent:
    """The agent of `--learner`: DQN's (`make_agent`), or PQN's (`assemble_pqn`)."""
    if config.agent.pqn:
        return assemble_pqn(config, parts, num_actions)
    a = config.agent
    prioritized = parts.replay.prioritized
    return make_agent(
        network=parts.network,
        optimizer=parts.optimizer,
        loss=parts.loss,
        policy=parts.policy.sample,
        policy_schedule=make_policy_schedule(config, parts.policy),
        target_update=parts.target_update,
        sample=parts.replay.sample,
        batch_size=config.replay.batch_size,
        num_actions=num_actions,
        augment=parts.augment,
        target_is_online=a.target_update == "hard" and a.target_update_period == 1,
        set_priorities=parts.replay.set_priorities if prioritized else None,
        importance_exponent=make_importance_exponent(config) if prioritized else None,
        noisy=a.noisy,
    )


def assemble_pqn(config: Config, parts: Parts, num_actions: int) -> Agent:
    """PQN (`jaxdqn.pqn`) from the parts it reads: network, optimizer, policy, and the replay
    (sized to one rollout, read whole)."""
    a = config.agent
    return pqn.make_pqn(parts.network, parts.optimizer, parts.policy.sample,
                        make_policy_schedule(config, parts.policy), parts.replay.read_recent,
                        num_actions, num_steps=config.train.rollout_steps, lambda_=a.td_lambda,
                        num_epochs=a.num_epochs, num_minibatches=a.num_minibatches)  # fmt: skip


# ----------------------------------------------------------------------------- make_train


def env_checkpoint(state: TrainState) -> dict:
    """The env part of a TrainState that a checkpoint keeps when the backend can save its envs
    (gymnax): the env state, the latest observations and done flags, the games in progress."""
    return {"obs": state.obs, "done": state.done, "stats": state.stats, "handle": state.handle}


def make_train(plan: Plan, *, env_epoch: int = 0, **components) -> Trainer:
    """Builds the training functions of this process's seeds as `plan` resolved them.

    Any component (network, loss, policy, optimizer, replay, target_update, augment) may
    be passed to replace the configured one. `env_epoch` > 0 gives the envs fresh seeds (a
    resumed run restarts its episodes).

    Returns:
      Trainer whose `init(keys=None, agent_state=None, replay_state=None)` resets the envs
      and builds the state (keys `[S, 2]`, default PRNGKey(seed + i) for seed i) or adopts a
      restored agent and replay (donated: no copy), opening every replay column with the
      reset observation; `warmup(state, num_env_steps)` plays uniformly at random and fills
      the replay; `run(state, iterations)` is a learning chunk. Both donate the state.
    """
    config, runtime = plan.local_config, plan.runtime
    S, E = config.env.num_seeds, config.env.envs_per_seed
    obs_shape, obs_dtype, num_actions = plan.spec
    parts = make_parts(config, plan.spec, **components)
    agent = assemble_agent(config, parts, num_actions)
    replay = parts.replay
    placement = distributed.placement(runtime.num_devices, TrainState)
    # The env's settings, read from the config and options once here: the backend gets nothing
    # else.
    spec = envs_lib.env_spec(config.env, runtime.env_backend, epoch=env_epoch, options=plan.options)
    env = backends.make_backend(spec)
    starts, _ = parts.policy.parameters(config.agent, S)
    fresh = functools.partial(_fresh, agent, replay, jnp.asarray(np.asarray(starts, np.float32)))
    keys = jnp.stack([jax.random.PRNGKey(config.env.seed + i) for i in range(S)])
    abstract_obs = jax.ShapeDtypeStruct((S, E) + obs_shape, obs_dtype)
    # Compiled, and the replay donated: an eager add would copy a buffer of gigabytes.
    init = functools.partial(
        _init, env, placement, jax.jit(fresh, **placement.fresh_kwargs),
        jax.jit(functools.partial(_adopt, replay), donate_argnums=(0, 1),
                **placement.adopt_kwargs), keys, (S, E) + obs_shape,
    )  # fmt: skip
    abstract_checkpoint = functools.partial(_abstract_checkpoint, fresh, placement, keys,
                                            abstract_obs)  # fmt: skip
    abstract_env = functools.partial(_abstract_env, env, abstract_obs)
    # One update traced on shapes alone (nothing allocated, nothing compiled): a loss that reads
    # what the network does not give (a distribution, a key) fails here, before the replay is.
    jax.eval_shape(lambda k, o: jax.vmap(agent.learn)(*fresh(k, o)), keys, abstract_obs)

    body = make_body(config, runtime, agent, replay, placement, obs_shape, obs_dtype)
    warmup, run = chunks.make_chunks(body, env, chunks.repeat_strategy(runtime.unroll))
    return Trainer(init, abstract_checkpoint, warmup, run, agent, replay, env, config,
                   runtime, parts, abstract_env, plan)  # fmt: skip


def _fresh(agent: Agent, replay: Replay, starts: Array, keys: Array, obs: Array):
    """New agent states `[S, ...]` (policy start values `starts` `[S]`) and empty replays."""
    agent_state = jax.vmap(agent.init)(keys, obs, starts)
    replay_state = jax.vmap(lambda _: replay.init())(jnp.arange(keys.shape[0]))
    return agent_state, replay_state


def _adopt(replay: Replay, agent_state, replay_state, obs: Array, handle: Array) -> TrainState:
    """The TrainState of agent and replay states and the envs' reset observations `[S, E, ...]`."""
    S, E = obs.shape[:2]
    # The reset observation opens every column: first_t, so nothing pairs with it as s_t.
    zeros_f = jnp.zeros((S, E), jnp.float32)
    replay_state = jax.vmap(replay.add)(
        replay_state, obs, jnp.zeros((S, E), jnp.int32), zeros_f, zeros_f, jnp.ones((S, E), bool)
    )
    return TrainState(agent=agent_state, replay=replay_state, obs=obs,
                      done=jnp.zeros((S, E), bool), stats=_episode_stats(S, E),
                      handle=handle)  # fmt: skip


def _episode_stats(S: int, E: int) -> envs_lib.EpisodeStats:
    return jax.vmap(lambda _: envs_lib.init_episode_stats(E))(jnp.arange(S))


def _init(env, placement, fresh_jit, adopt_jit, default_keys: Array, obs_shape: tuple,
          keys=None, agent_state=None, replay_state=None, env_state=None):  # fmt: skip
    """Resets the envs and builds the state, or adopts a restored one (see `make_train`);
    `obs_shape` is `[S, E, *obs]`."""
    if env_state is not None:  # a saved env (gymnax): its episodes go on, nothing resets
        return TrainState(agent=agent_state, replay=replay_state, **env_state)
    obs, handle = env.reset()
    obs = placement.place(jnp.asarray(obs).reshape(obs_shape))
    if agent_state is None:
        keys = default_keys if keys is None else keys
        agent_state, replay_state = fresh_jit(placement.place(keys), obs)
    handle = jax.tree_util.tree_map(jnp.asarray, handle)
    return adopt_jit(agent_state, replay_state, obs, handle)


def _abstract_env(env: backends.Backend, abstract_obs: jax.ShapeDtypeStruct):
    """Shapes of the env part a checkpoint keeps (`env_checkpoint`), or None when the backend
    cannot save its envs (envpool's emulators)."""
    if not env.saves_env_state:
        return None
    S, E = abstract_obs.shape[:2]
    return {"obs": abstract_obs, "done": jax.ShapeDtypeStruct((S, E), jnp.bool_),
            "stats": jax.eval_shape(lambda: _episode_stats(S, E)),
            "handle": jax.eval_shape(env.reset)[1]}  # fmt: skip


def _abstract_checkpoint(fresh, placement, keys: Array, abstract_obs: jax.ShapeDtypeStruct):
    """Shapes and dtypes of what a checkpoint holds (nothing is allocated); placed by seed over
    the devices when sharded."""
    agent_state, replay_state = jax.eval_shape(fresh, keys, abstract_obs)
    eval_key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    return placement.abstract({"agent": agent_state, "replay": replay_state,
                               "eval_key": eval_key}, replicated=("eval_key",))  # fmt: skip


def make_body(config: Config, runtime: Runtime, agent: Agent, replay: Replay, placement,
              obs_shape: tuple[int, ...], obs_dtype) -> Body:  # fmt: skip
    """The iteration's pure pieces over the TrainState of all seeds (see the module doc)."""
    S, E = config.env.num_seeds, config.env.envs_per_seed
    constrain = placement.constrain
    learn_all_seeds = chunks.learn_strategy(agent, S, runtime.seed_loop)
    return Body(
        choose=functools.partial(_choose, constrain),
        observe=functools.partial(_observe, constrain, replay, config.agent.gamma,
                                  (S, E) + tuple(obs_shape), obs_dtype),
        learn=functools.partial(_learn, constrain, learn_all_seeds,
                                config.learn_calls_per_iteration),
        iteration=functools.partial(_iteration, agent.act, config.env_steps_per_iteration),
        act=agent.act,
        act_randomly=agent.act_randomly,
        place=placement.place,
    )  # fmt: skip


def _choose(constrain: Callable, state: TrainState, act_fn) -> tuple[TrainState, Array, Array]:
    """Actions `[S, E]` for the latest observations (and ε or τ per seed)."""
    agent_state, actions, parameter = jax.vmap(act_fn)(state.agent, state.obs)
    return constrain(state.replace(agent=agent_state)), actions, parameter


def _observe(constrain: Callable, replay: Replay, gamma: float, obs_shape: tuple, obs_dtype,
             state: TrainState, actions, parameter, step: Step, handle):  # fmt: skip
    """One vector env step's results `[S, E, ...]` → replay add and episode stats;
    `obs_shape` is `[S, E, *obs]`."""
    obs, reward, terminated, truncated, raw, over = map(jnp.asarray, step)
    chex.assert_shape(obs, obs_shape)  # checked at trace time only: free
    chex.assert_type(obs, obs_dtype)  # uint8 stays uint8 until the network scales it
    chex.assert_shape([reward, terminated, truncated], obs_shape[:2])
    # Life loss and real terminals cut bootstrapping; truncation does not.
    discount = gamma * (1.0 - terminated.astype(jnp.float32))
    # The step after a life loss or a game end is not an experience (see envs.py).
    first = state.done
    replay_state = jax.vmap(replay.add)(state.replay, obs, actions, reward, discount, first)
    reset_step = first & ~(state.stats.length > 0)
    stats, score, length = envs_lib.update_episode_stats(
        state.stats, raw.astype(jnp.float32), over, reset_step
    )
    state = state.replace(replay=replay_state, obs=obs, done=terminated | truncated,
                          stats=stats, handle=handle)  # fmt: skip
    return constrain(state), {"score": score, "length": length, "parameter": parameter}


def _learn(constrain: Callable, learn_all_seeds: Callable, updates: int,
           state: TrainState) -> tuple[TrainState, dict]:  # fmt: skip
    """The iteration's `updates` calls of the agent's learn for every seed; losses averaged
    over them, `[S]`."""
    agent_state, replay_state, losses = state.agent, state.replay, []
    for _ in range(updates):
        agent_state, replay_state, learn_metrics = learn_all_seeds(agent_state, replay_state)
        losses.append(learn_metrics)
    mean = jax.tree_util.tree_map(lambda *xs: jnp.mean(jnp.stack(xs), 0), *losses)
    return constrain(state.replace(agent=agent_state, replay=replay_state)), mean


def _iteration(act: Callable, env_steps: int, state: TrainState, env_step: Callable,
               learn: Callable, loop: Callable) -> tuple[TrainState, dict]:  # fmt: skip
    """The algorithm's order: `env_steps` env steps acting on the online network (repeated by
    `loop(fn, state, n)`, outs stacked), then the updates."""
    state, outs = loop(lambda s: env_step(s, act), state, env_steps)
    state, losses = learn(state)
    return state, {**outs, **losses}
