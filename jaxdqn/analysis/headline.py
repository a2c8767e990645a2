"""The README's headline figure: the committed Atari 100k Assault agents beside their papers.

`python -m jaxdqn.analysis.headline` reads the committed runs (`results/atari100k` for
DrQ(ε), `results/atari100k-der` for DER; one run directory per seed, `Assault-v5-seed<i>`) and
draws, per agent, the mean training game score over seeds with its 95% bootstrap band, each
seed's final evaluation (100 games) and their mean with its 95% bootstrap interval, and the
published mean as a dashed line (`jaxdqn.atari_data.PUBLISHED_100K`). Scores are real game
scores: unclipped, summed over the lives of a game.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from jaxdqn.analysis.curves import align, band, seed_scores
from jaxdqn.analysis.runs import final_eval, load_run
from jaxdqn.analysis.stats import mean_ci
from jaxdqn.atari_data import PUBLISHED_100K

GAME = "Assault-v5"
# Training scores are logged per 400 agent steps; a trailing mean over 10 records (4,000
# steps) shows the trend without hiding the first learning.
SMOOTH = 10
OUT = Path("results/atari100k_assault.png")


class Agent(NamedTuple):
    """A committed agent: its preset (the key of PUBLISHED_100K) and its results folder."""

    preset: str
    folder: Path


AGENTS = (Agent("drq_eps", Path("results/atari100k")), Agent("der", Path("results/atari100k-der")))


class AgentCurve(NamedTuple):
    """What the figure shows of one agent."""

    name: str
    train: pd.DataFrame  # index frames; n_seeds, mean, ci_low, ci_high
    finals: np.ndarray  # [seeds] final evaluation score of each seed
    final_frames: float
    published: float


def agent_curve(agent: Agent, game: str = GAME, smooth: int = SMOOTH) -> AgentCurve:
    """Seeds of `agent` on `game` aligned on frames, their band, and their final evaluations.

    Each seed is its own run directory, so the seeds are renumbered in directory order.
    """
    runs = [load_run(d) for d in sorted(agent.folder.glob(f"{game}-seed*"))]
    if not runs:
        raise FileNotFoundError(f"no {game}-seed* run directories under {agent.folder}")
    scores = [
        seed_scores(run.records, "train", smooth=smooth).assign(seed=i)
        for i, run in enumerate(runs)
    ]
    train = band(align(pd.concat(scores, ignore_index=True)))
    finals = np.array([final_eval(run).mean() for run in runs], np.float64)
    final_frames = float(max(run.records["frames"].max() for run in runs))
    published = PUBLISHED_100K[agent.preset]
    return AgentCurve(published.agent, train, finals, final_frames, published.scores[game])


def draw(curves: Sequence[AgentCurve], out: Path, game: str = GAME) -> Path:
    """Write the figure of `curves` to `out` (PNG) and return the path."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for i, curve in enumerate(curves):
        color = f"C{i}"
        frames = curve.train.index.to_numpy(np.float64)
        ax.plot(
            frames, curve.train["mean"], color=color, label=f"{curve.name} (ours, training games)"
        )
        ax.fill_between(
            frames, curve.train["ci_low"], curve.train["ci_high"], color=color, alpha=0.2
        )
        # Final points sit just right of the last frame, apart per agent, so they do not overlap.
        x = curve.final_frames * (1.02 + 0.03 * i)
        ax.scatter(np.full(curve.finals.size, x), curve.finals, color=color, s=12, alpha=0.6)
        mean, low, high = mean_ci(curve.finals)
        ax.errorbar(
            [x], [mean], yerr=[[mean - low], [high - mean]], color=color, marker="o", capsize=4,
            label=f"{curve.name} final evaluation: {mean:.1f} [{low:.1f}, {high:.1f}]",
        )  # fmt: skip
        ax.axhline(
            curve.published, color=color, linestyle="--", linewidth=1,
            label=f"{curve.name} published mean: {curve.published:.1f}",
        )  # fmt: skip
    ax.set_title(f"Atari 100k, {game.removesuffix('-v5')}: mean over seeds, 95% bootstrap band")
    ax.set_xlabel("frames")
    ax.set_ylabel("game score (unclipped, all lives)")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.legend(loc="lower right", fontsize="small")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def main(argv: Sequence[str] | None = None) -> Path:
    """Draw the headline figure from the committed runs; print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="PNG to write (default %(default)s)")
    parser.add_argument("--smooth", type=int, default=SMOOTH, help="training records averaged")
    args = parser.parse_args(argv)
    path = draw([agent_curve(agent, smooth=args.smooth) for agent in AGENTS], args.out)
    print(path)
    return path


if __name__ == "__main__":
    main()
