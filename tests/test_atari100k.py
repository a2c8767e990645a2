"""experiments/atari100k.py: bad input, the presets and their published scores, the table's
arithmetic, and a CI-sized run."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import atari100k  # noqa: E402

from jaxdqn.presets import PRESETS  # noqa: E402


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
    assert rows[0]["published"] == 579.6 and rows[1]["hns"] == pytest.approx(1.0)
    # DER has a published score for Assault only: no published aggregate over Assault and Pong.
    assert [r["published"] for r in atari100k.game_rows(scores, "der")] == [561.5, None]
    assert all(agg[3] is None for agg in atari100k.aggregate(scores, "der").values())
    der = atari100k.aggregate({"Assault-v5": scores["Assault-v5"]}, "der")
    assert der["mean"][3] == pytest.approx((561.5 - 222.4) / (742.0 - 222.4))


def test_preset_choice(capsys, tmp_path):
    # der is accepted (nothing finished in an empty --dir: no table, nothing trained).
    assert atari100k.main(["--games", "Assault", "--preset", "der", "--table-only",
                           "--dir", str(tmp_path)]) == ""  # fmt: skip
    with pytest.raises(SystemExit) as err:
        atari100k.main(["--games", "Assault", "--preset", "rainbow"])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert "--preset: 'rainbow' is not an Atari 100k preset" in message
    assert "one of drq_eps (DrQ(ε)), der (DER)" in message


def fake_run(run_dir: Path, env: str, seed: int, preset: str, score: float) -> None:
    """A finished one-seed run of `preset` as the script leaves it: config.json, and the final
    evaluation in metrics.jsonl."""
    config = PRESETS[preset]()
    config = dataclasses.replace(
        config,
        env=dataclasses.replace(config.env, env_id=env, seed=seed, num_seeds=1),
    )
    path = run_dir / f"{env}-seed{seed}"
    path.mkdir(parents=True)
    saved = {"config": dataclasses.asdict(config), "derived": {"total_steps": 100_000}}
    (path / "config.json").write_text(json.dumps(saved, default=str))
    record = {"seed": 0, "step": 100_000, "frames": 400_000, "phase": "eval", "eval/score": score}
    (path / "metrics.jsonl").write_text(json.dumps(record) + "\n")


def test_der_table_names_der_and_its_published_scores(tmp_path):
    for seed, (assault, pong) in enumerate([(500.0, -20.0), (600.0, -19.0)]):
        fake_run(tmp_path, "Assault-v5", seed, "der", assault)
        fake_run(tmp_path, "Pong-v5", seed, "der", pong)
    table = atari100k.main(["--games", "Assault,Pong", "--seeds", "2", "--preset", "der",
                            "--table-only", "--dir", str(tmp_path)])  # fmt: skip
    assert table == (tmp_path / "atari100k.md").read_text()
    assert table.startswith("# Atari 100k, DER preset: 2 game(s)")
    assert "| DER published | human-normalised (ours) | human-normalised (DER) |" in table
    assert "| ours [95% stratified-bootstrap CI] | DER published |" in table
    assert "DrQ" not in table
    # Assault: ours (550 - 222.4) / 519.6 = 0.630, DER's 561.5 → 0.653. Pong: (-19.5 + 20.7) /
    # 35.3 = 0.034, and no DER value: "—", and no DER aggregate over the two games.
    assert "| Assault | 2 | 550.0 [500.0, 600.0] | 222.4 | 742 | 561.5 | 0.630 | 0.653 |" in table
    assert "| Pong | 2 | -19.5 [-20.0, -19.0] | -20.7 | 14.6 | — | 0.034 | — |" in table
    assert "| mean | 0.332 [" in table and table.count("] | — |") == 3
    with open(tmp_path / "atari100k.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["game"], r["der_published"]) for r in rows] == [("Assault", "561.5"), ("Pong", "")]
    assert (tmp_path / "atari100k.png").stat().st_size > 0


@pytest.mark.parametrize("trained, asked", [("drq_eps", "der"), ("der", "drq_eps")])
def test_runs_of_another_preset_are_refused(trained, asked, tmp_path, monkeypatch, capsys):
    fake_run(tmp_path, "Assault-v5", 0, trained, 600.0)
    args = ["--games", "Assault", "--seeds", "1", "--preset", asked, "--dir", str(tmp_path)]
    with pytest.raises(SystemExit) as err:  # the table of the runs there
        atari100k.main([*args, "--table-only"])
    assert err.value.code == 2
    assert f"holds a run of the {trained} preset, not {asked}: each preset needs its own --dir" in (
        capsys.readouterr().err
    )

    def train(plans):
        raise AssertionError("trained")

    monkeypatch.setattr(atari100k.cli, "train_planned", train)
    with pytest.raises(SystemExit) as err:  # training: refused while planning
        atari100k.main(args)
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert "Assault-v5-seed0 holds a run with other settings (" in message
    assert "agent.loss: " in message


@pytest.mark.slow  # end-to-end: trains 2 runs on real envs
@pytest.mark.long  # the protocol end to end; its table code is checked on saved runs above
def test_ci_sized_run_writes_the_table(tmp_path):
    """The protocol end to end, one seed per game (the tables over several seeds are checked by
    hand above, on saved runs)."""
    run_dir = tmp_path / "a100k"
    command = [
        sys.executable, str(ROOT / "experiments" / "atari100k.py"),
        "--games", "Assault,Pong", "--seeds", "1", "--dir", str(run_dir), "--jobs",
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
    assert "| Assault | 1 |" in table and "| Pong | 1 |" in table
    for aggregate in ("IQM", "median", "mean"):
        assert f"| {aggregate} |" in table
    with open(run_dir / "atari100k.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["game"] for r in rows] == ["Assault", "Pong"]
    assert [r["drq_eps_published"] for r in rows] == ["579.6", "-9.1"]  # the committed CSV's name
    for r in rows:
        seeds = [float(s) for s in r["scores"].split()]
        assert len(seeds) == 1 and float(r["mean"]) == pytest.approx(seeds[0])
    assert (run_dir / "atari100k.png").stat().st_size > 0
    # Each run is one seed of the drq_eps preset, evaluated at its end.
    config = (run_dir / "Pong-v5-seed0" / "config.json").read_text()
    assert '"augmentation": "drq"' in config and '"seed": 0' in config
    # Again: every run is finished, so nothing is retrained and the table is rewritten.
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("already finished, not retrained") == 2
