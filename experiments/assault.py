"""DQN on Atari Assault with the Nature settings (Mnih et al. 2015), the headline experiment.

Defaults follow Extended Data Table 1 of Mnih et al. 2015: replay 1M transitions, batch 32,
γ 0.99, target sync every 10,000 updates, ε 1 → 0.1 over the first 1M frames, 50,000 agent steps
of random play before learning, one update every 4 agent steps, up to 30 no-op starts; Adam
instead of RMSProp (see README). Budget: 40M frames (10M agent steps) per seed.
Scores are real game scores (unclipped, summed over all lives).
"""

from __future__ import annotations

import _cli

from jaxdqn.presets import cleanrl, dopamine, drq_eps, nature

ATARI_PRESETS = {"nature": nature, "dopamine": dopamine, "cleanrl": cleanrl, "drq_eps": drq_eps}


def main(args: list[str] | None = None) -> dict:
    return _cli.parse_and_run("nature", __doc__, args, presets=ATARI_PRESETS)


if __name__ == "__main__":
    main()
