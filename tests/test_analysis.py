"""jaxdqn.analysis on synthetic metrics.jsonl files with known values, against hand-worked
numbers, plain numpy / Python references, seaborn's own band and (where it imports) rliable."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from jaxdqn import analysis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))
import plot as plot_script  # noqa: E402

REPS = 2_000  # resamples in tests: the algorithm is the same at any count
PARAMETER = {"epsilon": ("epsilon", 1.0, 0.01), "boltzmann": ("temperature", 5.0, 0.1)}


def write_run(path, train=None, evals=None, env_id="CartPole-v1", policy="epsilon", **agent):
    """A run directory with config.json and metrics.jsonl, as the training loop writes them.

    train: {seed: [(frames, score or None), ...]}; evals: {seed: [(frames, score, hns)]}.
    Training records carry `charts/<name>` of the policy's parameter, decaying linearly from
    its start to its end over the frames (per-seed starts: `<name>_start=[...]` in `agent`).
    """
    path.mkdir(parents=True, exist_ok=True)
    name, start, end = PARAMETER.get(policy, (policy, 1.0, 0.0))
    agent = {"policy": policy, f"{name}_start": start, f"{name}_end": end, **agent}
    seeds = sorted(train or evals)
    config = {"config": {"env": {"env_id": env_id, "num_seeds": len(seeds)}, "agent": agent}}
    (path / "config.json").write_text(json.dumps(config))
    starts = agent[f"{name}_start"]
    lines = []
    for seed, points in (train or {}).items():
        s0 = starts[seed] if isinstance(starts, list) else starts
        for frames, score in points:
            lines.append({"seed": seed, "step": frames, "frames": frames, "phase": "learn",
                          "time": frames / 100.0, "charts/episodic_return": score,
                          "charts/episodes": 0 if score is None else 3,
                          f"charts/{name}": s0 + (end - s0) * frames / 4000,
                          "charts/SPS": 1000.0})  # fmt: skip
    for seed, points in (evals or {}).items():
        for frames, score, hns in points:
            lines.append({"seed": seed, "step": frames, "frames": frames, "phase": "eval",
                          "time": frames / 100.0, "eval/score": score,
                          "eval/human_normalized": hns})  # fmt: skip
    lines.sort(key=lambda r: (r["frames"], r["phase"] == "eval", r["seed"]))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def reference_ci(values, reps=REPS, seed=0):
    """Percentile bootstrap of the mean, written out plainly: resample k is the k-th call of
    `integers(0, n, n)` on one `default_rng(seed)`, as in seaborn's bootstrap loop."""
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    boot = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(reps)]
    return values.mean(), *np.percentile(boot, [2.5, 97.5])


def plain_iqm(xs):
    """IQM by hand: sort, drop floor(n/4) from each end, average the rest."""
    xs = sorted(xs)
    k = len(xs) // 4
    kept = xs[k : len(xs) - k]
    return sum(kept) / len(kept)


def rows_of(csv_path, run=None, panel="train"):
    rows = analysis.read_curves(csv_path)
    rows = rows[rows["panel"] == panel]
    return rows if run is None else rows[rows["run"] == run]


SCORES = {0: [10.0, 20.0, 35.0, 50.0], 1: [12.0, 25.0, 30.0, 70.0], 2: [8.0, 14.0, 40.0, 65.0]}
FRAMES = [1000, 2000, 3000, 4000]


def three_seed_run(path, **kwargs):
    return write_run(
        path, {s: list(zip(FRAMES, v, strict=True)) for s, v in SCORES.items()}, **kwargs
    )


# ------------------------------------------------------------------------------ curves


def test_csv_means_and_cis_equal_a_plain_numpy_bootstrap(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = analysis.plot_runs([run], tmp_path / "fig.png", reps=REPS, aggregate_reps=REPS)
    rows = rows_of(out.csv)
    assert rows["frames"].tolist() == FRAMES
    per_seed = np.array([SCORES[s] for s in range(3)])  # [S, T]
    for t, (_, row) in enumerate(rows.iterrows()):
        mean, low, high = reference_ci(per_seed[:, t])
        np.testing.assert_allclose([row["mean"], row["ci_low"], row["ci_high"]], [mean, low, high])
        assert row["n_seeds"] == 3 and low <= mean <= high
        np.testing.assert_allclose([row[f"seed_{s}"] for s in range(3)], per_seed[:, t])


def _band_of_figure(ax, x):
    """(low, high) of the first band drawn on `ax`, at each of `x`."""
    vertices = ax.collections[0].get_paths()[0].vertices
    return np.array([[vertices[np.isclose(vertices[:, 0], v), 1].min(),
                      vertices[np.isclose(vertices[:, 0], v), 1].max()] for v in x])  # fmt: skip


def test_bootstrap_ci_draws_as_seaborn_does():
    # seaborn's lineplot sorts each x's values before its bootstrap; given them in that order,
    # bootstrap_ci's interval is the band seaborn draws with the same seed and resamples.
    import seaborn as sns
    from matplotlib.figure import Figure

    values = pd.DataFrame(np.random.default_rng(3).normal(size=(6, 4)) * [1, 2, 3, 4],
                          index=pd.Index([10.0, 20, 30, 40, 50, 60], name="frames"))  # fmt: skip
    long = values.stack().rename("score").reset_index()
    ax = Figure().subplots()
    sns.lineplot(data=long, x="frames", y="score", errorbar=("ci", 95), n_boot=500, seed=0, ax=ax)
    ours = [analysis.bootstrap_ci(np.sort(row), reps=500) for row in values.to_numpy()]
    np.testing.assert_allclose(_band_of_figure(ax, values.index), ours)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), values.mean(axis=1))


def test_the_figure_draws_the_band_of_the_csv(tmp_path):
    run = three_seed_run(tmp_path / "run")
    curves = [analysis.run_curve(analysis.load_run(run), "train", reps=REPS)]
    analysis.plot_curves(curves, tmp_path / "f.png")
    [c] = curves
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    analysis.curves._draw_panel(ax, curves, {(c.run, c.label): "C0"})
    expected = analysis.curves_frame(curves)[["ci_low", "ci_high"]].to_numpy()
    np.testing.assert_allclose(_band_of_figure(ax, FRAMES), expected)


def test_smoothing_is_a_trailing_moving_average_over_records(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = analysis.plot_runs([run], tmp_path / "fig.png", smooth=2, reps=REPS)
    smoothed = np.array([[v[0]] + [(a + b) / 2 for a, b in zip(v, v[1:], strict=False)]
                         for v in SCORES.values()])  # fmt: skip
    for t, (_, row) in enumerate(rows_of(out.csv).iterrows()):
        mean, low, high = reference_ci(smoothed[:, t])
        np.testing.assert_allclose([row["mean"], row["ci_low"], row["ci_high"]], [mean, low, high])
    records = analysis.records_frame(
        [
            {"seed": 0, "frames": f, "phase": "learn", "charts/episodic_return": float(y)}
            for f, y in zip([1, 2, 3, 4], [1, 2, 3, 4], strict=True)
        ]  # fmt: skip
    )
    np.testing.assert_allclose(
        analysis.seed_scores(records, "train", smooth=3)["score"], [1, 1.5, 2, 3]
    )
    with pytest.raises(ValueError, match="smoothing window"):
        analysis.seed_scores(records, "train", smooth=0)


def test_identical_seeds_collapse_the_band_onto_the_mean(tmp_path):
    same = [(f, float(f) / 10) for f in FRAMES]
    run = write_run(tmp_path / "run", {0: same, 1: same, 2: same})
    rows = rows_of(analysis.plot_runs([run], tmp_path / "f.png", reps=REPS).csv)
    for (_, row), (_, score) in zip(rows.iterrows(), same, strict=True):
        assert row["ci_low"] == row["mean"] == row["ci_high"] == pytest.approx(score)


def test_band_covers_the_true_mean_about_95_percent_of_the_time():
    # 400 independent experiments (rows) of 30 normal seeds each: the percentile bootstrap of a
    # mean covers the true mean ≈ 93-95% of the time at this size.
    values = pd.DataFrame(np.random.default_rng(1).normal(3.0, 2.0, size=(400, 30)))
    b = analysis.band(values, reps=1_000)
    coverage = np.mean((b["ci_low"] <= 3.0) & (3.0 <= b["ci_high"]))
    assert 0.88 <= coverage <= 0.99, coverage
    assert (b["ci_low"] <= b["mean"]).all() and (b["mean"] <= b["ci_high"]).all()
    assert (b["n_seeds"] == 30).all()
    # A band over 4× the seeds is about half as wide.
    wide = pd.DataFrame(np.random.default_rng(2).normal(3.0, 2.0, size=(400, 120)))
    b4 = analysis.band(wide, reps=1_000)
    ratio = (b4["ci_high"] - b4["ci_low"]).mean() / (b["ci_high"] - b["ci_low"]).mean()
    assert 0.4 < ratio < 0.6


def test_png_is_written_and_not_empty(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = analysis.plot_runs([run], tmp_path / "sub" / "fig.png", reps=REPS)
    data = out.png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert out.csv == tmp_path / "sub" / "fig.csv"
    title = "CartPole-v1: mean over seeds, 95% bootstrap CI over seeds"
    assert out.markdown.read_text() == f"![{title}](fig.png)\n\n{out.table}"


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
    out = analysis.plot_runs([a, b], tmp_path / "fig.png", reps=REPS)
    assert len(rows_of(out.csv, "a")) == 4
    rows = rows_of(out.csv, "b").set_index("frames")
    assert rows.index.tolist() == [500, 1000, 1500, 2500, 3500]
    # Only seed 0 covers 500 and 3500: the mean is its value and the band collapses.
    for frames, score in ((500, 1.0), (3500, 7.0)):
        r = rows.loc[frames]
        assert r["n_seeds"] == 1 and r["ci_low"] == r["mean"] == r["ci_high"] == score
        assert np.isnan(r["seed_1"]) and np.isnan(r["seed_2"])  # run b has no seed 2
    # At 1000 seed 0 is interpolated between 500 and 1500 (2.0); at 1500 seed 1 is
    # interpolated across its missing interval, between 10 at 1000 and 30 at 2500.
    assert rows.loc[1000, "seed_0"] == pytest.approx(2.0)
    assert rows.loc[1500, "seed_1"] == pytest.approx(10.0 + 20.0 * 500 / 1500)
    mean, low, high = reference_ci([3.0, 10.0 + 20.0 * 500 / 1500])
    got = rows.loc[1500, ["mean", "ci_low", "ci_high"]].to_numpy(float)
    np.testing.assert_allclose(got, [mean, low, high])
    labels = set(analysis.read_curves(out.csv)["label"])
    assert labels == {"epsilon (ε 1→0.01)", "boltzmann (τ 5→0.1)"}


def test_resumed_run_keeps_the_later_record_of_a_repeated_frame(tmp_path):
    run = write_run(tmp_path / "r", {0: [(1000, 1.0), (2000, 2.0)]})
    with open(run / "metrics.jsonl", "a") as f:  # a resume that re-logs frame 2000
        f.write(json.dumps({"seed": 0, "frames": 2000, "phase": "learn", "time": 30,
                            "charts/episodic_return": 5.0}) + "\n")  # fmt: skip
    scores = analysis.seed_scores(analysis.load_run(run).records, "train")
    assert scores["frames"].tolist() == [1000, 2000] and scores["score"].tolist() == [1.0, 5.0]


def test_hours_axis_uses_wall_clock(tmp_path):
    run = three_seed_run(tmp_path / "run")
    out = analysis.plot_runs([run], tmp_path / "fig.png", hours=True, reps=REPS)
    np.testing.assert_allclose(rows_of(out.csv)["hours"], np.array(FRAMES) / 100 / 3600)


# ------------------------------------------------------------------- labels and splits


def test_label_comes_from_the_logged_parameter_not_the_policy_name(tmp_path):
    # A forked policy named "boltzmann" that logs ε: labelled with ε, not τ.
    run = write_run(tmp_path / "fork", {0: [(1000, 1.0)]}, policy="boltzmann")
    records = (run / "metrics.jsonl").read_text().replace("charts/temperature", "charts/epsilon")
    (run / "metrics.jsonl").write_text(records)
    config = json.loads((run / "config.json").read_text())
    config["config"]["agent"].update(epsilon_start=0.5, epsilon_end=0.05)
    (run / "config.json").write_text(json.dumps(config))
    assert analysis.load_run(run).label == "boltzmann (ε 0.5→0.05)"
    # A parameter without `<name>_start` / `<name>_end` settings: first and last logged values.
    kappa = write_run(tmp_path / "kappa", {0: [(1000, 1.0), (2000, 2.0), (4000, 3.0)]},
                      policy="kappa_greedy")  # fmt: skip
    config = json.loads((kappa / "config.json").read_text())
    del (
        config["config"]["agent"]["kappa_greedy_start"],
        config["config"]["agent"]["kappa_greedy_end"],
    )
    (kappa / "config.json").write_text(json.dumps(config))
    # logged kappa_greedy: 1 − frames / 4000 → 0.75 at 1000 frames, 0 at 4000.
    assert analysis.load_run(kappa).label == "kappa_greedy (kappa_greedy 0.75→0)"
    # No parameter and no config: the directory name.
    (kappa / "config.json").unlink()
    bare = (kappa / "metrics.jsonl").read_text().replace('"charts/kappa_greedy"', '"other/x"')
    (kappa / "metrics.jsonl").write_text(bare)
    assert analysis.load_run(kappa).label == "kappa"


def test_a_sweep_vmapped_as_seeds_is_split_by_schedule(tmp_path):
    points = [(f, float(f)) for f in FRAMES]
    run = write_run(tmp_path / "sweep", {s: points for s in range(4)}, policy="boltzmann",
                    temperature_start=[1.0, 1.0, 5.0, 5.0])  # fmt: skip
    parts = analysis.split_run(analysis.load_run(run))
    assert [p.name for p in parts] == ["sweep[temperature=1]", "sweep[temperature=5]"]
    assert [p.seeds for p in parts] == [[0, 1], [2, 3]]
    assert [p.label for p in parts] == ["boltzmann (τ 1→0.1)", "boltzmann (τ 5→0.1)"]
    # Without config.json the split comes from the records alone.
    (run / "config.json").unlink()
    parts = analysis.split_run(analysis.load_run(run))
    assert [p.seeds for p in parts] == [[0, 1], [2, 3]]
    assert parts[0].part == "temperature=0.775"  # the first logged value: 1 − 0.9 · 1000/4000
    # One schedule for every seed: the run itself.
    same = write_run(tmp_path / "same", {s: points for s in range(3)}, policy="boltzmann")
    [whole] = analysis.split_run(analysis.load_run(same))
    assert whole.part == "" and whole.seeds == [0, 1, 2]


def test_labels_of_runs_drawn_together(tmp_path):
    a = analysis.load_run(three_seed_run(tmp_path / "a"))
    b = analysis.load_run(three_seed_run(tmp_path / "b"))
    c = analysis.load_run(three_seed_run(tmp_path / "c", env_id="Pong-v5"))
    assert analysis.run_labels([a, b]) == ["epsilon (ε 1→0.01) [a]", "epsilon (ε 1→0.01) [b]"]
    assert analysis.run_labels([a, c]) == [
        "CartPole-v1 · epsilon (ε 1→0.01)",
        "Pong-v5 · epsilon (ε 1→0.01)",
    ]


# ------------------------------------------------------------------------ reading runs


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
        analysis.load_run(run)


def test_records_frame_is_one_row_per_record_with_nan_for_null(tmp_path):
    run = write_run(tmp_path / "r", {0: [(1000, None), (2000, 4.0)], 1: [(1000, 6.0)]},
                    evals={0: [(2000, 9.0, None)]})  # fmt: skip
    records = analysis.load_run(run).records
    assert len(records) == 4 and records["seed"].tolist() == [0, 1, 0, 0]
    assert np.isnan(records["charts/episodic_return"].iloc[0])
    assert records["eval/score"].iloc[-1] == 9.0 and records["hours"].iloc[-1] == 20 / 3600
    assert analysis.final_eval(analysis.load_run(run)).to_dict() == {0: 9.0}


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
        analysis.load_run(tmp_path)


# ------------------------------------------------------------------------------- stats


def test_iqm_hand_worked_and_against_plain_python_and_scipy():
    # 8 scores: cut 2 from each end, mean of 3, 4, 5, 6.
    assert analysis.iqm([100, 1, 2, 3, 4, 5, 6, 7]) == 4.5
    # 5 scores: cut int(1.25) = 1 from each end, mean of 2, 3, 4 (scipy's trim_mean).
    assert analysis.iqm([1, 2, 3, 4, 100]) == 3.0
    x = np.random.default_rng(0).normal(size=(3, 11))
    np.testing.assert_allclose(analysis.iqm(x, axis=-1), [plain_iqm(row) for row in x])
    np.testing.assert_allclose(analysis.iqm(x, axis=-1), scipy.stats.trim_mean(x, 0.25, axis=-1))
    np.testing.assert_allclose(analysis.iqm(x, axis=None), scipy.stats.trim_mean(x, 0.25, None))
    with pytest.raises(ValueError, match="IQM of no scores"):
        analysis.iqm([])


def test_aggregates_over_games_hand_worked():
    games = [np.array([0.0, 0.5, 1.0]), np.array([1.0, 1.0])]
    assert analysis.iqm_of_games(games) == pytest.approx(2.5 / 3)  # pooled, cut 1 each end
    assert analysis.mean_of_games(games) == pytest.approx(0.75)
    assert analysis.median_of_games(games + [np.array([0.1])]) == pytest.approx(0.5)


def test_mean_ci_is_the_plain_bootstrap():
    values = [3.0, 9.0, 4.0, 1.0]
    np.testing.assert_allclose(analysis.mean_ci(values, reps=REPS), reference_ci(values))
    assert analysis.bootstrap_ci([7.0], reps=REPS) == (7.0, 7.0)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        analysis.bootstrap_ci([])


def test_stratified_bootstrap_resamples_within_each_game():
    scores = {"Pong-v5": [0.1, 0.2], "Assault-v5": [0.0, 0.5, 1.0]}
    point, low, high = analysis.stratified_bootstrap_ci(scores, analysis.mean_of_games, reps=REPS)
    assert point == pytest.approx((0.15 + 0.5) / 2)
    rng = np.random.default_rng(0)  # games in sorted order: Assault, then Pong
    a = np.array(scores["Assault-v5"])[rng.integers(0, 3, size=(REPS, 3))]
    p = np.array(scores["Pong-v5"])[rng.integers(0, 2, size=(REPS, 2))]
    ref = (a.mean(1) + p.mean(1)) / 2
    np.testing.assert_allclose([low, high], np.percentile(ref, [2.5, 97.5]))
    iqm_point, *_ = analysis.stratified_bootstrap_ci(scores, analysis.iqm_of_games, reps=REPS)
    assert iqm_point == pytest.approx(np.mean([0.1, 0.2, 0.5]))  # 5 pooled: cut 1 each end
    with pytest.raises(ValueError, match="at least one score for every game"):
        analysis.stratified_bootstrap_ci({"Pong-v5": []}, analysis.mean_of_games)


def test_stratified_bootstrap_agrees_with_rliable():
    try:
        from rliable import library as rly
        from rliable import metrics
    except Exception as err:  # rliable 1.2.0 fails inside `arch` under pandas 3
        pytest.skip(f"rliable does not import here: {type(err).__name__}: {err}")
    rng = np.random.default_rng(7)
    scores = {g: rng.normal(1.0, 0.4, size=5) for g in ("Assault", "Breakout", "Pong")}
    matrix = np.stack([scores[g] for g in sorted(scores)], axis=1)  # [runs, games]
    ours_fn = {"iqm": analysis.iqm_of_games, "median": analysis.median_of_games,
               "mean": analysis.mean_of_games}  # fmt: skip
    theirs_fn = {"iqm": metrics.aggregate_iqm, "median": metrics.aggregate_median,
                 "mean": metrics.aggregate_mean}  # fmt: skip
    points, cis = rly.get_interval_estimates(
        {"run": matrix}, lambda x: np.array([f(x) for f in theirs_fn.values()]), reps=20_000
    )
    for i, (name, fn) in enumerate(ours_fn.items()):
        point, low, high = analysis.stratified_bootstrap_ci(scores, fn, reps=20_000)
        assert point == pytest.approx(points["run"][i], abs=1e-12), name
        # Different random draws: the CIs agree to the bootstraps' sampling error.
        np.testing.assert_allclose([low, high], cis["run"][:, i], atol=0.02, err_msg=name)


# ------------------------------------------------------------------------------ tables


def test_human_normalized_aggregate_hand_worked_assault(tmp_path):
    # Assault: random 222.4, human 1496 (Mnih et al. 2015): human − random = 1273.6.
    finals = [222.4, 859.2, 1177.6, 1496.0]  # normalised 0, 0.5, 0.75, 1
    hns = [0.0, 0.5, 0.75, 1.0]
    evals = {
        s: [(1000, 100.0, -0.1), (2000, f, h)]
        for s, (f, h) in enumerate(zip(finals, hns, strict=True))
    }
    run = write_run(tmp_path / "assault", evals=evals, env_id="Assault-v5")
    out = analysis.plot_runs([run], tmp_path / "fig.png", reps=REPS, aggregate_reps=REPS)
    [row] = analysis.aggregate_rows([analysis.load_run(run)], reps=REPS).to_dict("records")
    assert row["games"] == "Assault-v5" and row["runs"] == 4
    assert row["iqm"] == pytest.approx(0.625)  # 4 runs: cut 1 each end, mean(0.5, 0.75)
    assert row["mean"] == pytest.approx(0.5625)
    idx = np.random.default_rng(0).integers(0, 4, size=(REPS, 4))
    boot = np.array(hns)[idx]
    for name, ref in (("iqm", scipy.stats.trim_mean(boot, 0.25, axis=1)), ("mean", boot.mean(1))):
        np.testing.assert_allclose(
            [row[f"{name}_low"], row[f"{name}_high"]], np.percentile(ref, [2.5, 97.5])
        )
        assert 0.0 <= row[f"{name}_low"] <= row[name] <= row[f"{name}_high"] <= 1.0
    assert "| 0.625 [" in out.table and "| 0.562 [" in out.table
    assert out.table.startswith("| run | games | runs (seeds) | IQM human-normalised [95% CI] |")
    assert rows_of(out.csv, panel="eval")["mean"].iloc[-1] == pytest.approx(np.mean(finals))


def test_final_score_table_without_human_normalised_scores(tmp_path):
    run = three_seed_run(tmp_path / "run", evals={s: [(4000, 400.0 + s, None)] for s in range(3)})
    out = analysis.plot_runs([run], tmp_path / "fig.png", reps=REPS)
    [row] = analysis.final_score_rows([analysis.load_run(run)], reps=REPS).to_dict("records")
    assert row["eval"] == pytest.approx(401.0) and row["seeds"] == 3 and row["frames"] == 4000
    _, low, high = reference_ci([400.0, 401.0, 402.0])
    assert (row["eval_low"], row["eval_high"]) == pytest.approx((low, high))
    assert row["train"] == pytest.approx(np.mean([50.0, 70.0, 65.0]))
    train_ci = f"61.7 [{row['train_low']:.1f}, {row['train_high']:.1f}]"
    assert out.table.splitlines()[2] == (
        f"| epsilon (ε 1→0.01) | CartPole-v1 | 3 | 4,000 | 401.0 [{low:.1f}, {high:.1f}] "
        f"| {train_ci} |"
    )
    assert "IQM" not in out.table
    assert set(analysis.read_curves(out.csv)["panel"]) == {"train", "eval"}


def test_final_score_of_a_run_without_evaluation_is_a_dash(tmp_path):
    run = analysis.load_run(three_seed_run(tmp_path / "run"))
    table = analysis.markdown_table(analysis.final_score_rows([run], reps=REPS), "final")
    assert "| 4,000 | — | 61.7 [" in table
    with pytest.raises(ValueError, match="kind must be"):
        analysis.markdown_table(analysis.final_score_rows([run], reps=REPS), "other")


def test_to_markdown_hand_worked():
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1, 22]})
    assert (
        analysis.to_markdown(frame, right=["b"]) == "| a | b |\n|---|---:|\n| x | 1 |\n| y | 22 |\n"
    )


# ------------------------------------------------------------------------- entry points


def test_write_curves_never_raises(tmp_path):
    run = three_seed_run(tmp_path / "run")
    png = analysis.write_curves(run)
    assert png == run / "curves.png" and png.stat().st_size > 0
    assert len(analysis.read_curves(run / "curves.csv")) == 4
    # No finished game yet: nothing is written.
    empty = write_run(tmp_path / "early", {0: [(1000, None)], 1: [(1000, None)]})
    assert analysis.write_curves(empty) is None and not (empty / "curves.png").exists()
    # Unreadable metrics: a warning, not an exception.
    (empty / "metrics.jsonl").write_text("{oops\n")
    with pytest.warns(RuntimeWarning, match="metrics.jsonl:1"):
        assert analysis.write_curves(empty) is None
    with pytest.warns(RuntimeWarning, match="does not exist"):
        assert analysis.write_curves(tmp_path / "missing") is None


def test_write_curves_draws_a_sweep_as_one_curve_per_schedule(tmp_path):
    points = [(f, float(f)) for f in FRAMES]
    run = write_run(tmp_path / "sweep", {s: points for s in range(4)}, policy="boltzmann",
                    temperature_start=[1.0, 1.0, 5.0, 5.0])  # fmt: skip
    analysis.write_curves(run)
    rows = analysis.read_curves(run / "curves.csv")
    assert sorted(set(rows["label"])) == ["boltzmann (τ 1→0.1)", "boltzmann (τ 5→0.1)"]
    assert (rows["n_seeds"] == 2).all()


def test_plot_script_end_to_end(tmp_path, capsys):
    a = three_seed_run(tmp_path / "eps")
    b = three_seed_run(tmp_path / "boltz", policy="boltzmann", temperature_end=0.05)
    out = plot_script.main([str(a), str(b), "--out", str(tmp_path / "c.png"), "--smooth", "2"])
    printed = capsys.readouterr().out
    assert "| boltzmann (τ 5→0.05) |" in printed and "| epsilon (ε 1→0.01) |" in printed
    assert out.png.stat().st_size > 0 and out.csv.exists()
    command = f"python experiments/plot.py {a} {b} --out {tmp_path / 'c.png'} --smooth 2"
    assert out.markdown.read_text().endswith(f"{out.table}\n```bash\n{command}\n```\n")


def test_runs_that_differ_in_their_agent_are_labelled_by_it():
    """Two ε-greedy runs, one DQN and one with the Rainbow parts: the labels name the loss,
    network, noise, n-step returns and prioritised replay; runs alike in them are not."""
    from pathlib import Path

    from jaxdqn.analysis.runs import Run, run_labels

    records = pd.DataFrame({"seed": [0], "step": [1], "phase": ["learn"]})
    dqn = {"agent": {"policy": "epsilon", "loss": "q", "network": "mlp"}, "replay": {"n_step": 1}}
    rainbow = {"agent": {"policy": "epsilon", "loss": "categorical_double_q",
                         "network": "mlp_dueling", "noisy": True},
               "replay": {"n_step": 3, "prioritized": True}}  # fmt: skip
    runs = [Run(Path("a"), records, dqn), Run(Path("b"), records, rainbow)]
    assert run_labels(runs) == [
        "q, mlp · epsilon",
        "categorical_double_q, mlp_dueling, noisy, 3-step, prioritized · epsilon",
    ]
    assert run_labels([runs[0], Run(Path("c"), records, dqn)]) == ["epsilon [a]", "epsilon [c]"]
    pqn = {"agent": {"policy": "epsilon", "loss": "q", "network": "mlp", "learner": "pqn",
                     "td_lambda": 0.95, "layer_norm": True}, "replay": {"n_step": 1}}  # fmt: skip
    assert run_labels([runs[0], Run(Path("d"), records, pqn)])[1] == (
        "pqn (λ 0.95), mlp, layer_norm · epsilon"
    )


def test_probability_of_improvement_hand_worked_and_against_mann_whitney():
    from jaxdqn.analysis.stats import probability_of_improvement

    # x = 1 beats only 0; x = 2 ties twice and beats 0; x = 3 beats all: (1 + 2 + 3) / 9.
    assert probability_of_improvement([1, 2, 3], [2, 2, 0]) == pytest.approx(6 / 9)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, 7).astype(float), rng.integers(0, 5, 5).astype(float)
    u = scipy.stats.mannwhitneyu(x, y).statistic  # counts ties as one half
    assert probability_of_improvement(x, y) == pytest.approx(u / (x.size * y.size))
    with pytest.raises(ValueError, match="one score per run"):
        probability_of_improvement([], [1.0])


def test_probability_of_improvement_ci():
    from jaxdqn.analysis.stats import probability_of_improvement_ci

    # Every run of X above every run of Y: every resample says 1.
    assert probability_of_improvement_ci([5, 6, 7], [1, 2, 3], reps=500) == (1.0, 1.0, 1.0)
    p, low, high = probability_of_improvement_ci([1, 4, 6], [2, 3, 5], reps=2_000)
    assert p == pytest.approx(5 / 9) and 0.0 <= low < p < high <= 1.0
    # The same runs on both sides: one half, and the interval is symmetric about it.
    p, low, high = probability_of_improvement_ci([1, 2, 3, 4], [1, 2, 3, 4], reps=4_000)
    assert p == 0.5 and low == pytest.approx(1 - high, abs=0.03)


def test_compare_reads_the_committed_arms(tmp_path):
    """The comparison of the committed DrQ(ε) and DER seeds prints the finals the results
    pages print, and P(DER > DrQ(ε)) from the nine pairs of seeds."""
    from jaxdqn.analysis import compare

    root = Path(__file__).resolve().parent.parent / "results"
    out = compare.main(["--arm", f"DrQ={root / 'atari100k'}", "--arm",
                        f"DER={root / 'atari100k-der'}", "--out", str(tmp_path / "c")])  # fmt: skip
    drq, der = out["curves"]
    assert "634.5 [575.1, 668.0]" in out["table"] and "512.7 [468.3, 581.3]" in out["table"]
    # DER's 581.3 beats DrQ's 575.1 only: 1 of 9 pairs.
    wins = (der.finals[:, None] > drq.finals[None, :]).mean()
    assert wins == pytest.approx(1 / 9) and f"| {wins:.2f} [" in out["table"]
    assert (tmp_path / "c.png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        compare.main(["--arm", "no-equals-sign", "--out", str(tmp_path / "d")])


def test_compare_gives_no_interval_for_an_evaluation_some_seeds_lack():
    """A further evaluation that only some seeds have is shown seed by seed, never as an
    interval over the arm; one every seed has gets its mean and bootstrap interval."""
    from jaxdqn.analysis import compare
    from jaxdqn.analysis.stats import mean_ci

    assert compare._extra_cell(np.array([np.nan, np.nan, 673.8])) == "seed 2: 673.8 (1 of 3 seeds)"
    assert (
        compare._extra_cell(np.array([1.0, np.nan, 3.0]))
        == "seed 0: 1.0, seed 2: 3.0 (2 of 3 seeds)"
    )
    assert compare._extra_cell(np.array([np.nan, np.nan])) == "—"
    mean, low, high = mean_ci(np.array([1.0, 2.0, 6.0]))
    assert mean == 3.0 and compare._extra_cell(np.array([1.0, 2.0, 6.0])) == (
        f"3.0 [{low:.1f}, {high:.1f}]"
    )
