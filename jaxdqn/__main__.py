"""`python -m jaxdqn COMMAND ...`: train with any preset, or run one of the experiment scripts.

python -m jaxdqn train --preset drq_eps --env-id Pong-v5
python -m jaxdqn play --run runs/NAME --episodes 3
python -m jaxdqn COMMAND --help
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import sys
from pathlib import Path

from jaxdqn import cli

# The scripts of experiments/ keep their one copy of each command; this table only names them.
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
COMMANDS = ("assault", "atari100k", "cartpole", "minatar", "exploration", "sweep", "play",
            "evaluate", "plot", "track")  # fmt: skip
TRAIN = "Train one run of any preset (--preset NAME, default cartpole; listed by train --help)."


def summary(command: str) -> str:
    """The first paragraph of a command's script docstring, on one line (read, not imported)."""
    path = EXPERIMENTS / f"{command}.py"
    if not path.is_file():
        return "(needs a clone of the repository: experiments/ is not here)"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split())


def usage() -> str:
    lines = [__doc__.splitlines()[0], "", "commands:", f"  train        {TRAIN}"]
    lines += [f"  {name:<12} {summary(name)}" for name in COMMANDS]
    lines += ["", "python -m jaxdqn COMMAND --help lists a command's flags."]
    return "\n".join(lines)


def train(args: list[str]) -> dict:
    """`train`: the flags of every experiment script, over any preset of jaxdqn.presets."""
    return cli.parse_and_run("cartpole", TRAIN, args)


def script_main(command: str):
    """The `main(args)` of experiments/<command>.py, loaded from the repository."""
    path = EXPERIMENTS / f"{command}.py"
    if not path.is_file():
        cli.refuse(f"{command}: {path} is not here; it runs from a clone of the repository")
    spec = importlib.util.spec_from_file_location(f"jaxdqn_experiments.{command}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module.main


def main(argv: list[str] | None = None):
    """Dispatches `argv` (default sys.argv[1:]) to its command; returns what the command does."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return None
    command, rest = argv[0], argv[1:]
    if command != "train" and command not in COMMANDS:
        known = ("train", *COMMANDS)
        close = difflib.get_close_matches(command, known, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        cli.refuse(f"unknown command {command!r}: one of {', '.join(known)}.{hint}")
    program, sys.argv[0] = sys.argv[0], f"python -m jaxdqn {command}"  # usage line of --help
    try:
        return train(rest) if command == "train" else script_main(command)(rest)
    finally:
        sys.argv[0] = program


if __name__ == "__main__":
    main()
