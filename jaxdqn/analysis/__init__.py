"""Curves, tables and aggregate statistics of runs, on pandas and seaborn.

runs.py     a run directory as a DataFrame of its records; labels and per-schedule parts
curves.py   seeds aligned on a grid, mean and 95% bootstrap band; the figure and its CSV
tables.py   final scores per run, IQM / mean of human-normalised scores; Markdown
stats.py    bootstrap CIs, IQM, the stratified bootstrap of Agarwal et al. 2021
report.py   plot_runs (figure, CSV and table of some runs) and write_curves (one run)
"""

from jaxdqn.analysis.curves import (
    PANELS,
    Curve,
    align,
    band,
    curves_frame,
    plot_curves,
    read_curves,
    run_curve,
    seed_scores,
    write_curves_csv,
)
from jaxdqn.analysis.report import Outputs, plot_runs, write_curves
from jaxdqn.analysis.runs import (
    EVAL_HUMAN_NORMALIZED,
    EVAL_PHASES,
    EVAL_SCORE,
    TRAIN_PHASES,
    TRAIN_SCORE,
    Run,
    exploration_parameter,
    final_eval,
    load_run,
    records_frame,
    run_label,
    run_labels,
    split_run,
)
from jaxdqn.analysis.stats import (
    AGGREGATE_RESAMPLES,
    CURVE_RESAMPLES,
    bootstrap_ci,
    iqm,
    iqm_of_games,
    mean_ci,
    mean_of_games,
    median_of_games,
    stratified_bootstrap_ci,
)
from jaxdqn.analysis.tables import aggregate_rows, final_score_rows, markdown_table, to_markdown

__all__ = [
    "AGGREGATE_RESAMPLES",
    "CURVE_RESAMPLES",
    "EVAL_HUMAN_NORMALIZED",
    "EVAL_PHASES",
    "EVAL_SCORE",
    "PANELS",
    "TRAIN_PHASES",
    "TRAIN_SCORE",
    "Curve",
    "Outputs",
    "Run",
    "aggregate_rows",
    "align",
    "band",
    "bootstrap_ci",
    "curves_frame",
    "exploration_parameter",
    "final_eval",
    "final_score_rows",
    "iqm",
    "iqm_of_games",
    "load_run",
    "markdown_table",
    "mean_ci",
    "mean_of_games",
    "median_of_games",
    "plot_curves",
    "plot_runs",
    "read_curves",
    "records_frame",
    "run_curve",
    "run_label",
    "run_labels",
    "seed_scores",
    "split_run",
    "stratified_bootstrap_ci",
    "to_markdown",
    "write_curves",
    "write_curves_csv",
]
