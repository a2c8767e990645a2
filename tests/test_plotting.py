"""Learning curves and aggregates from synthetic metrics.jsonl files with known values."""

import json
import os
import sys

import numpy as np
import pytest
import scipy.stats

from jaxdqn import plotting

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))
import plot as plot_script  # noqa: E402

REPS = 2_000  # resamples in tests: the algorithm is the same at any count


def write_run(path, train=None, evals=None, env_id="CartPole-v1", policy="epsilon", **agent):
    """A run directory with config.json and metrics.jsonl.

    train: {seed: [(frames, score or None), ...]}; evals: {seed: [(frames, score, hns)]}.
    """
    path.mkdir(parents=True, exist_ok=True)
    agent = {
        "policy": policy,
        "epsilon_start": 1.0,
        "epsilon_end": 0.01,
        "temperature_start": 5.0,
        "temperature_end": 0.1,
        **agent,
    }
    config = {"config": {"env": {"env_id": env_id, "num_seeds": len(train or evals)}}}
    config["config"]["agent"] = agent
    (path / "config.json").write_text(json.dumps(config))
    lines = []
    for seed, points in (train or {}).items():
        for frames, score in points:
            lines.append(
                {
                    "seed": seed,
                    "step": frames,
                    "frames": frames,
                    "phase": "learn",
                    "time": frames / 100.0,
                    "charts/episodic_return": score,
                }  # fmt: skip
            )
    for seed, points in (evals or {}).items():
        for frames, score, hns in points:
            lines.append(
                {
                    "seed": seed,
                    "step": frames,
                    "frames": frames,
                    "phase": "eval",
                    "time": frames / 100.0,
                    "eval/score": score,
                    "eval/human_normalized": hns,
                }  # fmt: skip
            )
    lines.sort(key=lambda r: (r["frames"], r["phase"] == "eval", r["seed"]))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def reference_ci(values, reps=REPS, seed=0):
    """Independent percentile bootstrap over seeds of one grid point: loop-free but simple."""
    values = np.asarray(values, np.float64)
    idx = np.random.default_rng(seed).integers(0, len(values), size=(reps, len(values)))
    boot = values[idx].mean(axis=1)
    return values.mean(), *np.percentile(boot, [2.5, 97.5])


def rows_of(csv_path, run=None, panel="train"):
    rows = plotting.read_csv(csv_path)
    return [r for r in rows if r["panel"] == panel and (run is None or r["run"] == run)]


SCORES = {0: [10.0, 20.0, 35.0, 50.0], 1: [12.0, 25.0, 30.0, 70.0], 2: [8.0, 14.0, 40.0, 65.0]}
FRAMES = [1000, 2000, 3000, 4000]


def three_seed_run(path, **kwargs):
    return write_run(
        path, {s: list(zip(FRAMES, v, strict=True)) for s, v in SCORES.items()}, **kwargs
    )


def test_csv_means_and_cis_equal_independent_numpy(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = plotting.plot_runs([run], tmp_path / "fig.png", reps=REPS, aggregate_reps=REPS)
    rows = rows_of(out.csv)
    assert [r["frames"] for r in rows] == FRAMES
    per_seed = np.array([SCORES[s] for s in range(3)])  # [S, T]
    for t, row in enumerate(rows):
        mean, low, high = reference_ci(per_seed[:, t])
        np.testing.assert_allclose([row["mean"], row["ci_low"], row["ci_high"]], [mean, low, high])
        assert row["n_seeds"] == 3
        np.testing.assert_allclose([row[f"seed_{s}"] for s in range(3)], per_seed[:, t])
        assert low <= mean <= high


def test_smoothing_is_a_trailing_moving_average_over_records(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = plotting.plot_runs([run], tmp_path / "fig.png", smooth=2, reps=REPS)
    rows = rows_of(out.csv)
    smoothed = np.array([[v[0]] + [(a + b) / 2 for a, b in zip(v, v[1:], strict=False)]
                         for v in SCORES.values()])  # fmt: skip
    for t, row in enumerate(rows):
        mean, low, high = reference_ci(smoothed[:, t])
        np.testing.assert_allclose([row["mean"], row["ci_low"], row["ci_high"]], [mean, low, high])
    np.testing.assert_allclose(plotting.moving_average([1, 2, 3, 4], 3), [1, 1.5, 2, 3])
    with pytest.raises(ValueError, match="smoothing window"):
        plotting.moving_average([1.0], 0)


def test_identical_seeds_collapse_the_band_onto_the_mean(tmp_path):
    same = [(f, float(f) / 10) for f in FRAMES]
    run = write_run(tmp_path / "run", {0: same, 1: same, 2: same})
    rows = rows_of(plotting.plot_runs([run], tmp_path / "f.png", reps=REPS).csv)
    for row, (_, score) in zip(rows, same, strict=True):
        assert row["ci_low"] == row["mean"] == row["ci_high"] == pytest.approx(score)


def test_band_covers_the_true_mean_about_95_percent_of_the_time():
    # 400 independent experiments (columns) of 30 normal seeds each: the percentile bootstrap
    # of a mean covers the true mean ≈ 93-95% of the time at this size.
    values = np.random.default_rng(1).normal(3.0, 2.0, size=(30, 400))
    mean, low, high, n = plotting.bootstrap_mean_ci(values, reps=1_000)
    coverage = np.mean((low <= 3.0) & (3.0 <= high))
    assert 0.88 <= coverage <= 0.99, coverage
    assert np.all(low <= mean) and np.all(mean <= high) and np.all(n == 30)
    # A band over 4× the seeds is about half as wide.
    wide = np.random.default_rng(2).normal(3.0, 2.0, size=(120, 400))
    _, lo4, hi4, _ = plotting.bootstrap_mean_ci(wide, reps=1_000)
    assert 0.4 < np.mean(hi4 - lo4) / np.mean(high - low) < 0.6


def test_png_is_written_and_not_empty(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = plotting.plot_runs([run], tmp_path / "sub" / "fig.png", reps=REPS)
    data = out.png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert out.csv == tmp_path / "sub" / "fig.csv" and out.markdown.read_text() == out.table


def test_runs_with_different_seed_counts_and_missing_intervals(tmp_path):
    a = three_seed_run(tmp_path / "a")
    # Run b: 2 seeds on another grid; seed 1 has no finished game at 1500 (null) and its
    # records start later and end earlier than seed 0's.
    b = write_run(
        tmp_path / "b",
        {
            0: [(500, 1.0), (1500, 3.0), (2500, 5.0), (3500, 7.0)],
            1: [(1000, 10.0), (1500, None), (2500, 30.0)],
        },
        policy="boltzmann",
    )
    out = plotting.plot_runs([a, b], tmp_path / "fig.png", reps=REPS)
    assert len(rows_of(out.csv, "a")) == 4
    rows = {r["frames"]: r for r in rows_of(out.csv, "b")}
    assert sorted(rows) == [500, 1000, 1500, 2500, 3500]
    # Only seed 0 covers 500 and 3500: the mean is its value and the band collapses.
    for frames, score in ((500, 1.0), (3500, 7.0)):
        r = rows[frames]
        assert r["n_seeds"] == 1 and r["ci_low"] == r["mean"] == r["ci_high"] == score
        assert r["seed_1"] is None and r["seed_2"] is None  # run b has no seed 2
    # At 1000 seed 0 is interpolated between 500 and 1500 (2.0); at 1500 seed 1 is
    # interpolated across its missing interval, between 10 at 1000 and 30 at 2500.
    assert rows[1000]["seed_0"] == pytest.approx(2.0)
    assert rows[1500]["seed_1"] == pytest.approx(10.0 + 20.0 * 500 / 1500)
    mean, low, high = reference_ci([3.0, 10.0 + 20.0 * 500 / 1500])
    got = [rows[1500][k] for k in ("mean", "ci_low", "ci_high")]
    np.testing.assert_allclose(got, [mean, low, high])
    assert "ε-greedy (ε 1→0.01)" in {r["label"] for r in plotting.read_csv(out.csv)}
    assert "Boltzmann (τ 5→0.1)" in {r["label"] for r in plotting.read_csv(out.csv)}


def test_resumed_run_keeps_the_later_record_of_a_repeated_frame(tmp_path):
    run = write_run(tmp_path / "r", {0: [(1000, 1.0), (2000, 2.0)]})
    with open(run / "metrics.jsonl", "a") as f:  # a resume that re-logs frame 2000
        f.write(json.dumps({"seed": 0, "frames": 2000, "phase": "learn", "time": 30,
                            "charts/episodic_return": 5.0}) + "\n")  # fmt: skip
    xs, ys = plotting.seed_series(plotting.load_run(run).records, *plotting.PANELS["train"])[0]
    np.testing.assert_array_equal(xs, [1000, 2000])
    np.testing.assert_array_equal(ys, [1.0, 5.0])


def test_hours_axis_uses_wall_clock(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = plotting.plot_runs([run], tmp_path / "fig.png", hours=True, reps=REPS)
    rows = rows_of(out.csv)
    np.testing.assert_allclose([r["hours"] for r in rows], np.array(FRAMES) / 100 / 3600)


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("", 1, "empty metrics file"),
        ("\n\n", 1, "empty metrics file"),
        ('{"seed": 0, "frames": 1, "phase": "learn"}\n\n{"seed": 0, "fra', 3, "malformed JSON"),
        ('{"seed": 0, "frames": 1, "phase": "learn"}\n[1, 2]\n', 2, "expected a JSON object"),
        ('{"seed": 0, "phase": "learn"}\n', 1, "record lacks 'frames'"),
    ],
)
def test_bad_metrics_file_is_an_error_naming_file_and_line(tmp_path, content, line, message):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "metrics.jsonl").write_text(content)
    with pytest.raises(ValueError, match=rf"bad/metrics\.jsonl:{line}: {message}"):
        plotting.load_run(run)


def test_plot_script_errors_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        plot_script.main([str(tmp_path / "nope"), "--out", str(tmp_path / "f.png")])
    assert exit_info.value.code == 2
    assert "run directory does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.jsonl").write_text("{oops\n")
    with pytest.raises(SystemExit):
        plot_script.main([str(bad), "--out", str(tmp_path / "f.png")])
    assert "metrics.jsonl:1: malformed JSON" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no such metrics file"):
        plotting.load_run(tmp_path)


def test_iqm_hand_worked():
    # 8 scores: cut 2 from each end, mean of 3, 4, 5, 6.
    assert plotting.iqm([100, 1, 2, 3, 4, 5, 6, 7]) == 4.5
    # 5 scores: cut int(1.25) = 1 from each end, mean of 2, 3, 4 (scipy's trim_mean).
    assert plotting.iqm([1, 2, 3, 4, 100]) == 3.0
    x = np.random.default_rng(0).normal(size=(3, 11))
    np.testing.assert_allclose(plotting.iqm(x, axis=-1), scipy.stats.trim_mean(x, 0.25, axis=-1))
    np.testing.assert_allclose(plotting.iqm(x, axis=None), scipy.stats.trim_mean(x, 0.25, None))


def test_human_normalized_aggregate_hand_worked_assault(tmp_path):
    # Assault: random 222.4, human 1496 (Mnih et al. 2015): human − random = 1273.6.
    finals = [222.4, 859.2, 1177.6, 1496.0]  # normalised 0, 0.5, 0.75, 1
    hns = [0.0, 0.5, 0.75, 1.0]
    evals = {
        s: [(1000, 100.0, -0.1), (2000, f, h)]
        for s, (f, h) in enumerate(zip(finals, hns, strict=True))
    }
    run = write_run(tmp_path / "assault", evals=evals, env_id="Assault-v5")
    out = plotting.plot_runs([run], tmp_path / "fig.png", reps=REPS, aggregate_reps=REPS)
    [row] = plotting.aggregate_rows([plotting.load_run(run)], reps=REPS)
    assert row["games"] == "Assault-v5" and row["runs"] == 4
    assert row["iqm"][0] == pytest.approx(0.625)  # 4 runs: cut 1 each end, mean(0.5, 0.75)
    assert row["mean"][0] == pytest.approx(0.5625)
    idx = np.random.default_rng(0).integers(0, 4, size=(REPS, 4))
    boot = np.array(hns)[idx]
    for stat, ref in ((row["iqm"], scipy.stats.trim_mean(boot, 0.25, axis=1)),
                      (row["mean"], boot.mean(1))):  # fmt: skip
        np.testing.assert_allclose(stat[1:], np.percentile(ref, [2.5, 97.5]))
        assert 0.0 <= stat[1] <= stat[0] <= stat[2] <= 1.0
    assert "0.625 [" in out.table and "0.562 [" in out.table  # the aggregate table is written
    np.testing.assert_allclose(rows_of(out.csv, panel="eval")[-1]["mean"], np.mean(finals))


def test_stratified_bootstrap_resamples_within_each_game():
    scores = {"Pong-v5": [0.1, 0.2], "Assault-v5": [0.0, 0.5, 1.0]}
    point, low, high = plotting.stratified_bootstrap_ci(scores, plotting.mean_of_games, reps=REPS)
    assert point == pytest.approx((0.15 + 0.5) / 2)
    rng = np.random.default_rng(0)  # games in sorted order: Assault, then Pong
    a = np.array(scores["Assault-v5"])[rng.integers(0, 3, size=(REPS, 3))]
    p = np.array(scores["Pong-v5"])[rng.integers(0, 2, size=(REPS, 2))]
    ref = (a.mean(1) + p.mean(1)) / 2
    np.testing.assert_allclose([low, high], np.percentile(ref, [2.5, 97.5]))
    iqm_point, *_ = plotting.stratified_bootstrap_ci(scores, plotting.iqm_of_games, reps=REPS)
    assert iqm_point == pytest.approx(np.mean([0.1, 0.2, 0.5]))  # 5 pooled: cut 1 each end


def test_final_score_table_without_human_normalised_scores(tmp_path):
    run = three_seed_run(tmp_path / "run", evals={s: [(4000, 400.0 + s, None)] for s in range(3)})
    out = plotting.plot_runs([run], tmp_path / "fig.png", reps=REPS)
    [row] = plotting.final_score_rows([plotting.load_run(run)], reps=REPS)
    assert row["eval"][0] == pytest.approx(401.0) and row["seeds"] == 3
    assert row["train"][0] == pytest.approx(np.mean([50.0, 70.0, 65.0]))
    assert "| 401.0 [" in out.table and "IQM" not in out.table
    assert {r["panel"] for r in plotting.read_csv(out.csv)} == {"train", "eval"}


def test_write_curves_never_raises(tmp_path):
    run = three_seed_run(tmp_path / "run")
    png = plotting.write_curves(run)
    assert png == run / "curves.png" and png.stat().st_size > 0
    assert (run / "curves.csv").exists()
    # No finished game yet: nothing is written.
    empty = write_run(tmp_path / "early", {0: [(1000, None)], 1: [(1000, None)]})
    assert plotting.write_curves(empty) is None and not (empty / "curves.png").exists()
    # Unreadable metrics: a warning, not an exception.
    (empty / "metrics.jsonl").write_text("{oops\n")
    with pytest.warns(RuntimeWarning, match="metrics.jsonl:1"):
        assert plotting.write_curves(empty) is None
    with pytest.warns(RuntimeWarning, match="does not exist"):
        assert plotting.write_curves(tmp_path / "missing") is None


def test_plot_script_end_to_end(tmp_path, capsys):
    a = three_seed_run(tmp_path / "eps")
    b = three_seed_run(tmp_path / "boltz", policy="boltzmann", temperature_end=0.05)
    out = plot_script.main([str(a), str(b), "--out", str(tmp_path / "c.png"), "--smooth", "2"])
    printed = capsys.readouterr().out
    assert "Boltzmann (τ 5→0.05)" in printed and "ε-greedy (ε 1→0.01)" in printed
    assert out.png.stat().st_size > 0 and out.csv.exists() and out.markdown.exists()
