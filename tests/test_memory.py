"""Memory checks: the replay must fit before anything is allocated."""

import dataclasses

import numpy as np
import pytest

from jaxdqn import memory, presets
from jaxdqn.plan import make_plan
from jaxdqn.presets import cartpole
from jaxdqn.replay import replay_nbytes


def test_check_memory_returns_the_replay_bytes_of_all_seeds():
    config = cartpole()
    config = dataclasses.replace(config, env=dataclasses.replace(config.env, num_seeds=3))
    r, e = config.replay, config.env
    per_seed = replay_nbytes(r.replay_capacity, e.envs_per_seed, (4,), np.float32, r.dedup_frames)
    plan = make_plan(config)
    assert plan.spec[:2] == ((4,), np.float32)
    assert memory.check_memory(plan) == plan.replay_bytes == 3 * per_seed


def test_check_memory_names_the_capacity_that_fits(monkeypatch):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: (1_000_000, "a small machine"))
    plan = make_plan(presets.drq_eps())  # 110,000 Atari transitions: ≈0.7 GiB
    with pytest.raises(ValueError, match="a small machine has 0.00 GiB available") as err:
        memory.check_memory(plan)
    assert "--replay-capacity " in str(err.value)


def test_process_memory_of_this_process_and_of_none():
    assert memory.process_rss_bytes() > 0
    assert memory.process_rss_bytes(2**30) == 0  # no such process
    available, where = memory.available_memory_bytes()
    assert available > 0 and where
