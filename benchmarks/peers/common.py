"""What every peer comparison shares: pinned sources, virtualenvs, pinned runs, steady rates.

A run is a process pinned to one core whose output lines are stamped on arrival with the wall
clock and the process's CPU time (`/proc/PID/stat`, all its threads); each peer turns its own
lines into agent-step counts, so every rate here is agent steps over the learning phase of one
process, whatever that process calls its own speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import NamedTuple

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class PinnedFile(NamedTuple):
    """One file of a peer's source at a fixed commit, checked by its sha256."""

    path: str  # inside the repository
    sha256: str


class Source(NamedTuple):
    """A peer's source files at one commit of a public repository."""

    repo: str  # owner/name
    commit: str
    files: tuple[PinnedFile, ...]

    def url(self, path: str) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{path}"


class Sample(NamedTuple):
    """Agent steps done by `wall` seconds (and `cpu` CPU seconds) after the process started."""

    wall: float
    cpu: float
    steps: int


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch_source(source: Source, dest: str, local: str | None = None) -> str:
    """Puts the pinned files under `dest` (from the checkout `local`, or downloaded) and checks
    every file's sha256; a file already there with the right hash is kept. Returns `dest`."""
    for pinned in source.files:
        target = os.path.join(dest, pinned.path)
        if os.path.exists(target) and sha256(target) == pinned.sha256:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if local:
            shutil.copyfile(os.path.join(local, pinned.path), target)
        else:
            urllib.request.urlretrieve(source.url(pinned.path), target)
        if sha256(target) != pinned.sha256:
            raise RuntimeError(f"{pinned.path}: sha256 {sha256(target)}, expected "
                               f"{pinned.sha256} ({source.repo}@{source.commit})")  # fmt: skip
    return dest


def make_venv(path: str, requirements: Sequence[str], no_deps: Sequence[str] = (),
              after: Callable[[str], None] | None = None) -> str:  # fmt: skip
    """A virtualenv at `path` with `requirements` installed, then `no_deps` without their
    dependencies, then `after(python)` (once: a marker file records what was asked).
    Returns its python."""
    python = os.path.join(path, "bin", "python")
    marker = os.path.join(path, "requirements.txt")
    wanted = "\n".join([*requirements, *(f"{r} --no-deps" for r in no_deps)]) + "\n"
    if os.path.exists(marker) and open(marker).read() == wanted:
        return python
    print(f"building {path}: {wanted.strip()}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", path], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *requirements], check=True)
    if no_deps:
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", *no_deps], check=True)
    if after:
        after(python)
    with open(marker, "w") as f:
        f.write(wanted)
    return python


def installed_versions(python: str, packages: Sequence[str]) -> dict[str, str]:
    """The versions `python`'s environment holds of `packages`."""
    code = ("import importlib.metadata as m, json, sys\n"
            "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))")  # fmt: skip
    out = subprocess.run([python, "-c", code, *packages], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return json.loads(out.stdout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads), or 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def run_pinned(command: Sequence[str], core: int, steps_of: Callable[[str], int | None],
               seconds: float, startup_limit: float, cwd: str, env: dict,
               log_path: str) -> list[Sample]:  # fmt: skip
    """Runs `command` on core `core` until `seconds` have passed since its first learning-phase
    line (`steps_of(line)` not None), or `startup_limit` without one; the output goes to
    `log_path`. Returns the stamped samples (empty if learning never started)."""
    proc = subprocess.Popen(["taskset", "-c", str(core), *command], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    start, samples = time.monotonic(), []
    reader = threading.Thread(target=_read, args=(proc, start, steps_of, samples, log_path))
    reader.start()
    try:
        while proc.poll() is None:
            now = time.monotonic() - start
            if (samples and now - samples[0].wall >= seconds) or (
                not samples and now >= startup_limit
            ):
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join()
    return samples


def _read(proc, start: float, steps_of: Callable, samples: list, log_path: str) -> None:
    with open(log_path, "w") as log:
        for line in proc.stdout:
            wall, cpu = time.monotonic() - start, cpu_seconds(proc.pid)
            log.write(f"{wall:10.3f} {cpu:10.3f} | {line}")
            steps = steps_of(line)
            if steps is not None:
                samples.append(Sample(wall, cpu, steps))


def interval_rates(samples: Sequence[Sample], skip: float, interval: float,
                   clock: str = "wall") -> list[float]:  # fmt: skip
    """Agent steps per second of `clock` (wall, or the process's cpu) over consecutive intervals
    of at least `interval` wall seconds, after the first `skip` wall seconds of the learning
    phase (the peer's first update compiles there). Both clocks share the intervals."""
    kept = [s for s in samples if samples and s.wall >= samples[0].wall + skip]
    rates, begin = [], kept[0] if kept else None
    for s in kept[1:]:
        if s.wall - begin.wall >= interval:
            dt = getattr(s, clock) - getattr(begin, clock)
            if dt > 0:
                rates.append((s.steps - begin.steps) / dt)
            begin = s
    return rates


def summary(rates: Sequence[float]) -> dict:
    """min / median / max of interval rates (NaN-free; None when there are none)."""
    if not rates:
        return {"min": None, "median": None, "max": None, "intervals": 0}
    return {"min": min(rates), "median": statistics.median(rates), "max": max(rates),
            "intervals": len(rates)}  # fmt: skip
