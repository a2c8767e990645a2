"""jaxdqn.cli and `python -m jaxdqn`: the public entry points, the presets a script offers, the
errors of a mistyped name, and what config.json records of how a run was launched."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jaxdqn import cli, presets, rundir
from jaxdqn.__main__ import COMMANDS
from jaxdqn.__main__ import main as jaxdqn_main
from jaxdqn.options import options_from_record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import _cli  # noqa: E402
import assault  # noqa: E402

ATARI = [
    "nature",
    "dopamine",
    "cleanrl",
    "drq_eps",
    "c51",
    "qr_dqn",
    "rainbow",
    "der",
    "iqn",
    "pqn_atari",
]


def test_the_old_script_module_is_the_library_module():
    assert _cli is cli
    assert cli.split_lists(["--hidden", "64,64"]) == ["--hidden", "64", "64"]


def test_help_lists_every_command(capsys):
    jaxdqn_main(["--help"])
    out = capsys.readouterr().out
    listed = re.findall(r"^  (\w+) ", out, re.M)
    assert listed == ["train", *COMMANDS]
    assert {"train", "play", "plot", "atari100k", "minatar"} <= set(listed)


def test_python_dash_m_runs_from_any_directory(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "jaxdqn", "--help"], cwd=tmp_path, text=True,
                          capture_output=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "atari100k" in done.stdout and "train" in done.stdout


@pytest.mark.parametrize("command", ["train", *COMMANDS])
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        jaxdqn_main([command, "--help"])
    assert exit_.value.code == 0
    assert f"python -m jaxdqn {command}" in capsys.readouterr().out


def test_train_offers_every_preset(capsys):
    with pytest.raises(SystemExit):
        jaxdqn_main(["train", "--help"])
    out = capsys.readouterr().out
    for name, preset in presets.PRESETS.items():
        assert f"{name}: {cli.summary(preset)}" in out


def test_an_unknown_command_names_close_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        jaxdqn_main(["plto"])
    assert exit_.value.code == 2
    assert "unknown command 'plto'" in capsys.readouterr().err


def test_assault_runs_every_atari_preset(capsys):
    assert list(assault.ATARI_PRESETS) == ATARI
    assert list(cli.atari_presets()) == ATARI
    with pytest.raises(SystemExit) as exit_:
        assault.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in ATARI:  # what each reproduces: its docstring's first sentence
        assert f"  {name}: {cli.summary(presets.PRESETS[name])}" in out
    assert "cartpole:" not in out and "minatar:" not in out
    assert cli.summary(presets.der).endswith("configs/DER.gin.")  # the whole sentence


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("rainbw", "Did you mean rainbow?"), ("DER", "Did you mean der?"), ("qr-dqn", "qr_dqn")],
)
def test_a_mistyped_preset_gets_close_matches(typed, hint, capsys):
    with pytest.raises(SystemExit) as exit_:
        assault.main(["--preset", typed, "--env-id", "NoSuchGame-v5", "--network", "mlp"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --preset {typed!r} is not one of nature, dopamine")
    assert hint in err and err.count("\n") == 1


def test_a_preset_with_nothing_close_lists_them(capsys):
    with pytest.raises(SystemExit):
        cli.check_preset("zzz", presets.PRESETS)
    assert "Did you mean" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- config.json


def test_config_json_records_the_launch_only_inside_a_run(tmp_path):
    config, options = presets.cartpole(), presets.preset_options("cartpole")
    assert "launch" not in rundir.config_record(config)
    launch = {"preset": "cartpole", "flags": ["--seed", "3"]}
    with rundir.launching(launch):
        rundir.write_config(tmp_path, config, options=options)
    assert "launch" not in rundir.config_record(config)  # nothing left behind
    record = rundir.read_config(tmp_path)
    assert record["launch"] == launch
    assert record["options"]["run_dir"] == options.run_dir  # as given
    assert "run_dir" not in record["config"]["train"]  # how it ran, beside what it learned


def test_parse_remembers_the_preset_and_flags_as_given():
    flags = [
        "--preset",
        "cleanrl",
        "--temperature-start=1,2",
        "--run-dir",
        "runs/x",
        "--replay-capacity",
        "10000",
    ]  # a small replay: the memory check passes anywhere
    config, _, options = cli.parse("nature", "", flags)
    assert cli._LAUNCHES[config] == {"preset": "cleanrl", "flags": flags}
    assert options.run_dir == "runs/x"


def test_a_resumed_run_keeps_the_launch_it_started_with(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    record = rundir.config_record(presets.cartpole())
    record["launch"] = {"preset": "cartpole", "flags": ["--seed", "3"]}
    (run / "config.json").write_text(json.dumps(record))
    assert cli._launch("cartpole", ["--resume", str(run)], run) == {
        "preset": "cartpole", "flags": ["--seed", "3"], "resumed_with": ["--resume", str(run)]
    }  # fmt: skip
    del record["launch"]  # a run written before the key existed
    (run / "config.json").write_text(json.dumps(record))
    assert cli._launch("cartpole", [], run) == {"preset": None, "flags": None, "resumed_with": []}


def test_committed_results_hold_no_machine_path():
    for path in ROOT.glob("results/**/config.json"):
        text = path.read_text()
        assert not re.search(r'"(/work|/tmp|/root|/home)', text), path
        run_dir = options_from_record(json.loads(text)).run_dir
        assert not Path(run_dir).is_absolute(), (path, run_dir)


def test_examples_import_nothing_private():
    for path in (ROOT / "examples").glob("*.py"):
        source = path.read_text()
        assert "sys.path" not in source and "import _cli" not in source, path
        assert "from jaxdqn import cli" in source, path


def test_planned_runs_carry_their_launch(tmp_path):
    planned = cli.plan_run(tmp_path / "p", ["--seed", "2"], "cartpole",
                           {"cartpole": presets.cartpole}, "", "--dir")  # fmt: skip
    assert planned.launch == {"preset": "cartpole", "flags": ["--seed", "2"]}
    assert dataclasses.replace(planned.config.env, seed=0) == presets.cartpole().env


def test_run_hands_the_launch_to_config_json(tmp_path, monkeypatch):
    """`run` opens the launch record for exactly the span of the run (the host loop, faked
    here, writes config.json inside it)."""
    from jaxdqn import loop

    def run_experiment(plan, **kwargs):
        rundir.write_config(tmp_path, plan.config)
        return {"stopped": None}

    monkeypatch.setattr(loop, "run_experiment", run_experiment)
    flags = ["--seed", "5", "--run-dir", str(tmp_path)]
    cli.run(*cli.parse("cartpole", "", flags, {"cartpole": presets.cartpole}))
    assert rundir.read_config(tmp_path)["launch"] == {"preset": "cartpole", "flags": flags}
    assert "launch" not in rundir.config_record(presets.cartpole())
