"""Presets: published settings, value by value, each citing the file or table it comes from.

`--preset NAME` starts from one of these (and from its run options in `PRESET_OPTIONS`); any
flag overrides its values. tests/test_presets.py holds every preset to its source.
"""

from __future__ import annotations

from jaxdqn.config import AgentConfig, Config, EnvConfig, EvalConfig, ReplayConfig, TrainConfig
from jaxdqn.options import RunOptions


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
            log_interval=1_000,
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
        ),
        eval=EvalConfig(
            eval_every=0, eval_episodes=100, eval_epsilon=0.001, eval_max_episode_steps=27_000
        ),
    )


def _dopamine_jax_atari(agent: AgentConfig, replay: ReplayConfig) -> Config:
    """The Atari protocol shared by Dopamine's JAX c51.gin and quantile.gin (see c51)."""
    return Config(
        env=EnvConfig(
            repeat_action_probability=0.25, envs_per_seed=4, episodic_life=False, noop_max=1,
            max_episode_steps=27_000,
        ),
        replay=replay,
        agent=agent,
        train=TrainConfig(learning_starts=20_000, train_freq=4),
        eval=EvalConfig(eval_epsilon=0.001, eval_max_episode_steps=27_000),
    )  # fmt: skip


def c51() -> Config:
    """C51 (Bellemare, Dabney & Munos 2017) as Dopamine's JAX agent runs it on Atari.

    Value by value from google/dopamine dopamine/jax/agents/rainbow/configs/c51.gin
    (tests/test_presets_family.py checks them): JaxRainbowAgent.num_atoms = 51 → head
    categorical, num_atoms 51; .vmax = 10. → v_max 10, v_min -10 (rainbow_agent.py: vmin =
    -vmax); .gamma = 0.99 → gamma 0.99; .update_horizon = 1 → n_step 1; .min_replay_history =
    20000 → learning_starts 20_000; .update_period = 4 → train_freq 4; .target_update_period
    = 8000 (agent steps) → target_update_period 2_000 updates; .epsilon_train = 0.01 →
    epsilon_end 0.01; .epsilon_eval = 0.001 → eval_epsilon 0.001; .epsilon_decay_period =
    250000 → exploration_steps 250_000, decayed after warm-up (JaxDQNAgent's epsilon_fn
    linearly_decaying_epsilon → exploration_from_learning_starts); .replay_scheme = 'uniform'
    → prioritized False; .optimizer = 'adam', create_optimizer.learning_rate = 0.00025, .eps
    = 0.0003125 → adam 2.5e-4, optimizer_eps 3.125e-4 (no clipping in create_optimizer →
    max_grad_norm 0); create_atari_environment.sticky_actions = True →
    repeat_action_probability 0.25; Runner.max_steps_per_episode = 27000 → max_episode_steps
    and eval_max_episode_steps 27_000; ReplayBuffer.max_capacity = 1_000_000 →
    replay_capacity 1_000_000; .batch_size = 32 → batch_size 32. rainbow_agent.py: the next
    action is the target network's own argmax (no double-Q) → loss categorical; a Nature
    torso, one 512 dense layer, A × 51 logits (RainbowNetwork, not dueling, flax SAME convs) →
    network nature, conv_padding SAME. atari_lib.py: AtariPreprocessing(terminal_on_life_loss
    =False) → episodic_life False; no no-op starts → noop_max 1.

    Different here, as in the dopamine preset: 4 envs per seed (the same replay ratio) and 40M
    frames instead of 200 iterations × 250,000 agent steps; evaluation plays eval_episodes
    whole games instead of 125,000 agent steps per iteration.
    """
    return _dopamine_jax_atari(
        AgentConfig(
            network="nature", conv_padding="SAME", head="categorical", num_atoms=51,
            v_min=-10.0, v_max=10.0, loss="categorical", gamma=0.99, epsilon_end=0.01,
            exploration_steps=250_000, exploration_from_learning_starts=True,
            learning_rate=2.5e-4, optimizer_eps=3.125e-4, max_grad_norm=0.0,
            target_update_period=2_000,
        ),
        ReplayConfig(replay_capacity=1_000_000, batch_size=32, n_step=1),
    )  # fmt: skip


def qr_dqn() -> Config:
    """QR-DQN (Dabney, Rowland, Bellemare & Munos 2018) as Dopamine's JAX agent runs it.

    Value by value from google/dopamine dopamine/jax/agents/quantile/configs/quantile.gin
    (tests/test_presets_family.py checks them): JaxQuantileAgent.kappa = 1.0 →
    quantile_kappa 1; .num_atoms = 200 → head quantile, num_atoms 200; .gamma = 0.99;
    .update_horizon = 3 → n_step 3; .min_replay_history = 20000 → learning_starts 20_000;
    .update_period = 4 → train_freq 4; .target_update_period = 8000 (agent steps) →
    target_update_period 2_000 updates; .epsilon_train = 0.01, .epsilon_eval = 0.001,
    .epsilon_decay_period = 250000 → as c51; .replay_scheme = 'prioritized' → prioritized;
    .optimizer = 'adam', create_optimizer.learning_rate = 0.00005, .eps = 0.0003125 → adam
    5e-5, optimizer_eps 3.125e-4, max_grad_norm 0; sticky_actions = True → 0.25;
    Runner.max_steps_per_episode = 27000; OutOfGraphPrioritizedReplayBuffer.replay_capacity =
    1000000, .batch_size = 32. quantile_agent.py: new priorities sqrt(loss + 1e-10) →
    priority_exponent 0.5 on the loss; loss weights 1 / sqrt(probabilities), over their max →
    importance exponent 0.5 throughout (start and end); the next action is the argmax of the
    target network's mean quantile (no double-Q) → loss quantile; QuantileNetwork (Nature
    torso, dense 512, A × 200) → network nature, SAME convs. The rest as c51.
    """
    return _dopamine_jax_atari(
        AgentConfig(
            network="nature", conv_padding="SAME", head="quantile", num_atoms=200,
            quantile_kappa=1.0, loss="quantile", gamma=0.99, epsilon_end=0.01,
            exploration_steps=250_000, exploration_from_learning_starts=True,
            learning_rate=5e-5, optimizer_eps=3.125e-4, max_grad_norm=0.0,
            target_update_period=2_000,
        ),
        ReplayConfig(
            replay_capacity=1_000_000, batch_size=32, n_step=3, prioritized=True,
            priority_exponent=0.5, importance_exponent_start=0.5, importance_exponent_end=0.5,
        ),
    )  # fmt: skip


def rainbow() -> Config:
    """Rainbow (Hessel et al. 2018, "Rainbow: Combining Improvements in Deep RL"), Table 1.

    Value by value (tests/test_presets_family.py checks them). Table 1: min history to start
    learning 80K frames → learning_starts 20_000 agent steps; Adam learning rate 0.0000625 →
    adam 6.25e-5; exploration ε 0.0 → epsilon_start = epsilon_end = 0 (noisy nets explore);
    noisy nets σ0 0.5 → noisy (jaxdqn's σ0 is 0.5); target network period 32K frames →
    target_update_period 2_000 updates (8,000 agent steps / train_freq 4); Adam ε 1.5 × 10⁻⁴
    → optimizer_eps 1.5e-4; prioritisation type proportional → prioritized; prioritisation
    exponent ω 0.5 → priority_exponent 0.5; importance sampling β 0.4 → 1.0 →
    importance_exponent_start 0.4, _end 1.0 (linear over the run); multi-step returns n 3 →
    n_step 3; distributional atoms 51 → head categorical, num_atoms 51; min/max values
    [−10, 10] → v_min -10, v_max 10. §3 "Double Q-learning" (the online network selects the
    bootstrap action, the target network evaluates it, in the distributional loss) → loss
    categorical_double_q; "Dueling networks" adapted to return distributions → network
    dueling; priorities by the KL loss → the loss's priority (the cross-entropy, which differs
    from the KL by the target's entropy). From DQN (§4, "the same as Mnih et al. 2015"):
    γ 0.99, minibatch 32, replay 1M, an update every 4 agent steps, 30 no-op starts, reward
    clipping, the Nature torso (VALID).

    Not given in the paper, jaxdqn's defaults: a lost life ends a training episode, gradient
    norm clipped to 10 (as DQN Zoo's Rainbow), evaluation at ε 0.001 (Dopamine's; noisy nets
    also draw noise while evaluating); 40M frames per seed instead of 200M.
    """
    return Config(
        replay=ReplayConfig(
            replay_capacity=1_000_000, batch_size=32, n_step=3, prioritized=True,
            priority_exponent=0.5, importance_exponent_start=0.4, importance_exponent_end=1.0,
        ),
        agent=AgentConfig(
            network="dueling", head="categorical", num_atoms=51, v_min=-10.0, v_max=10.0,
            noisy=True, loss="categorical_double_q", gamma=0.99, epsilon_start=0.0,
            epsilon_end=0.0, learning_rate=6.25e-5, optimizer_eps=1.5e-4,
            target_update_period=2_000,
        ),
        train=TrainConfig(learning_starts=20_000, train_freq=4),
        eval=EvalConfig(eval_epsilon=0.001),
    )  # fmt: skip


def der() -> Config:
    """Data-efficient Rainbow (van Hasselt et al. 2019) on Atari 100k, Dopamine's
    labs/atari_100k/configs/DER.gin.

    Value by value from google/dopamine (tests/test_presets_family.py checks them). DER.gin:
    JaxDQNAgent.gamma = 0.99; .update_horizon = 10 → n_step 10; .min_replay_history = 1600 →
    learning_starts 1_600; .update_period = 1 → train_freq 1; .target_update_period = 2000 →
    target_update_period 2_000 (updates = agent steps here); .epsilon_train = 0.01 →
    epsilon_end 0.01; .epsilon_eval = 0.001 → eval_epsilon 0.001; .epsilon_decay_period =
    2000 → exploration_steps 2_000; .optimizer = 'adam', create_optimizer.learning_rate =
    0.0001, .eps = 0.00015 → adam 1e-4, optimizer_eps 1.5e-4, max_grad_norm 0;
    JaxFullRainbowAgent.noisy = True → noisy; .dueling = True → network shared_dueling (the
    FullRainbowNetwork's one 512 hidden layer feeding value and advantage); .double_dqn =
    True → loss categorical_double_q; .num_atoms = 51, .vmax = 10. → head categorical, 51
    atoms on [-10, 10]; .replay_scheme = 'prioritized' → prioritized, with
    full_rainbow_agent.py's priorities sqrt(loss + 1e-10) → priority_exponent 0.5 and loss
    weights 1 / sqrt(probabilities) over their max → importance exponent 0.5 throughout;
    .epsilon_fn = linearly_decaying_epsilon → exploration_from_learning_starts;
    Atari100kRainbowAgent.data_augmentation = False → augmentation none; sticky_actions =
    False → repeat_action_probability 0; AtariPreprocessing.terminal_on_life_loss = True →
    episodic_life; Runner.num_iterations = 10 × .training_steps = 10000 → total_frames
    400_000; MaxEpisodeEvalRunner.num_eval_episodes = 100 → eval_episodes 100;
    Runner.max_steps_per_episode = 27000; OutOfGraphPrioritizedReplayBuffer.batch_size = 32.
    atari_100k_runner.py: DataEfficientAtariRunner(max_noops=30, num_train_envs=1) →
    noop_max 30, envs_per_seed 1; rewards clipped for learning → reward_clip.

    Different here, on purpose, as in drq_eps: VALID convolutions (Dopamine's are SAME:
    --conv-padding SAME gives them), a replay of 110,000 for the gin's 1,000,000 "proxy for
    unbounded memory" (both hold the whole run), and one evaluation at the end
    (Runner.num_iterations 10 evaluates after each 10,000 steps; the Atari 100k score is the
    last).
    """
    return Config(
        env=EnvConfig(
            envs_per_seed=1, noop_max=30, episodic_life=True, reward_clip=True,
            repeat_action_probability=0.0, max_episode_steps=27_000,
        ),
        replay=ReplayConfig(
            replay_capacity=110_000, batch_size=32, n_step=10, prioritized=True,
            priority_exponent=0.5, importance_exponent_start=0.5, importance_exponent_end=0.5,
        ),
        agent=AgentConfig(
            network="shared_dueling", conv_padding="VALID", head="categorical", num_atoms=51,
            v_min=-10.0, v_max=10.0, noisy=True, loss="categorical_double_q", gamma=0.99,
            epsilon_start=1.0, epsilon_end=0.01, exploration_steps=2_000,
            exploration_from_learning_starts=True, optimizer="adam", learning_rate=1e-4,
            optimizer_eps=1.5e-4, max_grad_norm=0.0, target_update="hard",
            target_update_period=2_000,
        ),
        train=TrainConfig(
            total_frames=400_000, learning_starts=1_600, train_freq=1, log_interval=1_000,
        ),
        eval=EvalConfig(
            eval_every=0, eval_episodes=100, eval_epsilon=0.001, eval_max_episode_steps=27_000
        ),
    )  # fmt: skip


def minatar() -> Config:
    """DQN on MinAtar (Young & Tian 2019, "MinAtar: An Atari-Inspired Testbed for Thorough and
    Reproducible Reinforcement Learning Experiments", arXiv:1903.03176), Breakout-MinAtar.

    Value by value from the authors' code, kenjyoung/MinAtar examples/dqn.py, whose constants
    are the same in the first commit (47cdec8, 2019-02-27) and today (tests/test_presets_minatar.py
    checks them): BATCH_SIZE = 32 → batch_size 32; REPLAY_BUFFER_SIZE = 100000 →
    replay_capacity 100_000; TARGET_NETWORK_UPDATE_FREQ = 1000 (policy_net updates) →
    target_update_period 1_000; TRAINING_FREQ = 1 → train_freq 1; NUM_FRAMES = 5000000 →
    total_frames 5_000_000 (MinAtar has no frame skip: frames = agent steps); FIRST_N_FRAMES =
    100000 with epsilon = … (t - replay_start_size) → exploration_steps 100_000 counted from
    learning_starts (exploration_from_learning_starts); REPLAY_START_SIZE = 5000, a uniform
    random policy before it → learning_starts 5_000; END_EPSILON = 0.1 → epsilon_end 0.1;
    EPSILON = 1.0 → epsilon_start 1.0; STEP_SIZE = 0.00025 → learning_rate 2.5e-4;
    SQUARED_GRAD_MOMENTUM = 0.95, MIN_SQUARED_GRAD = 0.01 in optim.RMSprop(alpha=0.95,
    centered=True, eps=0.01) → optimizer rmsprop (make_optimizer's: decay 0.95, centred),
    optimizer_eps 0.01 on the batch-mean loss as there, outside the square root as PyTorch puts
    it (optimizer_eps_in_sqrt False); no momentum (GRAD_MOMENTUM was declared but never passed,
    and later deleted); GAMMA = 0.99 → gamma 0.99; f.smooth_l1_loss, a batch mean → td_loss
    huber; no gradient clipping → max_grad_norm 0; QNetwork (conv 16×3×3 stride 1, dense 128,
    linear output) → network minatar; one env → envs_per_seed 1.
    minatar/environment.py: Environment(sticky_action_prob=0.1, difficulty_ramping=True) →
    repeat_action_probability 0.1 (the first commit's games repeated the last action with
    probability 0.1 too); num_actions() returns 6 for every game → the full action set (the
    gymnax backend's choice for MinAtar).

    The paper's text (§4, the DQN settings) was not at hand here: these values are the code's,
    and the task statement's summary of the paper agrees with every one of them. Not in the
    code, jaxdqn's defaults: evaluation every 1M frames, 10 games at ε 0.05 (the paper reports
    training returns, a moving average over 100 episodes); gymnax's time limits as truncations
    (1,000 agent steps, Freeway 2,500: jaxdqn/backends/gymnax_envs.py), where MinAtar's games
    have none but Freeway's 2,500-frame end. Initialisation: flax's defaults, not PyTorch's.
    """
    return Config(
        env=EnvConfig(
            env_id="Breakout-MinAtar", num_seeds=1, envs_per_seed=1,
            repeat_action_probability=0.1,
        ),
        replay=ReplayConfig(replay_capacity=100_000, batch_size=32),
        agent=AgentConfig(
            network="minatar", gamma=0.99, td_loss="huber", epsilon_start=1.0,
            epsilon_end=0.1, exploration_steps=100_000, exploration_from_learning_starts=True,
            optimizer="rmsprop", learning_rate=2.5e-4, optimizer_eps=0.01,
            optimizer_eps_in_sqrt=False, max_grad_norm=0.0, target_update="hard",
            target_update_period=1_000,
        ),
        train=TrainConfig(
            total_frames=5_000_000, learning_starts=5_000, train_freq=1, log_interval=10_000,
        ),
        eval=EvalConfig(eval_every=1_000_000, eval_episodes=10, eval_epsilon=0.05),
    )  # fmt: skip


def iqn() -> Config:
    """IQN (Dabney, Ostrovski, Silver & Munos 2018) as Dopamine's JAX agent runs it on Atari.

    Value by value from google/dopamine dopamine/jax/agents/implicit_quantile/configs/
    implicit_quantile.gin (tests/test_presets_family.py checks them): JaxImplicitQuantileAgent
    .kappa = 1.0 → quantile_kappa 1; .num_tau_samples = 64 → num_tau_samples 64 (N);
    .num_tau_prime_samples = 64 → num_tau_prime_samples 64 (N'); .num_quantile_samples = 32 →
    num_quantile_samples 32 (K); .gamma = 0.99; .update_horizon = 3 → n_step 3;
    .min_replay_history = 20_000 → learning_starts 20_000; .update_period = 4 → train_freq 4;
    .target_update_period = 8_000 (agent steps) → target_update_period 2_000 updates;
    .epsilon_train = 0.01, .epsilon_eval = 0.001, .epsilon_decay_period = 250_000 → as c51;
    .optimizer = 'adam', create_optimizer.learning_rate = 0.00005, .eps = 0.0003125 → adam
    5e-5, optimizer_eps 3.125e-4, max_grad_norm 0; sticky_actions = True → 0.25;
    Runner.max_steps_per_episode = 27_000; ReplayBuffer.max_capacity = 1_000_000,
    .batch_size = 32. implicit_quantile_agent.py: quantile_embedding_dim=64 (not set by the
    gin) → quantile_embedding_dim 64; double_dqn=False → loss implicit_quantile (the target
    network's mean quantile picks the next action); its replay_scheme is not passed to
    JaxDQNAgent, whose replay is uniform → prioritized False; ImplicitQuantileNetwork (Nature
    torso, the embedding multiplied into its flattened features, dense 512, A per fraction) →
    network nature, head implicit_quantile, SAME convs. The rest as c51.

    Different here: the fractions are drawn per transition, not once per batch as Dopamine's
    JAX agent does (its TensorFlow agent and the paper draw per transition); the next action
    is picked from the target pass's N' fractions instead of a pass of K fractions of its own;
    flax's default initialisers instead of Dopamine's variance scaling (as qr_dqn).
    """
    return _dopamine_jax_atari(
        AgentConfig(
            network="nature", conv_padding="SAME", head="implicit_quantile",
            num_tau_samples=64, num_tau_prime_samples=64, num_quantile_samples=32,
            quantile_embedding_dim=64, quantile_kappa=1.0, loss="implicit_quantile",
            gamma=0.99, epsilon_end=0.01, exploration_steps=250_000,
            exploration_from_learning_starts=True, learning_rate=5e-5, optimizer_eps=3.125e-4,
            max_grad_norm=0.0, target_update_period=2_000,
        ),
        ReplayConfig(replay_capacity=1_000_000, batch_size=32, n_step=3),
    )  # fmt: skip


def _pqn(env: EnvConfig, agent: AgentConfig, total_frames: int, evaluation: EvalConfig) -> Config:
    """What both PQN presets share: no warm-up, rollouts of 32 steps (purejaxql has no replay
    start; NUM_STEPS: 32), logs every 128 envs × 32 steps × 4 iterations."""
    return Config(env=env, agent=agent, eval=evaluation,
                  train=TrainConfig(total_frames=total_frames, learning_starts=0,
                                    rollout_steps=32, log_interval=16_384))  # fmt: skip


def pqn_minatar() -> Config:
    """PQN (Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning") on MinAtar,
    Asterix-MinAtar, as purejaxql runs it.

    Value by value from mttga/purejaxql at 47af6d7, purejaxql/config/alg/pqn_minatar.yaml
    (tests/test_presets_pqn.py checks them): TOTAL_TIMESTEPS: 1e7 (all 128 envs' steps; MinAtar
    has no frame skip) → total_frames 10_000_000; NUM_ENVS: 128 → envs_per_seed 128;
    NUM_STEPS: 32 → rollout_steps 32; EPS_START: 1. → epsilon_start 1.0; EPS_FINISH: 0.05 →
    epsilon_end 0.05; EPS_DECAY: 0.1 (a ratio of the updates, from the first) →
    exploration_steps 1_000_000 agent steps, decayed from step 0; NUM_MINIBATCHES: 32 →
    num_minibatches 32; NUM_EPOCHS: 2 → num_epochs 2; NORM_TYPE: "layer_norm" → layer_norm;
    LR: 0.0005 → learning_rate 5e-4; LR_LINEAR_DECAY: True (pqn_minatar.py:
    optax.linear_schedule to 1e-20 over every minibatch update) → learning_rate_end 0.0;
    MAX_GRAD_NORM: 10 → max_grad_norm 10; GAMMA: 0.99 → gamma 0.99; LAMBDA: 0.65 → td_lambda
    0.65; ENV_NAME: "Asterix-MinAtar" → env_id Asterix-MinAtar; TEST_INTERVAL: 0.05 (of the
    updates) → eval_every 500_000 frames; TEST_NUM_ENVS: 128 → eval_episodes 128; EPS_TEST: 0.
    → eval_epsilon 0. pqn_minatar.py: optax.chain(optax.clip_by_global_norm(MAX_GRAD_NORM),
    optax.radam(learning_rate=lr)) → optimizer radam with optax's default eps 1e-8; loss
    0.5 * square(q - target).mean() → PQN's ½ MSE; CNN (conv 16 3×3 VALID, LayerNorm, ReLU,
    dense 128, LayerNorm, ReLU, dense A) → network minatar with layer_norm; gymnax's MinAtar
    has no sticky actions → repeat_action_probability 0.

    Different here: jaxdqn's gymnax backend gives every MinAtar game MinAtar's 6 actions
    (gymnax: each game's minimal set) and cuts λ at truncations instead of treating them as
    terminal; purejaxql divides the observations by 255 and draws its kernels with He-normal
    initialisation (jaxdqn: MinAtar's 0/1 channels as they are, flax's default initialisers);
    evaluation plays 128 whole games per seed instead of 128 envs for one game's time limit.
    """
    return _pqn(
        EnvConfig(env_id="Asterix-MinAtar", num_seeds=1, envs_per_seed=128,
                  repeat_action_probability=0.0),
        AgentConfig(
            network="minatar", layer_norm=True, learner="pqn", td_lambda=0.65, num_epochs=2,
            num_minibatches=32, gamma=0.99, epsilon_start=1.0, epsilon_end=0.05,
            exploration_steps=1_000_000, optimizer="radam", learning_rate=5e-4,
            learning_rate_end=0.0, optimizer_eps=1e-8, max_grad_norm=10.0,
        ),
        10_000_000,
        EvalConfig(eval_every=500_000, eval_episodes=128, eval_epsilon=0.0),
    )  # fmt: skip


def pqn_atari() -> Config:
    """PQN (Gallici et al. 2024) on Atari, Assault-v5, as purejaxql runs it.

    Value by value from mttga/purejaxql at 47af6d7, purejaxql/config/alg/pqn_atari.yaml
    (tests/test_presets_pqn.py checks them): TOTAL_TIMESTEPS: 5e7 (agent steps of all 128 envs;
    "with 4 frame skip corresponds to 200M frames") → total_frames 200_000_000; NUM_ENVS: 128 →
    envs_per_seed 128; NUM_STEPS: 32 → rollout_steps 32; EPS_START: 1. → epsilon_start 1.0;
    EPS_FINISH: 0.001 → epsilon_end 0.001; EPS_DECAY: 0.1 → exploration_steps 5_000_000 agent
    steps from step 0; NUM_EPOCHS: 2 → num_epochs 2; NUM_MINIBATCHES: 32 → num_minibatches 32;
    NORM_TYPE: "layer_norm" → layer_norm; LR: 0.00025 → learning_rate 2.5e-4;
    LR_LINEAR_DECAY: False → learning_rate_end None; MAX_GRAD_NORM: 10 → max_grad_norm 10;
    GAMMA: 0.99; LAMBDA: 0.65 → td_lambda 0.65; ENV_KWARGS: episodic_life: True, reward_clip:
    True, repeat_action_probability: 0., frame_skip: 4, noop_max: 30 → the same (envpool's
    84×84 gray 4-frame stacks and 27,000-step limit, its defaults, as here); TEST_ENVS: 8 →
    eval_episodes 8; EPS_TEST: 0. → eval_epsilon 0. pqn_atari.py: clip_by_global_norm then
    optax.radam(learning_rate=lr) → optimizer radam, eps 1e-8; ½ MSE; CNN (Nature's three
    VALID convolutions and dense 512, a LayerNorm before every ReLU) → network nature with
    layer_norm, conv_padding VALID.

    Different here: ENV_NAME Pong-v5 → Assault-v5, jaxdqn's headline game (the paper reports
    all 57); truncations cut λ instead of ending the return; flax's default initialisers
    instead of He-normal; evaluation at the end of the run, 8 whole games per seed (purejaxql
    tests during training on 8 extra envs).
    """
    return _pqn(
        EnvConfig(env_id="Assault-v5", num_seeds=1, envs_per_seed=128, noop_max=30,
                  episodic_life=True, reward_clip=True, repeat_action_probability=0.0),
        AgentConfig(
            network="nature", conv_padding="VALID", layer_norm=True, learner="pqn",
            td_lambda=0.65, num_epochs=2, num_minibatches=32, gamma=0.99, epsilon_start=1.0,
            epsilon_end=0.001, exploration_steps=5_000_000, optimizer="radam",
            learning_rate=2.5e-4, learning_rate_end=None, optimizer_eps=1e-8,
            max_grad_norm=10.0,
        ),
        200_000_000,
        EvalConfig(eval_every=0, eval_episodes=8, eval_epsilon=0.0),
    )  # fmt: skip


PRESETS = {
    "nature": nature,
    "dopamine": dopamine,
    "cleanrl": cleanrl,
    "drq_eps": drq_eps,
    "cartpole": cartpole,
    "c51": c51,
    "qr_dqn": qr_dqn,
    "rainbow": rainbow,
    "der": der,
    "iqn": iqn,
    "minatar": minatar,
    "pqn_minatar": pqn_minatar,
    "pqn_atari": pqn_atari,
}

# How each preset runs by default, beside its config (`jaxdqn.options.RunOptions`; the command
# line applies them before the flags): none of these changes what is learned.
PRESET_OPTIONS = {
    # 100k frames: a checkpoint at each quarter, with each evaluation.
    "cartpole": {"checkpoint_every": 25_000},
    # Atari 100k runs are short and many (26 games × seeds): one checkpoint at each 100k
    # frames, and only the latest kept.
    "drq_eps": {"checkpoint_every": 100_000, "keep_checkpoints": 1},
    "der": {"checkpoint_every": 100_000, "keep_checkpoints": 1},
    # MinAtar's games exist only in gymnax (auto picks it too); a checkpoint at each 1M
    # frames, with each evaluation.
    "minatar": {"env_backend": "gymnax", "checkpoint_every": 1_000_000},
    "pqn_minatar": {"env_backend": "gymnax", "checkpoint_every": 1_000_000},
}


def preset_options(name: str) -> RunOptions:
    """The run options preset `name` starts from (the defaults for a preset without any)."""
    return RunOptions(**PRESET_OPTIONS.get(name, {}))
