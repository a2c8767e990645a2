"""DQN on CartPole-v1 with an MLP: the same trainer as Atari, small enough for a laptop CPU.

Learns (mean score of the last 20 games >= 400 of a maximum 500) in about a minute on 2 cores.
"""

from __future__ import annotations

import os
import sys

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import cli  # noqa: E402
from jaxdqn.presets import cartpole  # noqa: E402

_cli = cli  # the name tests written before jaxdqn.cli reach it by (cartpole._cli)


def main(args: list[str] | None = None) -> dict:
    return cli.parse_and_run("cartpole", __doc__, args, presets={"cartpole": cartpole})


if __name__ == "__main__":
    main()
