"""benchmarks/device_check.py: its quick form runs on this CPU and reports a rate for every
setting; a failed setting becomes a row of its own."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load():
    path = os.path.join(ROOT, "benchmarks", "device_check.py")
    spec = importlib.util.spec_from_file_location("device_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


device_check = _load()


def test_full_settings_are_the_issue_s():
    names = [s.name for s in device_check.FULL]
    assert names == ["nature-1", "nature-8", "nature-32", "drq_eps-1", "drq_eps-8",
                     "minatar-1", "minatar-64"]  # fmt: skip


def test_make_config_shrinks_only_what_the_setting_says():
    setting = device_check.Setting("nature", 8, 100_000)
    config = device_check.make_config(setting)
    assert config.env.num_seeds == 8
    assert config.replay.replay_capacity == 100_000
    assert config.train.learning_starts == device_check.LEARNING_STARTS
    assert config.agent == device_check.presets.nature().agent
    own = device_check.make_config(device_check.Setting("drq_eps", 1))
    assert own.replay.replay_capacity == device_check.presets.drq_eps().replay.replay_capacity


def test_a_failing_setting_is_a_row_and_the_check_goes_on(tmp_path):
    bad = device_check.Setting("no_such_preset", 1)
    zero_seeds = device_check.Setting("cartpole", 0)
    result = device_check.run_check((bad, zero_seeds), 0.5, str(tmp_path), "test")
    missing, invalid = result["settings"]
    assert missing["error"].startswith("AttributeError")
    assert invalid["error"].startswith("ValueError") and "num_seeds" in invalid["error"]
    page = (tmp_path / "device_check.md").read_text()
    assert "| no_such_preset-1 |" in page and "| cartpole-0 |" in page
    assert json.loads((tmp_path / "device_check.json").read_text())["settings"][1] == invalid


def test_memory_is_n_a_on_this_cpu():
    assert device_check.device_memory() == "n/a"
    assert device_check._memory_cell("n/a") == "n/a"
    assert device_check._memory_cell({"gib_in_use": 1.5, "peak_gib_in_use": 2.25}) == "1.50 / 2.25"


@pytest.mark.slow
def test_quick_check_reports_a_rate_for_every_setting(tmp_path):
    device_check.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "device_check.json").read_text())
    rows = result["settings"]
    assert [r["setting"] for r in rows] == [s.name for s in device_check.QUICK]
    for row in rows:
        assert "error" not in row, row
        assert row["agent_steps_per_s"] > 0 and row["compile_s"] >= 0
    assert result["machine"]["jax"] and result["machine"]["device_kind"]
    page = (tmp_path / "device_check.md").read_text()
    for row in rows:
        line = next(ln for ln in page.splitlines() if ln.startswith(f"| {row['setting']} |"))
        rate = float(line.split("|")[5].replace(",", ""))
        assert rate > 0
