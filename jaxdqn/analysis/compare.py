"""Two or more arms of one experiment on one game, seed by seed: curves, final scores, and
the probability that an arm beats the first one.

    python -m jaxdqn.analysis.compare --game Assault-v5 \\
        --arm "ε-greedy=results/atari100k" --arm "Boltzmann=results/atari100k-boltzmann" \\
        --out results/atari100k-boltzmann/comparison

Each arm is a folder of run directories, one per seed (`<game>-seed<i>`, as
`experiments/atari100k.py` writes them). Writes `<out>.png`: per arm the mean training game
score over seeds with its 95% bootstrap band and each seed's final evaluation with their mean
and 95% bootstrap interval; and `<out>.md`: per arm the final scores, their mean with its CI,
any further evaluations of the seeds (`experiments/evaluate.py --out <seed dir>/eval-NAME.json`)
and the probability of improvement over the first arm, P(arm > first), with its 95% CI
(Agarwal et al. 2021). Scores are real game scores: unclipped, summed over a game's lives.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from jaxdqn.analysis.curves import align, band, seed_scores
from jaxdqn.analysis.runs import final_eval, load_run
from jaxdqn.analysis.stats import mean_ci, probability_of_improvement_ci

# Training scores are logged per 400 agent steps in Atari 100k; a trailing mean over 10
# records (4,000 steps) shows the trend without hiding the first learning.
SMOOTH = 10


class ArmCurve(NamedTuple):
    """What the figure and the table show of one arm."""

    name: str
    train: pd.DataFrame  # index frames; n_seeds, mean, ci_low, ci_high
    finals: np.ndarray  # [seeds] final evaluation score of each seed
    final_frames: float
    extra: dict  # evaluation name -> [seeds] mean score (NaN where a seed has none)


def seed_dirs(folder: Path, game: str) -> list[Path]:
    """The run directories of `game` under `folder`, in seed order."""
    dirs = sorted(folder.glob(f"{game}-seed*"), key=lambda d: int(d.name.rsplit("seed", 1)[1]))
    if not dirs:
        raise FileNotFoundError(f"no {game}-seed* run directories under {folder}")
    return dirs


def extra_evaluations(dirs: Sequence[Path]) -> dict:
    """name -> per-seed mean score of every `eval-NAME.json` written by experiments/evaluate.py."""
    names = sorted({p.stem.removeprefix("eval-") for d in dirs for p in d.glob("eval-*.json")})
    extra = {}
    for name in names:
        means = []
        for d in dirs:
            path = d / f"eval-{name}.json"
            runs = json.loads(path.read_text())["runs"] if path.is_file() else []
            means.append(float(np.mean(runs[0]["scores"])) if runs else np.nan)
        extra[name] = np.array(means)
    return extra


def arm_curve(name: str, folder: Path, game: str, smooth: int = SMOOTH) -> ArmCurve:
    """Seeds of one arm aligned on frames, their band, final and further evaluations."""
    dirs = seed_dirs(folder, game)
    runs = [load_run(d) for d in dirs]
    scores = [seed_scores(run.records, "train", smooth=smooth).assign(seed=i)
              for i, run in enumerate(runs)]  # fmt: skip
    train = band(align(pd.concat(scores, ignore_index=True)))
    finals = np.array([final_eval(run).mean() for run in runs], np.float64)
    final_frames = float(max(run.records["frames"].max() for run in runs))
    return ArmCurve(name, train, finals, final_frames, extra_evaluations(dirs))


def _interval(values: np.ndarray, digits: int = 1) -> str:
    mean, low, high = mean_ci(values)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _extra_cell(values: np.ndarray) -> str:
    """A further evaluation's cell: mean and CI when every seed has it; otherwise the seeds that
    have it, one by one (an interval over some seeds would pass for one over the arm)."""
    have = ~np.isnan(values)
    if have.all():
        return _interval(values)
    if not have.any():
        return "—"
    seeds = ", ".join(f"seed {i}: {v:.1f}" for i, v in enumerate(values) if have[i])
    return f"{seeds} ({have.sum()} of {values.size} seeds)"


def table(curves: Sequence[ArmCurve]) -> str:
    """The Markdown table: one row per arm."""
    names = sorted({name for c in curves for name in c.extra})
    head = ["arm", "seeds", "final score per seed", "mean [95% CI]"]
    head += [f"{name} [95% CI]" for name in names] + ["P(arm > first) [95% CI]"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, c in enumerate(curves):
        cells = [c.name, str(c.finals.size), ", ".join(f"{v:.1f}" for v in c.finals),
                 _interval(c.finals)]  # fmt: skip
        cells += [_extra_cell(c.extra.get(name, np.array([np.nan]))) for name in names]
        p, low, high = probability_of_improvement_ci(c.finals, curves[0].finals)
        cells.append("—" if i == 0 else f"{p:.2f} [{low:.2f}, {high:.2f}]")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def draw(
    curves: Sequence[ArmCurve],
    out: Path,
    title: str,
    published: Sequence[float | None] = (),
    training_label: str = "training games",
) -> Path:
    """The figure of `curves` as a PNG at `out`; `published[i]`, if given, a dashed line in
    arm i's colour."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for i, curve in enumerate(curves):
        color, frames = f"C{i}", curve.train.index.to_numpy(np.float64)
        ax.plot(frames, curve.train["mean"], color=color, label=f"{curve.name} ({training_label})")
        ax.fill_between(frames, curve.train["ci_low"], curve.train["ci_high"], color=color,
                        alpha=0.2)  # fmt: skip
        x = curve.final_frames * (1.02 + 0.03 * i)  # final points apart per arm
        ax.scatter(np.full(curve.finals.size, x), curve.finals, color=color, s=12, alpha=0.6)
        mean, low, high = mean_ci(curve.finals)
        ax.errorbar([x], [mean], yerr=[[mean - low], [high - mean]], color=color, marker="o",
                    capsize=4, label=f"{curve.name} final evaluation: {mean:.1f} [{low:.1f}, "
                    f"{high:.1f}]")  # fmt: skip
        if i < len(published) and published[i] is not None:
            ax.axhline(published[i], color=color, linestyle="--", linewidth=1,
                       label=f"{curve.name} published mean: {published[i]:.1f}")  # fmt: skip
    ax.set_title(f"{title}: mean over seeds, 95% bootstrap band")
    ax.set_xlabel("frames")
    ax.set_ylabel("game score (unclipped, all lives)")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.legend(loc="lower right", fontsize="small")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def parse_arm(text: str) -> tuple[str, Path]:
    """`NAME=FOLDER` → (name, folder), checked."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"--arm {text!r} is invalid: give NAME=FOLDER")
    return name, Path(folder)


def main(argv: Sequence[str] | None = None) -> dict:
    """Write `<out>.png` and `<out>.md` for the arms given; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="Assault-v5", help="game id (default %(default)s)")
    parser.add_argument("--arm", type=parse_arm, action="append", required=True,
                        help="NAME=FOLDER; the first arm is the baseline")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="path without suffix")
    parser.add_argument("--smooth", type=int, default=SMOOTH, help="training records averaged")
    args = parser.parse_args(argv)
    try:
        curves = [arm_curve(name, folder, args.game, args.smooth) for name, folder in args.arm]
    except FileNotFoundError as err:
        parser.exit(2, f"error: {err}\n")
    markdown = table(curves)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(markdown)
    png = draw(curves, args.out.with_suffix(".png"), args.game)
    print(markdown + f"wrote {png} and {args.out.with_suffix('.md')}")
    return {"curves": curves, "table": markdown}


if __name__ == "__main__":
    main()
