"""DQN or PQN on MinAtar (Young & Tian 2019) through gymnax, beside the published curves.

    python experiments/minatar.py --games Breakout,Freeway --num-seeds 3 --dir runs/minatar
    python experiments/minatar.py --preset pqn_minatar --games all --dir runs/minatar-pqn

Trains `<dir>/<Game>-MinAtar` with the minatar preset (the authors' DQN, 5M frames; or
`--preset pqn_minatar`, purejaxql's PQN, 10M frames, in a directory of its own) for each
game, its seeds vmapped in one process; a finished run is reused, an unfinished one resumed.
Then writes `<dir>/minatar.md`: per game, the mean over seeds of the last 100 training games'
mean return — the quantity Young & Tian plot — beside their DQN's value at the same number of
frames and step size (read off their curves; "—" at other budgets and step sizes), and
`<dir>/minatar.json`, the games it is computed from (each seed's last 100 scores and the
step size). Any other flag goes to every run (e.g. `--total-frames 500000` for the budget of
results/minatar.md, `--learning-rate 4.8828125e-4` for Freeway's best step size).

The published values are read off the DQN curves of the figure in kenjyoung/MinAtar's README
(img/learning_curves.gif, commit 87c2bc8 of 2020-02-14, "consistent with [the] most recent
paper": moving average of returns over 100 episodes, 30 runs; the paper gives no table of
them) by pixel: each panel's axes calibrated on its tick marks (≈139.5 px per million frames),
the DQN line's colour (#2c74b3) averaged over the 5 pixel columns around the frame count. The
5M value is read at 4.95M, the last column inside the axes. Reading error: ±0.1–0.2 where the
curve is flat; where it climbs steeply ±1–1.5 (Freeway at 0.5M: 33.3–35.8 over the 5 columns,
Asterix at 1M: 6.9–7.7). Which step size those curves use is not stated; read against the
README's step-size sweep they sit at each game's best step size (Asterix 2⁻¹³, half the
preset's 2.5e-4), the earlier figure of 2019 at the preset's: results/README.md, "Which step
size do Young & Tian's MinAtar curves use?" — and our runs at both step sizes bear it out
(results/README.md, "MinAtar: DQN on all four games"). So a run at its game's best step size
(`BEST_STEP_SIZE`) is set beside the 2020 curve, one at `dqn.py`'s 2.5e-4 beside the 2019
curve (img/results.gif of commit 3d3e816, read the same way at 0.5M and 5M only), any other
beside nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import cli  # noqa: E402

# Young & Tian 2019, DQN: the moving average of 100 training returns at each number of frames,
# read off the README figure (module doc).
PUBLISHED_DQN = {
    "Asterix": {250_000: 0.8, 500_000: 1.0, 1_000_000: 7.3, 2_000_000: 14.3, 5_000_000: 17.0},
    "Breakout": {250_000: 6.8, 500_000: 8.3, 1_000_000: 9.2, 2_000_000: 9.7, 5_000_000: 10.0},
    "Freeway": {250_000: 6.3, 500_000: 34.6, 1_000_000: 47.9, 2_000_000: 50.7, 5_000_000: 50.2},
    "Seaquest": {250_000: 0.8, 500_000: 0.9, 1_000_000: 1.0, 2_000_000: 4.9, 5_000_000: 20.3},
    "SpaceInvaders": {250_000: 22.6, 500_000: 28.0, 1_000_000: 32.6, 2_000_000: 41.4,
                      5_000_000: 43.5},
}  # fmt: skip
# The 2019 figure (at dqn.py's 2⁻¹², inferred): at 0.5M read by pixel columns as above; at 5M
# the endpoints of results/README.md's step-size table. Breakout and Freeway ±1 (the DQN line
# partly hidden under "DQN without target").
PUBLISHED_DQN_2019 = {
    "Asterix": {500_000: 5.3, 5_000_000: 12.0},
    "Breakout": {500_000: 7.0, 5_000_000: 9.0},
    "Freeway": {500_000: 17.5, 5_000_000: 49.6},
    "Seaquest": {5_000_000: 15.5},
    "SpaceInvaders": {500_000: 28.3, 5_000_000: 45.0},
}  # fmt: skip
DQN_STEP_SIZE = 0.00025  # examples/dqn.py's STEP_SIZE (the minatar preset's), the sweep's 2⁻¹²
# Each game's best log2 step size on the README's sweep figure (img/sensitivity_curves.gif).
BEST_STEP_SIZE = {"Asterix": 2**-13, "Breakout": 2**-9, "Freeway": 2**-11, "Seaquest": 2**-13,
                  "SpaceInvaders": 2**-12}  # fmt: skip
GAMES = ("Asterix", "Breakout", "Freeway", "SpaceInvaders")  # gymnax 0.0.9 has no Seaquest


def last_games(runs: dict[str, Path]) -> dict[str, dict]:
    """Per game with a checkpoint: its frames per seed, its step size and each seed's last 100
    training games (from the checkpoint's record of every finished game)."""
    from jaxdqn.checkpoint import Checkpointer
    from jaxdqn.rundir import read_config

    out = {}
    for game, run_dir in runs.items():
        checkpointer = Checkpointer(run_dir)
        frames = checkpointer.latest_step()  # MinAtar has no frame skip: agent steps = frames
        if frames is not None:
            history = checkpointer.restore_meta()["history_scores"]  # every game, per seed
            last = [[float(score) for score in scores[-100:]] for scores in history]
            step_size = read_config(run_dir)["config"]["agent"]["learning_rate"]
            out[game] = {"frames": frames, "learning_rate": step_size, "last_100": last}
    return out


def published(game: str, frames: int, step_size: float) -> str:
    """Young & Tian's DQN curve at `frames` for a run at `step_size`: the 2020 figure's at the
    game's best step size, the 2019 figure's at dqn.py's, "—" where neither was read."""

    def at(target: float | None) -> bool:  # the same point of the sweep's log2 grid
        return target is not None and abs(math.log2(step_size / target)) < 0.05

    if at(BEST_STEP_SIZE.get(game)) and frames in PUBLISHED_DQN.get(game, {}):
        return f"≈{PUBLISHED_DQN[game][frames]} (2020 figure)"
    if at(DQN_STEP_SIZE) and frames in PUBLISHED_DQN_2019.get(game, {}):
        return f"≈{PUBLISHED_DQN_2019[game][frames]} (2019 figure)"
    return "—"


def table(games: dict[str, dict], dqn: bool = True) -> str:
    """The Markdown table of `last_games`' output, beside the published DQN curve's value at the
    same frames and step size (for DQN runs; purejaxql publishes no MinAtar curve of PQN)."""
    import numpy as np

    theirs = "Young & Tian's DQN" if dqn else "published PQN (purejaxql has no MinAtar curve)"
    lines = ["| game | seeds | frames per seed | step size | ours: last 100 training games (mean "
             f"± sd over seeds) | {theirs} at the same frames and step size |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for game, run in games.items():
        means = [np.mean(scores) for scores in run["last_100"]]
        step_size = run.get("learning_rate", DQN_STEP_SIZE)  # tables written before it was kept
        theirs = published(game, run["frames"], step_size) if dqn else "—"
        lines.append(f"| {game} | {len(means)} | {run['frames']:,} | {step_size:.3g} | "
                     f"{np.mean(means):.1f} ± {np.std(means):.1f} | {theirs} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(args: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--games", default="Breakout,Freeway",
                        help=f"comma-separated, of {', '.join(GAMES)}; or all")  # fmt: skip
    parser.add_argument(
        "--preset",
        default="minatar",
        choices=("minatar", "pqn_minatar"),
        help="the runs' preset (default: minatar, the authors' DQN)",
    )
    parser.add_argument("--num-seeds", type=int, default=3)
    parser.add_argument("--dir", default="runs/minatar", help="parent folder of the runs")
    ns, extra = parser.parse_known_args(sys.argv[1:] if args is None else args)
    games = list(GAMES) if ns.games == "all" else [g.strip() for g in ns.games.split(",")]
    unknown = [g for g in games if g not in GAMES]
    if unknown:
        cli.refuse(f"unknown game(s) {', '.join(unknown)}: one of {', '.join(GAMES)}")
    from jaxdqn.presets import PRESETS

    root, runs, planned = Path(ns.dir), {}, []
    for game in games:
        runs[game] = root / f"{game}-MinAtar"
        flags = ["--env-id", f"{game}-MinAtar", "--num-seeds", str(ns.num_seeds), "--run-dir",
                 str(root), "--run-name", runs[game].name, *extra]  # fmt: skip
        planned.append(cli.plan_run(runs[game], flags, ns.preset,
                                    {ns.preset: PRESETS[ns.preset]}, __doc__, "--dir",
                                    label=game))  # fmt: skip
    cli.train_planned(planned)
    games = last_games(runs)
    text = table(games, dqn=ns.preset == "minatar")
    (root / "minatar.md").write_text(text, encoding="utf-8")
    (root / "minatar.json").write_text(json.dumps(games, indent=1) + "\n", encoding="utf-8")
    print(text, end="")
    print(f"wrote {root / 'minatar.md'} and its games, {root / 'minatar.json'}")
    return text


if __name__ == "__main__":
    main()
