"""The run's options beside its config: validation, presets' options, config.json old and new."""

import dataclasses
import json

import pytest

from jaxdqn import cli, presets, rundir
from jaxdqn.checkpoint import load_run_options
from jaxdqn.config import Config, EnvConfig, TrainConfig
from jaxdqn.options import MOVED_FROM_CONFIG, RunOptions, check_options, options_from_record
from jaxdqn.runtime import RuntimeOptions


def test_the_config_holds_no_option():
    config_fields = {
        f.name for cls in (EnvConfig, TrainConfig) for f in dataclasses.fields(cls)
    }  # fmt: skip
    options = {f.name for f in dataclasses.fields(RunOptions)}
    assert not config_fields & options
    assert set(MOVED_FROM_CONFIG) <= options
    assert RuntimeOptions is RunOptions  # the name the runtime's options had


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"env_backend": "envpol"}, "env_backend='envpol' is invalid: one of auto, envpool-xla"),
        ({"devices": "two"}, "devices='two' is invalid: all, or a number of local devices"),
        ({"devices": "0"}, "devices='0' is invalid"),
        ({"num_threads": -1}, "num_threads=-1 is invalid: must be an integer >= 0"),
        ({"checkpoint_every": -1}, "checkpoint_every=-1 is invalid"),
        ({"keep_checkpoints": 0}, "keep_checkpoints=0 is invalid: must be an integer >= 1"),
        ({"checkpoint_minutes": -1.0}, "checkpoint_minutes=-1.0 is invalid"),
        ({"chunk_iterations": -1}, "chunk_iterations=-1 is invalid"),
        ({"seed_loop": 2}, "seed_loop=2 is invalid: one of -1 (auto), 0, 1"),
    ],
)
def test_options_name_the_bad_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunOptions(**kwargs)


def test_options_are_checked_against_the_env():
    assert RunOptions(devices=2).devices == "2"
    check_options(EnvConfig(num_seeds=4), RunOptions(devices="2"))
    check_options(EnvConfig(num_seeds=3), RunOptions(devices="all"))
    with pytest.raises(ValueError, match=r"num_seeds=3 is invalid: must be divisible by devices"):
        check_options(EnvConfig(num_seeds=3), RunOptions(devices="2"))
    with pytest.raises(ValueError, match="Atari games only"):
        check_options(EnvConfig(env_id="CartPole-v1"), RunOptions(env_backend="ale-xla"))


def test_presets_options_come_before_the_flags():
    assert presets.preset_options("cartpole") == RunOptions(checkpoint_every=25_000)
    assert presets.preset_options("nature") == RunOptions()  # a preset without any
    assert presets.preset_options("minatar").env_backend == "gymnax"
    for name in presets.PRESET_OPTIONS:
        assert name in presets.PRESETS
    small = ["--replay-capacity", "10000"]  # a small replay: the memory check passes anywhere
    _, _, options = cli.parse("cartpole", "", small)
    assert options.checkpoint_every == 25_000 and options.keep_checkpoints == 3
    _, _, options = cli.parse("drq_eps", "", [*small, "--keep-checkpoints", "2"])
    assert (options.checkpoint_every, options.keep_checkpoints) == (100_000, 2)


def test_config_json_records_config_and_options_apart(tmp_path):
    config = presets.cartpole()
    options = RunOptions(num_threads=2, run_name="r", progress=False)
    rundir.write_config(tmp_path, config, options=options)
    record = rundir.read_config(tmp_path)
    assert list(record)[:2] == ["config", "options"]
    assert record["options"] == dataclasses.asdict(options)
    assert load_run_options(tmp_path) == options


def test_a_run_written_before_the_options_keeps_them_in_its_config(tmp_path):
    config = presets.cartpole()
    old = json.loads(json.dumps(rundir.config_record(config)))
    old["config"]["env"].update(env_backend="gymnasium", devices="1", num_threads=3)
    old["config"]["train"].update(run_dir="elsewhere", run_name="x", progress=False,
                                  checkpoint_every=500, checkpoint_minutes=2.5,
                                  keep_checkpoints=2, distributed=False)  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert load_run_options(tmp_path) == RunOptions(
        env_backend="gymnasium", num_threads=3, run_dir="elsewhere", run_name="x",
        progress=False, checkpoint_every=500, checkpoint_minutes=2.5, keep_checkpoints=2,
    )  # fmt: skip
    assert options_from_record({"config": {}}) == RunOptions()  # older still: the defaults


def test_a_resume_takes_the_runs_options_and_flags_change_how_it_runs(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    config = dataclasses.replace(
        presets.cartpole(), replay=dataclasses.replace(presets.cartpole().replay,
                                                       replay_capacity=10_000),
    )  # fmt: skip
    saved = RunOptions(run_dir="gone", run_name="old", checkpoint_every=500, num_threads=1)
    rundir.write_config(run, config, options=saved)
    flags = cli._defaults("cartpole", str(run), presets.PRESETS)
    assert flags.config == config
    assert flags.run == dataclasses.replace(saved, run_dir=str(tmp_path), run_name="r")
    assert isinstance(flags.config, Config)
