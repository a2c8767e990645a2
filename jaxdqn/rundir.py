"""A run directory on disk: its name and creation, the one-process lock, and config.json.

runs/<name>/
  config.json     settings, package versions, derived sizes, the modules of forked parts,
                  and how the run was launched (its preset and flags as given)
  metrics.jsonl   one record per log interval per seed (`jaxdqn.metrics`)
  LOCK            flock of the process writing the run (pid and host of the latest holder)
  checkpoints/    orbax (`jaxdqn.checkpoint`)
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import fcntl
import json
import os
import platform
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
LOCK_FILE = "LOCK"


def versions() -> dict:
    """Versions of the packages that decide a run's numbers."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "flax", "optax", "chex", "numpy", "envpool"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def default_run_name(config) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    env = config.env.env_id.replace("/", "_")
    return f"{env}-{config.agent.policy}-s{config.env.seed}-{stamp}"


def make_run_dir(config, options=None, resume: bool = False) -> Path:
    """Creates <run_dir>/<run_name>/ of `options` (`jaxdqn.options.RunOptions`; default
    runs/<a name from the config>); refuses to write over a run that already holds metrics
    (unless resuming it, when the directory must exist)."""
    from jaxdqn.options import RunOptions

    options = options or RunOptions()
    name = options.run_name or default_run_name(config)
    path = Path(options.run_dir) / name
    if resume:
        if not path.is_dir():
            raise FileNotFoundError(f"cannot resume: run directory {path} does not exist")
        if not os.access(path, os.W_OK):
            raise PermissionError(f"cannot resume: run directory {path} is not writable")
        return path
    if (path / METRICS_FILE).exists():
        raise FileExistsError(
            f"run directory {path} already holds {METRICS_FILE}; pick another --run-name "
            "or remove it"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create run directory {path}: {err.strerror}") from err
    if not os.access(path, os.W_OK):
        raise PermissionError(f"run directory {path} is not writable")
    return path


def write_error(err: OSError, path: str | os.PathLike, what: str = "") -> OSError:
    """The OSError to raise when writing `path` failed: keeps the errno (ENOSPC, EACCES, EROFS,
    …) and names the file and the errno's text."""
    reason = err.strerror or str(err)
    return OSError(err.errno, f"cannot write {path}: {reason}{what}")


# ----------------------------------------------------------------------------- the lock


class RunLockedError(RuntimeError):
    """Another live process holds a run directory's lock."""


class RunLock:
    """This process's exclusive hold on a run directory (see `lock_run_dir`)."""

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _open_lock_file(lock_path: Path) -> int:
    return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)


def lock_run_dir(path: str | os.PathLike) -> RunLock:
    """Takes an exclusive advisory lock (`flock`) on `path/LOCK` for the life of this process.

    The kernel drops the lock when the process ends in any way, SIGKILL included, so a killed
    run can be resumed without cleaning up; the file stays (deleting a lock file races with a
    process opening it) and holds the pid and host of the latest holder. Creating it also
    proves the directory writable.

    Raises:
      RunLockedError: another live process holds the lock; names the directory and its pid.
      OSError: the lock file cannot be created or written (errno and path in the message).
    """
    path = Path(path)
    lock_path = path / LOCK_FILE
    try:
        fd = _open_lock_file(lock_path)
    except OSError as err:
        raise OSError(
            err.errno, f"run directory {path} is not writable: {lock_path}: {err.strerror}"
        ) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        os.close(fd)
        if err.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            # A filesystem without locks (ENOLCK, EOPNOTSUPP): run, but say so.
            warnings.warn(
                f"cannot lock {lock_path} ({err.strerror}); nothing stops a second process "
                "from writing this run at the same time",
                stacklevel=2,
            )
            return RunLock(lock_path, None)
        raise RunLockedError(
            f"run directory {path} is in use by another process ({_holder(holder)}, holding "
            f"{lock_path}); wait for it to finish or stop it, then --resume"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError as err:
        os.close(fd)
        raise OSError(err.errno, f"cannot write {lock_path}: {err.strerror}") from err
    return RunLock(lock_path, fd)


def _holder(words: list[str]) -> str:
    """`pid 123`, `pid 123 on host h` (another machine), or `pid unknown`, from a LOCK file."""
    who = f"pid {words[0]}" if words else "pid unknown"
    if len(words) > 1 and words[1] != socket.gethostname():
        who += f" on host {words[1]}"
    return who


# ----------------------------------------------------------------------------- config.json


# The command line knows the preset and flags; the host loop writes config.json deep inside the
# run. `launching` holds the record for exactly the span of one run, so a config.json written
# outside a command-line run (a test, a notebook) carries no stale launch record.
_launch: dict | None = None


@contextmanager
def launching(launch: dict | None) -> Iterator[None]:
    """While open, config.json records `launch` (`{"preset": ..., "flags": [...]}`, see
    `jaxdqn.cli`) as its "launch" entry."""
    global _launch
    before, _launch = _launch, launch
    try:
        yield
    finally:
        _launch = before


def config_record(config, versions_now: dict | None = None, runtime=None, options=None) -> dict:
    """What config.json holds: `config` (every setting of the experiment), `options` (how it
    was asked to run, `jaxdqn.options.RunOptions`), `versions` (of the packages),
    `derived` (sizes computed from the settings), `runtime` (how it ran, `jaxdqn.runtime`),
    `component_modules` (for each component registered outside jaxdqn, the module or script
    that registered it, see `jaxdqn.registry`) and, for a run started from the command line,
    `launch` (its preset and the flags as given). Files written before a key existed still
    load: readers take only `config` for granted (`jaxdqn.options.options_from_record` finds
    the options of a run written before `options` existed in its `config`)."""
    from jaxdqn.registry import component_modules

    return {
        "config": dataclasses.asdict(config),
        **({"options": dataclasses.asdict(options)} if options is not None else {}),
        "versions": versions() if versions_now is None else versions_now,
        "derived": {
            "frame_skip": config.env.frame_skip,
            "total_steps": config.total_steps_rounded,
            "updates_per_iteration": config.updates_per_iteration,
            "env_steps_per_iteration": config.env_steps_per_iteration,
        },
        "component_modules": component_modules(config),
        **({"runtime": dataclasses.asdict(runtime)} if runtime is not None else {}),
        **({"launch": _launch} if _launch is not None else {}),
    }


def write_config(
    run_dir: str | os.PathLike,
    config,
    versions_now: dict | None = None,
    runtime=None,
    options=None,
) -> Path:
    """Writes `run_dir/config.json` (see `config_record`); errors name the file."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        record = config_record(config, versions_now, runtime, options)
        path.write_text(json.dumps(record, indent=2, default=str))
    except OSError as err:
        raise write_error(err, path) from err
    return path


def read_config(run_dir: str | os.PathLike) -> dict:
    """The record of `run_dir/config.json` as written by `write_config`, not validated into a
    Config (`jaxdqn.checkpoint.load_run_config` does that).

    Raises:
      FileNotFoundError: no such directory, or no config.json in it.
      ValueError: the file is not a JSON object with a "config" entry (names the file).
    """
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {run_dir} is not a jaxdqn run directory")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed JSON ({err})") from err
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise ValueError(f"{path}: expected a JSON object with a 'config' entry")
    return record


def import_components(run_dir: str | os.PathLike) -> list[str]:
    """Imports the modules that registered the run's forked components (config.json's
    `component_modules`), so that the run's config can be rebuilt by name; a run written
    before that key existed imports nothing. Returns what was imported.

    Raises:
      jaxdqn.registry.ComponentModuleError: a module or script is gone or fails to import,
        or does not register the name (names the component, the module and the run).
    """
    from jaxdqn.registry import import_component_modules

    record = read_config(run_dir)
    return import_component_modules(
        record.get("component_modules") or {},
        record["config"].get("agent", {}),
        f"run {run_dir}",
    )
