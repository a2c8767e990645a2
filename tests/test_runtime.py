import dataclasses
import json
import os
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import cartpole  # noqa: E402

from jaxdqn.config import Config, EnvConfig, TrainConfig  # noqa: E402
from jaxdqn.presets import cartpole as cartpole_preset  # noqa: E402
from jaxdqn.presets import minatar as minatar_preset  # noqa: E402
from jaxdqn.presets import nature  # noqa: E402
from jaxdqn.runtime import Runtime, RuntimeOptions, chunk_lengths, resolve  # noqa: E402


def with_seeds(config: Config, n: int) -> Config:
    return dataclasses.replace(config, env=dataclasses.replace(config.env, num_seeds=n))


def test_cpu_defaults_follow_the_measured_best():
    """On this CPU (BENCHMARKS.md, "Chunk length on CPU"): the conv network runs one
    straight-line iteration per chunk with one seed, four with several, seed by seed; MinAtar's
    small conv network four straight-line iterations, vmapped; the MLP a rolled scan of 250
    iterations, vmapped."""
    assert jax.default_backend() == "cpu"
    one = resolve(nature())
    assert (one.chunk_iterations, one.unroll, one.seed_loop) == (1, 1, False)
    assert one.straight_line and one.env_backend == "envpool-xla" and one.num_devices == 1
    two = resolve(with_seeds(nature(), 2))
    assert (two.chunk_iterations, two.unroll, two.seed_loop) == (4, 4, True)
    minatar = resolve(with_seeds(minatar_preset(), 3))  # "gymnax backend": 1,150 vs 400 steps/s
    assert (minatar.chunk_iterations, minatar.unroll, minatar.seed_loop) == (4, 4, False)
    assert resolve(minatar_preset()).chunk_iterations == 4
    mlp = resolve(cartpole_preset())
    assert (mlp.chunk_iterations, mlp.unroll, mlp.seed_loop) == (250, 1, False)
    assert not mlp.straight_line and (mlp.num_processes, mlp.process_index) == (1, 0)


def test_default_chunks_span_at_most_a_log_interval():
    """PQN's iterations are whole rollouts (4,096 agent steps on MinAtar): its default chunk
    holds log_interval // 4,096 of them, so records and evaluations come as often as asked."""
    from jaxdqn.presets import pqn_minatar

    config = pqn_minatar()  # log_interval 16,384 = 4 rollouts of 128 envs × 32 steps
    assert resolve(config, RuntimeOptions(env_backend="gymnax")).chunk_iterations == 4
    rare = dataclasses.replace(config, train=dataclasses.replace(config.train, log_interval=1_000))
    assert resolve(rare, RuntimeOptions(env_backend="gymnax")).chunk_iterations == 1
    # A chunk length given is taken as given.
    given = RuntimeOptions(env_backend="gymnax", chunk_iterations=8)
    assert resolve(rare, given).chunk_iterations == 8


def test_options_override_and_chunks_never_exceed_the_budget():
    config = cartpole_preset()  # 99,000 learning iterations
    got = resolve(config, RuntimeOptions(chunk_iterations=64, unroll=8, seed_loop=1))
    assert (got.chunk_iterations, got.unroll, got.seed_loop) == (64, 8, True)
    short = dataclasses.replace(
        config, train=dataclasses.replace(config.train, total_frames=1_100, learning_starts=1_000)
    )
    assert resolve(short).chunk_iterations == 100  # 100 iterations in all: one chunk
    with pytest.raises(ValueError, match="chunk_iterations=-1"):
        RuntimeOptions(chunk_iterations=-1)
    with pytest.raises(ValueError, match="seed_loop=2"):
        RuntimeOptions(seed_loop=2)


def test_machine_checks_name_the_value():
    with pytest.raises(ValueError, match=r"devices=8 is invalid: this process has 1 local"):
        resolve(Config(env=EnvConfig(num_seeds=8)),
                RuntimeOptions(devices="8", env_backend="envpool"))  # fmt: skip
    with pytest.raises(ValueError, match="envpool-xla cannot run with devices=2"):
        resolve(Config(env=EnvConfig(num_seeds=2)),
                RuntimeOptions(devices="2", env_backend="envpool-xla"))  # fmt: skip


@pytest.mark.parametrize(
    "iterations, chunk, done, expected",
    [(1200, 500, 0, [500, 500, 200]), (1200, 500, 1000, [200]), (1000, 250, 0, [250] * 4),
     (1000, 250, 1000, []), (7, 10, 0, [7])],
)  # fmt: skip
def test_chunk_lengths(iterations, chunk, done, expected):
    """Whole chunks, then one shorter chunk with the rest of the budget."""
    config = Config(
        env=EnvConfig(env_id="CartPole-v1", envs_per_seed=1),
        agent=dataclasses.replace(cartpole_preset().agent),
        train=TrainConfig(total_frames=100 + iterations, learning_starts=100, train_freq=1),
    )
    assert config.learning_iterations == iterations
    runtime = resolve(config, RuntimeOptions(chunk_iterations=chunk))
    assert chunk_lengths(config, runtime, done) == expected
    assert sum(chunk_lengths(config, runtime)) == iterations


def test_describe_and_differences():
    runtime = Runtime("cpu", "envpool-xla", 1, 1, 0, 4, 4, True)
    assert runtime.describe() == (
        "runtime: cpu, env backend envpool-xla, 1 device(s) × 1 process(es); chunks of 4 "
        "iteration(s) (straight-line), seed updates one by one"
    )
    saved = {**dataclasses.asdict(runtime), "chunk_iterations": 1, "unroll": 1}
    assert runtime.differences(saved) == [
        "chunk_iterations: 1 then, 4 now",
        "unroll: 1 then, 4 now",
    ]
    assert runtime.differences({}) == []  # a run recorded before runtimes were


TINY = ["--num-seeds", "2", "--learning-starts", "500", "--total-frames", "1500",
        "--eval-every", "0", "--eval-episodes", "1", "--checkpoint-every", "0", "--no-progress",
        "--learning-rate-end", "None"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.long  # CI keeps tests/test_chunks.py (chunk forms agree) and test_train's budget test
def test_chunk_length_does_not_change_the_run(tmp_path):
    """1,000 learning iterations as 4 chunks of 250 or as 3 chunks of 300 and one of 100: the
    same games and, bit for bit, the same parameters and replay (the runtime is how a run is
    computed, never what is learned); each run's config.json records its runtime."""
    outs = {}
    for chunk in ("250", "300"):
        outs[chunk] = cartpole.main(TINY + ["--chunk-iterations", chunk, "--run-dir",
                                            str(tmp_path), "--run-name", chunk])  # fmt: skip
    a, b = outs["250"], outs["300"]
    assert a["steps"] == b["steps"] == 1500 and a["scores"] == b["scores"]
    jax.tree_util.tree_map(np.testing.assert_array_equal, a["state"].agent, b["state"].agent)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a["state"].replay, b["state"].replay)
    for chunk, out in outs.items():
        record = json.loads((tmp_path / chunk / "config.json").read_text())
        assert record["runtime"] == dataclasses.asdict(out["trainer"].runtime)
        assert record["runtime"]["chunk_iterations"] == int(chunk)


@pytest.mark.slow
@pytest.mark.long  # a message on resume; resume itself runs in CI (test_checkpoint)
def test_resume_says_what_changed_in_the_runtime(tmp_path, capsys):
    cartpole.main(TINY + ["--chunk-iterations", "250", "--run-dir", str(tmp_path),
                          "--run-name", "r"])  # fmt: skip
    capsys.readouterr()
    cartpole.main(["--resume", str(tmp_path / "r"), "--total-frames", "2000",
                   "--chunk-iterations", "100"])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert "resuming on another runtime (the same run;" in out
    assert "float rounding): chunk_iterations: 250 then, 100 now" in out
    record = json.loads((tmp_path / "r" / "config.json").read_text())
    assert record["runtime"]["chunk_iterations"] == 100  # how it runs now


def test_a_conv_network_under_a_new_name_gets_the_straight_line_path():
    """The CPU strategy follows what the built network is (it convolves its input), not the
    name it was registered under: a fork's copy of the Nature CNN runs as `nature` does."""
    from jaxdqn import networks
    from jaxdqn.runtime import uses_convolutions

    networks.NETWORKS["forked_conv"] = networks.NETWORKS["nature"]
    networks.NETWORKS["forked_mlp"] = networks.NETWORKS["mlp"]
    try:
        for seeds in (1, 2):
            config = with_seeds(nature(), seeds)
            forked = dataclasses.replace(
                config, agent=dataclasses.replace(config.agent, network="forked_conv")
            )
            assert resolve(forked) == resolve(config)
        assert resolve(forked).straight_line and resolve(forked).seed_loop
        mlp = cartpole_preset()
        forked_mlp = dataclasses.replace(
            mlp, agent=dataclasses.replace(mlp.agent, network="forked_mlp")
        )
        assert resolve(forked_mlp) == resolve(mlp)
    finally:
        del networks.NETWORKS["forked_conv"], networks.NETWORKS["forked_mlp"]
    a = nature().agent
    assert uses_convolutions(networks.NatureQNetwork(4), (4, 84, 84), np.uint8)
    assert uses_convolutions(networks.NETWORKS["minatar"](4, a), (10, 10, 4), np.bool_)
    assert not uses_convolutions(networks.NETWORKS["mlp"](2, a), (4,), np.float32)
