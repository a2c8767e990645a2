"""make_train: jitted chunks of env steps + updates, vmapped over seeds; and the host loop.

One envpool pool of `num_seeds × envs_per_seed` envs is stepped through its XLA interface inside
`lax.scan`; agent and replay states carry a leading seed axis and are vmapped. Each iteration of
a learning chunk is `env_steps_per_iteration` vector env steps followed by
`updates_per_iteration` updates, with no per-step condition (under vmap a batched `lax.cond`
would run both branches, i.e. an update every step). Warm-up (uniform random play, no learning)
is a separate compiled function chosen from Python.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdqn import backends, distributed
from jaxdqn import envs as envs_lib
from jaxdqn.agent import TARGET_UPDATES, Agent, AgentState, make_agent
from jaxdqn.augmentations import AUGMENTATIONS
from jaxdqn.config import Config
from jaxdqn.losses import TD_ERRORS
from jaxdqn.networks import NETWORKS
from jaxdqn.policies import POLICIES
from jaxdqn.replay import Replay, ReplayState, make_replay, replay_nbytes

Array = chex.Array


@flax.struct.dataclass
class TrainState:
    agent: AgentState  # every leaf [S, ...]
    replay: ReplayState  # every leaf [S, ...]
    obs: Array  # [S, E, *obs_shape], the latest observation
    done: Array  # [S, E] bool: the last step ended a life or a game → next obs is first_t
    stats: envs_lib.EpisodeStats  # [S, E]
    handle: Array  # envpool XLA handle, threaded through every step to order them


class Trainer(NamedTuple):
    init: Callable[..., TrainState]
    abstract_checkpoint: Callable[[], Any]
    warmup: Callable[[TrainState, int], tuple[TrainState, dict]]
    run: Callable[[TrainState], tuple[TrainState, dict]]
    agent: Agent
    replay: Replay
    env: Any
    config: Config


def _stack_trees(trees) -> Any:
    """Stacks a sequence of same-structured pytrees along a new leading axis."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


# ----------------------------------------------------------------------------- components


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
    else:  # DeepMind's DQN RMSProp: centred, squared-gradient momentum 0.95
        opt = optax.rmsprop(lr, decay=0.95, eps=a.optimizer_eps, centered=True)
    if a.max_grad_norm > 0:
        opt = optax.chain(optax.clip_by_global_norm(a.max_grad_norm), opt)
    return opt


def make_policy_schedule(config: Config) -> Callable[[Array, Array], Array]:
    """fn(agent steps, seed index) → ε or τ, decayed linearly over exploration_steps (from
    step 0, or from learning_starts with exploration_from_learning_starts); with several
    `temperature_start` values, seed i starts from the i-th (a τ sweep as seeds)."""
    a = config.agent
    if a.policy == "boltzmann":
        starts = np.broadcast_to(a.temperature_start, (config.env.num_seeds,))
        end = a.temperature_end
    else:
        starts, end = np.full((config.env.num_seeds,), a.epsilon_start), a.epsilon_end
    starts = jnp.asarray(starts, jnp.float32)
    delay = config.learning_starts_rounded if a.exploration_from_learning_starts else 0

    def schedule(steps: Array, seed_index: Array) -> Array:
        frac = jnp.clip((steps - delay) / a.exploration_steps, 0.0, 1.0)
        start = starts[seed_index]
        return start + frac * (end - start)

    return schedule


def make_target_update(config: Config) -> Callable:
    """The target update named by `--target-update`, from `jaxdqn.agent.TARGET_UPDATES`."""
    return TARGET_UPDATES[config.agent.target_update](config.agent)


def observation_spec(config: Config) -> tuple[tuple[int, ...], np.dtype, int]:
    """(obs shape, obs dtype, number of actions) of the configured env, from its spec."""
    return backends.observation_spec(config.env, config.env.backend)


# ----------------------------------------------------------------------------- memory


def available_memory_bytes() -> tuple[int, str]:
    """Free memory where the replay will live: device memory on an accelerator, else host."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), str(device)
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "host memory (MemAvailable)"
    return 2**63 - 1, "unknown"


def process_rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process (default: this one; Linux), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def check_memory(config: Config, obs_shape, obs_dtype, headroom: float = 0.85) -> int:
    """Raises before anything is allocated if the replay of all seeds cannot fit."""
    e, r = config.env, config.replay
    per_seed = replay_nbytes(
        r.replay_capacity, e.envs_per_seed, obs_shape, obs_dtype, r.dedup_frames
    )
    needed = per_seed * e.num_seeds
    available, where = available_memory_bytes()
    budget = int(available * headroom)
    if needed > budget:
        per_transition = per_seed / max(r.replay_capacity, 1)
        fits = int(budget / e.num_seeds / per_transition) // e.envs_per_seed * e.envs_per_seed
        raise ValueError(
            f"replay_capacity={r.replay_capacity} does not fit: {e.num_seeds} seed(s) × "
            f"{per_seed / 2**30:.2f} GiB = {needed / 2**30:.2f} GiB of replay, but {where} has "
            f"{available / 2**30:.2f} GiB available (using at most {headroom:.0%}). "
            f"The largest capacity that fits is about --replay-capacity {max(fits, 0)}."
        )
    return needed


# ----------------------------------------------------------------------------- make_train


def make_train(
    config: Config,
    *,
    network=None,
    td_error=None,
    policy=None,
    optimizer=None,
    replay=None,
    env_epoch: int = 0,
) -> Trainer:
    """Builds the jitted training functions. Any component may be replaced by the caller.

    Returns:
      Trainer(init, abstract_checkpoint, warmup, run, agent, replay, env, config):
      `init(keys=None, agent_state=None, replay_state=None)` resets the envs and builds the
      state (keys `[S, 2]`, default PRNGKey(seed + i) for seed i), or adopts a restored agent
      and replay (donated: no copy), opening every replay column with the reset observation;
      `env_epoch` > 0 gives the envs fresh seeds (a resumed run restarts its episodes);
      `warmup(state, num_env_steps)` plays uniformly at random and fills the replay;
      `run(state)` is one learning chunk. Both donate the state.
    """
    e, r, a = config.env, config.replay, config.agent
    S, E = e.num_seeds, e.envs_per_seed
    obs_shape, obs_dtype, num_actions = observation_spec(config)

    network = network or make_network(config, num_actions)
    td_error = td_error or TD_ERRORS[config.agent.loss]
    policy = policy or POLICIES[config.agent.policy][0]
    optimizer = optimizer or make_optimizer(config)
    replay = replay or make_replay(
        r.replay_capacity, E, obs_shape, obs_dtype, dedup_frames=r.dedup_frames, n_step=r.n_step
    )
    agent = make_agent(
        network=network,
        optimizer=optimizer,
        td_error=td_error,
        policy=policy,
        policy_schedule=make_policy_schedule(config),
        target_update=make_target_update(config),
        sample=replay.sample,
        batch_size=r.batch_size,
        num_actions=num_actions,
        loss_kind=config.agent.td_loss,
        augment=None if a.augmentation == "none" else AUGMENTATIONS[a.augmentation],
        target_is_online=a.target_update == "hard" and a.target_update_period == 1,
    )

    host_stepped = e.backend != "envpool-xla"
    num_devices = e.num_devices
    if num_devices > 1 and not host_stepped:
        raise ValueError(
            f"env_backend=envpool-xla cannot run with devices={num_devices}: envpool's XLA "
            "custom call cannot be partitioned over devices; use envpool or gymnasium"
        )
    if host_stepped:
        env = backends.make_host_env(e, e.backend, epoch=env_epoch)
        handle = np.zeros((), np.int32)  # unused: the env is stepped from Python
    else:
        env = envs_lib.make_env(e, epoch=env_epoch)
        handle, _recv, _send, xla_step = env.xla()
    gamma = config.agent.gamma

    # Seeds sharded over devices: every leaf of the state has a leading seed axis, placed by
    # seed; GSPMD partitions the vmapped (communication-free) chunk per device.
    fresh_kwargs, adopt_kwargs = {}, {}
    identity = lambda tree: tree  # noqa: E731
    place, constrain, by_seed, replicated = identity, identity, None, None
    if num_devices > 1:
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        mesh = distributed.seed_mesh(num_devices)
        by_seed = NamedSharding(mesh, P(distributed.SEED_AXIS))
        replicated = NamedSharding(mesh, P())
        state_sharding = TrainState(agent=by_seed, replay=by_seed, obs=by_seed, done=by_seed,
                                    stats=by_seed, handle=replicated)  # fmt: skip
        place = lambda tree: jax.device_put(tree, by_seed)  # noqa: E731
        constrain = lambda state: jax.lax.with_sharding_constraint(state, state_sharding)  # noqa: E731
        fresh_kwargs, adopt_kwargs = dict(out_shardings=by_seed), dict(out_shardings=state_sharding)

    def fresh(keys: Array, obs: Array):
        agent_state = jax.vmap(agent.init)(keys, obs, jnp.arange(S))
        replay_state = jax.vmap(lambda _: replay.init())(jnp.arange(S))
        return agent_state, replay_state

    def adopt(agent_state, replay_state, obs: Array, handle: Array) -> TrainState:
        # The reset observation opens every column: first_t, so nothing pairs with it as s_t.
        zeros_f = jnp.zeros((S, E), jnp.float32)
        replay_state = jax.vmap(replay.add)(
            replay_state, obs, jnp.zeros((S, E), jnp.int32), zeros_f, zeros_f,
            jnp.ones((S, E), bool),
        )  # fmt: skip
        return TrainState(
            agent=agent_state,
            replay=replay_state,
            obs=obs,
            done=jnp.zeros((S, E), bool),
            stats=jax.vmap(lambda _: envs_lib.init_episode_stats(E))(jnp.arange(S)),
            handle=handle,
        )

    # Compiled, and the replay donated: an eager add would copy a buffer of gigabytes.
    fresh_jit = jax.jit(fresh, **fresh_kwargs)
    adopt_jit = jax.jit(adopt, donate_argnums=(0, 1), **adopt_kwargs)

    def reset_obs() -> Array:
        obs = env.reset() if host_stepped else env.reset()[0]
        return place(jnp.asarray(obs).reshape((S, E) + obs_shape))

    def default_keys() -> Array:
        return jnp.stack([jax.random.PRNGKey(e.seed + i) for i in range(S)])

    def init(keys=None, agent_state=None, replay_state=None) -> TrainState:
        obs = reset_obs()
        if agent_state is None:
            keys = default_keys() if keys is None else keys
            agent_state, replay_state = fresh_jit(place(keys), obs)
        return adopt_jit(agent_state, replay_state, obs, jnp.asarray(handle))

    def abstract_checkpoint():
        """Shapes and dtypes of what a checkpoint holds (nothing is allocated); placed by
        seed over the devices when sharded."""
        obs = jax.ShapeDtypeStruct((S, E) + obs_shape, obs_dtype)
        agent_state, replay_state = jax.eval_shape(fresh, default_keys(), obs)
        eval_key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
        tree = {"agent": agent_state, "replay": replay_state, "eval_key": eval_key}
        if by_seed is None:
            return tree

        def placed(sharding):
            return lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)

        return {
            k: jax.tree_util.tree_map(placed(replicated if k == "eval_key" else by_seed), v)
            for k, v in tree.items()
        }

    def choose(state: TrainState, act_fn) -> tuple[TrainState, Array, Array]:
        """Actions `[S, E]` for the latest observations (and ε or τ per seed)."""
        agent_state, actions, parameter = jax.vmap(act_fn)(state.agent, state.obs)
        return constrain(state.replace(agent=agent_state)), actions, parameter

    def split_step(step: backends.Step) -> backends.Step:
        """`[S·E, ...]` → `[S, E, ...]`: each seed's envs."""
        return backends.Step(*(x.reshape((S, E) + x.shape[1:]) for x in step))

    def observe(state: TrainState, actions, parameter, step: backends.Step, handle):
        """One vector env step's results `[S, E, ...]` → replay add and episode stats."""
        obs, reward, terminated, truncated, raw, over = map(jnp.asarray, step)
        chex.assert_shape(obs, (S, E) + obs_shape)  # checked at trace time only: free
        chex.assert_type(obs, obs_dtype)  # uint8 stays uint8 until the network scales it
        chex.assert_shape([reward, terminated, truncated], (S, E))
        # Life loss and real terminals cut bootstrapping; truncation does not.
        discount = gamma * (1.0 - terminated.astype(jnp.float32))
        # The step after a life loss or a game end is not an experience (see envs.py).
        first = state.done
        replay_state = jax.vmap(replay.add)(state.replay, obs, actions, reward, discount, first)
        reset_step = first & ~(state.stats.length > 0)
        stats, score, length = envs_lib.update_episode_stats(
            state.stats, raw.astype(jnp.float32), over, reset_step
        )
        state = state.replace(
            replay=replay_state,
            obs=obs,
            done=terminated | truncated,
            stats=stats,
            handle=handle,
        )
        return constrain(state), {"score": score, "length": length, "parameter": parameter}

    def env_step(state: TrainState, act_fn) -> tuple[TrainState, dict]:
        """One vector env step for all seeds inside jit: act → envpool's XLA step → observe."""
        state, actions, parameter = choose(state, act_fn)
        handle, (obs, reward, terminated, truncated, info) = xla_step(
            state.handle, actions.reshape(S * E)
        )
        step = backends.Step(
            obs, reward, terminated, truncated,
            envs_lib.game_reward(reward, info), envs_lib.game_over(terminated, truncated, info),
        )  # fmt: skip
        return observe(state, actions, parameter, split_step(step), handle)

    def warmup(state: TrainState, num_env_steps: int) -> tuple[TrainState, dict]:
        def body(state, _):
            return env_step(state, agent.act_randomly)

        return jax.lax.scan(body, state, length=num_env_steps)

    def learn_seed_by_seed(agent_state: AgentState, replay_state: ReplayState):
        """Same result as vmap(agent.learn), but the gradient of each seed is computed on its
        own: a vmapped conv gradient becomes a grouped convolution, slow on XLA CPU."""
        agent_state, batch = jax.vmap(agent.sample_batch)(agent_state, replay_state)
        take = lambda tree, s: jax.tree_util.tree_map(lambda x: x[s], tree)  # noqa: E731
        states, metrics = zip(
            *[agent.update(take(agent_state, s), take(batch, s)) for s in range(S)],
            strict=True,
        )
        return _stack_trees(states), _stack_trees(metrics)

    # Chosen once here, so the training loop itself has no variant branch.
    learn_all_seeds = learn_seed_by_seed if config.seed_loop else jax.vmap(agent.learn)

    def iteration(state: TrainState, _) -> tuple[TrainState, dict]:
        outs = []
        for _ in range(config.env_steps_per_iteration):
            state, out = env_step(state, agent.act)
            outs.append(out)
        losses = []
        agent_state = state.agent
        for _ in range(config.updates_per_iteration):
            agent_state, learn_metrics = learn_all_seeds(agent_state, state.replay)
            losses.append(learn_metrics)
        state = state.replace(agent=agent_state)
        metrics = _stack_trees(outs)
        metrics.update(jax.tree_util.tree_map(lambda *xs: jnp.mean(jnp.stack(xs), 0), *losses))
        return state, metrics

    def run(state: TrainState) -> tuple[TrainState, dict]:
        if config.unroll >= config.chunk_iterations:
            # Straight-line code, no while loop at all: a fully unrolled lax.scan still emits
            # a one-trip while loop, and XLA CPU's conv gradients are slow inside loops.
            outs = []
            for _ in range(config.chunk_iterations):
                state, out = iteration(state, None)
                outs.append(out)
            return state, _stack_trees(outs)
        return jax.lax.scan(iteration, state, length=config.chunk_iterations, unroll=config.unroll)

    if host_stepped:
        host_step = lambda step: place(split_step(step))  # noqa: E731  each device its seeds
        warmup_fn, run_fn = _host_stepped(
            config, env, choose, observe, agent, learn_all_seeds, host_step, constrain
        )
    else:
        warmup_fn = jax.jit(warmup, static_argnums=1, donate_argnums=0)
        run_fn = jax.jit(run, donate_argnums=0)
    return Trainer(init, abstract_checkpoint, warmup_fn, run_fn, agent, replay, env, config)


def _host_stepped(
    config: Config,
    env: backends.HostEnv,
    choose,
    observe,
    agent,
    learn_all_seeds,
    host_step: Callable[[backends.Step], backends.Step],
    constrain: Callable[[TrainState], TrainState],
):
    """warmup and run for an env stepped from Python (backends "envpool", "gymnasium").

    The same functions as the XLA path in the same order — act, env step, observe, and after
    `env_steps_per_iteration` steps `updates_per_iteration` updates — so with a synchronous
    pool the results equal the envpool-xla backend's. One jitted call per env step: it
    observes the step, runs the iteration's updates when it ends one, and chooses the next
    actions. The next env step cannot overlap the update: its actions need the updated
    parameters (acting on stale ones would change the algorithm), so the overlap is only
    JAX's asynchronous dispatch of the call while the host converts the env's outputs.
    `host_step` splits a step's arrays into `[S, E, ...]` and, with seeds sharded over
    devices, sends each device its own seeds' rows.
    """

    def step_fn(state, actions, parameter, step, *, learn: bool, act_next, act_fn):
        state, out = observe(state, actions, parameter, step, state.handle)
        if learn:
            losses = []
            agent_state = state.agent
            for _ in range(config.updates_per_iteration):
                agent_state, learn_metrics = learn_all_seeds(agent_state, state.replay)
                losses.append(learn_metrics)
            state = constrain(state.replace(agent=agent_state))
            out.update(jax.tree_util.tree_map(lambda *xs: jnp.mean(jnp.stack(xs), 0), *losses))
        if act_next:
            state, actions, parameter = choose(state, act_fn)
        return state, out, actions, parameter

    compiled = {}

    def stepper(learn: bool, act_next: bool, act_fn):
        key = (learn, act_next, act_fn)
        if key not in compiled:
            fn = functools.partial(step_fn, learn=learn, act_next=act_next, act_fn=act_fn)
            compiled[key] = jax.jit(fn, donate_argnums=0)
        return compiled[key]

    choose_jit = {fn: jax.jit(functools.partial(choose, act_fn=fn), donate_argnums=0)
                  for fn in (agent.act, agent.act_randomly)}  # fmt: skip

    def env_steps(state, n: int, act_fn, learn_every: int | None):
        """n env steps from Python; with learn_every, updates after every learn_every steps."""
        state, actions, parameter = choose_jit[act_fn](state)
        outs = []
        for i in range(n):
            step = host_step(env.step(np.asarray(actions).reshape(-1)))
            learn = learn_every is not None and (i + 1) % learn_every == 0
            fn = stepper(learn, i + 1 < n, act_fn)
            state, out, actions, parameter = fn(state, actions, parameter, step)
            outs.append(out)
        return state, outs

    def warmup(state, num_env_steps: int):
        state, outs = env_steps(state, num_env_steps, agent.act_randomly, None)
        return state, _stack_trees(outs)

    def run(state):
        per = config.env_steps_per_iteration
        state, outs = env_steps(state, config.chunk_iterations * per, agent.act, per)
        # As the XLA chunk's metrics: [iterations, env steps, S, E] and [iterations, S].
        steps = _stack_trees([{k: o[k] for k in ("score", "length", "parameter")} for o in outs])
        metrics = jax.tree_util.tree_map(
            lambda x: x.reshape((config.chunk_iterations, per) + x.shape[1:]), steps
        )
        learned = [o for o in outs if "loss" in o]
        metrics.update(_stack_trees([{k: o[k] for k in ("loss", "mean_q")} for o in learned]))
        return state, metrics

    return warmup, run


# ----------------------------------------------------------------------------- host loop


@dataclasses.dataclass
class SeedHistory:
    """Host-side record of finished games, per seed."""

    scores: list[list[float]]
    lengths: list[list[int]]


def _collect_games(metrics: dict, history: SeedHistory) -> list[list[float]]:
    """Appends the games finished in a chunk, in time order; returns the new ones per seed."""
    score = np.asarray(metrics["score"])  # [..., S, E]
    length = np.asarray(metrics["length"])
    S = score.shape[-2]
    score = score.reshape(-1, S, score.shape[-1])
    length = length.reshape(-1, S, length.shape[-1])
    new = []
    for s in range(S):
        finished = ~np.isnan(score[:, s])
        new_scores = score[:, s][finished].tolist()
        history.scores[s].extend(new_scores)
        history.lengths[s].extend(length[:, s][finished].tolist())
        new.append(new_scores)
    return new


class StopFlag:
    """Set by SIGINT/SIGTERM; the host loop checks it between chunks."""

    def __init__(self):
        self.signal = None

    def __bool__(self):
        return self.signal is not None


def train(
    config: Config,
    *,
    components: dict | None = None,
    logger=None,
    checkpointer=None,
    resume: bool = False,
    stop: StopFlag | None = None,
    restart_envs_at: tuple[int, ...] = (),
) -> dict:
    """Trains `config.env.num_seeds` seeds; logs, evaluates and checkpoints between chunks.

    Args:
      config: the run's settings.
      components: replacements for make_train's parts (network, td_error, policy, …).
      logger: a RunLogger (None: silent).
      checkpointer: a checkpoint.Checkpointer (None: no checkpoints).
      resume: continue from the checkpointer's latest checkpoint; episodes restart there.
      stop: when it becomes true (SIGINT/SIGTERM), finish the chunk, checkpoint and return.
      restart_envs_at: agent steps at which to restart every episode in-process exactly as a
        resume from a checkpoint at that step would (for comparing resumed and uninterrupted
        runs).

    In a multi-process run (`jaxdqn.distributed`) every process calls this with the run's
    config: it trains its own slice of the seeds, and the per-seed logs, games, evaluations and
    checkpoints cover all seeds (process 0 passes the logger; the others pass None).

    Returns:
      dict with "scores" / "lengths" (per seed, every finished game in order), "evaluations",
      "state" (the final TrainState, this process's seeds), "steps" (agent steps per seed),
      "trainer", "stopped".
    """
    from jaxdqn.analysis import write_curves
    from jaxdqn.checkpoint import CheckpointError, config_differences
    from jaxdqn.config import config_from_dict
    from jaxdqn.evaluate import human_normalized, make_evaluator
    from jaxdqn.logging import versions

    run_config = config  # all seeds: what is logged, checkpointed and compared on resume
    distributed.check_devices(run_config)
    config = distributed.local_config(run_config)  # this process's seeds
    seed_offset, S = distributed.seed_slice(run_config)
    S_all = run_config.env.num_seeds
    multi_process = jax.process_count() > 1
    global_mesh = distributed.global_seed_mesh(config.env.num_devices) if multi_process else None
    obs_shape, obs_dtype, _ = observation_spec(config)
    replay_bytes = check_memory(config, obs_shape, obs_dtype)
    rss_before = process_rss_bytes()
    frame_skip = config.env.frame_skip
    total_steps = config.total_steps_rounded
    history = SeedHistory([[] for _ in range(S_all)], [[] for _ in range(S_all)])
    steps, metrics_lines, restored = 0, 0, None
    eval_key = jax.random.fold_in(jax.random.PRNGKey(run_config.env.seed), 0xE7A1)

    if resume:
        if checkpointer is None or checkpointer.latest_step() is None:
            where = checkpointer.directory if checkpointer else "(no checkpointer)"
            raise CheckpointError(f"cannot resume: no checkpoint in {where}")
        meta = checkpointer.restore_meta()
        differences = config_differences(config_from_dict(meta["config"]), run_config)
        if differences:
            raise CheckpointError(
                "checkpoint is incompatible with this run's settings: " + "; ".join(differences)
            )
        if meta.get("versions") != versions():
            message = (f"warning: resuming under different package versions: checkpoint "
                       f"{meta.get('versions')} vs now {versions()}")  # fmt: skip
            logger.note(message) if logger else print(message)
        steps, metrics_lines = int(meta["steps"]), int(meta["metrics_lines"])
        history = SeedHistory(meta["history_scores"], meta["history_lengths"])
        trainer = make_train(config, env_epoch=steps, **(components or {}))
        abstract = trainer.abstract_checkpoint()
        if multi_process:  # all seeds' arrays, each process reading its own
            abstract = distributed.global_abstract(abstract, S_all, global_mesh, ("eval_key",))
        restored, _ = checkpointer.restore(abstract)
        if multi_process:
            restored = distributed.to_local(restored, global_mesh, ("eval_key",))
        eval_key = restored["eval_key"]
    else:
        trainer = make_train(config, **(components or {}))

    if logger is not None:
        logger.start(run_config, total_steps * frame_skip, resume_steps=steps,
                     resume_metrics_lines=metrics_lines if resume else None)  # fmt: skip
        available, where = available_memory_bytes()
        logger.note(
            f"replay: {replay_bytes / 2**30:.2f} GiB for {S} seed(s) × "
            f"{config.replay.replay_capacity:,} transitions "
            f"({replay_bytes / S / config.replay.replay_capacity:,.0f} B each, "
            f"{'frame-deduplicated' if trainer.replay.dedup_frames else 'plain'}); "
            f"{available / 2**30:.1f} GiB available in {where}"
            + (f" (process 0 of {jax.process_count()})" if multi_process else "")
        )
        if config.env.num_devices > 1 or multi_process:
            logger.note(
                f"seeds sharded: {S_all} seed(s) over {jax.process_count()} process(es) × "
                f"{config.env.num_devices} device(s) ({jax.default_backend()}), "
                f"env backend {config.env.backend}"
            )
        if jax.default_backend() == "cpu" and rss_before:
            logger.note(
                f"expected process memory: {(rss_before + replay_bytes) / 2**30:.2f} GiB "
                f"({rss_before / 2**30:.2f} GiB in use before the replay)"
            )
        if total_steps != config.total_steps:
            logger.note(
                f"total_frames rounded up to whole chunks: {config.total_steps * frame_skip}"
                f" → {total_steps * frame_skip} frames per seed"
            )
        if resume:
            logger.note(f"resumed at {steps * frame_skip:,} frames; episodes restart here")

    if restored is not None:
        state = trainer.init(agent_state=restored["agent"], replay_state=restored["replay"])
        del restored
    else:
        state = trainer.init()
    per_env_step = config.env.envs_per_seed

    def collect_games(metrics) -> list[list[float]]:
        """Finished games of a chunk, every process's seeds, appended to `history`."""
        if not multi_process:
            return _collect_games(metrics, history)
        mine = SeedHistory([[] for _ in range(S)], [[] for _ in range(S)])
        _collect_games(metrics, mine)
        scores, lengths = (
            distributed.gather_lists(mine.scores),
            distributed.gather_lists(mine.lengths),
        )
        for s in range(S_all):
            history.scores[s].extend(scores[s])
            history.lengths[s].extend(int(n) for n in lengths[s])
        return scores

    def report(metrics, new_games, elapsed, phase):
        # Gathered in every process (a collective), logged by process 0.
        parameter = distributed.gather(np.asarray(metrics["parameter"]).reshape(-1, S)[-1])
        loss = mean_q = None
        if "loss" in metrics:
            loss = distributed.gather(np.asarray(metrics["loss"]).mean(0))
            mean_q = distributed.gather(np.asarray(metrics["mean_q"]).mean(0))
        if logger is None:
            return
        logger.log_chunk(
            steps=steps,
            frames=steps * frame_skip,
            new_games=new_games,
            history=history,
            loss=loss,
            mean_q=mean_q,
            parameter=parameter,
            parameter_name="temperature" if config.agent.policy == "boltzmann" else "epsilon",
            elapsed=elapsed,
            phase=phase,
        )

    evaluator = make_evaluator(
        config, trainer.agent.q_values, seed_offset=seed_offset, total_seeds=S_all
    )
    evaluations = []

    def run_eval():
        nonlocal eval_key
        eval_key, key = jax.random.split(eval_key)
        start = time.perf_counter()
        scores = distributed.gather(evaluator(state.agent.params, key))  # [S_all, episodes]
        hns = human_normalized(config.env.env_id, scores)
        evaluations.append({"step": steps, "scores": scores})
        if logger is not None:
            logger.log_eval(steps, steps * frame_skip, scores, hns, time.perf_counter() - start)

    def save_checkpoint():
        if checkpointer is None or checkpointer.latest_step() == steps:
            return
        if logger is not None:
            logger.flush()  # checkpoint boundaries are metrics boundaries
        meta = {
            "steps": steps,
            "metrics_lines": logger.metrics_lines if logger is not None else 0,
            "history_scores": history.scores,
            "history_lengths": history.lengths,
            "config": dataclasses.asdict(run_config),
            "versions": versions(),
        }
        tree = {"agent": state.agent, "replay": state.replay, "eval_key": eval_key}
        params = state.agent.params
        if multi_process:  # one checkpoint of all seeds: each process writes its own shards
            tree = distributed.to_global(tree, global_mesh, ("eval_key",))
            params = distributed.to_global({"params": params}, global_mesh)["params"]
        checkpointer.save(steps, tree, meta, params=params)
        last_save[0] = time.monotonic()
        if logger is not None:
            logger.note(f"checkpoint at {steps * frame_skip:,} frames: {checkpointer.directory}")
            write_curves(logger.run_dir)  # a run always leaves a picture; never raises

    def check_finite(metrics):
        """Stops the run at this chunk boundary if a loss or Q-value went NaN/inf; the last
        good checkpoint stays as it is and a FAILED note says where and which seeds."""
        loss = distributed.gather(np.asarray(metrics["loss"]), axis=1)
        mean_q = distributed.gather(np.asarray(metrics["mean_q"]), axis=1)
        bad_values = ~np.isfinite(loss) | ~np.isfinite(mean_q)  # [iterations, S]
        if not bad_values.any():
            return
        seeds = sorted(set(np.nonzero(bad_values)[-1].tolist()))
        last = checkpointer.latest_step() if checkpointer is not None else None
        message = (
            f"non-finite TD loss or Q-values in the chunk ending at agent step {steps} "
            f"({steps * frame_skip:,} frames), seed(s) {seeds}; last good checkpoint: "
            f"{'none' if last is None else f'agent step {last}'}"
        )
        if logger is not None:
            logger.flush()
            try:
                (logger.run_dir / "FAILED").write_text(message + "\n")
            except OSError:
                pass
        raise FloatingPointError(message)

    def every(n_frames: int) -> int | None:
        n = n_frames // frame_skip
        return (steps // n + 1) * n if n else None

    last_save = [time.monotonic()]
    next_eval = every(config.eval.eval_every)
    next_checkpoint = every(config.train.checkpoint_every)
    restarts = sorted(x for x in restart_envs_at if x > steps)
    stopped = None

    def between_chunks():
        nonlocal next_eval, next_checkpoint, trainer, state, stopped
        if restarts and steps >= restarts[0]:
            restarts.pop(0)
            if logger is not None:
                logger.flush()
            trainer = make_train(config, env_epoch=steps, **(components or {}))
            state = trainer.init(agent_state=state.agent, replay_state=state.replay)
        if next_eval is not None and steps >= next_eval and steps < total_steps:
            run_eval()
            next_eval = every(config.eval.eval_every)
        # Processes stop and checkpoint at the same chunk: a signal or a clock in any decides.
        if distributed.any_process(bool(stop)):
            stopped = (stop.signal if stop else None) or "a signal to another process"
        checkpoint_due = next_checkpoint is not None and steps >= next_checkpoint
        minutes = config.train.checkpoint_minutes
        late = minutes > 0 and time.monotonic() - last_save[0] >= 60 * minutes
        checkpoint_due |= distributed.any_process(late)
        if checkpoint_due and not stopped and steps < total_steps:
            save_checkpoint()
            next_checkpoint = every(config.train.checkpoint_every) if next_checkpoint else None

    # Warm-up in pieces so that progress shows; at most two compiled lengths.
    warmup_left = max(0, config.learning_starts_rounded - steps) // per_env_step
    piece = max(1, min(warmup_left, 5_000 // per_env_step))
    while warmup_left > 0 and not stopped:
        n = min(piece, warmup_left)
        start = time.perf_counter()
        state, metrics = trainer.warmup(state, n)
        jax.block_until_ready(state.obs)
        steps += n * per_env_step
        warmup_left -= n
        report(metrics, collect_games(metrics), time.perf_counter() - start, "warmup")
        between_chunks()

    per_chunk = config.agent_steps_per_iteration * config.chunk_iterations
    while steps < total_steps and not stopped:
        start = time.perf_counter()
        state, metrics = trainer.run(state)
        jax.block_until_ready(state.obs)
        steps += per_chunk
        new = collect_games(metrics)
        report(metrics, new, time.perf_counter() - start, "learn")
        check_finite(metrics)
        between_chunks()
    if not stopped:
        run_eval()  # always at the end
    save_checkpoint()
    if logger is not None:
        if stopped:
            logger.note(f"stopped by signal {stopped} at {steps * frame_skip:,} frames; "
                        "resume with --resume " + str(logger.run_dir))  # fmt: skip
        logger.finish()
    return {
        "evaluations": evaluations,
        "scores": history.scores,
        "lengths": history.lengths,
        "state": state,
        "steps": steps,
        "trainer": trainer,
        "stopped": stopped,
    }


def mean_last(scores: list[float], n: int) -> float:
    """Mean of the last n finished games (NaN if none)."""
    tail = scores[-n:]
    return float(np.mean(tail)) if tail else math.nan


def run_experiment(config: Config, components: dict | None = None, resume: bool = False) -> dict:
    """The host edge: checks memory, makes (or reopens) the run directory, trains with live
    progress and checkpoints; SIGINT/SIGTERM finish the chunk, checkpoint and return. A
    second process on the same run directory is refused (`logging.RunLockedError`).

    In a multi-process run (`--distributed`, see `jaxdqn.distributed`) every process calls
    this: process 0 opens, locks and writes the run directory, the others follow it."""
    import json

    from jaxdqn.logging import lock_run_dir, make_run_dir

    distributed.initialize(config)
    distributed.check_devices(config)
    local = distributed.local_config(config)
    obs_shape, obs_dtype, _ = observation_spec(local)
    check_memory(local, obs_shape, obs_dtype)  # before the run directory exists
    if jax.process_count() == 1:
        run_dir = make_run_dir(config, resume=resume)
        # One process per run directory; the OS drops the lock if this one dies (even SIGKILL).
        with lock_run_dir(run_dir):
            return _run_locked(config, components, resume, run_dir)

    from pathlib import Path

    lock, failure, opened = None, None, ["", ""]
    if distributed.is_main():
        try:
            run_dir = make_run_dir(config, resume=resume)
            lock = lock_run_dir(run_dir)
            opened[0] = str(run_dir)
        except Exception as err:  # every process must hear of it, or the others would wait
            failure, opened[1] = err, f"{type(err).__name__}: {err}"
    run_dir, error = json.loads(distributed.broadcast_text(json.dumps(opened)))
    if failure is not None:
        raise failure
    if error:
        raise distributed.OtherProcessError(f"process 0 could not open the run directory: {error}")
    try:
        return _run_locked(config, components, resume, Path(run_dir))
    finally:
        if lock is not None:
            lock.release()


def _run_locked(config: Config, components: dict | None, resume: bool, run_dir) -> dict:
    import signal

    from jaxdqn.checkpoint import Checkpointer
    from jaxdqn.logging import RunLogger

    checkpointer = Checkpointer(run_dir, keep=config.train.keep_checkpoints)
    main = distributed.is_main()  # process 0 alone writes logs, config and curves
    logger = RunLogger(run_dir, progress=config.train.progress) if main else None
    stop = StopFlag()

    def on_signal(signum, frame):
        del frame
        if stop:  # a second signal: stop now
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name
        message = f"{stop.signal}: finishing this chunk, then saving a checkpoint"
        logger.note(message) if logger is not None else print(message, flush=True)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        out = train(config, components=components, logger=logger, checkpointer=checkpointer,
                    resume=resume, stop=stop)  # fmt: skip
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if logger is not None:
            logger.finish()
    out["run_dir"] = run_dir
    if not main:
        return out
    for s, scores in enumerate(out["scores"]):
        tail = mean_last(scores, 20)
        print(f"seed {s}: {len(scores)} games, mean score of the last 20: {tail:.1f}")
    print(f"metrics: {run_dir / 'metrics.jsonl'}")
    return out
