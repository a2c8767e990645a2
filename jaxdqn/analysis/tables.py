"""Tables of runs: final scores per run, and aggregates of human-normalised scores.

Both are pandas DataFrames, one row per run (or per label); `markdown_table` renders them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from jaxdqn.analysis.curves import seed_scores
from jaxdqn.analysis.runs import EVAL_HUMAN_NORMALIZED, Run, final_eval
from jaxdqn.analysis.stats import (
    AGGREGATE_RESAMPLES,
    CURVE_RESAMPLES,
    bootstrap_ci,
    iqm_of_games,
    mean_of_games,
    stratified_bootstrap_ci,
)


def _ci_columns(prefix: str, values: Sequence[float], reps: int) -> dict:
    if len(values) == 0:
        return {f"{prefix}": None, f"{prefix}_low": None, f"{prefix}_high": None}
    low, high = bootstrap_ci(values, reps)
    return {prefix: float(pd.Series(values).mean()), f"{prefix}_low": low, f"{prefix}_high": high}


def final_score_rows(
    runs: Sequence[Run],
    labels: Sequence[str] | None = None,
    smooth: int = 1,
    reps: int = CURVE_RESAMPLES,
) -> pd.DataFrame:
    """Per run: the final evaluation score (each seed's last `eval/score`) and the final
    training score (the last point of each seed's smoothed training curve), each the mean
    over seeds with its bootstrap CI over seeds (columns `eval`, `eval_low`, `eval_high`,
    `train`, ...; None where the run has none)."""
    labels = labels or [run.label for run in runs]
    rows = []
    for run, label in zip(runs, labels, strict=True):
        train = seed_scores(run.records, "train", smooth=smooth).groupby("seed")["score"].last()
        rows.append(
            {
                "run": run.name,
                "label": label,
                "env": run.env_id or "?",
                "seeds": len(run.seeds),
                "frames": int(run.records["frames"].max()),
                **_ci_columns("eval", final_eval(run).tolist(), reps),
                **_ci_columns("train", train.tolist(), reps),
            }  # fmt: skip
        )
    return pd.DataFrame(rows)


def aggregate_rows(
    runs: Sequence[Run], labels: Sequence[str] | None = None, reps: int = AGGREGATE_RESAMPLES
) -> pd.DataFrame:
    """IQM and mean of the final human-normalised evaluation scores, one row per label
    (runs with the same label pool their games and seeds), with stratified-bootstrap CIs
    (columns `iqm`, `iqm_low`, `iqm_high`, `mean`, ...).

    Only runs whose evaluation records carry `eval/human_normalized` take part; an empty
    frame if none do.
    """
    labels = labels or [run.label for run in runs]
    groups: dict[str, dict[str, list[float]]] = {}
    for run, label in zip(runs, labels, strict=True):
        hns = final_eval(run, EVAL_HUMAN_NORMALIZED)
        if len(hns):
            game = run.env_id or run.name
            groups.setdefault(label, {}).setdefault(game, []).extend(hns.tolist())
    rows = []
    for label, games in groups.items():
        row = {"label": label, "games": ", ".join(sorted(games)),
               "runs": sum(len(v) for v in games.values())}  # fmt: skip
        for name, statistic in (("iqm", iqm_of_games), ("mean", mean_of_games)):
            point, low, high = stratified_bootstrap_ci(games, statistic, reps=reps)
            row.update({name: point, f"{name}_low": low, f"{name}_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def _ci(row, name: str, digits: int) -> str:
    if row.get(name) is None or pd.isna(row[name]):
        return "—"
    return f"{row[name]:.{digits}f} [{row[name + '_low']:.{digits}f}, {row[name + '_high']:.{digits}f}]"  # noqa: E501


def to_markdown(frame: pd.DataFrame, right: Sequence[str] = ()) -> str:
    """A GitHub Markdown table of `frame` as it is (cells with `str`); `right`-aligned columns."""
    rule = ["---:" if c in right else "---" for c in frame.columns]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def markdown_table(rows: pd.DataFrame, kind: str, smooth: int = 1) -> str:
    """Markdown for `aggregate_rows` (kind "aggregate") or `final_score_rows` ("final"),
    followed by a line saying what the numbers are."""
    records = rows.to_dict("records")
    if kind == "aggregate":
        shown = pd.DataFrame(
            {"run": [r["label"] for r in records], "games": [r["games"] for r in records],
             "runs (seeds)": [r["runs"] for r in records],
             "IQM human-normalised [95% CI]": [_ci(r, "iqm", 3) for r in records],
             "mean human-normalised [95% CI]": [_ci(r, "mean", 3) for r in records]},
            columns=["run", "games", "runs (seeds)", "IQM human-normalised [95% CI]",
                     "mean human-normalised [95% CI]"],
        )  # fmt: skip
        note = (
            "Final evaluation of each seed, (score − random) / (human − random) with the "
            "scores of Mnih et al. 2015; IQM and mean with 95% stratified-bootstrap CIs "
            f"({AGGREGATE_RESAMPLES:,} resamples; Agarwal et al. 2021)."
        )
    elif kind == "final":
        shown = pd.DataFrame(
            {"run": [r["label"] for r in records], "game": [r["env"] for r in records],
             "seeds": [r["seeds"] for r in records],
             "frames per seed": [f"{r['frames']:,}" for r in records],
             "final eval score [95% CI]": [_ci(r, "eval", 1) for r in records],
             "final training score [95% CI]": [_ci(r, "train", 1) for r in records]},
            columns=["run", "game", "seeds", "frames per seed", "final eval score [95% CI]",
                     "final training score [95% CI]"],
        )  # fmt: skip
        smoothing = f", moving average of {smooth} records" if smooth > 1 else ""
        note = (
            "Mean over seeds with a 95% bootstrap CI over seeds "
            f"({CURVE_RESAMPLES:,} resamples). Eval: each seed's last `eval/score`; "
            f"training: last point of each seed's training curve{smoothing}."
        )
    else:
        raise ValueError(f"kind must be 'aggregate' or 'final', got {kind!r}")
    right = [c for c in shown.columns if c not in ("run", "game", "games")]
    return to_markdown(shown, right) + "\n" + note + "\n"
