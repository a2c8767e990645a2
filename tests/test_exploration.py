"""experiments/exploration.py: three runs and one figure, finished runs reused, bad uses refused."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import exploration  # noqa: E402

from jaxdqn.analysis import read_curves  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)

TINY = ["--total-frames", "2000", "--learning-starts", "500", "--chunk-iterations", "500",
        "--eval-episodes", "1", "--checkpoint-every", "0"]  # fmt: skip


def _args(tmp_path, *more):
    return ["--game", "cartpole", "--seeds", "1", "--temperatures", "1,5",
            "--out-dir", str(tmp_path / "runs"), "--figure", str(tmp_path / "fig.png"),
            *TINY, *more]  # fmt: skip


@pytest.mark.slow
@pytest.mark.long  # the experiment script end to end
def test_three_runs_one_figure_and_reuse(tmp_path, capsys):
    out = exploration.main(_args(tmp_path))
    runs = tmp_path / "runs"
    names = ["exploration-cartpole-epsilon", "exploration-cartpole-boltzmann",
             "exploration-cartpole-tau-sweep"]  # fmt: skip
    assert sorted(p.name for p in runs.iterdir()) == sorted(names)
    configs = {n: json.loads((runs / n / "config.json").read_text())["config"] for n in names}
    assert configs[names[0]]["agent"]["policy"] == "epsilon"
    assert configs[names[1]]["agent"]["policy"] == "boltzmann"
    assert configs[names[2]]["agent"]["temperature_start"] == [1.0, 5.0]
    assert configs[names[2]]["env"]["num_seeds"] == 2
    assert all(c["train"]["total_frames"] == 2000 for c in configs.values())
    assert out.png.is_file() and out.png == tmp_path / "fig.png"
    rows = read_curves(tmp_path / "fig.csv")
    # The default Boltzmann run and the sweep's τ0=5 share a label, so both name their run.
    assert set(rows["label"]) == {
        "epsilon (ε 1→0.01)",
        "boltzmann (τ 5→0.05) [exploration-cartpole-boltzmann]",
        "boltzmann (τ 1→0.05)",
        "boltzmann (τ 5→0.05) [exploration-cartpole-tau-sweep[temperature=5]]",
    }
    assert set(rows["panel"]) == {"train", "eval"}
    assert (tmp_path / "fig.md").read_text().count("| boltzmann") == 3

    # The same command again trains nothing: the finished runs are reused, the figure redrawn.
    capsys.readouterr()
    before = {n: (runs / n / "metrics.jsonl").stat().st_mtime_ns for n in names}
    exploration.main(_args(tmp_path))
    assert capsys.readouterr().out.count("already finished, not retrained") == 3
    assert before == {n: (runs / n / "metrics.jsonl").stat().st_mtime_ns for n in names}

    # Other settings in the same directories are refused before anything is trained.
    with pytest.raises(SystemExit) as info:
        exploration.main(_args(tmp_path, "--learning-rate", "1e-3"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "exploration-cartpole-epsilon holds a run with other settings" in err
    assert "agent.learning_rate: 0.0005 there, 0.001 now" in err


def test_refusals(tmp_path, capsys, monkeypatch):
    import jax

    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    with pytest.raises(SystemExit) as info:
        exploration.main(["--game", "assault", "--out-dir", str(tmp_path)])
    assert info.value.code == 2
    assert "--game assault needs a GPU" in capsys.readouterr().err
    for bad in (["--num-seeds", "3"], ["--policy=boltzmann"], ["--temperatures", "1,1"],
                ["--temperatures", "0,2"], ["--seeds", "0"]):  # fmt: skip
        with pytest.raises(SystemExit) as info:
            exploration.main(_args(tmp_path, *bad))
        assert info.value.code == 2, bad
    assert not (tmp_path / "runs").exists()
