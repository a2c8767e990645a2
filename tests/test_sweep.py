"""experiments/sweep.py: game × variant runs, one per scheduler task or all in sequence, then
the aggregate table; bad uses refused."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import sweep  # noqa: E402

from jaxdqn.metrics import read_metrics  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)

TINY = ["--total-frames", "600", "--learning-starts", "400", "--chunk-iterations", "200",
        "--eval-episodes", "1", "--checkpoint-every", "0"]  # fmt: skip


def _args(tmp_path, *more):
    return ["--games", "CartPole-v1", "--variants", "dqn,double", "--num-seeds", "1",
            "--sweep-dir", str(tmp_path), *TINY, *more]  # fmt: skip


@pytest.mark.slow
def test_one_task_then_the_rest_then_the_table(tmp_path, capsys, monkeypatch):
    sweep.main(_args(tmp_path, "--list"))
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in listed] == [
        str(tmp_path / "CartPole-v1-dqn"), str(tmp_path / "CartPole-v1-double")]  # fmt: skip

    # A SLURM array task trains its run only, and writes no table.
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert sweep.main(_args(tmp_path)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CartPole-v1-double"]
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    capsys.readouterr()

    # In sequence: the finished run is reused, the other trained, then the table.
    table = sweep.main(_args(tmp_path))
    out = capsys.readouterr().out
    assert "CartPole-v1-double: already finished, not retrained" in out
    assert "| dqn (CartPole-v1) | CartPole-v1 | 1 |" in table
    assert "| double (CartPole-v1) | CartPole-v1 | 1 |" in table
    assert (tmp_path / "aggregate.md").read_text() == table
    assert (tmp_path / "CartPole-v1.png").is_file()
    for name, loss in (("CartPole-v1-dqn", "q"), ("CartPole-v1-double", "double_q")):
        records = read_metrics(tmp_path / name)
        assert {r["seed"] for r in records} == {0} and records[-1]["phase"] == "eval"
        assert f'"loss": "{loss}"' in (tmp_path / name / "config.json").read_text()
    assert sweep.main(_args(tmp_path, "--aggregate")) == table


@pytest.mark.parametrize(
    "more, message",
    [
        (["--task-index", "2"], "--task-index 2 is out of range: this sweep has 2 runs"),
        (["--env-id", "Pong-v5"], "--env-id is set by this script"),
        (["--variants", "dqn,triple"], "unknown variant 'triple'"),
        (["--variant", "bad name"], "expected NAME=FLAGS"),
    ],
)
def test_refusals(tmp_path, capsys, more, message):
    with pytest.raises(SystemExit) as info:
        sweep.main(_args(tmp_path, *more))
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_own_variants_and_games():
    assert sweep.env_id("Assault") == "Assault-v5" and sweep.env_id("CartPole-v1") == "CartPole-v1"
    assert sweep.parse_variant("lr3=--learning-rate 3e-4") == ("lr3", ["--learning-rate", "3e-4"])
    runs = sweep.plan(["Assault", "Pong"], {"dqn": [], "double": ["--loss", "double_q"]})
    assert [(env, v) for env, v, _ in runs] == [
        ("Assault-v5", "dqn"), ("Assault-v5", "double"), ("Pong-v5", "dqn"), ("Pong-v5", "double")
    ]  # fmt: skip
