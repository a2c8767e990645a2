"""Shared command line for the experiment scripts: flat flags, clear errors."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tyro  # noqa: E402

from jaxdqn.config import Config  # noqa: E402


def parse(default: Config, description: str, args: list[str] | None = None) -> Config:
    """Parses flags over a preset; a bad value exits with a one-line error, not a traceback."""
    try:
        return tyro.cli(Config, default=default, description=description, args=args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
