"""Learning curves over seeds: mean and 95% bootstrap band, as a table and as a figure.

Per run and per panel (training-episode score `charts/episodic_return`, evaluation score
`eval/score`):

1. each seed's scores against frames (or wall-clock hours), records without a finished game
   (NaN) left out; a frame logged twice (a resumed run) keeps the later record;
2. an optional trailing moving average over each seed's own records (`smooth` records, fewer
   at the start: pandas `rolling(smooth, min_periods=1)`); evaluation scores never;
3. the seeds on the union of their frames (a pivot), each seed linearly interpolated inside
   its own first..last frame and left NaN outside (pandas `interpolate(method="index",
   limit_area="inside")`), so a point averages only the seeds that cover it;
4. the mean over seeds and its 95% percentile-bootstrap band (`stats.bootstrap_ci`, 10,000
   resamples, `seed=0`, the seeds in seed order).

The figure is drawn with seaborn on a bare `matplotlib.figure.Figure` (Agg canvas), so
drawing never changes the pyplot backend of the caller; its band is the one in the CSV.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from jaxdqn.analysis.runs import EVAL_PHASES, EVAL_SCORE, TRAIN_PHASES, TRAIN_SCORE, Run
from jaxdqn.analysis.stats import CURVE_RESAMPLES, bootstrap_ci

PANELS = {"train": (TRAIN_SCORE, TRAIN_PHASES), "eval": (EVAL_SCORE, EVAL_PHASES)}
X_AXES = ("frames", "hours")
CSV_COLUMNS = ("run", "label", "panel")  # then x, n_seeds, mean, ci_low, ci_high, seed_<i>...


class Curve(NamedTuple):
    """One panel of one run: its seeds aligned on a grid, and their mean with its band."""

    run: str
    label: str
    panel: str  # "train" | "eval"
    values: pd.DataFrame  # index: the x grid (named "frames" or "hours"); a column per seed
    band: pd.DataFrame  # same index; n_seeds, mean, ci_low, ci_high

    @property
    def x(self) -> str:
        return self.values.index.name


def seed_scores(
    records: pd.DataFrame, panel: str, x: str = "frames", smooth: int = 1
) -> pd.DataFrame:
    """Columns `seed, <x>, score`: one row per record of `panel` with a finite score, sorted by
    seed and x, a repeated x of a seed keeping its later record; training scores smoothed by a
    trailing mean over the last `smooth` records of each seed."""
    if smooth < 1:
        raise ValueError(f"smoothing window must be >= 1 records, got {smooth}")
    if x not in X_AXES:
        raise ValueError(f"x axis must be one of {X_AXES}, got {x!r}")
    key, phases = PANELS[panel]
    if key not in records:
        return pd.DataFrame({"seed": [], x: [], "score": []})
    rows = records.loc[records["phase"].isin(phases), ["seed", x, key]]
    rows = rows.rename(columns={key: "score"})
    rows = rows[np.isfinite(rows["score"].astype(float))]
    rows = rows.drop_duplicates(["seed", x], keep="last").sort_values(["seed", x], kind="stable")
    if panel == "train" and smooth > 1:
        by_seed = rows.groupby("seed")["score"]
        rows["score"] = by_seed.transform(lambda s: s.rolling(smooth, min_periods=1).mean())
    return rows.reset_index(drop=True)


def align(scores: pd.DataFrame, x: str = "frames") -> pd.DataFrame:
    """`seed_scores` as a grid `[x, seed]`: the union of the seeds' x, each seed interpolated
    linearly inside its own range and NaN outside it (never extrapolated)."""
    wide = scores.pivot(index=x, columns="seed", values="score").sort_index()
    return wide.interpolate(method="index", limit_area="inside")


def band(
    values: pd.DataFrame, reps: int = CURVE_RESAMPLES, seed: int = 0, confidence: float = 0.95
) -> pd.DataFrame:
    """Per grid point of an `align`ed grid: `n_seeds` covering it, their `mean`, and the
    `ci_low`, `ci_high` of `stats.bootstrap_ci` over those seeds (in seed order)."""
    ci = functools.partial(bootstrap_ci, reps=reps, seed=seed, confidence=confidence)
    bounds = [ci(row[~np.isnan(row)]) for row in values.to_numpy(np.float64)]
    low, high = np.array(bounds).reshape(-1, 2).T
    return pd.DataFrame(
        {
            "n_seeds": values.count(axis=1),
            "mean": values.mean(axis=1),
            "ci_low": low,
            "ci_high": high,
        },  # fmt: skip
        index=values.index,
    )


def run_curve(
    run: Run,
    panel: str,
    smooth: int = 1,
    x: str = "frames",
    label: str | None = None,
    reps: int = CURVE_RESAMPLES,
) -> Curve | None:
    """The curve of one panel ("train" or "eval") of a run, or None if it has no scores."""
    scores = seed_scores(run.records, panel, x, smooth)
    if scores.empty:
        return None
    values = align(scores, x)
    return Curve(run.name, label or run.label, panel, values, band(values, reps))


def curves_frame(curves: Sequence[Curve]) -> pd.DataFrame:
    """The plotted series, one row per run, panel and grid point:
    `run, label, panel, <frames|hours>, n_seeds, mean, ci_low, ci_high, seed_<i>...`."""
    parts = []
    for c in curves:
        part = c.band.join(c.values.rename(columns=lambda s: f"seed_{s}")).reset_index()
        parts.append(part.assign(run=c.run, label=c.label, panel=c.panel))
    if not parts:
        return pd.DataFrame(columns=[*CSV_COLUMNS, "frames", "n_seeds", "mean", "ci_low"])
    frame = pd.concat(parts, ignore_index=True)
    seeds = sorted((c for c in frame.columns if c.startswith("seed_")), key=lambda c: int(c[5:]))
    head = [*CSV_COLUMNS, curves[0].x, "n_seeds", "mean", "ci_low", "ci_high"]
    return frame[head + seeds]


def write_curves_csv(curves: Sequence[Curve], path: str | os.PathLike) -> Path:
    """`curves_frame` as CSV (an empty cell where a seed has no value)."""
    path = Path(path)
    curves_frame(curves).to_csv(path, index=False)
    return path


def read_curves(path: str | os.PathLike) -> pd.DataFrame:
    """A `write_curves_csv` file (empty cells NaN)."""
    return pd.read_csv(path)


def _draw_panel(ax, curves: Sequence[Curve], colours: dict) -> None:
    """Each seed thin, the band of `curve.band` (the numbers of the CSV), the mean thick."""
    import seaborn as sns

    for c in curves:
        colour, marker = colours[(c.run, c.label)], "o" if c.panel == "eval" else None
        seeds = c.values.stack().dropna().rename("score").reset_index()  # [x, seed, score]
        sns.lineplot(data=seeds, x=c.x, y="score", units="seed", estimator=None, color=colour,
                     lw=0.6, alpha=0.35, marker=marker, ms=2, ax=ax)  # fmt: skip
        ax.fill_between(c.band.index, c.band["ci_low"], c.band["ci_high"], color=colour,
                        alpha=0.2, lw=0)  # fmt: skip
        n = c.values.shape[1]
        sns.lineplot(data=c.band, x=c.x, y="mean", color=colour, lw=2, marker=marker, ms=4,
                     label=f"{c.label}, {n} seed{'s' if n != 1 else ''}", ax=ax)  # fmt: skip


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
        _draw_panel(ax, [c for c in curves if c.panel == panel], colours)
        if panel == "train":
            smoothing = f", moving average of {smooth} records" if smooth > 1 else ""
            ax.set_title(f"training episodes{smoothing}", fontsize=10)
            ax.set_ylabel("score (real game score)")
        else:
            ax.set_title("evaluation games (eval/score)", fontsize=10)
            ax.set_ylabel("evaluation score")
        ax.set_xlabel("wall-clock hours" if x_name == "hours" else "frames")
        if x_name == "frames":
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
        if note:
            ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center")
    fig.suptitle(title or "mean over seeds, 95% bootstrap CI over seeds", fontsize=11)
    fig.savefig(path, dpi=120)
    return path
