"""DQN on CartPole-v1 with an MLP: the same trainer as Atari, small enough for a laptop CPU.

Learns (mean score of the last 20 games >= 400 of a maximum 500) in about a minute on 2 cores.
"""

from __future__ import annotations

import _cli

from jaxdqn.presets import cartpole


def main(args: list[str] | None = None) -> dict:
    return _cli.parse_and_run("cartpole", __doc__, args, presets={"cartpole": cartpole})


if __name__ == "__main__":
    main()
