"""benchmarks/peers/: what turns a peer's log into a rate, and its pinned sources."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.peers import cleanrl, dopamine, purejaxql  # noqa: E402
from benchmarks.peers.common import (  # noqa: E402
    PinnedFile,
    Sample,
    Source,
    fetch_source,
    interval_rates,
    sha256,
    summary,
)
from benchmarks.peers.legacy_gym import LegacyGym  # noqa: E402


def test_interval_rates_hand_worked():
    # 100 steps a wall second, the CPU at half the wall clock; the first 2 s are skipped.
    samples = [Sample(wall=t, cpu=t / 2, steps=100 * t) for t in range(0, 11)]
    wall = interval_rates(samples, skip=2.0, interval=3.0)
    cpu = interval_rates(samples, skip=2.0, interval=3.0, clock="cpu")
    assert wall == [100.0, 100.0] and cpu == [200.0, 200.0]  # intervals 2→5, 5→8 (8→10 short)
    assert summary(wall) == {"min": 100.0, "median": 100.0, "max": 100.0, "intervals": 2}
    assert summary([]) == {"min": None, "median": None, "max": None, "intervals": 0}
    assert interval_rates([], skip=0.0, interval=1.0) == []


def test_the_step_counters_read_their_own_lines_only():
    count = cleanrl.new_counter()
    assert count("episodic_return=3") is None
    assert [count("SPS: 80"), count("SPS: 81")] == [
        cleanrl.STEPS_PER_LINE,
        2 * cleanrl.STEPS_PER_LINE,
    ]
    assert cleanrl.new_counter()("SPS: 1") == cleanrl.STEPS_PER_LINE  # a fresh count per run
    assert dopamine.counter("dopamine agent_steps=1250\n") == 1250
    assert dopamine.counter("I1203 Average training steps per second: 7.1") is None
    assert purejaxql.counter("purejaxql env_step=4096") == 4096
    assert purejaxql.counter("purejaxql compiling") is None


class _GymnasiumPool:
    """envpool ≥ 0.9's `env_type="gym"` in miniature: gymnasium's API, attributes read-only."""

    num_envs = property(lambda self: 3)

    def reset(self):
        return np.zeros(3), {"lives": np.array([4, 4, 4])}

    def step(self, action):
        return (np.ones(3), np.array([0.0, 1.0, 0.0]), np.array([True, False, False]),
                np.array([False, False, True]), {"lives": np.array([3, 4, 4])})  # fmt: skip

    def xla(self):
        return "handle", "recv", "send", lambda handle, action: (handle + "'", self.step(action))


def test_legacy_gym_gives_purejaxql_the_api_it_was_written_for():
    env = LegacyGym(_GymnasiumPool())
    env.num_envs, env.name = 3, "Assault-v5"  # the script sets these; envpool's env refuses
    assert env.num_envs == 3 and env.name == "Assault-v5"
    assert np.array_equal(env.reset(), np.zeros(3))  # obs only
    obs, reward, done, info = env.step(np.zeros(3, int))
    assert done.tolist() == [True, False, True]  # terminated or truncated
    assert info["TimeLimit.truncated"].tolist() == [False, False, True]
    assert info["lives"].tolist() == [3, 4, 4] and reward.tolist() == [0.0, 1.0, 0.0]
    handle, _, _, step = env.xla()
    handle, (obs, reward, done, info) = step(handle, np.zeros(3, int))
    assert handle == "handle'" and done.tolist() == [True, False, True]
    assert info["TimeLimit.truncated"].tolist() == [False, False, True]


def test_fetch_source_checks_every_file(tmp_path):
    local = tmp_path / "checkout"
    (local / "pkg").mkdir(parents=True)
    (local / "pkg" / "a.py").write_text("print('a')\n")
    good = Source("owner/repo", "0" * 40, (PinnedFile("pkg/a.py", sha256(local / "pkg" / "a.py")),))
    dest = fetch_source(good, str(tmp_path / "dest"), local=str(local))
    assert (tmp_path / "dest" / "pkg" / "a.py").read_text() == "print('a')\n"
    assert (
        good.url("pkg/a.py") == f"https://raw.githubusercontent.com/owner/repo/{'0' * 40}/pkg/a.py"
    )
    bad = Source("owner/repo", "0" * 40, (PinnedFile("pkg/a.py", "f" * 64),))
    with pytest.raises(RuntimeError, match="pkg/a.py: sha256 .*expected f{64}"):
        fetch_source(bad, str(tmp_path / "dest2"), local=str(local))
    assert dest == str(tmp_path / "dest")
