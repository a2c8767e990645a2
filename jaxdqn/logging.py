"""Run directories, metrics.jsonl, and the live console display between chunks."""

from __future__ import annotations

import dataclasses
import datetime
import errno
import fcntl
import json
import math
import os
import platform
import socket
import time
import warnings
from pathlib import Path

import numpy as np

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


def make_run_dir(config, resume: bool = False) -> Path:
    """Creates runs/<name>/; refuses to write over a run that already holds metrics (unless
    resuming it, when the directory must exist)."""
    name = config.train.run_name or default_run_name(config)
    path = Path(config.train.run_dir) / name
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
        who = f"pid {holder[0]}" if holder else "pid unknown"
        if len(holder) > 1 and holder[1] != socket.gethostname():
            who += f" on host {holder[1]}"
        raise RunLockedError(
            f"run directory {path} is in use by another process ({who}, holding {lock_path}); "
            "wait for it to finish or stop it, then --resume"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError as err:
        os.close(fd)
        raise OSError(err.errno, f"cannot write {lock_path}: {err.strerror}") from err
    return RunLock(lock_path, fd)


def write_error(err: OSError, path: str | os.PathLike, what: str = "") -> OSError:
    """The OSError to raise when writing `path` failed: keeps the errno (ENOSPC, EACCES, EROFS,
    …) and names the file and the errno's text."""
    reason = err.strerror or str(err)
    return OSError(err.errno, f"cannot write {path}: {reason}{what}")


def _clean(x):
    """JSON-safe floats: NaN/inf become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class RunLogger:
    """Writes config.json and metrics.jsonl in a run directory; shows progress on the console.

    One metrics record per chunk per seed, with cleanrl's metric names:
    `charts/episodic_return` (mean real game score of the games finished in the interval),
    `charts/episodic_return_last`, `charts/episodes`, `losses/td_loss`, `losses/q_values`,
    `charts/epsilon` or `charts/temperature`, `charts/SPS` (agent steps per second, all seeds).
    """

    def __init__(self, run_dir: str | os.PathLike, progress: bool = True):
        self.run_dir = Path(run_dir)
        self.progress_enabled = progress
        self._progress = None
        self._t0 = None
        self._metrics = None

    def start(
        self,
        config,
        total_frames: int,
        resume_steps: int = 0,
        resume_metrics_lines: int | None = None,
    ) -> None:
        """Writes config.json and opens metrics.jsonl; on resume, drops the records written
        after the checkpoint (they will be written again) so no step is duplicated."""
        record = {"config": dataclasses.asdict(config), "versions": versions()}
        record["derived"] = {
            "frame_skip": config.env.frame_skip,
            "total_steps": config.total_steps_rounded,
            "updates_per_iteration": config.updates_per_iteration,
            "env_steps_per_iteration": config.env_steps_per_iteration,
        }
        config_path = self.run_dir / CONFIG_FILE
        try:
            config_path.write_text(json.dumps(record, indent=2, default=str))
        except OSError as err:
            raise write_error(err, config_path) from err
        metrics_path = self.run_dir / METRICS_FILE
        self.metrics_lines = 0
        try:
            if resume_metrics_lines is not None and metrics_path.exists():
                with open(metrics_path) as f:
                    kept = [line for line in f if line.strip()][:resume_metrics_lines]
                metrics_path.write_text("".join(kept))
                self.metrics_lines = len(kept)
            self._metrics = open(metrics_path, "a")
        except OSError as err:
            raise write_error(err, metrics_path) from err
        self._t0 = time.time()
        self._total_frames = total_frames
        self._num_seeds = config.env.num_seeds
        self._interval = config.train.log_interval
        self._next_log = (resume_steps // self._interval + 1) * self._interval
        self._last_steps = resume_steps
        self._acc = None
        self._last_eval = None
        if self.progress_enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} frames"),
                TextColumn("{task.fields[sps]} SPS"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[scores]}"),
                refresh_per_second=2,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "warm-up",
                total=total_frames,
                sps="-",
                scores="score -",
                completed=resume_steps * config.env.frame_skip,
            )
        self.note(f"run directory: {self.run_dir}")

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            print(message, flush=True)

    def log_chunk(
        self,
        *,
        steps,
        frames,
        new_games,
        history,
        loss,
        mean_q,
        parameter,
        parameter_name,
        elapsed,
        phase,
    ):
        """Accumulates one chunk; writes a record per seed once `log_interval` steps passed
        (and at a phase change), and refreshes the console display."""
        S = len(new_games)
        acc = self._acc
        if acc is not None and acc["phase"] != phase:
            self._flush()
            acc = None
        if acc is None:
            acc = self._acc = {
                "phase": phase,
                "games": [[] for _ in range(S)],
                "loss": [],
                "mean_q": [],
                "elapsed": 0.0,
                "start_steps": self._last_steps,
            }
        for s in range(S):
            acc["games"][s].extend(new_games[s])
        if loss is not None:
            acc["loss"].append(loss)
            acc["mean_q"].append(mean_q)
        acc["elapsed"] += elapsed
        acc.update(steps=steps, frames=frames, parameter=parameter, name=parameter_name)
        acc["history"] = history
        chunk_steps = steps - self._last_steps
        self._last_steps = steps
        if steps >= self._next_log:
            self._flush()
            while self._next_log <= steps:
                self._next_log += self._interval
        if self._progress is not None:
            sps = chunk_steps * S / elapsed if elapsed > 0 else 0.0
            latest = []
            for s in range(S):
                recent = history.scores[s][-10:]
                latest.append(f"{np.mean(recent):.1f}" if recent else "-")
            self._progress.update(
                self._task,
                completed=min(frames, self._total_frames),
                description="warm-up" if phase == "warmup" else "learning",
                sps=f"{sps:,.0f}",
                scores="score " + " ".join(latest),
            )

    def log_eval(self, steps, frames, scores, human_normalized, elapsed) -> None:
        """One record per seed: `eval/score` (mean real game score of the evaluation games)."""
        self._flush()  # keep records in step order
        records = []
        for s in range(scores.shape[0]):
            record = {
                "seed": s,
                "step": int(steps),
                "frames": int(frames),
                "phase": "eval",
                "time": round(time.time() - self._t0, 3),
                "eval/score": _clean(np.mean(scores[s])),
                "eval/score_std": _clean(np.std(scores[s])),
                "eval/episodes": int(scores.shape[1]),
                "eval/human_normalized": (
                    _clean(np.mean(human_normalized[s])) if human_normalized is not None else None
                ),
                "eval/seconds": round(elapsed, 3),
            }
            records.append(record)
        self._write(records)
        means = " ".join(f"{np.mean(x):.1f}" for x in scores)
        self._last_eval = means
        self.note(f"eval at {frames:,} frames: mean score per seed {means}")

    def _flush(self) -> None:
        acc, self._acc = self._acc, None
        if acc is None:
            return
        S = len(acc["games"])
        steps_done = acc["steps"] - acc["start_steps"]
        sps = steps_done * S / acc["elapsed"] if acc["elapsed"] > 0 else None
        loss = np.mean(acc["loss"], axis=0) if acc["loss"] else None
        mean_q = np.mean(acc["mean_q"], axis=0) if acc["mean_q"] else None
        now = time.time() - self._t0
        records = []
        for s in range(S):
            games = acc["games"][s]
            all_scores = acc["history"].scores[s]
            record = {
                "seed": s,
                "step": int(acc["steps"]),
                "frames": int(acc["frames"]),
                "phase": acc["phase"],
                "time": round(now, 3),
                "charts/episodic_return": _clean(np.mean(games)) if games else None,
                "charts/episodic_return_last": _clean(all_scores[-1]) if all_scores else None,
                "charts/episodes": len(games),
                "charts/episodes_total": len(all_scores),
                f"charts/{acc['name']}": _clean(acc["parameter"][s]),
                "losses/td_loss": _clean(loss[s]) if loss is not None else None,
                "losses/q_values": _clean(mean_q[s]) if mean_q is not None else None,
                "charts/SPS": _clean(sps),
            }
            records.append(record)
        self._write(records)

    def _write(self, records: list[dict]) -> None:
        """Appends whole records; a failed write (disk full, permissions) raises an OSError
        naming metrics.jsonl, and nothing more is written."""
        if self._metrics is None:
            raise RuntimeError("RunLogger: metrics.jsonl is closed (start() first)")
        try:
            self._metrics.write("".join(json.dumps(r) + "\n" for r in records))
            self._metrics.flush()
        except OSError as err:
            self._close_quietly()
            raise write_error(
                err,
                self.run_dir / METRICS_FILE,
                "; --resume rewrites the records since the last checkpoint",
            ) from err
        self.metrics_lines += len(records)

    def _close_quietly(self) -> None:
        metrics, self._metrics = self._metrics, None
        try:
            metrics.close()  # retries the unwritten buffer, which may fail again
        except OSError:
            pass

    def flush(self) -> None:
        """Writes the records of the interval in progress now."""
        if self._metrics is not None:
            self._flush()

    def finish(self) -> None:
        if getattr(self, "_metrics", None) is not None:
            self._flush()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if getattr(self, "_metrics", None) is not None:
            self._metrics.close()
            self._metrics = None


_REQUIRED_KEYS = ("seed", "frames", "phase")


def read_records(path: str | os.PathLike) -> list[dict]:
    """Records of a metrics.jsonl file, checked; errors name the file and the line.

    Blank lines are skipped; malformed JSON, a line that is not a JSON object, a record
    without `seed`, `frames` and `phase`, or an empty file is a `ValueError`
    `"<file>:<line>: ..."`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metrics file")
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: malformed JSON ({err.msg})") from err
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {line.strip()!r}")
            missing = [k for k in _REQUIRED_KEYS if k not in record]
            if missing:
                raise ValueError(f"{path}:{number}: record lacks {', '.join(map(repr, missing))}")
            records.append(record)
    if not records:
        raise ValueError(f"{path}:1: empty metrics file (no records; has the run logged yet?)")
    return records


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All records of a run's metrics.jsonl (see `read_records`)."""
    return read_records(Path(run_dir) / METRICS_FILE)
