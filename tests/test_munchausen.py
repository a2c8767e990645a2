"""The Munchausen-DQN fork (examples/munchausen.py): registered from outside jaxdqn in at most 40
lines, its TD error by hand, a CI-sized CartPole run through the experiment command line, and
the copy of it in docs/forking.md."""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn import losses, networks
from jaxdqn.metrics import read_metrics

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "munchausen.py"
DOC = ROOT / "docs" / "forking.md"


@pytest.fixture
def example():
    """The example, imported by path (it registers "munchausen"); unregistered after."""
    before = set(losses.LOSSES)
    spec = importlib.util.spec_from_file_location("munchausen_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for name in set(losses.LOSSES) - before:
        del losses.LOSSES[name]


def test_the_fork_is_at_most_40_lines_and_touches_no_library_file():
    lines = EXAMPLE.read_text().splitlines()
    assert len(lines) <= 40, len(lines)
    assert any(line.startswith('losses.LOSSES["munchausen"]') for line in lines)
    # The library neither registers nor defines it: the fork lives in its own file.
    assert "munchausen" not in losses.LOSSES
    library = [p for p in (ROOT / "jaxdqn").rglob("*.py")
               if re.search(r"[\"']munchausen[\"']|def munchausen", p.read_text())]  # fmt: skip
    assert library == []


def test_docs_show_the_example_verbatim():
    doc = DOC.read_text()
    blocks = re.findall(r"<!-- examples/munchausen.py -->\n```python\n(.*?)```", doc, re.S)
    assert blocks == [EXAMPLE.read_text()]


def inputs(a_tm1, q_online_tm1, q_target_tm1, q_target_t):
    out = lambda q: networks.QOutput(q_values=jnp.asarray(q, jnp.float32))  # noqa: E731
    return losses.LossInputs(out(q_online_tm1), out(q_target_tm1), jnp.asarray(a_tm1),
                             jnp.float32(1.0), jnp.float32(0.5), out(q_target_t),
                             out(q_target_t))  # fmt: skip


def test_munchausen_td_error_by_hand(example, monkeypatch):
    # τ = 1, α = 0.5, l0 = -1. Target network at s: Q̄ = [0, ln 3] → π = [1/4, 3/4].
    # At s': Q̄ = [1, 1] → π = [½, ½], log π = -ln 2; soft value Σ π (Q̄ - τ log π) = 1 + ln 2.
    # a = 1: bonus = α τ clip(ln ¾, -1, 0) = 0.5 · (-0.2876821) = -0.1438410;
    #        target = r + bonus + γ (1 + ln 2) = 1 - 0.1438410 + 0.5 · 1.6931472 = 1.7027326;
    #        δ = 1.7027326 - Q(s, 1) = 1.7027326 - 2 = -0.2972674.
    # a = 0: clip(ln ¼ = -1.386, -1, 0) = -1 → bonus -0.5; target = 1 - 0.5 + 0.8465736;
    #        δ = 1.3465736 - Q(s, 0) = 1.3465736 - 0.5 = 0.8465736.
    monkeypatch.setattr(example, "TAU", 1.0)
    monkeypatch.setattr(example, "ALPHA", 0.5)
    q_online, q_target_tm1, q_target_t = [0.5, 2.0], [0.0, math.log(3.0)], [1.0, 1.0]
    td_1 = example.munchausen(inputs(1, q_online, q_target_tm1, q_target_t))
    td_0 = example.munchausen(inputs(0, q_online, q_target_tm1, q_target_t))
    np.testing.assert_allclose([td_1, td_0], [-0.2972674, 0.8465736], rtol=1e-5)
    # Only Q(s, a) of the online network receives a gradient.
    grad = jax.grad(lambda q: example.munchausen(inputs(1, q, q_target_tm1, q_target_t)))
    np.testing.assert_array_equal(grad(jnp.asarray(q_online)), [0.0, -1.0])


@pytest.mark.slow
def test_the_fork_trains_cartpole_from_the_command_line(tmp_path):
    """`python examples/munchausen.py`: a CI-sized CartPole run (3,000 frames) that records
    the script as the home of its loss and logs finite losses."""
    flags = ["--total-frames", "3000", "--learning-starts", "500", "--log-interval", "500",
             "--eval-every", "0", "--eval-episodes", "1", "--no-progress",
             "--run-dir", str(tmp_path), "--run-name", "m"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # stands in for `pip install`
    done = subprocess.run([sys.executable, str(EXAMPLE), *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "m" / "config.json").read_text())
    assert record["config"]["agent"]["loss"] == "munchausen"
    assert record["component_modules"] == {"loss": "examples/munchausen.py"}
    seen = [r["losses/td_loss"] for r in read_metrics(tmp_path / "m")
            if r["phase"] == "learn" and r.get("losses/td_loss") is not None]  # fmt: skip
    assert len(seen) == 5 and all(math.isfinite(x) for x in seen), seen
