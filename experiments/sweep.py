"""A sweep: every game × variant, SEEDS seeds each, then one aggregate table.

    python experiments/sweep.py --games Assault,Breakout,Pong --variants dqn,double,dueling \\
        --num-seeds 5 --sweep-dir runs/sweep

Lays out one run per game and variant, `<sweep-dir>/<env id>-<variant>` (Assault →
Assault-v5 with the nature preset of `experiments/assault.py`; an id with a version, such as
CartPole-v1, is used as given, with the cartpole preset when it is not Atari). Without
--task-index the runs are trained one after another in this process, then aggregated. Under
a scheduler, each task trains one run: `--task-index I` (or SLURM_ARRAY_TASK_ID) picks run I
of the `--list` order, and a last `--aggregate` call (no training) writes the table:

    sbatch --array=0-8 --gres=gpu:1 --wrap "python experiments/sweep.py \\
        --games Assault,Breakout,Pong --variants dqn,double,dueling --num-seeds 5"
    python experiments/sweep.py --games Assault,Breakout,Pong \\
        --variants dqn,double,dueling --num-seeds 5 --aggregate

Variants: dqn (the preset), double (--loss double_q), dueling (--network dueling), nstep3
(--n-step 3), polyak (--target-update polyak), boltzmann (--policy boltzmann); your own with
`--variant NAME=FLAGS` (repeatable), e.g. `--variant "lr3=--learning-rate 3e-4"`. Any flag
this script does not know goes to every run (e.g. `--total-frames 200000 --devices all`).

A run directory that already holds the finished run is reused; an unfinished one is resumed
from its checkpoint; one holding other settings is refused. The aggregate (written to
`<sweep-dir>/aggregate.md`, printed, and one figure per game `<sweep-dir>/<env id>.png` by
`jaxdqn.analysis`) pools each variant's games: IQM and mean of human-normalised final
evaluation scores with stratified-bootstrap CIs (Agarwal et al. 2021) for Atari games, final
scores per run otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import cli  # noqa: E402

VARIANTS = {
    "dqn": [],
    "double": ["--loss", "double_q"],
    "dueling": ["--network", "dueling"],
    "nstep3": ["--n-step", "3"],
    "polyak": ["--target-update", "polyak"],
    "boltzmann": ["--policy", "boltzmann"],
}
VARIANTS_DEFAULT = {"dqn": VARIANTS["dqn"]}
# Flags this script sets for each run; as pass-through flags they would be ambiguous.
OWN_FLAGS = ("--env-id", "--num-seeds", "--run-dir", "--run-name", "--resume")


def env_id(game: str) -> str:
    """`Assault` → `Assault-v5` (envpool's Atari id); ids with a version are kept."""
    return game if re.search(r"-v\d+$", game) else f"{game}-v5"


def parse_variants(text: str) -> dict[str, list[str]]:
    """`dqn,double` → {name: flags} of the built-in variants."""
    out = {}
    for name in (n.strip() for n in text.split(",")):
        if name not in VARIANTS:
            raise argparse.ArgumentTypeError(
                f"unknown variant {name!r}: one of {', '.join(VARIANTS)} "
                "(or define one with --variant NAME=FLAGS)"
            )
        out[name] = VARIANTS[name]
    return out


def parse_variant(text: str) -> tuple[str, list[str]]:
    """`lr3=--learning-rate 3e-4` → ("lr3", ["--learning-rate", "3e-4"])."""
    name, eq, flags = text.partition("=")
    if not eq or not re.fullmatch(r"[A-Za-z0-9_.]+", name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=FLAGS with a name of letters, digits, _ and ."
        )
    return name, shlex.split(flags)


def plan(games: list[str], variants: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """(game's env id, variant, flags) of every run, in task-index order (game-major)."""
    return [(env_id(g), v, flags) for g in games for v, flags in variants.items()]


def _presets(env: str):
    from jaxdqn.config import is_atari
    from jaxdqn.presets import cartpole

    if is_atari(env):
        import assault

        return "nature", assault.ATARI_PRESETS
    return "cartpole", {"cartpole": cartpole}


def aggregate(sweep_dir: Path, runs: list[tuple[str, str, list[str]]]) -> str:
    """One figure per game and the table over every run that has metrics; returns it."""
    from jaxdqn import analysis

    have = [(env, v, sweep_dir / f"{env}-{v}") for env, v, _ in runs]
    have = [(env, v, d) for env, v, d in have if (d / "metrics.jsonl").exists()]
    if not have:
        raise SystemExit(f"error: no run of this sweep in {sweep_dir} has metrics yet")
    for env in dict.fromkeys(env for env, _, _ in have):
        dirs = [str(d) for e, _, d in have if e == env]
        out = analysis.plot_runs(dirs, sweep_dir / f"{env}.png", smooth=5)
        print(f"wrote {out.png}")
    loaded = [analysis.load_run(d) for _, _, d in have]
    rows = analysis.aggregate_rows(loaded, [v for _, v, _ in have])
    if len(rows):
        table = analysis.markdown_table(rows, "aggregate")
    else:  # no human-normalised scores (not Atari): final scores per run
        labels = [f"{v} ({env})" for env, v, _ in have]
        table = analysis.markdown_table(analysis.final_score_rows(loaded, labels), "final")
    path = sweep_dir / "aggregate.md"
    path.write_text(table, encoding="utf-8")
    print(table, end="")
    print(f"wrote {path}")
    return table


def main(args: list[str] | None = None) -> str | None:
    """Trains the sweep's runs (all, or the one of --task-index) and aggregates them."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--games", required=True, help="comma-separated, e.g. Assault,Pong")
    parser.add_argument("--variants", type=parse_variants, default=None,
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default: dqn, or "
                        "none when --variant is given)")  # fmt: skip
    parser.add_argument("--variant", type=parse_variant, action="append", default=[],
                        metavar="NAME=FLAGS", help="a variant of your own, e.g. "
                        "'lr3=--learning-rate 3e-4' (repeatable)")  # fmt: skip
    parser.add_argument("--num-seeds", type=int, default=5, help="seeds per run (default: 5)")
    parser.add_argument("--sweep-dir", default="runs/sweep",
                        help="parent folder of the runs (default: runs/sweep)")  # fmt: skip
    parser.add_argument("--task-index", type=int, default=None,
                        help="train only run I of --list (default: SLURM_ARRAY_TASK_ID if set, "
                        "else every run)")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    parser.add_argument("--aggregate", action="store_true",
                        help="train nothing: write the table of the runs that exist")  # fmt: skip
    ns, extra = parser.parse_known_args(sys.argv[1:] if args is None else args)
    if ns.num_seeds < 1:
        parser.error(f"--num-seeds must be >= 1, got {ns.num_seeds}")
    clash = sorted({a.partition("=")[0] for a in extra} & set(OWN_FLAGS))
    if clash:
        parser.error(f"{', '.join(clash)} is set by this script for each run; use --games, "
                     "--num-seeds and --sweep-dir")  # fmt: skip
    games = [g.strip() for g in ns.games.split(",") if g.strip()]
    variants = ns.variants if ns.variants is not None else ({} if ns.variant else VARIANTS_DEFAULT)
    for name, flags in ns.variant:
        if name in variants:
            parser.error(f"variant {name!r} is given twice")
        variants = {**variants, name: flags}
    runs = plan(games, variants)
    sweep_dir = Path(ns.sweep_dir)
    if ns.list:
        for i, (env, variant, flags) in enumerate(runs):
            print(f"{i}\t{sweep_dir / f'{env}-{variant}'}\t{shlex.join(flags)}")
        return None
    if ns.aggregate:
        return aggregate(sweep_dir, runs)

    task = ns.task_index
    if task is None and os.environ.get("SLURM_ARRAY_TASK_ID"):
        task = int(os.environ["SLURM_ARRAY_TASK_ID"])
    if task is not None and not 0 <= task < len(runs):
        parser.error(f"--task-index {task} is out of range: this sweep has {len(runs)} runs "
                     f"(0..{len(runs) - 1}; see --list)")  # fmt: skip
    chosen = [runs[task]] if task is not None else runs

    # Parse and check every chosen run (flags, memory, directories) before training any.
    plans = []
    for env, variant, flags in chosen:
        name = f"{env}-{variant}"
        run_flags = ["--no-progress", *extra, *flags, "--env-id", env,
                     "--num-seeds", str(ns.num_seeds), "--run-dir", str(sweep_dir),
                     "--run-name", name]  # fmt: skip
        preset, presets = _presets(env)
        plans.append(cli.plan_run(sweep_dir / name, run_flags, preset, presets, __doc__,
                                  "--sweep-dir"))  # fmt: skip
    cli.train_planned(plans)
    from jaxdqn import distributed

    if task is not None or not distributed.is_main():
        return None  # one task of many (`--aggregate` once all are done), or not process 0
    return aggregate(sweep_dir, runs)


if __name__ == "__main__":
    main()
