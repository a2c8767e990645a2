"""Run directories: one process per run (lock), and clear errors when the disk refuses writes."""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jaxdqn.config import cartpole
from jaxdqn.logging import RunLockedError, lock_run_dir
from jaxdqn.train import run_experiment

ROOT = Path(__file__).resolve().parent.parent

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
