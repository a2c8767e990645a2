"""Shared command line for the experiment scripts: presets, flat flags, clear errors early."""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tyro  # noqa: E402

from jaxdqn.config import PRESETS, Config  # noqa: E402


def parse(
    default_preset: str, description: str, args: list[str] | None = None, presets=None
) -> Config:
    """Parses `--preset NAME` (default `default_preset`), then every other flag over it, so
    any flag overrides a preset value; checks that the run fits in memory.

    A bad value exits with status 2 and an error naming it, before any work starts.
    """
    from jaxdqn.train import check_memory, observation_spec

    presets = presets or PRESETS
    args = list(sys.argv[1:] if args is None else args)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=default_preset)
    known, rest = pre.parse_known_args(args)
    if known.preset not in presets:
        print(
            f"error: --preset {known.preset!r} is not one of {', '.join(presets)}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    description = (
        f"{description}\n\nPresets (--preset NAME, then any flag overrides it): "
        + "; ".join(f"{name}: {fn.__doc__.splitlines()[0]}" for name, fn in presets.items())
        + f"\nThis listing shows the defaults of --preset {known.preset}."
    )
    try:
        config = tyro.cli(Config, default=presets[known.preset](), description=description,
                          args=rest)  # fmt: skip
        obs_shape, obs_dtype, _ = observation_spec(config)
        check_memory(config, obs_shape, obs_dtype)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    return config
