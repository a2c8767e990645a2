"""Configuration: what a run is, as plain data — one frozen dataclass per concern.

A Config validates its values and nothing else: it imports no env library and asks no device
anything, so the same flags give the same run on any machine (budgets and schedule lengths
depend on the config alone). How the run runs — env backend, devices, threads, run directory,
progress, checkpoints, chunking — are the options beside it (`jaxdqn.options.RunOptions`),
resolved on this machine by `jaxdqn.runtime`; the presets are `jaxdqn.presets`.

Every field's docstring becomes its `--help` text (tyro). Flags are flat (`--batch-size`, not
`--replay.batch-size`). Units are stated per field: *frames* are emulator frames, *agent steps*
are decisions per environment (one agent step = `frame_skip` frames on Atari, 1 elsewhere), and
*updates* are gradient steps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import tyro

from jaxdqn.atari_data import is_atari
from jaxdqn.validation import check_fields, check_int, check_range, check_sizes, fail

ATARI_FRAME_SKIP = 4
TD_LOSSES = ("huber", "mse")  # jaxdqn.losses.LOSS_KINDS, spelled here so Config imports no loss


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    env_id: str = "Assault-v5"
    """envpool task id, e.g. Assault-v5, Breakout-v5, CartPole-v1; with --env-backend
    gymnasium a gymnasium id (ALE/Assault-v5; Assault-v5 also names the ale-py game); with
    ale-xla an Atari game in either spelling."""
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
    """Sticky actions: Atari (0.25 in Machado et al. 2018 / Dopamine; 0 in Mnih et al. 2015) and
    gymnax envs (MinAtar's own default is 0.1, Young & Tian 2019)."""

    def __post_init__(self):
        check_int("num_seeds", self.num_seeds, 1)
        check_fields(self, {"envs_per_seed": 1, "seed": 0, "max_episode_steps": 1,
                             "noop_max": 1},
                      {"repeat_action_probability": (0.0, 1.0)},
                      optional=("max_episode_steps",))  # fmt: skip

    @property
    def atari(self) -> bool:
        return is_atari(self.env_id)

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
    prioritized: bool = False
    """Proportional prioritised replay (Schaul et al. 2016): draw transitions with probability
    p^α / Σ p^α, p the loss's priority (|δ|, or the distributional loss), new transitions at
    the largest priority seen; off: uniform."""
    priority_exponent: float = 0.5
    """α of prioritised replay (0.5 in Rainbow, Hessel et al. 2018; 0.6 in Schaul et al. 2016;
    0: uniform draws)."""
    importance_exponent_start: float = 0.4
    """β of the importance weights (N·P)^-β / max at agent step 0 (Rainbow: 0.4)."""
    importance_exponent_end: float = 1.0
    """β at the end of the run, reached linearly over its agent steps (Rainbow: 1; Dopamine's
    agents hold 0.5 throughout). Like --learning-rate-end, the schedule follows the run's
    length: a resume that raises --total-frames stretches it from there on."""

    def __post_init__(self):
        check_fields(self, {"replay_capacity": 1, "batch_size": 1, "n_step": 1},
                      {"priority_exponent": (0.0, math.inf),
                       "importance_exponent_start": (0.0, 1.0),
                       "importance_exponent_end": (0.0, 1.0)})  # fmt: skip
        if self.batch_size > self.replay_capacity:
            fail("batch_size", self.batch_size, f"must be <= replay_capacity "
                 f"({self.replay_capacity})")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    network: str = "nature"
    """Q-network: nature (Mnih et al. 2015 CNN), dueling (Wang et al. 2016 streams on the
    Nature torso), shared_dueling (Dopamine's Atari 100k network) — for image observations —
    or mlp, mlp_dueling (vector observations); any name registered in
    jaxdqn.networks.NETWORKS. Every network takes every --head and --noisy."""
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
    head: Literal["q", "categorical", "quantile", "implicit_quantile"] = "q"
    """Output head of the network: q (one Q-value per action), categorical (C51: num_atoms fixed
    returns in [v_min, v_max]), quantile (QR-DQN: num_atoms quantiles of the return) or
    implicit_quantile (IQN: quantiles at fractions τ drawn every forward pass)."""
    num_atoms: int = 51
    """Atoms of the categorical head (C51: 51) or quantiles of the quantile head (QR-DQN:
    200)."""
    num_tau_samples: int = 64
    """IQN's N: fractions the online network draws where it learns, at s_tm1 (IQN: 64)."""
    num_tau_prime_samples: int = 64
    """IQN's N': fractions the target network draws at s_t (IQN: 64)."""
    num_quantile_samples: int = 32
    """IQN's K: fractions drawn to act and to select the next action (IQN: 32)."""
    quantile_embedding_dim: int = 64
    """IQN's n: cosines cos(π·i·τ) that embed each fraction (IQN: 64)."""
    v_min: float = -10.0
    """Smallest return of the categorical support (C51: -10)."""
    v_max: float = 10.0
    """Largest return of the categorical support (C51: 10)."""
    noisy: bool = False
    """Noisy networks (Fortunato et al. 2018): the head's dense layers are factorised-Gaussian
    noisy layers (σ0 0.5), new noise every forward pass, exploring through the weights (use
    with --epsilon-end 0 for no ε, as Rainbow)."""
    loss: str = "q"
    """What the network learns: q (max-Q over the target network), double_q (van Hasselt et
    al. 2016), categorical / categorical_double_q (C51; --head categorical), quantile /
    quantile_double_q (QR-DQN; --head quantile), implicit_quantile / implicit_quantile_double_q
    (IQN; --head implicit_quantile); any name registered in jaxdqn.losses.LOSSES."""
    td_loss: Literal["huber", "mse"] = "huber"
    """Loss on the TD error of q and double_q: huber (δ=1, the error clipping of Mnih et al.
    2015) or mse."""
    quantile_kappa: float = 1.0
    """κ of the quantile Huber loss (Dabney et al. 2018: 1; 0: plain quantile regression)."""
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
    optimizer: Literal["adam", "rmsprop", "radam"] = "adam"
    """adam (modern reproductions), rmsprop (centred, as DeepMind's DQN; decay 0.95) or radam
    (rectified Adam, PQN's)."""
    learning_rate: float = 1e-4
    """Optimiser step size (Adam 1e-4 as CleanRL/Dopamine-JAX; Nature RMSProp 2.5e-4)."""
    learning_rate_end: float | None = None
    """If set, the learning rate decays linearly to this value over the run's updates
    (None: constant)."""
    optimizer_eps: float = 1.5e-4
    """ε of Adam (1.5e-4 as Rainbow/Dopamine) or RMSProp (1e-5 as Dopamine: Nature's 0.01 was
    on the gradient summed over the 32-transition batch, ≈ 0.01/32² ≈ 1e-5 on our mean loss)."""
    optimizer_eps_in_sqrt: bool = True
    """RMSProp's ε inside the square root, g / √(ms − mg² + ε) (TF1, Dopamine, optax's
    default), or outside it, g / (√(ms − mg²) + ε) (PyTorch's RMSprop, as MinAtar's DQN)."""
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
    layer_norm: bool = False
    """A LayerNorm before every ReLU of the nature, mlp and minatar networks (PQN's networks,
    Gallici et al. 2024); off: the papers' networks."""
    learner: Literal["dqn", "pqn"] = "dqn"
    """How the agent learns: dqn (a replay of the k most recent transitions, sampled batches,
    a target network) or pqn (Gallici et al. 2024: no replay and no target network; every
    rollout of --rollout-steps env steps gets Q(λ) targets, then --num-epochs passes of
    --num-minibatches minibatches; the replay and target flags are not read)."""
    td_lambda: float = 0.65
    """PQN: λ of the Q(λ) targets (purejaxql's MinAtar and Atari configs: 0.65)."""
    num_epochs: int = 2
    """PQN: passes over each rollout (purejaxql: 2)."""
    num_minibatches: int = 32
    """PQN: minibatches per pass; must divide rollout_steps × envs_per_seed (purejaxql: 32)."""

    def __post_init__(self):
        if self.conv_padding not in ("VALID", "SAME"):
            fail("conv_padding", self.conv_padding, "one of VALID, SAME")
        if self.head not in ("q", "categorical", "quantile", "implicit_quantile"):
            fail("head", self.head, "one of q, categorical, quantile, implicit_quantile")
        check_int("num_atoms", self.num_atoms, 2 if self.head == "categorical" else 1)
        real = (-math.inf, math.inf)
        check_fields(self, ranges={"v_min": real, "v_max": real})
        if self.v_min >= self.v_max:
            fail("v_min", self.v_min, f"must be < v_max ({self.v_max})")
        if self.td_loss not in TD_LOSSES:
            fail("td_loss", self.td_loss, f"one of {', '.join(TD_LOSSES)}")
        if self.optimizer not in ("adam", "rmsprop", "radam"):
            fail("optimizer", self.optimizer, "one of adam, rmsprop, radam")
        if self.learner not in ("dqn", "pqn"):
            fail("learner", self.learner, "one of dqn, pqn")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            fail("hidden", self.hidden, "a non-empty tuple of positive integers")
        if isinstance(self.temperature_start, (int, float)):  # one value for every seed
            object.__setattr__(self, "temperature_start", (float(self.temperature_start),))
        if not isinstance(self.temperature_start, tuple) or not self.temperature_start:
            fail("temperature_start", self.temperature_start, "one value, or one per seed")
        for tau in self.temperature_start:
            check_range("temperature_start", tau, 0.0, math.inf, lo_open=True)
        positive = (0.0, math.inf, "open")
        iqn = dict.fromkeys(("num_tau_samples", "num_tau_prime_samples", "num_quantile_samples",
                             "quantile_embedding_dim"), 1)  # fmt: skip
        check_fields(self, {"exploration_steps": 1, "target_update_period": 1, **iqn,
                             "num_epochs": 1, "num_minibatches": 1},
                      {"quantile_kappa": (0.0, math.inf), "gamma": (0.0, 1.0),
                       "epsilon_start": (0.0, 1.0), "epsilon_end": (0.0, 1.0),
                       "temperature_end": positive, "learning_rate": positive,
                       "learning_rate_end": (0.0, math.inf), "optimizer_eps": positive,
                       "max_grad_norm": (-math.inf, math.inf),
                       "polyak_rate": (0.0, 1.0, "open"), "td_lambda": (0.0, 1.0)},
                      ("learning_rate_end",))  # fmt: skip

    @property
    def pqn(self) -> bool:
        return self.learner == "pqn"


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
    log_interval: int = 10_000
    """Agent steps per seed between metrics records (rounded to whole chunks)."""
    rollout_steps: int = 32
    """PQN: env steps of every env per rollout, T (purejaxql: 32); train_freq is not read."""

    def __post_init__(self):
        check_fields(self, {"total_frames": 1, "learning_starts": 0, "train_freq": 1,
                             "log_interval": 1, "rollout_steps": 1})  # fmt: skip


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
        check_fields(self, {"eval_every": 0, "eval_episodes": 1, "eval_max_episode_steps": 1},
                      {"eval_epsilon": (0.0, 1.0)})  # fmt: skip


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
        # The sections against each other; the env id and the component names are checked
        # when the plan is made (`jaxdqn.runtime.resolve`).
        check_sizes(self)

    # Derived quantities (never written back).
    @property
    def env_steps_per_iteration(self) -> int:
        """Vector env steps per iteration (each is envs_per_seed agent steps per seed); PQN: a
        rollout."""
        if self.agent.pqn:
            return self.train.rollout_steps
        return max(1, self.train.train_freq // self.env.envs_per_seed)

    @property
    def learn_calls_per_iteration(self) -> int:
        """Calls of the agent's `learn` per iteration: one per update (DQN), or one per
        rollout (PQN, whose learn runs every epoch and minibatch)."""
        return 1 if self.agent.pqn else self.updates_per_iteration

    @property
    def updates_per_iteration(self) -> int:
        """Parameter updates per iteration (PQN: epochs × minibatches)."""
        if self.agent.pqn:
            return self.agent.num_epochs * self.agent.num_minibatches
        return max(1, self.env.envs_per_seed // self.train.train_freq)

    @property
    def replay_capacity(self) -> int:
        """Transitions the replay keeps per seed: --replay-capacity, or PQN's rollout."""
        if self.agent.pqn:
            return self.train.rollout_steps * self.env.envs_per_seed
        return self.replay.replay_capacity

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
    def learning_iterations(self) -> int:
        """Iterations after warm-up; the budget is rounded up to whole iterations."""
        steps = self.total_steps - self.learning_starts_rounded
        return -(-steps // self.agent_steps_per_iteration)

    @property
    def total_updates(self) -> int:
        """Parameter updates per seed over the whole run (the learning-rate schedule's length)."""
        return self.learning_iterations * self.updates_per_iteration

    @property
    def total_steps_rounded(self) -> int:
        """Agent steps per seed the run takes: total_frames rounded up to whole iterations."""
        per_iteration = self.agent_steps_per_iteration
        return self.learning_starts_rounded + self.learning_iterations * per_iteration


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
