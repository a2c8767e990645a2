"""Checkpoints: resume equivalence, signals, crash safety, and loud failures."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import cartpole  # noqa: E402

from jaxdqn.checkpoint import Checkpointer, CheckpointError  # noqa: E402
from jaxdqn.logging import RunLogger  # noqa: E402
from jaxdqn.loop import Tracker, train  # noqa: E402
from jaxdqn.metrics import read_metrics  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.presets import cartpole as cartpole_preset  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)

N = 3_000  # agent steps per half
COMMON = [
    "--num-seeds", "2", "--learning-starts", "500", "--chunk-iterations", "250",
    "--log-interval", "500", "--checkpoint-every", "0", "--eval-every", "0",
    "--eval-episodes", "2", "--learning-rate-end", "None", "--exploration-steps", "4000",
    "--no-progress",
]  # fmt: skip
TIMING = ("time", "charts/SPS", "eval/seconds")


def training_records(run_dir):
    return [{k: v for k, v in r.items() if k not in TIMING}
            for r in read_metrics(run_dir) if r["phase"] != "eval"]  # fmt: skip


def assert_trees_equal(a, b):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


class RestartEnvs(Tracker):
    """A host-loop tracker that restarts every episode at agent step `at` in-process, exactly as
    a resume from a checkpoint at that step does (fresh env seeds; agent and replay kept)."""

    def __init__(self, at: int, logger, plan):
        self.at, self.logger, self.plan = at, logger, plan

    def after_chunk(self, run, chunk):
        if run.steps != self.at:
            return []
        self.logger.flush()  # a resume starts a new metrics interval here
        # A test's shortcut: the loop alone changes `run`, but here the restart is the point.
        run.trainer = make_train(self.plan, env_epoch=run.steps, **run.components)
        run.state = run.trainer.init(agent_state=run.state.agent, replay_state=run.state.replay)
        return []


def run_then_resume(runs, flags, n=N):
    """n steps, stop, resume to 2n (episodes restart at n); returns (out, run_dir, flags)."""
    cartpole.main(flags + ["--total-frames", str(n), "--run-dir", str(runs), "--run-name", "r"])
    out = cartpole.main(["--resume", str(runs / "r"), "--total-frames", str(2 * n)])
    return out, runs / "r", flags


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """N steps, stop, resume to 2N (episodes restart at N)."""
    return run_then_resume(tmp_path_factory.mktemp("runs"), COMMON)


@pytest.mark.slow
def test_resume_equals_uninterrupted_run_with_restart(resumed, tmp_path):
    """2N steps in one process, restarting episodes at N exactly as a resume does, ends with
    the same params, optimiser state and replay contents as N + resume + N; the metrics agree
    record for record."""
    check_resume_equals_uninterrupted_run(resumed, tmp_path)


def check_resume_equals_uninterrupted_run(resumed, tmp_path, n=N):
    out_b, run_b, flags = resumed
    config, resume, options = cartpole._cli.parse(
        "cartpole", "", flags + ["--total-frames", str(2 * n), "--run-dir", str(tmp_path),
                                 "--run-name", "a"], {"cartpole": cartpole_preset})  # fmt: skip
    assert not resume
    (tmp_path / "a").mkdir()
    logger = RunLogger(tmp_path / "a", progress=False)
    plan = make_plan(config, options)
    out_a = train(plan, logger=logger, parts=(RestartEnvs(n, logger, plan),))
    logger.finish()
    assert out_a["steps"] == out_b["steps"] == 2 * n
    a, b = out_a["state"], out_b["state"]
    assert_trees_equal(a.agent.params, b.agent.params)
    assert_trees_equal(
        getattr(a.agent, "target_params", None), getattr(b.agent, "target_params", None)
    )  # PQN has none
    assert_trees_equal(a.agent.opt_state, b.agent.opt_state)
    assert_trees_equal(a.replay, b.replay)
    assert int(np.asarray(b.agent.updates)[0]) > n // 3  # learning happened on both sides
    if config.replay.prioritized:  # the losses' priorities reached the tree: not all equal
        leaves = np.asarray(b.replay.priority_tree)[:, -b.replay.priority_tree.shape[1] // 2 :]
        assert len(np.unique(leaves[leaves > 0])) > 100
    assert training_records(tmp_path / "a") == training_records(run_b)


@pytest.mark.slow
def test_resumed_metrics_have_no_duplicate_or_missing_steps(resumed):
    _, run_dir, _ = resumed
    for seed in (0, 1):
        steps = [r["step"] for r in read_metrics(run_dir) if r["seed"] == seed
                 and r["phase"] != "eval"]  # fmt: skip
        assert steps == sorted(set(steps))
        assert steps[-1] == 2 * N and N in steps
        gaps = np.diff(steps)
        assert gaps.max() <= 500  # one record per log interval at most
    evals = [r["step"] for r in read_metrics(run_dir) if r["phase"] == "eval" and r["seed"] == 0]
    assert evals == [N, 2 * N]  # the end of each part


def run_script(args, **kw):
    return subprocess.Popen([sys.executable, str(ROOT / "experiments" / "cartpole.py"), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)  # fmt: skip


@pytest.mark.slow
# SIGINT and SIGTERM share one handler: SIGTERM in CI, both in the long tier.
@pytest.mark.parametrize("signum", [pytest.param(signal.SIGINT, marks=pytest.mark.long),
                                    signal.SIGTERM])  # fmt: skip
def test_signal_finishes_chunk_saves_and_exits(tmp_path, signum):
    name = f"sig{int(signum)}"
    proc = run_script(COMMON + ["--total-frames", "10000000", "--run-dir", str(tmp_path),
                                "--run-name", name])  # fmt: skip
    metrics = tmp_path / name / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < 6
    ):
        time.sleep(0.2)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "checkpoint at" in output and "--resume" in output
    ckpt = Checkpointer(tmp_path / name)
    step = ckpt.latest_step()
    assert step is not None and step % 250 == 0  # a chunk boundary
    last = [r for r in read_metrics(tmp_path / name) if r["phase"] != "eval"][-1]
    assert last["step"] == step  # the checkpoint's metrics are all written
    # It resumes and finishes.
    out = cartpole.main(["--resume", str(tmp_path / name), "--total-frames", str(step + 500)])
    assert out["steps"] == step + 500


KILL_DURING_SAVE = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {root!r})
    from jaxdqn.checkpoint import Checkpointer
    c = Checkpointer({path!r})
    c.save(1, {{"x": np.arange(10.0)}}, {{"steps": 1}})
    print("saved", flush=True)
    big = np.random.default_rng(0).random((4, 100_000_000)).astype(np.float32)  # 1.6 GB
    c.save(2, {{"x": big}}, {{"steps": 2}})
""")


@pytest.mark.slow
def test_kill_during_save_keeps_previous_checkpoint(tmp_path):
    script = KILL_DURING_SAVE.format(root=str(ROOT), path=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "saved"
    ckpt_dir = tmp_path / "checkpoints"
    deadline = time.time() + 60
    while time.time() < deadline and not any("tmp" in p.name for p in ckpt_dir.iterdir()):
        time.sleep(0.01)
    assert any("tmp" in p.name for p in ckpt_dir.iterdir()), "save of step 2 never started"
    proc.kill()
    proc.wait()
    ckpt = Checkpointer(tmp_path)
    assert ckpt.latest_step() == 1
    state, meta = ckpt.restore({"x": jax.ShapeDtypeStruct((10,), np.float64)})
    np.testing.assert_array_equal(state["x"], np.arange(10.0))
    assert meta == {"steps": 1}


FAIL_DURING_SAVE = textwrap.dedent("""
    import resource, sys, numpy as np
    sys.path.insert(0, {root!r})
    from jaxdqn.checkpoint import Checkpointer, CheckpointError
    c = Checkpointer({path!r})
    c.save(1, {{"x": np.arange(10.0)}}, {{"steps": 1}})
    # Files may grow to 100 kB (root too): the 8 MB array of step 2 fails inside tensorstore
    # with EFBIG, the way a full disk fails with ENOSPC.
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
    try:
        c.save(2, {{"x": np.random.default_rng(0).random(1_000_000)}}, {{"steps": 2}})
    except CheckpointError as err:
        print("CheckpointError:", err)
""")


def assert_only_step_1_restores(path):
    ckpt = Checkpointer(path)
    assert ckpt.all_steps() == [1]
    assert not [p.name for p in (path / "checkpoints").iterdir() if "tmp" in p.name]
    state, meta = ckpt.restore({"x": jax.ShapeDtypeStruct((10,), np.float64)})
    np.testing.assert_array_equal(state["x"], np.arange(10.0))
    assert meta == {"steps": 1}


def test_failed_write_names_reason_and_keeps_previous_checkpoint(tmp_path):
    script = FAIL_DURING_SAVE.format(root=str(ROOT), path=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    message = out.stdout.strip()
    start = f"CheckpointError: could not write checkpoint at step 2 to {tmp_path / 'checkpoints'}"
    assert message.startswith(start + ": File too large"), message
    assert message.endswith("; the previous checkpoint (step 1) is intact"), message
    assert_only_step_1_restores(tmp_path)


def test_unwritable_checkpoint_dir_names_reason_and_keeps_previous(tmp_path, monkeypatch):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(1, {"x": np.arange(10.0)}, {"steps": 1})
    ckpt_dir = tmp_path / "checkpoints"
    if os.geteuid() == 0:  # root ignores permissions: fail as a read-only mount does
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs):
            if "orbax-checkpoint-tmp" in str(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        reason = "Read-only file system"
    else:
        ckpt_dir.chmod(0o500)
        reason = "Permission denied"
    try:
        with pytest.raises(CheckpointError) as exc:
            ckpt.save(2, {"x": np.zeros(10)}, {"steps": 2})
    finally:
        monkeypatch.undo()
        ckpt_dir.chmod(0o700)
    message = str(exc.value)
    assert message.startswith(f"could not write checkpoint at step 2 to {ckpt_dir}: {reason}")
    assert message.endswith("the previous checkpoint (step 1) is intact")
    assert_only_step_1_restores(tmp_path)


def test_resume_errors_are_clear(resumed, tmp_path, capsys):
    _, run_dir, _ = resumed
    cases = [
        (["--resume", str(tmp_path / "missing")], "does not exist"),
        (["--resume", str(run_dir), "--hidden", "64"], "hidden"),
        (["--resume", str(run_dir), "--gamma", "0.9"], "gamma"),
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text((run_dir / "config.json").read_text())
    cases.append((["--resume", str(tmp_path / "empty")], "no checkpoint"))
    for args, message in cases:
        with pytest.raises((SystemExit, CheckpointError)) as exc:
            cartpole.main(args)
        text = str(exc.value) + capsys.readouterr().err
        assert message in text, (args, text)
    # Nothing was written over the good run.
    assert Checkpointer(run_dir).latest_step() == 2 * N


def test_corrupt_checkpoint_fails_loudly(resumed, tmp_path, capsys):
    import shutil

    _, run_dir, _ = resumed
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    step_dir = copy / "checkpoints" / str(2 * N) / "state"
    for path in step_dir.rglob("*"):
        if path.is_file() and path.stat().st_size > 1000:
            path.write_bytes(b"\\0" * 100)
    # The script prints the CheckpointError as one line and exits 1 (experiments/_cli.run).
    with pytest.raises(SystemExit) as exc:
        cartpole.main(["--resume", str(copy), "--total-frames", str(2 * N + 500)])
    assert exc.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and "cannot be restored" in err
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 2 * N  # nothing appended, nothing restarted


def test_nan_reward_stops_run_and_keeps_last_good_checkpoint(tmp_path):
    """Rewards turn NaN after 1,500 stored steps: the run stops at the end of the chunk where
    the loss first goes NaN (1,750) with the step and seeds, writes FAILED, and the checkpoint
    from before (1,000) stays the latest."""
    import jax.numpy as jnp

    from jaxdqn.replay import make_replay

    config, _, options = cartpole._cli.parse(
        "cartpole", "", COMMON + ["--total-frames", "6000", "--checkpoint-every", "1000",
                                  "--run-dir", str(tmp_path), "--run-name", "nan"],
        {"cartpole": cartpole_preset},
    )  # fmt: skip
    base = make_replay(config.replay.replay_capacity, config.env.envs_per_seed, (4,), jnp.float32)

    def add(state, obs_t, a_tm1, r_t, discount_t, first_t):
        r_t = jnp.where(state.count > 1_500, jnp.nan, r_t)
        return base.add(state, obs_t, a_tm1, r_t, discount_t, first_t)

    (tmp_path / "nan").mkdir()
    logger = RunLogger(tmp_path / "nan", progress=False)
    checkpointer = Checkpointer(tmp_path / "nan")
    with pytest.raises(FloatingPointError, match=r"agent step 1750 .*seed\(s\) \[0, 1\]"):
        train(make_plan(config, options), components={"replay": base._replace(add=add)},
              logger=logger, checkpointer=checkpointer)  # fmt: skip
    logger.finish()
    failed = (tmp_path / "nan" / "FAILED").read_text()
    assert "agent step 1750" in failed and "last good checkpoint: agent step 1000" in failed
    assert checkpointer.all_steps() == [1000]  # nothing saved after the fault


def test_resume_under_other_package_versions_warns(resumed, tmp_path, monkeypatch, capsys):
    import shutil

    import jaxdqn.rundir as rundir_module

    _, run_dir, _ = resumed
    copy = tmp_path / "r"
    shutil.copytree(run_dir, copy)
    recorded = json.loads((copy / "config.json").read_text())["versions"]
    now = {**recorded, "jax": "0.0.0-other"}
    monkeypatch.setattr(rundir_module, "versions", lambda: now)
    capsys.readouterr()
    cartpole.main(["--resume", str(copy), "--total-frames", str(2 * N + 500)])
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: resuming under different package versions" in out
    assert "0.0.0-other" in out and recorded["jax"] in out
