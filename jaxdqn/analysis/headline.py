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

from jaxdqn.analysis.compare import ArmCurve, arm_curve
from jaxdqn.analysis.compare import draw as draw_arms
from jaxdqn.atari_data import PUBLISHED_100K

GAME = "Assault-v5"
SMOOTH = 10  # training records averaged (compare.SMOOTH: 4,000 agent steps)
OUT = Path("results/atari100k_assault.png")


class Agent(NamedTuple):
    """A committed agent: its preset (the key of PUBLISHED_100K) and its results folder."""

    preset: str
    folder: Path


AGENTS = (Agent("drq_eps", Path("results/atari100k")), Agent("der", Path("results/atari100k-der")))


def agent_curve(agent: Agent, game: str = GAME, smooth: int = SMOOTH) -> ArmCurve:
    """Seeds of `agent` on `game` aligned on frames, their band, and their final evaluations,
    named as its paper names it."""
    return arm_curve(PUBLISHED_100K[agent.preset].agent, agent.folder, game, smooth)


def draw(curves: Sequence[ArmCurve], out: Path, game: str = GAME) -> Path:
    """Write the figure of `curves` (those of `AGENTS`, in order) to `out` (PNG)."""
    published = [PUBLISHED_100K[a.preset].scores[game] for a in AGENTS[: len(curves)]]
    title = f"Atari 100k, {game.removesuffix('-v5')}"
    return draw_arms(curves, out, title, published, training_label="ours, training games")


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
