"""What experiments write: a figure, its series as CSV and a Markdown table for some runs
(`plot_runs`), and a run's own `curves.png` / `curves.csv` during training (`write_curves`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from jaxdqn.analysis.curves import PANELS, plot_curves, run_curve, write_curves_csv
from jaxdqn.analysis.runs import load_run, run_labels, split_run
from jaxdqn.analysis.stats import AGGREGATE_RESAMPLES, CURVE_RESAMPLES
from jaxdqn.analysis.tables import aggregate_rows, final_score_rows, markdown_table


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
    command: str | None = None,
) -> Outputs:
    """Figure `out` (PNG), the plotted series `out.csv`, and a page `out.md`: the figure, a
    table (IQM and mean of human-normalised scores when evaluation records carry them, else
    final scores; `Outputs.table`) and, if given, the `command` that made them."""
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
    csv = write_curves_csv(curves, out.with_suffix(".csv"))
    rows = aggregate_rows(runs, labels, reps=aggregate_reps)
    if len(rows):
        table = markdown_table(rows, "aggregate")
    else:
        table = markdown_table(final_score_rows(runs, labels, smooth, reps), "final", smooth)
    md = out.with_suffix(".md")
    page = f"![{title}]({png.name})\n\n{table}"
    if command:
        page += f"\n```bash\n{command}\n```\n"
    md.write_text(page, encoding="utf-8")
    return Outputs(png=png, csv=csv, markdown=md, table=table)


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
        write_curves_csv(curves, png.with_suffix(".csv"))
        return png
    except Exception as err:  # a figure must never end a training run
        warnings.warn(f"could not write curves for {run_dir}: {err}", RuntimeWarning, stacklevel=2)
        return None
