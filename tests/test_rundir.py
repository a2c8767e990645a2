"""Run directories: naming and creation, one process per run (lock), config.json, and clear
errors when the disk refuses writes."""

import dataclasses
import errno
import fcntl
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jaxdqn import rundir
from jaxdqn.checkpoint import load_run_config
from jaxdqn.config import config_from_dict
from jaxdqn.loop import run_experiment
from jaxdqn.options import options_from_record
from jaxdqn.plan import make_plan
from jaxdqn.presets import cartpole, preset_options
from jaxdqn.registry import component_registries
from jaxdqn.rundir import RunLockedError, lock_run_dir

ROOT = Path(__file__).resolve().parent.parent
# The module itself (the package re-exports a function named `train`).
train_module = importlib.import_module("jaxdqn.loop")
COMMITTED_RUNS = sorted(
    p.parent for p in [*ROOT.glob("results/**/config.json"), *ROOT.glob("docs/runs/*/config.json")]
)

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from jaxdqn.rundir import lock_run_dir
    lock = lock_run_dir({path!r})
    print("locked", flush=True)
    time.sleep(120)
""")


def cartpole_run(run_dir, name) -> tuple:
    """The cartpole preset's config and options, run in `run_dir/name` without the display."""
    options = preset_options("cartpole")
    return cartpole(), dataclasses.replace(options, run_dir=str(run_dir), run_name=name,
                                           progress=False)  # fmt: skip


# ----------------------------------------------------------------------------- the directory


def test_make_run_dir_creates_refuses_and_reopens(tmp_path):
    config, options = cartpole_run(tmp_path / "deep" / "er", "r")
    path = rundir.make_run_dir(config, options)
    assert path == tmp_path / "deep" / "er" / "r" and path.is_dir()
    assert rundir.make_run_dir(config, options) == path  # no metrics yet: reused
    (path / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(FileExistsError, match=re.escape(f"run directory {path} already holds")):
        rundir.make_run_dir(config, options)
    assert rundir.make_run_dir(config, options, resume=True) == path
    gone = cartpole_run(tmp_path, "gone")
    with pytest.raises(FileNotFoundError, match="cannot resume: run directory .*gone does not"):
        rundir.make_run_dir(*gone, resume=True)


def test_default_run_name():
    config = dataclasses.replace(cartpole(), env=dataclasses.replace(cartpole().env, seed=7))
    name = rundir.default_run_name(config)
    assert re.fullmatch(r"CartPole-v1-epsilon-s7-\d{8}-\d{6}", name), name


# ----------------------------------------------------------------------------- the lock


@pytest.mark.slow
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
            run_experiment(make_plan(*cartpole_run(tmp_path, "r")), resume=True)
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


def test_holder_on_another_host_is_named(tmp_path):
    lock_file = tmp_path / "LOCK"
    lock_file.write_text("4242 far-away-host\n")
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a process on a shared disk would
        with pytest.raises(RunLockedError, match=r"\(pid 4242 on host far-away-host, holding "):
            lock_run_dir(tmp_path)
        lock_file.write_text("")
        with pytest.raises(RunLockedError, match=r"\(pid unknown, holding "):
            lock_run_dir(tmp_path)
    finally:
        os.close(fd)
    with lock_run_dir(tmp_path):
        assert lock_file.read_text().split()[0] == str(os.getpid())


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

            monkeypatch.setattr(rundir, "_open_lock_file", read_only)
            expected = "Read-only file system"
        else:
            tmp_path.chmod(0o500)
            if resume:
                (tmp_path / "r").chmod(0o500)
    try:
        with pytest.raises(OSError) as exc:
            run_experiment(make_plan(*cartpole_run(run_dir, "r")), resume=resume)
    finally:
        tmp_path.chmod(0o700)
        if resume:
            (tmp_path / "r").chmod(0o700)
    message = str(exc.value)
    assert str(run_dir / "r") in message and expected in message, message
    assert not (run_dir / "r" / "config.json").exists()


def test_write_error_keeps_the_errno_and_names_the_file():
    err = rundir.write_error(OSError(errno.ENOSPC, "No space left on device"), "/x/y", "; hint")
    assert err.errno == errno.ENOSPC
    assert str(err) == "[Errno 28] cannot write /x/y: No space left on device; hint"


# ----------------------------------------------------------------------------- config.json


def test_config_json_round_trip(tmp_path):
    config = cartpole()
    path = rundir.write_config(tmp_path, config, versions_now={"jax": "1.2.3"})
    assert path == tmp_path / "config.json"
    record = json.loads(path.read_text())
    assert list(record) == ["config", "versions", "derived", "component_modules"]
    assert record["versions"] == {"jax": "1.2.3"}
    assert record["derived"] == {
        "frame_skip": 1,
        "total_steps": config.total_steps_rounded,
        "updates_per_iteration": config.updates_per_iteration,
        "env_steps_per_iteration": config.env_steps_per_iteration,
    }
    assert record["component_modules"] == {}  # every component is the library's own
    assert config_from_dict(record["config"]) == config
    assert rundir.read_config(tmp_path) == record
    assert load_run_config(tmp_path) == config
    assert rundir.import_components(tmp_path) == []
    rundir.write_config(tmp_path, config)  # the versions of this process by default
    assert json.loads(path.read_text())["versions"] == rundir.versions()


def test_versions_names_the_packages_of_a_run():
    versions = rundir.versions()
    assert list(versions)[:3] == ["python", "jax", "jaxlib"] and versions["python"].count(".") == 2
    assert set(versions) == {"python", "jax", "jaxlib", "flax", "optax", "chex", "numpy", "envpool"}


def test_read_config_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory .*nope does not exist"):
        rundir.read_config(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="config.json is missing: .* not a jaxdqn run"):
        rundir.read_config(tmp_path)
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=re.escape(f"{path}: malformed JSON")):
        rundir.read_config(tmp_path)
    for text in ("[1, 2]", '{"versions": {}}', '{"config": 3}'):
        path.write_text(text)
        with pytest.raises(ValueError, match="expected a JSON object with a 'config' entry"):
            rundir.read_config(tmp_path)


@pytest.fixture
def registries():
    """Names a test registers (by importing a fork) are dropped after it."""
    before = {field: set(r) for field, r in component_registries().items()}
    yield
    for field, registry in component_registries().items():
        for name in set(registry) - before[field]:
            del registry[name]


@pytest.mark.parametrize("run", COMMITTED_RUNS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_runs_still_load(run, registries):
    record = rundir.read_config(run)
    rundir.import_components(run)  # the forked components of those that have any
    config = load_run_config(run)
    assert dataclasses.asdict(config)["env"]["env_id"] == record["config"]["env"]["env_id"]
    options = options_from_record(record)
    # Runs written before config.json held "options" kept them in the config's sections.
    expected = record.get("options") or {
        "run_dir": record["config"]["train"].get("run_dir", "runs"),
        "env_backend": record["config"]["env"].get("env_backend", "auto"),
    }
    assert options.run_dir == expected["run_dir"]
    assert options.env_backend == expected["env_backend"]


def test_there_are_committed_runs():
    assert len(COMMITTED_RUNS) >= 9
