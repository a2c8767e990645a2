"""A fixed-seed CartPole run against the values it gave before the 2026-12-03 restructuring.

The values were recorded with commit cb537e6 (before the replay, plan, loop and CLI were split
into small parts) on the 2-core x86_64 CPU, with

    python experiments/cartpole.py --total-frames 3000 --learning-starts 1000 \
        --log-interval 1000 --eval-every 0 --eval-episodes 1 --no-progress --run-dir R --run-name r

and the restructured code gave the same records, bit for bit, on the same machine. Here they
are held to a tolerance that survives another CPU's float rounding: the warm-up (uniform random
actions, envpool's seeded CartPole) exactly, the learning phase's ε exactly (a schedule of the
step count), its losses and Q-values to 5%, its game counts to a few games (a Q-value tie
broken the other way changes an action).
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import cartpole  # noqa: E402

from jaxdqn.metrics import read_metrics  # noqa: E402

pytestmark = pytest.mark.slow

WARMUP = {"step": 1000, "charts/episodic_return": 24.615384615384617,
          "charts/episodic_return_last": 14.0, "charts/episodes": 39,
          "charts/epsilon": 0.9505494832992554}  # fmt: skip
LEARN = [  # step, ε, TD loss, mean Q, games in the interval
    (2000, 0.9010494947433472, 0.07922261208295822, 2.506316661834717, 51),
    (3000, 0.851549506187439, 0.18404343724250793, 6.201776027679443, 33),
]


def test_fixed_seed_cartpole_matches_the_recorded_run(tmp_path):
    flags = ["--total-frames", "3000", "--learning-starts", "1000", "--log-interval", "1000",
             "--eval-every", "0", "--eval-episodes", "1", "--no-progress",
             "--run-dir", str(tmp_path), "--run-name", "r"]  # fmt: skip
    cartpole.main(flags)
    records = read_metrics(tmp_path / "r")
    warmup = [r for r in records if r["phase"] == "warmup"]
    learn = [r for r in records if r["phase"] == "learn"]
    assert len(warmup) == 1 and {k: warmup[0][k] for k in WARMUP} == WARMUP
    assert [r["step"] for r in learn] == [row[0] for row in LEARN]
    for r, (_, epsilon, loss, q, games) in zip(learn, LEARN, strict=True):
        assert r["charts/epsilon"] == pytest.approx(epsilon, rel=1e-6)
        assert r["losses/td_loss"] == pytest.approx(loss, rel=0.05)
        assert r["losses/q_values"] == pytest.approx(q, rel=0.05)
        assert abs(r["charts/episodes"] - games) <= 3
