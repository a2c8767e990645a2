"""Shared command line for the experiment scripts: flat flags, clear errors before any work."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tyro  # noqa: E402

from jaxdqn.config import Config  # noqa: E402


def parse(default: Config, description: str, args: list[str] | None = None) -> Config:
    """Parses flags over a preset and checks that the run fits in memory.

    A bad value exits with status 2 and a one-line error naming it, not a traceback.
    """
    from jaxdqn.train import check_memory, observation_spec

    try:
        config = tyro.cli(Config, default=default, description=description, args=args)
        obs_shape, obs_dtype, _ = observation_spec(config)
        check_memory(config, obs_shape, obs_dtype)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    return config
