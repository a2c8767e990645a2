"""DQN on Atari Assault with the Nature settings (Mnih et al. 2015), the headline experiment.

Defaults follow Extended Data Table 1 of Mnih et al. 2015: replay 1M transitions, batch 32,
γ 0.99, target sync every 10,000 updates, ε 1 → 0.1 over the first 1M frames, 50,000 agent steps
of random play before learning, one update every 4 agent steps, up to 30 no-op starts; Adam
instead of RMSProp (see README). Budget: 40M frames (10M agent steps) per seed.
Scores are real game scores (unclipped, summed over all lives).

Every Atari preset runs here (`--preset der`, `--preset rainbow`, …; the list below says what
each reproduces); `--env-id` picks another game. experiments/atari100k.py runs the Atari 100k
benchmark's games and seeds and writes the table beside the published scores.
"""

from __future__ import annotations

import os
import sys

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import cli  # noqa: E402

ATARI_PRESETS = cli.atari_presets()  # nature, dopamine, cleanrl, drq_eps, c51, qr_dqn, ...


def main(args: list[str] | None = None) -> dict:
    return cli.parse_and_run("nature", __doc__, args, presets=ATARI_PRESETS)


if __name__ == "__main__":
    main()
