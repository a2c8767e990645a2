"""Configuration: one frozen dataclass per concern, validated once, and the presets.

Every field's docstring becomes its `--help` text (tyro). Flags are flat (`--batch-size`, not
`--replay.batch-size`). Units are stated per field: *frames* are emulator frames, *agent steps*
are decisions per environment (one agent step = `frame_skip` frames on Atari, 1 elsewhere), and
*updates* are gradient steps.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Literal

import tyro

from jaxdqn.agent import TARGET_UPDATES
from jaxdqn.augmentations import AUGMENTATIONS
from jaxdqn.losses import LOSS_KINDS, TD_ERRORS
from jaxdqn.networks import IMAGE_NETWORKS, NETWORKS
from jaxdqn.policies import POLICIES

ATARI_FRAME_SKIP = 4
ENV_BACKENDS = ("envpool-xla", "envpool", "gymnasium")


def gymnasium_env_ids() -> list[str]:
    """Registered gymnasium ids, ale-py's ALE/* included."""
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    return list(gymnasium.registry)


def _fail(field: str, value, allowed: str) -> None:
    raise ValueError(f"{field}={value!r} is invalid: {allowed}")


def _check_registered(field: str, value, registry: dict, where: str) -> None:
    # Checked against the registry when the config is built, so a name a fork registers before
    # parsing is accepted and an unknown one fails before anything is allocated.
    if value not in registry:
        _fail(field, value, f"one of {', '.join(registry)} (the names in {where})")


def _check_int(field: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(field, value, f"must be an integer >= {minimum}")


def _check_range(field: str, value, lo: float, hi: float, *, lo_open=False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        _fail(field, value, f"must be a finite number in {'(' if lo_open else '['}{lo}, {hi}]")


def is_atari(env_id: str) -> bool:
    """Atari games in envpool are the `*-v5` ids backed by ALE."""
    if env_id.startswith("ALE/"):  # gymnasium's ale-py ids
        return True
    import envpool.registration as reg

    spec = reg.registry.specs.get(env_id)
    return spec is not None and "atari" in str(spec[0]).lower()


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    env_id: str = "Assault-v5"
    """envpool task id, e.g. Assault-v5, Breakout-v5, CartPole-v1; with --env-backend
    gymnasium a gymnasium id (ALE/Assault-v5; Assault-v5 also names the ale-py game)."""
    num_seeds: int = 1
    """Independent training runs trained side by side (vmapped) in one process."""
    envs_per_seed: int = 4
    """Parallel environments per seed; the replay ratio is kept whatever this is."""
    seed: int = 0
    """Seed of the first run; run i uses seed + i (network init, exploration, env seeds)."""
    max_episode_steps: int | None = None
    """Truncate a game after this many agent steps (None: envpool's default, 27,000 agent
    steps = 108,000 frames on Atari, 500 on CartPole-v1)."""
    noop_max: int = 30
    """Atari: a random number of no-op actions, fewer than noop_max, starts every game
    (Mnih et al. 2015's 30; envpool / ale-py convention). 1 disables them; 0 is refused
    (envpool 1.2.5 crashes on it)."""
    episodic_life: bool = True
    """Atari, training only: a lost life ends the episode for learning (discount 0); the
    reported game score still sums all lives."""
    reward_clip: bool = True
    """Atari, training only: learn from sign(reward) in {-1, 0, +1}; scores stay unclipped."""
    repeat_action_probability: float = 0.0
    """Atari sticky actions (0.25 in Machado et al. 2018 / Dopamine; 0 in Mnih et al. 2015)."""
    num_threads: int = 0
    """envpool / ale-py worker threads (0: one per core)."""
    env_backend: str = "auto"
    """Who steps the envs: envpool-xla (inside the jitted chunk; CPU/GPU), envpool (from
    Python between jitted calls; the TPU path), gymnasium (any gymnasium id, e.g.
    ALE/Assault-v5 via ale-py). auto: envpool-xla, or envpool on TPU or with --devices > 1."""
    devices: str = "1"
    """Local devices (GPUs) the seeds are sharded over: N or all. Each device trains
    num_seeds / (N × processes) seeds in the same jitted program; N > 1 needs a host-stepped
    env backend (envpool or gymnasium; auto picks envpool). See README "Scaling out"."""

    def __post_init__(self):
        if self.env_backend not in ("auto", *ENV_BACKENDS):
            _fail("env_backend", self.env_backend, f"one of auto, {', '.join(ENV_BACKENDS)}")
        if self.env_backend == "gymnasium":
            known, kind = gymnasium_env_ids(), "a gymnasium env id"
        else:
            import envpool

            known, kind = envpool.list_all_envs(), "an envpool task"
        if self.env_backend == "gymnasium" and f"ALE/{self.env_id}" in known:
            known = [self.env_id]  # envpool's Atari name of an ale-py game: Assault-v5
        if self.env_id not in known:
            close = difflib.get_close_matches(self.env_id, known, n=5, cutoff=0.6)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            if self.env_backend != "gymnasium" and self.env_id in gymnasium_env_ids():
                hint += " It is a gymnasium id: add --env-backend gymnasium."
            _fail("env_id", self.env_id, f"not {kind}.{hint}")
        _check_int("num_seeds", self.num_seeds, 1)
        if isinstance(self.devices, int) and not isinstance(self.devices, bool):
            object.__setattr__(self, "devices", str(self.devices))
        devices = str(self.devices)
        if devices != "all" and not (devices.isdigit() and int(devices) >= 1):
            _fail("devices", self.devices, "all, or a number of local devices >= 1")
        if devices != "all" and self.num_seeds % int(devices):
            _fail(
                "num_seeds",
                self.num_seeds,
                f"must be divisible by devices ({devices}): each device trains the same number "
                "of seeds",
            )
        if devices not in ("1", "all") and self.env_backend == "envpool-xla":
            _fail(
                "env_backend",
                self.env_backend,
                f"envpool-xla cannot run with devices={devices}: envpool's XLA custom call "
                "cannot be partitioned over devices; use envpool (auto picks it) or gymnasium",
            )
        _check_int("envs_per_seed", self.envs_per_seed, 1)
        _check_int("seed", self.seed, 0)
        if self.max_episode_steps is not None:
            _check_int("max_episode_steps", self.max_episode_steps, 1)
        _check_int("noop_max", self.noop_max, 1)
        _check_int("num_threads", self.num_threads, 0)
        _check_range("repeat_action_probability", self.repeat_action_probability, 0.0, 1.0)

    @property
    def atari(self) -> bool:
        return is_atari(self.env_id)

    @property
    def backend(self) -> str:
        """env_backend with auto resolved: envpool's XLA step exists on CPU and GPU only."""
        if self.env_backend != "auto":
            return self.env_backend
        import jax

        if jax.default_backend() == "tpu" or self.num_devices > 1:
            return "envpool"  # envpool's XLA step cannot be partitioned over devices
        return "envpool-xla"

    @property
    def num_devices(self) -> int:
        """Local devices the seeds are sharded over (`devices` with all resolved)."""
        if self.devices == "all":
            import jax

            return jax.local_device_count()
        return int(self.devices)

    @property
    def frame_skip(self) -> int:
        return ATARI_FRAME_SKIP if self.atari else 1

    @property
    def num_envs(self) -> int:
        return self.num_seeds * self.envs_per_seed


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    replay_capacity: int = 1_000_000
    """Transitions kept per seed (the most recent; oldest dropped). Nature: 1M."""
    batch_size: int = 32
    """Transitions per gradient update. Nature: 32."""
    dedup_frames: bool | None = None
    """Store each frame of a stacked image observation once and rebuild the stacks at sample
    time (7 KB instead of 28 KB per Atari transition). None: automatically for uint8 stacks."""
    n_step: int = 1
    """Learn from n-step returns r_t + γ r_t+1 + … + γ^(n-1) r_t+n-1 + γ^n max Q(s_t+n),
    computed from the replay and cut at episode ends and life losses (1: one-step DQN; 3 in
    Rainbow, Hessel et al. 2018)."""

    def __post_init__(self):
        _check_int("replay_capacity", self.replay_capacity, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("n_step", self.n_step, 1)
        if self.batch_size > self.replay_capacity:
            _fail(
                "batch_size",
                self.batch_size,
                f"must be <= replay_capacity ({self.replay_capacity})",
            )


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    network: str = "nature"
    """Q-network: nature (Mnih et al. 2015 CNN), dueling (Wang et al. 2016 streams on the
    Nature torso) — both for image observations — or mlp (vector observations); any name
    registered in jaxdqn.networks.NETWORKS."""
    hidden: tuple[int, ...] = (128, 128)
    """Hidden layer widths of the mlp network."""
    conv_padding: Literal["VALID", "SAME"] = "VALID"
    """Padding of the image networks' convolutions: VALID (Mnih et al. 2015: 84 → 20 → 9 → 7,
    3,136 features) or SAME (flax's default, used by Dopamine's JAX networks: 84 → 21 → 11 →
    11, 7,744 features; ≈1.5× the update's cost on a CPU, BENCHMARKS.md)."""
    augmentation: str = "none"
    """Image augmentation of replayed observations while learning (never when acting or
    evaluating): none, or drq (random shift of ±4 pixels and intensity scaling, Kostrikov et
    al. 2021); any name registered in jaxdqn.augmentations.AUGMENTATIONS."""
    loss: str = "q"
    """TD target: q (max-Q over the target network) or double_q (van Hasselt et al. 2016);
    any name registered in jaxdqn.losses.TD_ERRORS."""
    td_loss: Literal["huber", "mse"] = "huber"
    """Loss on the TD error: huber (δ=1, the error clipping of Mnih et al. 2015) or mse."""
    gamma: float = 0.99
    """Discount factor γ in [0, 1]."""
    policy: str = "epsilon"
    """Exploration: epsilon (ε-greedy) or boltzmann (softmax of Q/τ); any name registered in
    jaxdqn.policies.POLICIES."""
    epsilon_start: float = 1.0
    """ε at the start of the run (agent step 0)."""
    epsilon_end: float = 0.1
    """ε after exploration_steps (Nature: 0.1)."""
    temperature_start: tuple[float, ...] = (5.0,)
    """Boltzmann τ at the start of the run (τ=5 is near-uniform for typical Q gaps). Several
    values (`--temperature-start 1,2,5,10`, one per seed) run a τ sweep as vmapped seeds:
    seed i starts from the i-th value."""
    temperature_end: float = 0.1
    """Boltzmann τ after exploration_steps (near-greedy)."""
    exploration_steps: int = 250_000
    """Agent steps over which ε (or τ) decays linearly, counted from the start of the run
    (or from learning_starts with --exploration-from-learning-starts). Nature: 1M frames =
    250,000 agent steps."""
    exploration_from_learning_starts: bool = False
    """ε (or τ) holds its start value until learning starts, then decays over
    exploration_steps (Dopamine's linearly_decaying_epsilon); off: the decay starts at agent
    step 0 (Mnih et al. 2015)."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """adam (modern reproductions) or rmsprop (centred, as DeepMind's DQN; decay 0.95)."""
    learning_rate: float = 1e-4
    """Optimiser step size (Adam 1e-4 as CleanRL/Dopamine-JAX; Nature RMSProp 2.5e-4)."""
    learning_rate_end: float | None = None
    """If set, the learning rate decays linearly to this value over the run's updates
    (None: constant)."""
    optimizer_eps: float = 1.5e-4
    """ε of Adam (1.5e-4 as Rainbow/Dopamine) or RMSProp (1e-5 as Dopamine: Nature's 0.01 was
    on the gradient summed over the 32-transition batch, ≈ 0.01/32² ≈ 1e-5 on our mean loss)."""
    max_grad_norm: float = 10.0
    """Clip gradients to this global norm (<= 0 disables)."""
    target_update: str = "hard"
    """Target network: hard (copy every target_update_period updates) or polyak (averaging
    at polyak_rate); any name registered in jaxdqn.agent.TARGET_UPDATES."""
    target_update_period: int = 10_000
    """Parameter updates between hard target syncs (Nature Extended Data Table 1 counts
    updates: 10,000 updates = 40,000 agent steps at train_freq 4)."""
    polyak_rate: float = 0.005
    """Polyak averaging rate per update: target ← (1-rate)·target + rate·online."""

    def __post_init__(self):
        _check_registered("network", self.network, NETWORKS, "jaxdqn.networks.NETWORKS")
        if self.conv_padding not in ("VALID", "SAME"):
            _fail("conv_padding", self.conv_padding, "one of VALID, SAME")
        _check_registered(
            "augmentation", self.augmentation, AUGMENTATIONS, "jaxdqn.augmentations.AUGMENTATIONS"
        )
        _check_registered("loss", self.loss, TD_ERRORS, "jaxdqn.losses.TD_ERRORS")
        if self.td_loss not in LOSS_KINDS:
            _fail("td_loss", self.td_loss, f"one of {', '.join(LOSS_KINDS)}")
        _check_registered("policy", self.policy, POLICIES, "jaxdqn.policies.POLICIES")
        if self.optimizer not in ("adam", "rmsprop"):
            _fail("optimizer", self.optimizer, "one of adam, rmsprop")
        _check_registered(
            "target_update", self.target_update, TARGET_UPDATES, "jaxdqn.agent.TARGET_UPDATES"
        )
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            _fail("hidden", self.hidden, "a non-empty tuple of positive integers")
        _check_range("gamma", self.gamma, 0.0, 1.0)
        _check_range("epsilon_start", self.epsilon_start, 0.0, 1.0)
        _check_range("epsilon_end", self.epsilon_end, 0.0, 1.0)
        if isinstance(self.temperature_start, (int, float)):  # one value for every seed
            object.__setattr__(self, "temperature_start", (float(self.temperature_start),))
        if not isinstance(self.temperature_start, tuple) or not self.temperature_start:
            _fail("temperature_start", self.temperature_start, "one value, or one per seed")
        for tau in self.temperature_start:
            _check_range("temperature_start", tau, 0.0, math.inf, lo_open=True)
        _check_range("temperature_end", self.temperature_end, 0.0, math.inf, lo_open=True)
        _check_int("exploration_steps", self.exploration_steps, 1)
        _check_range("learning_rate", self.learning_rate, 0.0, math.inf, lo_open=True)
        if self.learning_rate_end is not None:
            _check_range("learning_rate_end", self.learning_rate_end, 0.0, math.inf)
        _check_range("optimizer_eps", self.optimizer_eps, 0.0, math.inf, lo_open=True)
        _check_range("max_grad_norm", self.max_grad_norm, -math.inf, math.inf)
        _check_int("target_update_period", self.target_update_period, 1)
        _check_range("polyak_rate", self.polyak_rate, 0.0, 1.0, lo_open=True)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    total_frames: int = 40_000_000
    """Frames per seed (40M frames = 10M agent steps on Atari; on CartPole frames = steps)."""
    learning_starts: int = 50_000
    """Agent steps per seed of uniformly random play that fill the replay before learning
    (Nature "replay start size": 50,000)."""
    train_freq: int = 4
    """Agent steps per seed between gradient updates (Nature "update frequency": 4). With E
    envs per seed, E/train_freq updates follow each vector env step (or one update every
    train_freq/E env steps): the replay ratio is the paper's whatever E is."""
    chunk_iterations: int = 0
    """Iterations per jitted chunk (one iteration = env steps + updates); progress, logs and
    checkpoints happen between chunks. 0 = auto: for the conv network on CPU 1 with one seed,
    4 with several (fastest measured, BENCHMARKS.md), else 250."""
    unroll: int = 0
    """lax.scan unroll of the learning chunk. 0 = auto: fully unrolled for the conv network on
    CPU (XLA CPU runs conv gradients ≈6× slower inside a loop; see BENCHMARKS.md), else 1."""
    seed_loop: int = -1
    """Compute each seed's update separately instead of vmapping it: 1 yes, 0 no, -1 auto
    (yes for the conv network on CPU with several seeds, where a vmapped conv gradient runs
    as a slow grouped convolution)."""
    log_interval: int = 10_000
    """Agent steps per seed between metrics records (rounded to whole chunks)."""
    run_dir: str = "runs"
    """Parent folder of run directories."""
    run_name: str | None = None
    """Run directory name under run_dir (default: <env>-<policy>-<timestamp>)."""
    progress: bool = True
    """Show a live progress display between chunks."""
    checkpoint_every: int = 1_000_000
    """Frames per seed between checkpoints (0: only at the end); always one at the end."""
    checkpoint_minutes: float = 0.0
    """Also checkpoint when this many minutes of wall-clock time have passed since the last
    checkpoint (0: off). Bounds the work a crash or a SIGKILL can lose."""
    keep_checkpoints: int = 3
    """Keep the latest K checkpoints (older ones are deleted)."""
    distributed: bool = False
    """Join a multi-process run (several hosts, or processes on one host) through
    jax.distributed.initialize: coordinator from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
    JAX_PROCESS_ID, or SLURM's variables. On automatically when JAX_COORDINATOR_ADDRESS is set.
    Each process trains its slice of the seeds; process 0 writes the run directory."""

    def __post_init__(self):
        _check_int("total_frames", self.total_frames, 1)
        _check_int("learning_starts", self.learning_starts, 0)
        _check_int("train_freq", self.train_freq, 1)
        _check_int("chunk_iterations", self.chunk_iterations, 0)
        _check_int("unroll", self.unroll, 0)
        if self.seed_loop not in (-1, 0, 1):
            _fail("seed_loop", self.seed_loop, "one of -1 (auto), 0, 1")
        _check_int("log_interval", self.log_interval, 1)
        _check_int("checkpoint_every", self.checkpoint_every, 0)
        _check_range("checkpoint_minutes", self.checkpoint_minutes, 0.0, math.inf)
        _check_int("keep_checkpoints", self.keep_checkpoints, 1)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    eval_every: int = 1_000_000
    """Frames per seed between evaluations (0: only at the end)."""
    eval_episodes: int = 10
    """Full games per seed at each evaluation (no life loss, raw rewards, no-op starts)."""
    eval_epsilon: float = 0.05
    """ε of the evaluation policy (0.05 Mnih et al. 2015; 0.001 Dopamine)."""
    eval_max_episode_steps: int = 27_000
    """Cap on an evaluation game in agent steps (27,000 = 108,000 frames = 30 minutes)."""

    def __post_init__(self):
        _check_int("eval_every", self.eval_every, 0)
        _check_int("eval_episodes", self.eval_episodes, 1)
        _check_range("eval_epsilon", self.eval_epsilon, 0.0, 1.0)
        _check_int("eval_max_episode_steps", self.eval_max_episode_steps, 1)


@dataclasses.dataclass(frozen=True)
class Config:
    """A DQN run: environment, replay, agent and training settings."""

    env: tyro.conf.OmitArgPrefixes[EnvConfig] = dataclasses.field(default_factory=EnvConfig)
    replay: tyro.conf.OmitArgPrefixes[ReplayConfig] = dataclasses.field(
        default_factory=ReplayConfig
    )
    agent: tyro.conf.OmitArgPrefixes[AgentConfig] = dataclasses.field(default_factory=AgentConfig)
    train: tyro.conf.OmitArgPrefixes[TrainConfig] = dataclasses.field(default_factory=TrainConfig)
    eval: tyro.conf.OmitArgPrefixes[EvalConfig] = dataclasses.field(default_factory=EvalConfig)

    def __post_init__(self):
        e, r, t = self.env, self.replay, self.train
        if r.replay_capacity < e.envs_per_seed:
            _fail(
                "replay_capacity",
                r.replay_capacity,
                f"must be >= envs_per_seed ({e.envs_per_seed})",
            )
        if r.n_step > r.replay_capacity // e.envs_per_seed:
            _fail(
                "n_step",
                r.n_step,
                f"must be <= replay_capacity // envs_per_seed "
                f"({r.replay_capacity // e.envs_per_seed} transitions per env)",
            )
        taus = self.agent.temperature_start
        if len(taus) not in (1, e.num_seeds):
            _fail(
                "temperature_start",
                ",".join(f"{t:g}" for t in taus),
                f"give one value, or one per seed (num_seeds={e.num_seeds}): "
                f"--num-seeds {len(taus)} runs these {len(taus)} schedules side by side",
            )
        if t.learning_starts < r.batch_size:
            _fail(
                "learning_starts",
                t.learning_starts,
                f"must be >= batch_size ({r.batch_size}) so the first update has a full batch",
            )
        if t.learning_starts > r.replay_capacity + e.envs_per_seed:
            pass  # allowed: the buffer simply fills and starts overwriting before learning
        n, f = e.envs_per_seed, t.train_freq
        if n % f and f % n:
            _fail(
                "train_freq",
                f,
                f"must divide envs_per_seed ({n}) or be a multiple of it, so that every "
                "iteration does whole env steps and whole updates",
            )
        if self.total_steps <= self.learning_starts_rounded:
            _fail(
                "total_frames",
                t.total_frames,
                f"must exceed learning_starts × frame_skip ({t.learning_starts * e.frame_skip})",
            )
        if self.agent.augmentation != "none" and not e.atari:
            _fail(
                "augmentation",
                self.agent.augmentation,
                f"augments image observations; {e.env_id} is not Atari (use none)",
            )
        if self.agent.network in IMAGE_NETWORKS and not e.atari:
            _fail(
                "network",
                self.agent.network,
                f"needs image observations; {e.env_id} is not Atari (use mlp)",
            )

    # Derived quantities (never written back).
    @property
    def conv_on_cpu(self) -> bool:
        import jax

        return self.agent.network in IMAGE_NETWORKS and jax.default_backend() == "cpu"

    @property
    def chunk_iterations(self) -> int:
        if self.train.chunk_iterations:
            return self.train.chunk_iterations
        if self.conv_on_cpu:  # measured best on CPU (BENCHMARKS.md, "Chunk length on CPU")
            return 1 if self.env.num_seeds == 1 else 4
        return 250

    @property
    def seed_loop(self) -> bool:
        if self.train.seed_loop != -1:
            return bool(self.train.seed_loop)
        # Sharded over devices, indexing seeds one by one would move them between devices.
        return self.conv_on_cpu and self.env.num_seeds > 1 and self.env.num_devices == 1

    @property
    def unroll(self) -> int:
        if self.train.unroll:
            return self.train.unroll
        return self.chunk_iterations if self.conv_on_cpu else 1

    @property
    def env_steps_per_iteration(self) -> int:
        """Vector env steps per iteration (each is envs_per_seed agent steps per seed)."""
        return max(1, self.train.train_freq // self.env.envs_per_seed)

    @property
    def updates_per_iteration(self) -> int:
        return max(1, self.env.envs_per_seed // self.train.train_freq)

    @property
    def agent_steps_per_iteration(self) -> int:
        return self.env_steps_per_iteration * self.env.envs_per_seed

    @property
    def total_steps(self) -> int:
        """Agent steps per seed requested by total_frames."""
        return self.train.total_frames // self.env.frame_skip

    @property
    def learning_starts_rounded(self) -> int:
        """learning_starts rounded up to whole vector env steps."""
        n = self.env.envs_per_seed
        return -(-self.train.learning_starts // n) * n

    @property
    def warmup_env_steps(self) -> int:
        return self.learning_starts_rounded // self.env.envs_per_seed

    @property
    def num_chunks(self) -> int:
        """Learning chunks; the budget is rounded up to whole chunks (announced at start)."""
        steps = self.total_steps - self.learning_starts_rounded
        per_chunk = self.agent_steps_per_iteration * self.chunk_iterations
        return -(-steps // per_chunk)

    @property
    def total_updates(self) -> int:
        """Parameter updates per seed over the whole run."""
        return self.num_chunks * self.chunk_iterations * self.updates_per_iteration

    @property
    def total_steps_rounded(self) -> int:
        per_chunk = self.agent_steps_per_iteration * self.chunk_iterations
        return self.learning_starts_rounded + self.num_chunks * per_chunk


def config_from_dict(record: dict) -> Config:
    """Rebuilds a Config from `dataclasses.asdict` output (e.g. a run's config.json)."""
    sections = {"env": EnvConfig, "replay": ReplayConfig, "agent": AgentConfig,
                "train": TrainConfig, "eval": EvalConfig}  # fmt: skip
    kwargs = {}
    for name, cls in sections.items():
        values = dict(record.get(name, {}))
        if name == "agent":
            for key in ("hidden", "temperature_start"):
                if isinstance(values.get(key), list):
                    values[key] = tuple(values[key])
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs[name] = cls(**{k: v for k, v in values.items() if k in known})
    return Config(**kwargs)


def nature() -> Config:
    """Mnih et al. 2015 (Nature), Extended Data Table 1 and Methods, on Assault; Adam.

    Value by value (tests/test_presets.py checks them). Extended Data Table 1: minibatch size
    32 → batch_size 32; replay memory size 1,000,000 → replay_capacity 1_000_000; agent history
    length 4 → the 4-frame stack; target network update frequency 10,000 (parameter updates) →
    target_update_period 10_000; discount factor 0.99 → gamma 0.99; action repeat 4 → frame
    skip 4; update frequency 4 → train_freq 4; learning rate 0.00025, gradient momentum 0.95,
    squared gradient momentum 0.95, min squared gradient 0.01 → DeepMind's RMSProp, replaced by
    Adam here (below); initial exploration 1 → epsilon_start 1.0; final exploration 0.1 →
    epsilon_end 0.1; final exploration frame 1,000,000 → exploration_steps 250_000 agent steps
    from step 0 ("over the first million frames", Methods); replay start size 50,000 →
    learning_starts 50_000 agent steps (transitions, as DeepMind's released code counts them);
    no-op max 30 → noop_max 30.
    Methods: a lost life ends a training episode → episodic_life; rewards clipped to [−1, 1] →
    reward_clip; the error term clipped to [−1, 1] → td_loss huber (δ 1). "Evaluation
    procedure": 30 games of up to 5 minutes (18,000 frames = 4,500 agent steps) at ε 0.05 from
    no-op starts → eval_episodes 30, eval_max_episode_steps 4_500, eval_epsilon 0.05.

    Different on purpose: Adam (lr 1e-4, ε 1.5e-4) instead of RMSProp, as CleanRL, Dopamine's
    JAX agents and most reproductions since Hessel et al. 2018 (README, "Optimiser"; the
    paper's optimiser is `--optimizer rmsprop --learning-rate 2.5e-4 --optimizer-eps 1e-5`);
    40M frames per seed instead of 50M (README, "Settings and their sources"). Not in the
    paper: gradients clipped to global norm 10 (max_grad_norm, the AgentConfig default).
    """
    return Config(
        eval=EvalConfig(eval_episodes=30, eval_max_episode_steps=4_500, eval_epsilon=0.05)
    )


def dopamine() -> Config:
    """Dopamine's DQN (Castro et al. 2018): the TensorFlow agent's dqn.gin and code defaults.

    Value by value from google/dopamine (tests/test_presets.py checks them). Gin file
    dopamine/agents/dqn/configs/dqn.gin (now dopamine/tf/agents/dqn/configs/dqn.gin):
    DQNAgent.gamma = 0.99 → gamma 0.99; DQNAgent.update_horizon = 1 → n_step 1;
    DQNAgent.min_replay_history = 20000 (agent steps) → learning_starts 20_000;
    DQNAgent.update_period = 4 → train_freq 4; DQNAgent.target_update_period = 8000 (agent
    steps) → target_update_period 2_000 updates (8,000 / 4); DQNAgent.epsilon_train = 0.01 →
    epsilon_end 0.01; DQNAgent.epsilon_eval = 0.001 → eval_epsilon 0.001;
    DQNAgent.epsilon_decay_period = 250000 (agent steps) → exploration_steps 250_000;
    tf.train.RMSPropOptimizer.learning_rate = 0.00025 → optimizer rmsprop, learning_rate 2.5e-4;
    .decay = 0.95, .momentum = 0.0, .centered = True → make_optimizer's rmsprop (decay 0.95, no
    momentum, centred); .epsilon = 0.00001 → optimizer_eps 1e-5;
    atari_lib.create_atari_environment.sticky_actions = True (0.25 there) →
    repeat_action_probability 0.25 (Machado et al. 2018); Runner.max_steps_per_episode = 27000 →
    max_episode_steps None (envpool's 27,000) and eval_max_episode_steps 27_000;
    WrappedReplayBuffer.replay_capacity = 1000000 → replay_capacity 1_000_000;
    WrappedReplayBuffer.batch_size = 32 → batch_size 32.
    dqn_agent.py: epsilon_fn = linearly_decaying_epsilon(decay_period, step, warmup_steps =
    min_replay_history, epsilon) holds ε at 1 through warm-up, then decays →
    exploration_from_learning_starts=True (ε reaches 0.01 at agent step 270,000);
    tf.compat.v1.losses.huber_loss, mean over the batch → td_loss huber; no gradient clipping →
    max_grad_norm 0. atari_lib.py: AtariPreprocessing(terminal_on_life_loss=False) →
    episodic_life False; no no-op starts (NoopResetEnv only in its PPO preprocessing) → noop_max 1
    (none in envpool); frame_skip=4, 84×84, max of the last two frames → the envs' defaults.
    run_experiment.py: Runner(clip_rewards=True), np.clip(reward, -1, 1) → reward_clip.

    Different here: 4 envs per seed (same replay ratio) instead of one; 40M frames instead of
    200 iterations × 250,000 agent steps; evaluation plays eval_episodes games instead of
    125,000 agent steps per iteration; envpool presses FIRE at reset, Dopamine does not. RMSProp:
    TF1's RMSPropOptimizer and optax.rmsprop (eps_in_sqrt=True, its default) both divide by
    √(ms − mg² + ε), but TF1 starts ms at 1 and optax at 0 (initial_scale), so TF1 damps the first
    few hundred updates (ms decays as 0.95^t) where optax's first steps are up to ≈4.6 × lr per
    parameter. Dopamine's JAX dqn.gin uses Adam instead (create_optimizer.learning_rate = 6.25e-5,
    .eps = 1.5e-4) and JaxDQNAgent's default loss_type 'mse'; its create_optimizer('rmsprop') is
    optax.rmsprop(decay=beta2 0.999, centered=False) by default, not DeepMind's.
    """
    return Config(
        env=EnvConfig(
            repeat_action_probability=0.25, envs_per_seed=4, episodic_life=False, noop_max=1
        ),
        agent=AgentConfig(
            optimizer="rmsprop",
            learning_rate=2.5e-4,
            optimizer_eps=1e-5,
            max_grad_norm=0.0,
            epsilon_end=0.01,
            exploration_steps=250_000,
            exploration_from_learning_starts=True,
            target_update_period=2_000,
        ),
        train=TrainConfig(learning_starts=20_000),
        eval=EvalConfig(eval_epsilon=0.001),
    )


def cleanrl() -> Config:
    """CleanRL's dqn_atari(_jax).py defaults (Huang et al. 2022).

    Adam lr 1e-4 (optax default ε 1e-8); 10M agent steps; 80,000 agent steps of warm-up; ε 1 →
    0.01 over the first 10% of steps (1M); target sync every 1,000 agent steps (250 updates);
    MSE loss; no gradient clipping; no sticky actions.
    """
    return Config(
        agent=AgentConfig(
            learning_rate=1e-4,
            optimizer_eps=1e-8,
            max_grad_norm=0.0,
            td_loss="mse",
            epsilon_end=0.01,
            exploration_steps=1_000_000,
            target_update_period=250,
        ),
        train=TrainConfig(learning_starts=80_000, total_frames=40_000_000),
    )


def cartpole() -> Config:
    """Small settings that learn CartPole-v1 in about a minute on 2 CPU cores."""
    return Config(
        env=EnvConfig(env_id="CartPole-v1", num_seeds=1, envs_per_seed=1),
        replay=ReplayConfig(replay_capacity=50_000, batch_size=64),
        agent=AgentConfig(
            network="mlp",
            hidden=(128, 128),
            gamma=0.99,
            epsilon_end=0.01,
            exploration_steps=20_000,
            temperature_start=5.0,
            temperature_end=0.05,
            learning_rate=5e-4,
            # Annealing the step size to 0 stops the late collapses DQN shows on CartPole
            # (mean of the last 20 games over 3 seeds: 399–426 constant vs 465–500 annealed).
            learning_rate_end=0.0,
            optimizer_eps=1e-8,
            target_update_period=250,
            td_loss="mse",
        ),
        train=TrainConfig(
            total_frames=100_000,
            learning_starts=1_000,
            train_freq=1,
            chunk_iterations=1_000,
            log_interval=1_000,
            checkpoint_every=25_000,
        ),
        eval=EvalConfig(eval_every=25_000, eval_episodes=5, eval_max_episode_steps=500),
    )


def drq_eps() -> Config:
    """DrQ(ε) on Atari 100k (Agarwal et al. 2021), Dopamine's labs/atari_100k/configs/DrQ_eps.gin.

    Value by value from google/dopamine (tests/test_presets.py checks them).
    dopamine/labs/atari_100k/configs/DrQ_eps.gin: JaxDQNAgent.gamma = 0.99 → gamma 0.99;
    .update_horizon = 10 → n_step 10; .min_replay_history = 1600 → learning_starts 1_600;
    .update_period = 1 → train_freq 1; .target_update_period = 1 → target_update_period 1
    (hard); .epsilon_train = 0.01 → epsilon_end 0.01; .epsilon_eval = 0.001 → eval_epsilon
    0.001; .epsilon_decay_period = 5000 → exploration_steps 5_000; .optimizer = 'adam' and
    create_optimizer.learning_rate = 0.0001, .eps = 0.00015 → adam, 1e-4, optimizer_eps 1.5e-4
    (no gradient clipping in create_optimizer → max_grad_norm 0); JaxFullRainbowAgent.epsilon_fn
    = linearly_decaying_epsilon → ε 1 until learning starts, then linear →
    exploration_from_learning_starts; .noisy = False, .distributional = False, .num_atoms = 1,
    .dueling = True → network shared_dueling (FullRainbowNetwork: one 512 hidden layer feeding
    both heads); .double_dqn = True → loss double_q; .replay_scheme = 'uniform';
    Atari100kRainbowAgent.data_augmentation = True → augmentation drq (mse_loss False → td_loss
    huber); create_atari_environment.sticky_actions = False → repeat_action_probability 0;
    AtariPreprocessing.terminal_on_life_loss = True → episodic_life; Runner.training_steps =
    100000 → total_frames 400_000 (agent steps × 4); Runner.max_steps_per_episode = 27000 →
    max_episode_steps and eval_max_episode_steps 27_000; MaxEpisodeEvalRunner.num_eval_episodes
    = 100 → eval_episodes 100, evaluated once at the end (Runner.num_iterations = 1 →
    eval_every 0); OutOfGraphPrioritizedReplayBuffer.batch_size = 32 → batch_size 32.
    labs/atari_100k/atari_100k_runner.py: DataEfficientAtariRunner(max_noops=30, num_train_envs
    =1) → noop_max 30 (randint(0, 30) no-ops per game), envs_per_seed 1; run_experiment.py
    clips rewards to [-1, 1] for learning → reward_clip.

    Different here, on purpose: convolutions VALID, where Dopamine's flax convs are SAME —
    SAME makes the torso 7,744 features instead of 3,136 and costs ≈1.5× per update on this
    2-core CPU (BENCHMARKS.md), the difference between a 3-seed run fitting a working session
    or not; `--conv-padding SAME` gives Dopamine's network exactly. The replay holds 110,000
    transitions where the gin says 1,000,000 "as a proxy for unbounded memory": both hold all
    100,000 of a run. envpool presses FIRE at reset; Dopamine does not.
    """
    return Config(
        env=EnvConfig(
            envs_per_seed=1,
            noop_max=30,
            episodic_life=True,
            reward_clip=True,
            repeat_action_probability=0.0,
            max_episode_steps=27_000,
        ),
        replay=ReplayConfig(replay_capacity=110_000, batch_size=32, n_step=10),
        agent=AgentConfig(
            network="shared_dueling",
            conv_padding="VALID",
            loss="double_q",
            td_loss="huber",
            gamma=0.99,
            augmentation="drq",
            epsilon_start=1.0,
            epsilon_end=0.01,
            exploration_steps=5_000,
            exploration_from_learning_starts=True,
            optimizer="adam",
            learning_rate=1e-4,
            optimizer_eps=1.5e-4,
            max_grad_norm=0.0,
            target_update="hard",
            target_update_period=1,
        ),
        train=TrainConfig(
            total_frames=400_000,
            learning_starts=1_600,
            train_freq=1,
            log_interval=1_000,
            checkpoint_every=100_000,
            keep_checkpoints=1,
        ),
        eval=EvalConfig(
            eval_every=0, eval_episodes=100, eval_epsilon=0.001, eval_max_episode_steps=27_000
        ),
    )


PRESETS = {
    "nature": nature,
    "dopamine": dopamine,
    "cleanrl": cleanrl,
    "drq_eps": drq_eps,
    "cartpole": cartpole,
}
