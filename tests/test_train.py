"""End-to-end training: CartPole learns, Assault runs through its script, runs are reproducible."""

import collections
import dataclasses
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import assault  # noqa: E402
import cartpole  # noqa: E402

from jaxdqn.metrics import read_metrics  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)

# Assault's raw rewards are multiples of 21 (one enemy ship); clipped rewards would be ±1 sums.
ASSAULT_REWARD_UNIT = 21


@pytest.fixture(scope="module")
def assault_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs")
    args = [
        "--num-seeds", "2", "--envs-per-seed", "2", "--total-frames", "8192",
        "--replay-capacity", "1600", "--learning-starts", "1000", "--batch-size", "16",
        "--chunk-iterations", "1", "--max-episode-steps", "300",
        "--target-update-period", "8", "--run-dir", str(run_dir), "--run-name", "smoke",
        "--eval-episodes", "2", "--eval-max-episode-steps", "400", "--no-progress",
    ]  # fmt: skip
    out = assault.main(args)
    return out, run_dir / "smoke"


@pytest.mark.slow
@pytest.mark.long  # CI time; CI runs Assault through this script on ale-xla (test_ale_xla)
def test_assault_smoke_real_scores_and_finite_losses(assault_run):
    out, run_dir = assault_run
    records = read_metrics(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["env"]["env_id"] == "Assault-v5"
    assert config["versions"]["envpool"]
    learn = [r for r in records if r["phase"] == "learn"]
    assert learn and all(np.isfinite(r["losses/td_loss"]) for r in learn)
    scores = [s for seed_scores in out["scores"] for s in seed_scores]
    assert len(scores) >= 4  # 300-step truncation forces game ends
    assert all(s % ASSAULT_REWARD_UNIT == 0 for s in scores)
    assert max(scores) > 30  # a clipped-reward sum would rarely exceed a few dozen
    logged = [r["charts/episodic_return_last"] for r in records if r.get("charts/episodes_total")]
    assert all(s % ASSAULT_REWARD_UNIT == 0 for s in logged)
    assert max(r["frames"] for r in records) >= 8192
    assert (run_dir / "curves.png").stat().st_size > 10_000  # a run always leaves a picture
    # Evaluation at the end: full games, real scores, human-normalised against the default
    # (57-game) table's Assault random 222.4 / human 742.0: span 742.0 - 222.4 = 519.6.
    evals = [r for r in records if r["phase"] == "eval"]
    assert [r["seed"] for r in evals] == [0, 1]
    for r, scores in zip(evals, out["evaluations"][-1]["scores"], strict=True):
        assert np.all(scores % ASSAULT_REWARD_UNIT == 0) and r["eval/episodes"] == 2
        assert r["eval/score"] == pytest.approx(np.mean(scores))
        assert r["eval/human_normalized"] == pytest.approx((r["eval/score"] - 222.4) / 519.6)


@pytest.mark.slow
@pytest.mark.long  # CI time; CI runs Assault through this script on ale-xla (test_ale_xla)
def test_assault_smoke_never_samples_across_reset(assault_run):
    """Every stored step that follows a terminal (life loss or game end) is marked first_t,
    so the sampler, which never draws first_t rows (test_replay), cannot pair across it; and
    sampled transitions show the one-frame stack shift of a real env step."""
    out, _ = assault_run
    replay = out["state"].replay
    first = np.asarray(replay.first)  # [S, rows, E]
    discount = np.asarray(replay.discount)
    count = int(np.asarray(replay.count)[0])
    rows = first.shape[1]
    assert count == rows  # wrapped
    cursor = int(np.asarray(replay.cursor)[0])
    order = [(cursor + k) % rows for k in range(rows)]  # oldest → newest
    after_terminal = 0
    for prev, cur in zip(order[:-1], order[1:], strict=True):
        terminal = discount[:, prev] == 0
        assert np.all(first[:, cur][terminal])
        after_terminal += int(terminal.sum())
    assert after_terminal > 0
    # Sample through the real sampler: s_t is s_tm1 shifted by one frame.
    trainer_sample = jax.vmap(lambda st, k: out["trainer"].replay.sample(st, k, 256))
    keys = jax.random.split(jax.random.PRNGKey(0), first.shape[0])
    batch = trainer_sample(replay, keys)
    s_tm1, s_t = np.asarray(batch.s_tm1), np.asarray(batch.s_t)
    np.testing.assert_array_equal(s_t[:, :, :3], s_tm1[:, :, 1:])


def _short_cartpole(tmp_path, name, seed):
    return cartpole.main([
        "--num-seeds", "2", "--seed", str(seed), "--total-frames", "4000",
        "--learning-starts", "500", "--chunk-iterations", "500",
        "--run-dir", str(tmp_path), "--run-name", name, "--no-progress",
    ])  # fmt: skip


TIMING_FIELDS = ("time", "charts/SPS", "eval/seconds")


def _strip_time(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


# Long tier: tests/test_recorded_run.py holds a fixed-seed run to recorded values in CI.
@pytest.mark.long
def test_same_seed_reproduces_metrics_and_seeds_differ(tmp_path):
    a = _short_cartpole(tmp_path, "a", 0)
    b = _short_cartpole(tmp_path, "b", 0)
    c = _short_cartpole(tmp_path, "c", 1)
    ra, rb = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert _strip_time(ra) == _strip_time(rb)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a["state"].agent.params,
                           b["state"].agent.params)  # fmt: skip
    # Different seeds in one run, and different first seeds across runs, give different curves.
    assert a["scores"][0] != a["scores"][1]
    assert a["scores"][0] != c["scores"][0]
    # Run seed 1 is seed index 1 of the seed-0 run and index 0 of the seed-1 run: same env
    # seeds and same PRNG key, so the same games while play is random (warm-up).
    assert a["scores"][1][:3] == c["scores"][0][:3]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env-id", "Asault-v5"], "Assault-v5"),
        (["--num-seeds", "0"], "num_seeds=0"),
        (["--learning-starts", "10"], "learning_starts=10"),
        (["--total-frames", "0"], "total_frames=0"),
        (["--gamma", "1.5"], "gamma=1.5"),
        (["--replay-capacity", "100000000"], "largest capacity that fits"),
    ],
)
def test_bad_input_fails_before_training(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        assault.main(args + ["--run-dir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())  # rich may wrap the message across lines
    assert not any(tmp_path.iterdir())  # nothing was created


def test_seed_loop_matches_vmapped_updates(tmp_path):
    """Updating seed by seed (the CPU conv path) gives the vmapped update's result."""
    outs = []
    for flag in ("0", "1"):
        outs.append(cartpole.main([
            "--num-seeds", "2", "--total-frames", "1500", "--learning-starts", "500",
            "--chunk-iterations", "500", "--seed-loop", flag, "--run-dir", str(tmp_path),
            "--run-name", f"loop{flag}", "--no-progress",
        ]))  # fmt: skip
    a, b = (o["state"].agent for o in outs)
    assert int(np.asarray(a.updates)[0]) == 1000
    close = lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)  # noqa: E731
    jax.tree_util.tree_map(close, a.params, b.params)
    np.testing.assert_array_equal(np.asarray(a.key), np.asarray(b.key))


def test_warmup_and_learning_chunk_compile_once(tmp_path):
    """Two warm-up pieces and four learning chunks, with checkpoints between them: `warmup`
    and `run` are each traced and compiled once (a recompile per chunk costs seconds on CPU
    and minutes for the Atari CNN)."""
    from jax import monitoring

    from jaxdqn.checkpoint import Checkpointer
    from jaxdqn.loop import train
    from jaxdqn.options import RunOptions
    from jaxdqn.plan import make_plan
    from jaxdqn.presets import cartpole

    config = cartpole()
    config = dataclasses.replace(
        config,
        env=dataclasses.replace(config.env, envs_per_seed=2),
        replay=dataclasses.replace(config.replay, replay_capacity=5_000, batch_size=32),
        train=dataclasses.replace(
            config.train, total_frames=10_400, learning_starts=10_000,
        ),
        eval=dataclasses.replace(config.eval, eval_every=0, eval_episodes=1,
                                 eval_max_episode_steps=50),
    )  # fmt: skip
    events = collections.Counter()

    def listener(event, duration, fun_name=None, **kwargs):
        del duration, kwargs
        events[event.rsplit("/", 1)[-1], fun_name] += 1

    monitoring.register_event_duration_secs_listener(listener)
    try:
        out = train(
            make_plan(config, RunOptions(chunk_iterations=50, checkpoint_every=200)),
            checkpointer=Checkpointer(tmp_path),
        )
    finally:
        monitoring.unregister_event_duration_listener(listener)
    # 10,000 warm-up steps in pieces of 5,000 (2,500 vector steps), then 4 chunks of 100.
    assert out["steps"] == 10_400
    assert Checkpointer(tmp_path).all_steps()[-1] == 10_400
    for name in ("warmup", "run"):
        counts = {
            "traced": events["jaxpr_trace_duration", name],
            "lowered": events["jaxpr_to_mlir_module_duration", f"jit({name})"],
        }
        assert counts == {"traced": 1, "lowered": 1}, (name, counts, sorted(events))


@pytest.mark.slow
@pytest.mark.long  # CI time; CI runs Assault through this script on ale-xla (test_ale_xla)
def test_assault_truncation_bootstraps_and_life_loss_does_not(assault_run):
    """In the trainer's replay a truncation (300-step cap) is stored with discount γ — it
    bootstraps — and the next row starts an episode; a life loss or game end stores 0."""
    out, _ = assault_run
    replay = out["state"].replay
    first, discount = np.asarray(replay.first), np.asarray(replay.discount)  # [S, rows, E]
    rows = first.shape[1]
    cursor = int(np.asarray(replay.cursor)[0])
    order = [(cursor + k) % rows for k in range(rows)]
    truncations = terminals = 0
    for prev, cur in zip(order[:-1], order[1:], strict=True):
        after = first[:, cur] & ~first[:, prev]  # a real step followed by an episode start
        truncations += int((after & (discount[:, prev] > 0)).sum())
        terminals += int((after & (discount[:, prev] == 0)).sum())
    assert truncations > 0 and terminals > 0
    assert set(np.unique(discount[~first])) <= {0.0, np.float32(0.99)}


def test_budget_is_whole_iterations_whatever_the_chunk_length(tmp_path, capsys):
    """4 envs per seed, an update every 8 agent steps: an iteration is 2 env steps = 8 agent
    steps. 1,702 frames with 500 of warm-up are 150.25 iterations → 151 → 1,708 steps, said at
    the start; chunks of 100 iterations run as 100 + 51 (the budget never depends on the chunk
    length, which is the runtime's)."""
    cartpole.main([
        "--total-frames", "1702", "--learning-starts", "500", "--envs-per-seed", "4",
        "--train-freq", "8", "--chunk-iterations", "100", "--eval-episodes", "1",
        "--run-dir", str(tmp_path), "--run-name", "round", "--no-progress",
    ])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert "total_frames rounded up to whole iterations: 1702 → 1708 frames per seed" in out
    steps = sorted({r["step"] for r in read_metrics(tmp_path / "round")})
    assert steps[-1] == 1708


# ---------------------------------------------------------------------------------------------
# make_policy_schedule: ε (or τ) per agent step


def dopamine_linearly_decaying_epsilon(decay_period, step, warmup_steps, epsilon):
    """google/dopamine dopamine/jax/agents/dqn/dqn_agent.py, transcribed to numpy: 1 until
    warmup_steps, then linear to `epsilon` over decay_period steps, then flat."""
    steps_left = decay_period + warmup_steps - step
    bonus = np.clip((1.0 - epsilon) * steps_left / decay_period, 0.0, 1.0 - epsilon)
    return epsilon + bonus


def _schedule(config, steps, seed_index=0):
    """The configured policy's schedule for seed `seed_index`, eager and jitted."""
    from jaxdqn.policies import POLICIES
    from jaxdqn.train import make_policy_schedule

    policy = POLICIES[config.agent.policy]
    starts, _ = policy.parameters(config.agent, config.env.num_seeds)
    schedule = make_policy_schedule(config, policy)
    start = jnp.float32(starts[seed_index])
    values = schedule(jnp.asarray(steps, jnp.int32), start)
    jitted = jax.jit(schedule)(jnp.asarray(steps, jnp.int32), start)
    np.testing.assert_allclose(values, jitted, atol=2e-7)  # ulps: XLA may fuse differently
    return np.asarray(values, np.float64)


def test_epsilon_holds_until_learning_starts_then_decays():
    """drq_eps: ε 1.0 through the 1,600 warm-up steps, then 1 → 0.01 over 5,000 steps."""
    from jaxdqn.presets import drq_eps

    config = drq_eps()
    assert config.agent.exploration_from_learning_starts
    assert config.learning_starts_rounded == 1_600
    hand = {
        0: 1.0,
        1_600: 1.0,  # the last step of warm-up
        1_601: 1.0 - 0.99 * 1 / 5_000,  # 0.999802
        2_000: 1.0 - 0.99 * 400 / 5_000,  # 0.9208
        4_100: 1.0 - 0.99 * 2_500 / 5_000,  # 0.505, halfway
        6_600: 0.01,  # 1,600 + 5,000
        50_000: 0.01,
    }
    np.testing.assert_allclose(_schedule(config, list(hand)), list(hand.values()), atol=1e-6)
    # Every step against Dopamine's own formula (warmup_steps = min_replay_history).
    steps = np.arange(10_001)
    eps = _schedule(config, steps)
    expected = dopamine_linearly_decaying_epsilon(5_000, steps, 1_600, 0.01)
    np.testing.assert_allclose(eps, expected, atol=1e-6)
    assert np.all(eps[:1_601] == 1.0) and eps[1_601] < 1.0
    assert np.all(eps[6_600:] == eps[-1])  # flat at ε_end
    assert np.all(np.diff(eps) <= 0)


def test_epsilon_holds_until_learning_starts_rounded_to_whole_env_steps():
    """With 3 envs per seed, learning starts at agent step ceil(1600 / 3) · 3 = 1,602: ε is
    exactly ε_start there, one step below the first decayed value."""
    from jaxdqn.presets import drq_eps

    config = drq_eps()
    config = dataclasses.replace(config, env=dataclasses.replace(config.env, envs_per_seed=3))
    assert config.learning_starts_rounded == 1_602
    eps = _schedule(config, [1_601, 1_602, 1_603, 1_602 + 2_500, 6_602])
    np.testing.assert_allclose(eps, [1.0, 1.0, 1.0 - 0.99 / 5_000, 0.505, 0.01], atol=1e-6)
    assert eps[1] == 1.0


def test_epsilon_without_the_delay_decays_from_step_zero():
    """exploration_from_learning_starts=False (Mnih et al. 2015): ε = 1 - 0.99·min(t / 5000, 1)
    from agent step 0, warm-up or not."""
    from jaxdqn.presets import drq_eps

    config = drq_eps()
    config = dataclasses.replace(
        config, agent=dataclasses.replace(config.agent, exploration_from_learning_starts=False)
    )
    hand = {0: 1.0, 1_600: 1.0 - 0.99 * 1_600 / 5_000, 2_500: 0.505, 5_000: 0.01, 6_600: 0.01}
    np.testing.assert_allclose(_schedule(config, list(hand)), list(hand.values()), atol=1e-6)


def test_temperature_per_seed_holds_until_learning_starts():
    """Boltzmann, τ 1 and 5 for seeds 0 and 1, τ_end 0.1, 1,000 decay steps after 500 warm-up
    steps: seed 1 holds 5 until step 500, is 5 + (0.1 - 5)·0.5 = 2.55 at step 1,000 and 0.1
    from 1,500; seed 0 is 1 + (0.1 - 1)·0.5 = 0.55 at step 1,000."""
    from jaxdqn.presets import cartpole

    config = cartpole()
    config = dataclasses.replace(
        config,
        env=dataclasses.replace(config.env, num_seeds=2, envs_per_seed=1),
        agent=dataclasses.replace(
            config.agent,
            policy="boltzmann",
            temperature_start=(1.0, 5.0),
            temperature_end=0.1,
            exploration_steps=1_000,
            exploration_from_learning_starts=True,
        ),
        train=dataclasses.replace(config.train, learning_starts=500),
    )
    steps = [0, 500, 1_000, 1_500, 3_000]
    np.testing.assert_allclose(_schedule(config, steps, 0), [1, 1, 0.55, 0.1, 0.1], atol=1e-6)
    np.testing.assert_allclose(_schedule(config, steps, 1), [5, 5, 2.55, 0.1, 0.1], atol=1e-6)
