"""experiments/atari100k.py: bad input, the table's arithmetic, and a CI-sized run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import atari100k  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)


def test_unknown_game_lists_the_26_and_suggests(capsys):
    with pytest.raises(SystemExit) as err:
        atari100k.main(["--games", "Asault", "--seeds", "1"])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert "'Asault' is not an Atari 100k game" in message
    assert "Did you mean Assault?" in message
    for game in ("Alien", "UpNDown", "PrivateEye", "Kangaroo"):
        assert game in message


def test_games_by_name_any_case_and_all():
    assert atari100k.parse_games("assault, Pong-v5,ASSAULT") == ["Assault-v5", "Pong-v5"]
    assert len(atari100k.parse_games("all")) == 26


def test_flags_the_script_sets_are_refused(capsys):
    with pytest.raises(SystemExit) as err:
        atari100k.main(["--games", "Assault", "--seed", "3"])
    assert err.value.code == 2
    assert "--seed is set by this script" in capsys.readouterr().err


def test_aggregate_by_hand():
    # Assault: random 222.4, human 742.0 → 0, 0.5, 1; Pong: random -20.7, human 14.6 → 1, 1.
    scores = {
        "Assault-v5": {"scores": [222.4, 482.2, 742.0], "frames": 400_000},
        "Pong-v5": {"scores": [14.6, 14.6], "frames": 400_000},
    }
    agg = atari100k.aggregate(scores)
    # Pooled [0, .5, 1, 1, 1]: IQM cuts int(0.25 · 5) = 1 from each end → mean(.5, 1, 1).
    assert agg["IQM"][0] == pytest.approx(2.5 / 3)
    assert agg["mean"][0] == pytest.approx((0.5 + 1.0) / 2)
    assert agg["median"][0] == pytest.approx(0.75)  # median of the two game means
    for point, low, high, _ in agg.values():
        assert low <= point <= high
    # DrQ(ε) published: Assault 579.6, Pong -9.1.
    drq_mean = ((579.6 - 222.4) / (742.0 - 222.4) + (-9.1 + 20.7) / (14.6 + 20.7)) / 2
    assert agg["mean"][3] == pytest.approx(drq_mean)
    rows = atari100k.game_rows(scores)
    assert rows[0]["mean"] == pytest.approx(482.2)
    assert rows[0]["low"] <= 482.2 <= rows[0]["high"]
    assert rows[1]["low"] == rows[1]["high"] == pytest.approx(14.6)  # identical seeds
    assert rows[0]["drq_eps"] == 579.6 and rows[1]["hns"] == pytest.approx(1.0)


def test_ci_sized_run_writes_the_table(tmp_path):
    run_dir = tmp_path / "a100k"
    command = [
        sys.executable, str(ROOT / "experiments" / "atari100k.py"),
        "--games", "Assault,Pong", "--seeds", "2", "--dir", str(run_dir), "--jobs",
        str(min(2, len(os.sched_getaffinity(0)))), "--total-frames", "2000",
        "--learning-starts", "400", "--eval-episodes", "2", "--eval-max-episode-steps", "100",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = (run_dir / "atari100k.md").read_text()
    columns = (
        "game",
        "seeds",
        "mean final score [95% CI over seeds]",
        "random",
        "human",
        "DrQ(ε) published",
        "human-normalised (ours)",
        "human-normalised (DrQ(ε))",
    )
    for column in columns:
        assert f"| {column} |" in table
    assert "| Assault | 2 |" in table and "| Pong | 2 |" in table
    for aggregate in ("IQM", "median", "mean"):
        assert f"| {aggregate} |" in table
    with open(run_dir / "atari100k.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["game"] for r in rows] == ["Assault", "Pong"]
    for r in rows:
        seeds = [float(s) for s in r["scores"].split()]
        assert len(seeds) == 2 and float(r["mean"]) == pytest.approx(np.mean(seeds))
    assert (run_dir / "atari100k.png").stat().st_size > 0
    # Each run is one seed of the drq_eps preset, evaluated at its end.
    config = (run_dir / "Pong-v5-seed1" / "config.json").read_text()
    assert '"augmentation": "drq"' in config and '"seed": 1' in config
    # Again: every run is finished, so nothing is retrained and the table is rewritten.
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("already finished, not retrained") == 4
