"""Does Boltzmann exploration beat ε-greedy for DQN? Both, and a sweep of Boltzmann's τ.

    python experiments/exploration.py --game cartpole --seeds 5
    python experiments/exploration.py --game assault --seeds 5      # needs a GPU

Three runs of the game's preset, one after another in this process, each with SEEDS seeds
vmapped in one program, then one figure of all of them:

1. `exploration-<game>-epsilon`: ε-greedy with the preset's ε schedule;
2. `exploration-<game>-boltzmann`: Boltzmann (softmax of Q/τ) with the preset's τ schedule;
3. `exploration-<game>-tau-sweep`: Boltzmann from every start τ in TEMPERATURES, SEEDS seeds
   each (seeds 0..S-1 start from the first value, the next S from the second, ...), all in
   one process; τ decays to the preset's end value over the same steps as ε.

The figure (`--figure`, also a `.csv` of the curves and a `.md` table beside it) is made by
`experiments/plot.py`, which draws one curve per start τ of the sweep. Any flag this script
does not know goes to every run, e.g. a shorter budget:

    python experiments/exploration.py --seeds 1 --temperatures 1,5 --total-frames 2000 \\
        --learning-starts 500 --chunk-iterations 500 --eval-episodes 1

A run directory that already holds the finished run is reused (not retrained); an
unfinished one is resumed from its checkpoint (so after Ctrl-C, run the same command
again); one holding a run with other settings is refused. All three configurations are
checked (flags, memory) before anything is trained. Assault uses the `nature` preset of
`experiments/assault.py` and refuses to start on a CPU unless `--allow-cpu`; its sweep trains
len(TEMPERATURES) × SEEDS seeds in one process, so the replay (1M transitions, 6.6 GiB per
seed) usually has to be shrunk with `--replay-capacity` to fit.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import cli  # noqa: E402
from jaxdqn.presets import cartpole  # noqa: E402

GAMES = ("cartpole", "assault")
# Flags this script sets for each run; giving them as pass-through flags would be ambiguous.
OWN_FLAGS = ("--policy", "--temperature-start", "--num-seeds", "--run-dir", "--run-name",
             "--resume")  # fmt: skip


# Settings that do not change what a run computes: a finished run with other values is reused.
def _presets(game: str) -> tuple[str, dict]:
    if game == "cartpole":
        return "cartpole", {"cartpole": cartpole}
    import assault

    return "nature", assault.ATARI_PRESETS


def run_names(game: str) -> dict[str, str]:
    """Run directory name of each of the three runs."""
    return {kind: f"exploration-{game}-{kind}" for kind in ("epsilon", "boltzmann", "tau-sweep")}


def run_flags(kind: str, seeds: int, temperatures: list[float]) -> list[str]:
    """The flags that make run `kind` ("epsilon", "boltzmann" or "tau-sweep")."""
    if kind == "epsilon":
        return ["--policy", "epsilon", "--num-seeds", str(seeds)]
    if kind == "boltzmann":
        return ["--policy", "boltzmann", "--num-seeds", str(seeds)]
    starts = ",".join(f"{t:g}" for t in temperatures for _ in range(seeds))
    return ["--policy", "boltzmann", "--temperature-start", starts,
            "--num-seeds", str(seeds * len(temperatures))]  # fmt: skip


def _parse_temperatures(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"need one or more temperatures > 0, got {text!r}")
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"temperatures repeat: {text!r}")
    return values


def main(args: list[str] | None = None):
    """Trains what is missing of the three runs, then plots them; returns plot.py's Outputs."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # `--seed 3` is a pass-through flag, not `--seeds 3`
    )
    parser.add_argument(
        "--game",
        choices=GAMES,
        default="cartpole",
        help="cartpole (CartPole-v1, cartpole preset) or assault (Assault-v5, "
        "nature preset) (default: cartpole)",
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="seeds per exploration setting (default: 5)"
    )
    parser.add_argument(
        "--temperatures",
        type=_parse_temperatures,
        default=[1.0, 2.0, 5.0, 10.0],
        help="start values τ0 of the sweep, comma-separated (default: 1,2,5,10)",
    )
    parser.add_argument(
        "--out-dir",
        default="results/runs",
        help="parent folder of the three run directories (default: results/runs)",
    )
    parser.add_argument(
        "--figure",
        default=None,
        help="figure to write, with .csv and .md beside it "
        "(default: results/<game>_exploration_sweep.png)",
    )
    parser.add_argument(
        "--smooth",
        type=int,
        default=5,
        help="moving average of the training curves, in log records (default: 5)",
    )
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="run --game assault without a GPU (weeks for the nature budget)",
    )
    ns, extra = parser.parse_known_args(sys.argv[1:] if args is None else args)
    if ns.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {ns.seeds}")
    if ns.smooth < 1:
        parser.error(f"--smooth must be >= 1 records, got {ns.smooth}")
    clash = sorted({a.partition("=")[0] for a in extra} & set(OWN_FLAGS))
    if clash:
        parser.error(f"{', '.join(clash)} is set by this script for each run; use --seeds, "
                     "--temperatures and --out-dir instead")  # fmt: skip
    figure = ns.figure or f"results/{ns.game}_exploration_sweep.png"

    if ns.game == "assault" and not ns.allow_cpu:
        import jax

        backend = jax.default_backend()
        if backend == "cpu":
            cli.refuse("--game assault needs a GPU, and JAX finds none here (backend: cpu). "
                       "DQN on Atari runs at about 170 agent steps per second on a 2-core CPU "
                       "(see BENCHMARKS.md), so the nature preset's 40M frames per seed would "
                       "take weeks. Pass --allow-cpu to run it anyway, with a shrunken budget "
                       "such as --total-frames 200000 --replay-capacity 50000.")  # fmt: skip

    preset, presets = _presets(ns.game)
    out_dir = Path(ns.out_dir)
    names = run_names(ns.game)
    # Parse and check all three (flags, memory, directories) before training any of them.
    plans = []
    for kind, name in names.items():
        flags = (["--no-progress", *extra, *run_flags(kind, ns.seeds, ns.temperatures)]
                 + ["--run-dir", str(out_dir), "--run-name", name])  # fmt: skip
        plans.append(cli.plan_run(out_dir / name, flags, preset, presets, __doc__,
                                  "--out-dir", label=kind))  # fmt: skip
    cli.train_planned(plans)

    import plot

    return plot.main([*(str(p.run_dir) for p in plans), "--out", figure,
                      "--smooth", str(ns.smooth)])  # fmt: skip


if __name__ == "__main__":
    main()
