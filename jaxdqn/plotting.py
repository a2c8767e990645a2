"""Learning curves over seeds with 95% bootstrap bands, and Agarwal et al. 2021 aggregates.

A run directory holds `metrics.jsonl` (one record per log interval per seed, see
`jaxdqn.logging`) and `config.json`. From it this module builds, per run and per panel
(training-episode score `charts/episodic_return`, evaluation score `eval/score`):

1. one series per seed of score against frames (or wall-clock hours), records without a
   finished game (`null`) skipped; a frame logged twice (a resumed run) keeps the later record;
2. an optional trailing moving average over each seed's own records (`smooth` records; the
   window is shorter at the start); evaluation series are never smoothed;
3. the seeds aligned on the union of their frames: each seed is linearly interpolated onto
   the grid points inside its own first..last frame and left out (NaN) outside, never
   extrapolated, so seeds with missing intervals or different lengths still line up, and a
   grid point averages only the seeds that cover it (`n_seeds` in the CSV);
4. the mean over seeds with a 95% percentile-bootstrap band over seeds: seeds are resampled
   with replacement (`CURVE_RESAMPLES` = 10,000 resamples, `numpy.random.default_rng(0)`,
   the same draws at every grid point with the same number of seeds, so a resample is one
   coherent set of whole seed curves).

Aggregates across seeds and games follow Agarwal et al. 2021 ("Deep RL at the Edge of the
Statistical Precipice"): the interquartile mean (IQM: 25% trimmed from each end,
`scipy.stats.trim_mean(x, 0.25)` conventions, as `rliable`) and the mean of human-normalised
scores, with 95% percentile CIs from a stratified bootstrap (`AGGREGATE_RESAMPLES` = 50,000
resamples, `rliable`'s default): the seeds of each game are resampled with replacement within
that game. The bootstrap is written here rather than taken from `rliable` 1.2.0, which pulls
in `arch`, `statsmodels`, `pandas`, `seaborn`, `patsy` and `formulaic` for these thirty
lines, and which a plain install breaks: pip resolves `pandas` 3, with which `arch` 7.2.0
fails at import. On a 5-run × 3-game example `rliable` (with `pandas` 2.3.3) gives the same
point estimates and CIs within 0.002 (the bootstraps' random draws; see results/README.md).

Figures are drawn on a bare `matplotlib.figure.Figure` (Agg canvas), so importing this module
never changes the pyplot backend of the caller.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxdqn.logging import read_records

METRICS_FILE = "metrics.jsonl"  # as jaxdqn.logging, without importing its dependencies
CONFIG_FILE = "config.json"

TRAIN_SCORE = "charts/episodic_return"
EVAL_SCORE = "eval/score"
EVAL_HUMAN_NORMALIZED = "eval/human_normalized"
TRAIN_PHASES = ("warmup", "learn")
EVAL_PHASES = ("eval",)
PANELS = {"train": (TRAIN_SCORE, TRAIN_PHASES), "eval": (EVAL_SCORE, EVAL_PHASES)}
X_KEYS = {"frames": "frames", "hours": "time"}  # x axis name -> record key

CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
CURVE_RESAMPLES = 10_000
AGGREGATE_RESAMPLES = 50_000


# ----------------------------------------------------------------------------- reading runs


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory read from disk: its metrics records and its settings."""

    path: Path
    records: list[dict]
    config: dict | None  # the "config" entry of config.json; None if the file is missing
    part: str = ""  # which seeds of the run, when a run is split by a per-seed setting

    @property
    def name(self) -> str:
        return f"{self.path.name}[{self.part}]" if self.part else self.path.name

    @property
    def env_id(self) -> str | None:
        return (self.config or {}).get("env", {}).get("env_id")

    @property
    def seeds(self) -> list[int]:
        return sorted({r["seed"] for r in self.records})

    @property
    def label(self) -> str:
        return run_label(self.config, fallback=self.name)


def load_run(run_dir: str | os.PathLike) -> Run:
    """Reads `run_dir/metrics.jsonl` and, if present, `run_dir/config.json`."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    records = read_records(path / METRICS_FILE)
    config = None
    config_path = path / CONFIG_FILE
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8")).get("config")
        except (json.JSONDecodeError, AttributeError) as err:
            raise ValueError(f"{config_path}: malformed config file ({err})") from err
    return Run(path=path, records=records, config=config)


def _values(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def run_label(config: Mapping | None, fallback: str = "run") -> str:
    """Legend label from a run's settings: `ε-greedy (ε 1→0.01)`, `Boltzmann (τ 5→0.05)`."""
    agent = (config or {}).get("agent") or {}
    policy = agent.get("policy")
    if policy == "epsilon":
        return f"ε-greedy (ε {agent['epsilon_start']:g}→{agent['epsilon_end']:g})"
    if policy == "boltzmann":
        starts = ",".join(f"{t:g}" for t in dict.fromkeys(_values(agent["temperature_start"])))
        return f"Boltzmann (τ {starts}→{agent['temperature_end']:g})"
    return policy or fallback


def split_run(run: Run) -> list[Run]:
    """A run whose seeds follow different schedules (`--temperature-start 1,2,5,10`) as one
    Run per distinct start value, each with its seeds' records; any other run as itself."""
    agent = (run.config or {}).get("agent") or {}
    starts = _values(agent.get("temperature_start"))
    if agent.get("policy") != "boltzmann" or len(set(starts)) < 2:
        return [run]
    parts = []
    for tau in dict.fromkeys(starts):
        seeds = {i for i, t in enumerate(starts) if t == tau}
        config = dict(run.config, agent=dict(agent, temperature_start=[tau]))
        records = [r for r in run.records if r["seed"] in seeds]
        parts.append(Run(path=run.path, records=records, config=config, part=f"tau0={tau:g}"))
    return parts


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Labels for runs drawn together: the game is prefixed when runs differ in game, and
    the run directory name is appended where labels would otherwise coincide."""
    labels = [run.label for run in runs]
    if len({run.env_id for run in runs}) > 1:
        labels = [f"{run.env_id or '?'} · {label}" for run, label in zip(runs, labels, strict=True)]
    if len(set(labels)) < len(labels):
        labels = [
            f"{label} [{run.name}]" if labels.count(label) > 1 else label
            for run, label in zip(runs, labels, strict=True)
        ]
    return labels


# ------------------------------------------------------------------------------ per seed


def seed_series(
    records: Sequence[dict], key: str, phases: Sequence[str], x: str = "frames"
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per seed `(x [n], score [n])` from the records of `phases`, in increasing x.

    `x` is "frames" or "hours" (the records' wall-clock `time` / 3600). Records whose score
    is null (no game finished in that interval) are skipped; when one x occurs twice for a
    seed (a resumed run re-logs steps), the record written later wins.
    """
    x_key = X_KEYS[x]
    points: dict[int, dict[float, float]] = {}
    for r in records:
        if r.get("phase") not in phases or r.get(key) is None:
            continue
        value = float(r[key])
        if not math.isfinite(value):
            continue
        xv = float(r[x_key]) / (3600.0 if x == "hours" else 1.0)
        points.setdefault(int(r["seed"]), {})[xv] = value
    out = {}
    for seed in sorted(points):
        xs = np.array(sorted(points[seed]), np.float64)
        out[seed] = (xs, np.array([points[seed][v] for v in xs], np.float64))
    return out


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start); window 1 = identity."""
    if window < 1:
        raise ValueError(f"smoothing window must be >= 1 records, got {window}")
    y = np.asarray(y, np.float64)
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def align(series: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Seeds on a common grid: `(grid [T], values [S, T])`, NaN outside a seed's own range.

    The grid is the union of all seeds' x; each seed is linearly interpolated onto the grid
    points within its first..last x (exact at its own points) and never extrapolated.
    """
    if not series:
        return np.zeros(0), np.zeros((0, 0))
    grid = np.unique(np.concatenate([xs for xs, _ in series.values()]))
    values = np.full((len(series), len(grid)), np.nan)
    for i, (xs, ys) in enumerate(series.values()):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        values[i, inside] = np.interp(grid[inside], xs, ys)
    return grid, values


# ------------------------------------------------------------------------------ bootstrap


def bootstrap_indices(n: int, reps: int, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """`[reps, n]` indices of n seeds drawn with replacement: `default_rng(seed).integers`."""
    return np.random.default_rng(seed).integers(0, n, size=(reps, n))


def bootstrap_mean_ci(
    values: np.ndarray,
    reps: int = CURVE_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and its percentile-bootstrap CI at every grid point.

    Args:
      values: `[S, T]`, NaN where a seed does not cover a grid point.
      reps: bootstrap resamples; seed: of `numpy.random.default_rng`; confidence: e.g. 0.95.

    Returns:
      `(mean [T], low [T], high [T], n_seeds [T])`; NaN where no seed covers a point. At a
      point covered by n seeds, the resamples are `bootstrap_indices(n, reps, seed)` into
      those seeds (in seed order), the statistic their mean, the CI the
      `(1 ± confidence) / 2` percentiles (numpy's linear interpolation).
    """
    values = np.asarray(values, np.float64)
    S, T = values.shape
    covered = ~np.isnan(values)
    count = covered.sum(0)
    mean, low, high = (np.full(T, np.nan) for _ in range(3))
    tails = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    # Grid points covered by the same seeds share one set of resamples: counts [reps, n]
    # of each seed in each resample, so a resample mean is counts @ values / n.
    for mask in {tuple(c) for c in covered.T if c.any()}:
        seeds = np.flatnonzero(mask)
        cols = np.flatnonzero((covered.T == np.array(mask)).all(1))
        v = values[np.ix_(seeds, cols)]  # [n, k]
        n = len(seeds)
        idx = bootstrap_indices(n, reps, seed)
        offsets = n * np.arange(reps)[:, None]
        counts = np.bincount((idx + offsets).ravel(), minlength=reps * n).reshape(reps, n)
        boot = counts @ v / n  # [reps, k]
        mean[cols] = v.mean(0)
        low[cols], high[cols] = np.percentile(boot, tails, axis=0)
    return mean, low, high, count


def iqm(scores, axis: int | None = -1) -> np.ndarray:
    """Interquartile mean: the mean after cutting `int(0.25 n)` values from each end
    (`scipy.stats.trim_mean(x, 0.25)`, as `rliable`); `axis=None` pools everything."""
    x = np.asarray(scores, np.float64)
    if axis is None:
        x, axis = x.ravel(), -1
    x = np.sort(x, axis=axis)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("IQM of no scores")
    k = int(0.25 * n)
    return np.take(x, np.arange(k, n - k), axis=axis).mean(axis=axis)


def iqm_of_games(games: Sequence[np.ndarray]) -> np.ndarray:
    """IQM of all runs of all games pooled; each game `[..., runs]`."""
    return iqm(np.concatenate(games, axis=-1), axis=-1)


def mean_of_games(games: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over games of the mean over each game's runs (`rliable`'s aggregate mean)."""
    return np.mean([g.mean(-1) for g in games], axis=0)


def stratified_bootstrap_ci(
    scores: Mapping[str, Sequence[float]],
    statistic: Callable[[Sequence[np.ndarray]], np.ndarray],
    reps: int = AGGREGATE_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """Point estimate and percentile CI of an aggregate over games (Agarwal et al. 2021).

    Args:
      scores: game -> the scores of its runs (seeds); games may have different run counts.
      statistic: maps a list of per-game arrays `[..., runs]` (games in sorted order) to the
        aggregate over their last axes, e.g. `iqm_of_games`, `mean_of_games`.

    Returns:
      `(statistic of the data, low, high)`. Each resample draws every game's runs with
      replacement within that game: one `numpy.random.default_rng(seed)`, games in sorted
      order, `integers(0, n_game, size=(reps, n_game))` per game.
    """
    names = sorted(scores)
    games = [np.asarray(scores[g], np.float64) for g in names]
    if not games or any(g.ndim != 1 or g.size == 0 for g in games):
        raise ValueError("stratified bootstrap needs at least one score for every game")
    rng = np.random.default_rng(seed)
    resampled = [g[rng.integers(0, g.size, size=(reps, g.size))] for g in games]
    boot = statistic(resampled)
    tails = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    low, high = np.percentile(boot, tails)
    return float(statistic(games)), float(low), float(high)


# ------------------------------------------------------------------------------- curves


class Curve(NamedTuple):
    """One run's panel: seeds on a common grid with the mean and its bootstrap band."""

    run: str
    label: str
    panel: str  # "train" | "eval"
    x: str  # "frames" | "hours"
    grid: np.ndarray  # [T]
    seeds: list[int]
    values: np.ndarray  # [S, T], NaN outside a seed's range
    mean: np.ndarray  # [T]
    low: np.ndarray  # [T]
    high: np.ndarray  # [T]
    n_seeds: np.ndarray  # [T]


def run_curve(
    run: Run,
    panel: str,
    smooth: int = 1,
    x: str = "frames",
    label: str | None = None,
    reps: int = CURVE_RESAMPLES,
) -> Curve | None:
    """The curve of one panel ("train" or "eval") of a run, or None if it has no scores."""
    key, phases = PANELS[panel]
    series = seed_series(run.records, key, phases, x)
    if not series:
        return None
    if panel == "train" and smooth > 1:
        series = {s: (xs, moving_average(ys, smooth)) for s, (xs, ys) in series.items()}
    grid, values = align(series)
    mean, low, high, n = bootstrap_mean_ci(values, reps=reps)
    return Curve(
        run=run.name,
        label=label or run.label,
        panel=panel,
        x=x,
        grid=grid,
        seeds=list(series),
        values=values,
        mean=mean,
        low=low,
        high=high,
        n_seeds=n,
    )


def _num(v) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def write_csv(curves: Sequence[Curve], path: str | os.PathLike) -> Path:
    """The plotted series, one row per run, panel and grid point:
    `run,label,panel,<frames|hours>,n_seeds,mean,ci_low,ci_high,seed_<i>...` (empty: no value)."""
    path = Path(path)
    seed_ids = sorted({s for c in curves for s in c.seeds})
    x_name = curves[0].x if curves else "frames"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["run", "label", "panel", x_name, "n_seeds", "mean", "ci_low", "ci_high"]
            + [f"seed_{s}" for s in seed_ids]
        )
        for c in curves:
            row_of = {s: i for i, s in enumerate(c.seeds)}
            for t, xv in enumerate(c.grid):
                seeds = [_num(c.values[row_of[s], t]) if s in row_of else "" for s in seed_ids]
                w.writerow(
                    [c.run, c.label, c.panel, _num(xv), int(c.n_seeds[t])]
                    + [_num(c.mean[t]), _num(c.low[t]), _num(c.high[t])]
                    + seeds
                )
    return path


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a `write_csv` file with numbers as floats (None where empty)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out = {}
            for k, v in row.items():
                if k in ("run", "label", "panel"):
                    out[k] = v
                else:
                    out[k] = float(v) if v != "" else None
            rows.append(out)
    return rows


def plot_curves(
    curves: Sequence[Curve],
    path: str | os.PathLike,
    smooth: int = 1,
    title: str | None = None,
    note: str | None = None,
) -> Path:
    """Draws score against frames (or hours): per run the mean over seeds (thick), its 95%
    bootstrap band, and each seed (thin); one panel per kind of score present."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    path = Path(path)
    panels = [p for p in PANELS if any(c.panel == p for c in curves)] or ["train"]
    fig = Figure(figsize=(6.4 * len(panels), 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    runs = list(dict.fromkeys((c.run, c.label) for c in curves))
    colours = {run: f"C{i % 10}" for i, run in enumerate(runs)}
    x_name = curves[0].x if curves else "frames"
    for ax, panel in zip(axes, panels, strict=True):
        for c in (c for c in curves if c.panel == panel):
            colour = colours[(c.run, c.label)]
            marker = "o" if panel == "eval" else None
            for row in c.values:
                ax.plot(c.grid, row, color=colour, lw=0.6, alpha=0.35, marker=marker, ms=2)
            ax.fill_between(c.grid, c.low, c.high, color=colour, alpha=0.2, lw=0)
            seeds = len(c.seeds)
            ax.plot(c.grid, c.mean, color=colour, lw=2, marker=marker, ms=4,
                    label=f"{c.label}, {seeds} seed{'s' if seeds != 1 else ''}")  # fmt: skip
        if panel == "train":
            smoothing = f", moving average of {smooth} records" if smooth > 1 else ""
            ax.set_title(f"training episodes{smoothing}", fontsize=10)
            ax.set_ylabel("score (real game score)")
        else:
            ax.set_title("evaluation games (eval/score)", fontsize=10)
            ax.set_ylabel("evaluation score")
        if x_name == "hours":
            ax.set_xlabel("wall-clock hours")
        else:
            ax.set_xlabel("frames")
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
        if note:
            ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center")
    fig.suptitle(title or "mean over seeds, 95% bootstrap CI over seeds", fontsize=11)
    fig.savefig(path, dpi=120)
    return path


# ------------------------------------------------------------------------------- tables


def final_eval(run: Run, key: str = EVAL_SCORE) -> dict[int, float]:
    """Per seed, `key` of the seed's last evaluation record that has it (the final score)."""
    out = {}
    for r in run.records:
        if r.get("phase") == "eval" and r.get(key) is not None:
            out[int(r["seed"])] = float(r[key])  # later records overwrite earlier ones
    return out


def aggregate_rows(
    runs: Sequence[Run], labels: Sequence[str] | None = None, reps: int = AGGREGATE_RESAMPLES
) -> list[dict]:
    """IQM and mean of the final human-normalised evaluation scores, one row per label
    (runs with the same label pool their games and seeds), with stratified-bootstrap CIs.

    Only runs whose evaluation records carry `eval/human_normalized` take part; [] if none.
    """
    labels = labels or [run.label for run in runs]
    groups: dict[str, dict[str, list[float]]] = {}
    for run, label in zip(runs, labels, strict=True):
        hns = final_eval(run, EVAL_HUMAN_NORMALIZED)
        if hns:
            game = run.env_id or run.name
            groups.setdefault(label, {}).setdefault(game, []).extend(hns.values())
    rows = []
    for label, games in groups.items():
        iqm_ci = stratified_bootstrap_ci(games, iqm_of_games, reps=reps)
        mean_ci = stratified_bootstrap_ci(games, mean_of_games, reps=reps)
        rows.append(
            {
                "label": label,
                "games": ", ".join(sorted(games)),
                "runs": sum(len(v) for v in games.values()),
                "iqm": iqm_ci,
                "mean": mean_ci,
            }
        )
    return rows


def final_score_rows(
    runs: Sequence[Run],
    labels: Sequence[str] | None = None,
    smooth: int = 1,
    reps: int = CURVE_RESAMPLES,
) -> list[dict]:
    """Per run: final evaluation score (each seed's last `eval/score`) and final training
    score (the last point of each seed's smoothed training curve), mean over seeds with a
    bootstrap CI over seeds."""
    labels = labels or [run.label for run in runs]
    rows = []
    for run, label in zip(runs, labels, strict=True):
        row = {"run": run.name, "label": label, "env": run.env_id or "?"}
        row["seeds"] = len(run.seeds)
        row["frames"] = max(int(r["frames"]) for r in run.records)
        evals = final_eval(run)
        train = seed_series(run.records, TRAIN_SCORE, TRAIN_PHASES)
        train_last = [moving_average(ys, smooth)[-1] for _, ys in train.values()]
        for name, values in (("eval", list(evals.values())), ("train", train_last)):
            if values:
                mean, low, high, _ = bootstrap_mean_ci(np.array(values)[:, None], reps=reps)
                row[name] = (float(mean[0]), float(low[0]), float(high[0]), len(values))
            else:
                row[name] = None
        rows.append(row)
    return rows


def _ci(v, digits: int) -> str:
    if v is None:
        return "—"
    return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}, {v[2]:.{digits}f}]"


def markdown_table(rows: Sequence[dict], kind: str, smooth: int = 1) -> str:
    """Markdown for `aggregate_rows` (kind "aggregate") or `final_score_rows` ("final")."""
    if kind == "aggregate":
        lines = [
            "| run | games | runs (seeds) | IQM human-normalised [95% CI] "
            "| mean human-normalised [95% CI] |",
            "|---|---|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['label']} | {r['games']} | {r['runs']} | {_ci(r['iqm'], 3)} "
                f"| {_ci(r['mean'], 3)} |"
            )
        lines.append("")
        lines.append(
            "Final evaluation of each seed, (score − random) / (human − random) with the "
            "scores of Mnih et al. 2015; IQM and mean with 95% stratified-bootstrap CIs "
            f"({AGGREGATE_RESAMPLES:,} resamples; Agarwal et al. 2021)."
        )
    else:
        smoothing = f", moving average of {smooth} records" if smooth > 1 else ""
        lines = [
            "| run | game | seeds | frames per seed | final eval score [95% CI] "
            "| final training score [95% CI] |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['label']} | {r['env']} | {r['seeds']} | {r['frames']:,} "
                f"| {_ci(r['eval'], 1)} | {_ci(r['train'], 1)} |"
            )
        lines.append("")
        lines.append(
            "Mean over seeds with a 95% bootstrap CI over seeds "
            f"({CURVE_RESAMPLES:,} resamples). Eval: each seed's last `eval/score`; "
            f"training: last point of each seed's training curve{smoothing}."
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ entry points


class Outputs(NamedTuple):
    png: Path
    csv: Path
    markdown: Path | None
    table: str


def plot_runs(
    run_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    smooth: int = 1,
    hours: bool = False,
    reps: int = CURVE_RESAMPLES,
    aggregate_reps: int = AGGREGATE_RESAMPLES,
) -> Outputs:
    """Figure `out` (PNG), the plotted series `out.csv`, and a table `out.md`: IQM and mean
    of human-normalised scores when evaluation records carry them, else final scores."""
    runs = [part for d in run_dirs for part in split_run(load_run(d))]
    labels = run_labels(runs)
    x = "hours" if hours else "frames"
    curves = [
        c
        for run, label in zip(runs, labels, strict=True)
        for panel in PANELS
        if (c := run_curve(run, panel, smooth, x, label=label, reps=reps)) is not None
    ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    envs = sorted({run.env_id or "?" for run in runs})
    title = f"{', '.join(envs)}: mean over seeds, 95% bootstrap CI over seeds"
    note = None if curves else "no finished games yet"
    png = plot_curves(curves, out, smooth=smooth, title=title, note=note)
    csv_path = write_csv(curves, out.with_suffix(".csv"))
    rows = aggregate_rows(runs, labels, reps=aggregate_reps)
    if rows:
        table = markdown_table(rows, "aggregate")
    else:
        table = markdown_table(final_score_rows(runs, labels, smooth, reps), "final", smooth)
    md = out.with_suffix(".md")
    md.write_text(table, encoding="utf-8")
    return Outputs(png=png, csv=csv_path, markdown=md, table=table)


def write_curves(run_dir: str | os.PathLike, smooth: int = 1) -> Path | None:
    """Writes `run_dir/curves.png` and `run_dir/curves.csv` for one run; never raises.

    Meant for the end of training (and checkpoints): a run with no finished game and no
    evaluation yet gets nothing written (returns None), and any failure (unreadable metrics,
    a plotting error) is a warning, not an exception, so a picture can never stop a run.
    Returns the PNG's path when one was written.
    """
    try:
        run = load_run(run_dir)
        parts = split_run(run)
        curves = [
            c
            for part in parts
            for p in PANELS
            if (c := run_curve(part, p, smooth, label=part.label if len(parts) > 1 else None))
            is not None
        ]
        if not curves:
            return None
        png = Path(run_dir) / "curves.png"
        title = f"{run.env_id or run.name}: {run.label}, mean over seeds, 95% bootstrap CI"
        plot_curves(curves, png, smooth=smooth, title=title)
        write_csv(curves, png.with_suffix(".csv"))
        return png
    except Exception as err:  # a figure must never end a training run
        warnings.warn(f"could not write curves for {run_dir}: {err}", RuntimeWarning, stacklevel=2)
        return None
