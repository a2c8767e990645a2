"""Learning curves of one or more runs: score against frames, mean over seeds, 95% CI.

    python experiments/plot.py runs/cartpole-epsilon runs/cartpole-boltzmann --out curves.png

Each RUN is a run directory (`metrics.jsonl`, `config.json`). Per run: the mean over seeds
(thick line), its 95% bootstrap band over seeds, and each seed (thin lines), labelled from the
exploration parameter its records carry; training-episode score and `eval/score` in separate
panels when both exist; a run whose seeds followed different schedules is one curve per
schedule. Writes OUT (PNG), the plotted series as OUT with `.csv`, and a Markdown page as OUT
with `.md`: the figure, a table (also printed) and this command. The table gives IQM and mean
of human-normalised evaluation scores with stratified-bootstrap CIs (Agarwal et al. 2021) when
the runs have them (Atari), else final scores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import analysis  # noqa: E402
from jaxdqn.registry import ComponentModuleError  # noqa: E402
from jaxdqn.rundir import CONFIG_FILE, import_components  # noqa: E402


def main(args: list[str] | None = None) -> analysis.Outputs:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    parser.add_argument("--out", required=True, help="output figure, e.g. curves.png")
    parser.add_argument(
        "--smooth",
        type=int,
        default=1,
        help="moving average over this many log records of each seed's training score "
        "(1: none; evaluation scores are never smoothed) (default: 1)",
    )
    parser.add_argument(
        "--hours", action="store_true", help="x axis in wall-clock hours instead of frames"
    )
    ns = parser.parse_args(args)
    if ns.smooth < 1:
        parser.error(f"--smooth must be >= 1 records, got {ns.smooth}")
    missing = [r for r in ns.runs if not os.path.isdir(r)]
    if missing:
        parser.error(f"run directory does not exist: {', '.join(missing)}")
    try:
        for run in ns.runs:  # a fork's components, registered again by name
            if os.path.isfile(os.path.join(run, CONFIG_FILE)):
                import_components(run)
        command = shlex.join(
            ["python", "experiments/plot.py", *(sys.argv[1:] if args is None else args)]
        )
        out = analysis.plot_runs(ns.runs, ns.out, smooth=ns.smooth, hours=ns.hours, command=command)
    except (FileNotFoundError, ValueError, ComponentModuleError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(out.table, end="")
    print(f"wrote {out.png}, {out.csv}, {out.markdown}")
    return out


if __name__ == "__main__":
    main()
