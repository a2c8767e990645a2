"""DQN on MinAtar (Young & Tian 2019) through the gymnax backend, beside the published curves.

    python experiments/minatar.py --games Breakout,Freeway --num-seeds 3 --dir runs/minatar

Trains `<dir>/<Game>-MinAtar` with the minatar preset (the authors' DQN, 5M frames) for each
game, its seeds vmapped in one process; a finished run is reused, an unfinished one resumed.
Then writes `<dir>/minatar.md`: per game, the mean over seeds of the last 100 training games'
mean return — the quantity Young & Tian plot — beside their DQN's value at 5M frames. Any
other flag goes to every run (e.g. `--total-frames 200000` for a short look).

The published values are read off the DQN curves of the figure in kenjyoung/MinAtar's README
(img/learning_curves.gif, commit 87c2bc8 of 2020-02-14, "consistent with [the] most recent
paper": moving average of returns over 100 episodes, 30 runs) at 5M frames, to about ±1
(±2 for Freeway, ±3 for Space Invaders); the paper gives no table of them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _cli

# Young & Tian 2019, DQN at 5M frames, read off the README figure (module doc).
PUBLISHED_DQN = {"Asterix": 17, "Breakout": 10, "Freeway": 50, "Seaquest": 20,
                 "SpaceInvaders": 43}  # fmt: skip
GAMES = ("Asterix", "Breakout", "Freeway", "SpaceInvaders")  # gymnax 0.0.9 has no Seaquest


def table(runs: dict[str, Path]) -> str:
    """The Markdown table of the runs that have metrics (game → run directory)."""
    import numpy as np

    from jaxdqn.checkpoint import Checkpointer

    lines = ["| game | seeds | ours: last 100 games (mean ± sd over seeds) | "
             "Young & Tian 2019 DQN at 5M frames |", "|---|---|---|---|"]  # fmt: skip
    for game, run_dir in runs.items():
        checkpointer = Checkpointer(run_dir)
        if checkpointer.latest_step() is None:
            continue
        history = checkpointer.restore_meta()["history_scores"]  # every finished game, per seed
        means = [np.mean(scores[-100:]) for scores in history]
        lines.append(f"| {game} | {len(means)} | {np.mean(means):.1f} ± {np.std(means):.1f} | "
                     f"≈{PUBLISHED_DQN[game]} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(args: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--games", default="Breakout,Freeway",
                        help=f"comma-separated, of {', '.join(GAMES)}")  # fmt: skip
    parser.add_argument("--num-seeds", type=int, default=3)
    parser.add_argument("--dir", default="runs/minatar", help="parent folder of the runs")
    ns, extra = parser.parse_known_args(sys.argv[1:] if args is None else args)
    games = [g.strip() for g in ns.games.split(",")]
    unknown = [g for g in games if g not in GAMES]
    if unknown:
        _cli._refuse(f"unknown game(s) {', '.join(unknown)}: one of {', '.join(GAMES)}")
    from jaxdqn.presets import minatar

    root, runs, planned = Path(ns.dir), {}, []
    for game in games:
        runs[game] = root / f"{game}-MinAtar"
        flags = ["--env-id", f"{game}-MinAtar", "--num-seeds", str(ns.num_seeds), "--run-dir",
                 str(root), "--run-name", runs[game].name, *extra]  # fmt: skip
        planned.append(_cli.plan_run(runs[game], flags, "minatar", {"minatar": minatar},
                                     __doc__, "--dir", label=game))  # fmt: skip
    _cli.train_planned(planned)
    text = table(runs)
    (root / "minatar.md").write_text(text, encoding="utf-8")
    print(text, end="")
    print(f"wrote {root / 'minatar.md'}")
    return text


if __name__ == "__main__":
    main()
