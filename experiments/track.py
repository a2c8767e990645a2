"""Mirror existing runs to TensorBoard (or W&B) after the fact, from their metrics.jsonl.

    python experiments/track.py runs/NAME                  # events in runs/NAME/tensorboard
    python experiments/track.py runs/a runs/b --tensorboard-dir runs/tb   # runs/tb/a, runs/tb/b
    python experiments/track.py runs/NAME --track wandb --wandb-mode offline

The trackers a training script's `--track` feeds while it runs (jaxdqn.tracking), fed every
record of the run's metrics.jsonl and its config.json: one series per seed (`seed_K`), the
metric's name as the tag, frames as the step. TensorBoard's directories are rewritten whole,
so exporting twice, or after a tracked run, leaves each step once. W&B continues the run's
own W&B runs when it has some (tracking.json), sending only what they lack. A run that is
still training is refused (its lock is held).
"""

from __future__ import annotations

import dataclasses
import os
import sys

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tyro  # noqa: E402

from jaxdqn import cli  # noqa: E402
from jaxdqn.rundir import RunLockedError  # noqa: E402
from jaxdqn.tracking import TrackingOptions, export  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Args:
    runs: tyro.conf.Positional[tuple[str, ...]]
    """Run directories (runs/NAME) holding config.json and metrics.jsonl."""
    tracking: tyro.conf.OmitArgPrefixes[TrackingOptions] = TrackingOptions(track=("tensorboard",))


def main(argv: list[str] | None = None) -> list:
    """Exports each run; returns the trackers written (exit 2 with one error line on a bad
    run directory, tracker name or package, or a run that is still training)."""
    argv = cli.split_lists(list(sys.argv[1:] if argv is None else argv))
    args = tyro.cli(Args, args=argv, description=__doc__)
    written = []
    try:
        for run in args.runs:
            written += export(run, args.tracking)
    except (ValueError, FileNotFoundError, RunLockedError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    return written


if __name__ == "__main__":
    main()
