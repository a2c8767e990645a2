"""Run directories: one process per run (lock), and clear errors when the disk refuses writes."""

import dataclasses
import errno
import importlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxdqn.logging import RunLockedError, RunLogger, lock_run_dir
from jaxdqn.loop import run_experiment
from jaxdqn.presets import cartpole

ROOT = Path(__file__).resolve().parent.parent
# The modules themselves (the package re-exports a function named `train`).
logging_module = importlib.import_module("jaxdqn.logging")
train_module = importlib.import_module("jaxdqn.train")

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from jaxdqn.logging import lock_run_dir
    lock = lock_run_dir({path!r})
    print("locked", flush=True)
    time.sleep(120)
""")


def cartpole_config(run_dir, name):
    config = cartpole()
    train = dataclasses.replace(config.train, run_dir=str(run_dir), run_name=name, progress=False)
    return dataclasses.replace(config, train=train)


def test_second_process_is_refused_until_the_holder_dies(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    script = HOLD_LOCK.format(root=str(ROOT), path=str(run))
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = f"run directory {run} is in use by another process (pid {holder.pid}"
        with pytest.raises(RunLockedError, match=re.escape(message)):
            lock_run_dir(run)
        # run_experiment takes the lock before any training: a --resume is refused.
        with pytest.raises(RunLockedError, match=re.escape(message)):
            run_experiment(cartpole_config(tmp_path, "r"), resume=True)
        assert sorted(p.name for p in run.iterdir()) == ["LOCK"]  # nothing was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # A killed holder leaves its LOCK file, but not its lock: the run can be resumed.
    with lock_run_dir(run) as lock:
        assert lock.path.read_text().split()[0] == str(os.getpid())
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            lock_run_dir(run)  # also within one process
    lock_run_dir(run).release()  # released at the end of the `with`


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_full_disk_while_logging_names_metrics_file(tmp_path):
    (tmp_path / "metrics.jsonl").symlink_to("/dev/full")  # every write fails: ENOSPC, root too
    logger = RunLogger(tmp_path, progress=False)
    logger.start(cartpole(), total_frames=1_000)
    with pytest.raises(OSError) as exc:
        logger.log_eval(500, 500, np.ones((1, 2)), None, elapsed=0.1)
    assert exc.value.errno == errno.ENOSPC
    path = tmp_path / "metrics.jsonl"
    assert str(exc.value).startswith(f"[Errno 28] cannot write {path}: No space left on device")
    logger.finish()  # no second error on the way out


@pytest.mark.parametrize("case", ["no parent", "read-only", "read-only resume"])
def test_unwritable_run_dir_fails_before_training(case, tmp_path, monkeypatch):
    def train(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_module, "train", train)
    resume = case.endswith("resume")
    if case == "no parent":
        run_dir, expected = Path("/proc/jaxdqn-test"), "No such file or directory"
    else:
        run_dir, expected = tmp_path, "not writable"
        if resume:
            (tmp_path / "r").mkdir()
        if os.geteuid() == 0:  # root ignores permissions: fail as a read-only mount does

            def read_only(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

            monkeypatch.setattr(logging_module, "_open_lock_file", read_only)
            expected = "Read-only file system"
        else:
            tmp_path.chmod(0o500)
            if resume:
                (tmp_path / "r").chmod(0o500)
    try:
        with pytest.raises(OSError) as exc:
            run_experiment(cartpole_config(run_dir, "r"), resume=resume)
    finally:
        tmp_path.chmod(0o700)
        if resume:
            (tmp_path / "r").chmod(0o700)
    message = str(exc.value)
    assert str(run_dir / "r") in message and expected in message, message
    assert not (run_dir / "r" / "config.json").exists()
