"""The docs stay true: every relative link resolves, and every command they show parses.

Pages: README.md, docs/*.md, results/README.md, BENCHMARKS.md. A command is a line of a `bash`
code block (continuation lines joined) that runs `python experiments/<script>.py` or
`python -m jaxdqn…`; its script or command must exist and each `--flag` it uses must appear in
that command's `--help`, run once per distinct command in a subprocess.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", ROOT / "results" / "README.md", ROOT / "BENCHMARKS.md"]
    + list((ROOT / "docs").glob("*.md"))
)
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SHELL = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SEPARATORS = {";", "&", "&&", "|", "||", "(", ")"}
README_LINES = 150
# Scripts that run other runs hand every flag they do not know to each run, so such a flag must
# be one of the training command's (the experiment command line that every script shares).
FORWARDING = {
    "experiments/atari100k.py",
    "experiments/exploration.py",
    "experiments/minatar.py",
    "experiments/sweep.py",
}
TRAINING = ("experiments/assault.py",)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose(text: str) -> str:
    """The page without its fenced code blocks (code may hold `a[i](x)`, which is no link)."""
    return FENCE.sub("", text)


def relative_links(page: Path) -> list[str]:
    """Link targets of `page` that point into the repository, anchors dropped."""
    targets = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # https:, mailto: and links within the page
        targets.append(target.split("#", 1)[0])
    return targets


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _commands_in(tokens: list[str]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """`(command, flags)` of each python command in `tokens`; a quoted argument holding a
    command (`sbatch --wrap "python …"`) is searched too."""
    found = []
    for i, token in enumerate(tokens):
        if " " in token:
            found += _commands_in(_tokens(token))
        if token not in ("python", "python3"):
            continue
        rest = tokens[i + 1 :]
        end = next((j for j, t in enumerate(rest) if t in SEPARATORS), len(rest))
        rest = rest[:end]
        if rest[:1] and rest[0].startswith("experiments/") and rest[0].endswith(".py"):
            command, args = (rest[0],), rest[1:]
        elif rest[:2] and rest[0] == "-m" and rest[1].split(".")[0] == "jaxdqn":
            sub = (
                rest[2:3]
                if rest[1] == "jaxdqn" and rest[2:3] and not rest[2].startswith("-")
                else []
            )
            command, args = ("-m", rest[1], *sub), rest[2 + len(sub) :]
        else:
            continue
        if any("<" in part for part in command):
            continue  # a pattern such as `python experiments/<script>.py`, not a command
        flags = tuple(sorted({a.split("=", 1)[0] for a in args if re.match(r"^--[a-z]", a)}))
        found.append((command, flags))
    return found


def page_commands(page: Path) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every python command in the shell code blocks of `page`, with its flags."""
    found = []
    for block in SHELL.findall(page.read_text()):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            try:
                found += _commands_in(_tokens(line))
            except ValueError:  # not shell (a Python or JSON block with an open quote)
                continue
    return found


def all_commands() -> dict[tuple[str, ...], dict[str, set[str]]]:
    """Distinct command → flag → the pages that use it there."""
    commands: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for page in PAGES:
        for command, flags in page_commands(page):
            uses = commands.setdefault(command, {})
            for flag in flags or ("",):
                uses.setdefault(flag, set()).add(_rel(page))
    return commands


@functools.cache
def help_text(command: tuple[str, ...]) -> str:
    """`--help` of `command`, run once; fails the test if it does not succeed."""
    result = subprocess.run(
        [sys.executable, *command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, f"{' '.join(command)} --help failed:\n{result.stderr[-2000:]}"
    return result.stdout + result.stderr


def test_pages_exist():
    assert (ROOT / "docs" / "layout.md") in PAGES and len(PAGES) >= 8


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page):
    missing = [t for t in relative_links(page) if not (page.parent / t).exists()]
    assert not missing, f"{_rel(page)} links to missing files: {missing}"


def test_readme_first_screen():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_LINES
    head = "\n".join(text.splitlines()[:20])
    assert "results/atari100k_assault.png" in head  # the headline figure on the first screen
    # CI runs exactly this command; the README must show it as it is.
    lines = [
        line.split("  #")[0].strip() for block in FENCE.findall(text) for line in block.splitlines()
    ]
    assert "python -m pytest -q" in lines


def test_command_parser():
    line = 'sbatch --wrap "python experiments/sweep.py --games A --num-seeds=5"; '
    line += "python -m jaxdqn play --run r"
    assert _commands_in(_tokens(line)) == [
        (("experiments/sweep.py",), ("--games", "--num-seeds")),
        (("-m", "jaxdqn", "play"), ("--run",)),
    ]
    assert _commands_in(_tokens("python experiments/<script>.py --x  # a pattern")) == []


COMMANDS = all_commands()


@pytest.mark.slow  # one --help per command, each importing jax: ≈10 s apiece on a busy CPU
@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_command_and_its_flags_exist(command):
    if command[0] == "-m":
        module = "jaxdqn.__main__" if command[1] == "jaxdqn" else command[1]
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"`python -m {command[1]}` is not there yet ({module})")
    else:
        assert (ROOT / command[0]).is_file(), f"{command[0]} does not exist"
    text = help_text(command)
    if command[0] in FORWARDING:
        text += help_text(TRAINING)
    unknown = {
        flag: sorted(pages)
        for flag, pages in COMMANDS[command].items()
        if flag and not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
    }
    assert not unknown, f"{' '.join(command)}: flags not in its --help: {unknown}"


def test_headline_figure_matches_the_results_pages(tmp_path):
    """The README's figure is drawn from the committed runs, and its final scores are the
    ones the results pages print (mean over seeds [95% bootstrap CI])."""
    from jaxdqn.analysis import headline
    from jaxdqn.analysis.stats import mean_ci

    curves = [headline.agent_curve(agent) for agent in headline.AGENTS]
    printed = {"DrQ(ε)": "634.5 [575.1, 668.0]", "DER": "512.7 [468.3, 581.3]"}
    for curve in curves:
        mean, low, high = mean_ci(curve.finals)
        assert f"{mean:.1f} [{low:.1f}, {high:.1f}]" == printed[curve.name]
        assert curve.train["n_seeds"].max() == 3 and curve.final_frames == 400_000
    out = headline.draw(curves, tmp_path / "headline.png")
    assert out.stat().st_size > 10_000
