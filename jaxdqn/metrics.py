"""metrics.jsonl: one JSON record per log interval per seed, and one per evaluation per seed.

Training records use cleanrl's metric names: `charts/episodic_return` (mean real game score of
the games finished in the interval), `charts/episodic_return_last`, `charts/episodes`,
`charts/episodes_total`, `losses/td_loss`, `losses/q_values`, `charts/epsilon` or
`charts/temperature`, `charts/SPS` (agent steps per second, all seeds). Evaluation records
(`phase` "eval") hold `eval/score`, `eval/score_std`, `eval/episodes`, `eval/human_normalized`
and `eval/seconds`. Every record has `seed`, `step` (agent steps per seed), `frames`, `phase`
and `time` (seconds since the writer opened the file); NaN and inf are written as null.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jaxdqn.rundir import METRICS_FILE, write_error


def clean(x) -> float | None:
    """JSON-safe floats: NaN/inf become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclasses.dataclass
class Interval:
    """The chunks of one log interval (or the part of it in one phase), summed until its
    records are written."""

    phase: str
    start_steps: int  # agent steps when the interval began
    games: list[list[float]]  # per seed, the scores of the games finished in the interval
    loss: list = dataclasses.field(default_factory=list)  # per chunk, [seeds]
    mean_q: list = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    steps: int = 0
    frames: int = 0
    parameter: Any = None  # [seeds], ε or τ at the end of the interval
    parameter_name: str = "epsilon"
    scores: list[list[float]] | None = None  # per seed, every game finished so far


def interval_records(interval: Interval, time_s: float) -> list[dict]:
    """The records of a log interval, one per seed."""
    S = len(interval.games)
    steps_done = interval.steps - interval.start_steps
    sps = steps_done * S / interval.elapsed if interval.elapsed > 0 else None
    loss = np.mean(interval.loss, axis=0) if interval.loss else None
    mean_q = np.mean(interval.mean_q, axis=0) if interval.mean_q else None
    records = []
    for s in range(S):
        games, all_scores = interval.games[s], interval.scores[s]
        record = {
            "seed": s,
            "step": int(interval.steps),
            "frames": int(interval.frames),
            "phase": interval.phase,
            "time": round(time_s, 3),
            "charts/episodic_return": clean(np.mean(games)) if games else None,
            "charts/episodic_return_last": clean(all_scores[-1]) if all_scores else None,
            "charts/episodes": len(games),
            "charts/episodes_total": len(all_scores),
            f"charts/{interval.parameter_name}": clean(interval.parameter[s]),
            "losses/td_loss": clean(loss[s]) if loss is not None else None,
            "losses/q_values": clean(mean_q[s]) if mean_q is not None else None,
            "charts/SPS": clean(sps),
        }
        records.append(record)
    return records


def eval_records(steps, frames, scores, human_normalized, elapsed, time_s: float) -> list[dict]:
    """The records of an evaluation, one per seed: `scores` [seeds, games] of real game
    scores, `human_normalized` the same shape or None."""
    records = []
    for s in range(scores.shape[0]):
        hns = clean(np.mean(human_normalized[s])) if human_normalized is not None else None
        record = {
            "seed": s,
            "step": int(steps),
            "frames": int(frames),
            "phase": "eval",
            "time": round(time_s, 3),
            "eval/score": clean(np.mean(scores[s])),
            "eval/score_std": clean(np.std(scores[s])),
            "eval/episodes": int(scores.shape[1]),
            "eval/human_normalized": hns,
            "eval/seconds": round(elapsed, 3),
        }
        records.append(record)
    return records


def keep_records(path: str | os.PathLike, lines: int) -> int:
    """Keeps the first `lines` records of a metrics file (blank lines dropped) and returns how
    many it holds now: a resumed run writes again the records after its checkpoint."""
    path = Path(path)
    with open(path) as f:
        kept = [line for line in f if line.strip()][:lines]
    path.write_text("".join(kept))
    return len(kept)


class MetricsWriter:
    """Appends whole records to `run_dir/metrics.jsonl`: training chunks are summed over
    `log_interval` agent steps (and cut at a phase change), evaluations written at once.

    Args:
      run_dir: the run directory.
      log_interval: agent steps per training record.
      resume_steps: agent steps already done (a resumed run), where the intervals count from.
      keep_lines: on resume, the records the checkpoint counted; later ones are dropped so no
        step is written twice (None: append to the file as it is).
      sink: called with the records of each write once they are in the file (the run's
        trackers, `jaxdqn.tracking`); it must not raise.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        log_interval: int,
        resume_steps: int = 0,
        keep_lines: int | None = None,
        sink: Callable[[list[dict]], None] | None = None,
    ):
        self.path = Path(run_dir) / METRICS_FILE
        self._sink = sink
        self.lines = 0  # records in the file, the ones kept on resume included
        try:
            if keep_lines is not None and self.path.exists():
                self.lines = keep_records(self.path, keep_lines)
            self._file = open(self.path, "a")
        except OSError as err:
            raise write_error(err, self.path) from err
        self._t0 = time.time()
        self._interval = log_interval
        self._next_log = (resume_steps // log_interval + 1) * log_interval
        self._last_steps = resume_steps
        self._acc: Interval | None = None

    def log_chunk(
        self,
        *,
        steps: int,
        frames: int,
        new_games: list[list[float]],
        scores: list[list[float]],
        loss,
        mean_q,
        parameter,
        parameter_name: str,
        elapsed: float,
        phase: str,
    ) -> None:
        """Adds one chunk: `new_games` the scores of the games it finished, per seed; `scores`
        every game finished so far, per seed; `loss` and `mean_q` [seeds] or None (no
        update); `parameter` [seeds], ε or τ. Writes the interval's records once
        `log_interval` steps have passed since the last ones, or first if the phase changed."""
        if self._acc is not None and self._acc.phase != phase:
            self._flush()
        if self._acc is None:
            games = [[] for _ in new_games]
            self._acc = Interval(phase=phase, start_steps=self._last_steps, games=games)
        acc = self._acc
        for s, games in enumerate(new_games):
            acc.games[s].extend(games)
        if loss is not None:
            acc.loss.append(loss)
            acc.mean_q.append(mean_q)
        acc.elapsed += elapsed
        acc.steps, acc.frames, acc.scores = steps, frames, scores
        acc.parameter, acc.parameter_name = parameter, parameter_name
        self._last_steps = steps
        if steps >= self._next_log:
            self._flush()
            while self._next_log <= steps:
                self._next_log += self._interval

    def log_eval(self, steps, frames, scores, human_normalized, elapsed: float) -> None:
        """Writes an evaluation's records (see `eval_records`), after those of the interval
        in progress, so that records stay in step order."""
        self._flush()
        self._write(eval_records(steps, frames, scores, human_normalized, elapsed, self._now()))

    def flush(self) -> None:
        """Writes the records of the interval in progress now (nothing once the file is
        closed, after a failed write)."""
        if self._file is not None:
            self._flush()

    def close(self) -> None:
        """Writes the interval in progress and closes the file; again is a no-op."""
        try:
            self.flush()
        finally:
            file, self._file = self._file, None
            if file is not None:
                file.close()

    def _flush(self) -> None:
        acc, self._acc = self._acc, None
        if acc is not None:
            self._write(interval_records(acc, self._now()))

    def _now(self) -> float:
        return time.time() - self._t0

    def _write(self, records: list[dict]) -> None:
        """Appends whole records; a failed write (disk full, permissions) raises an OSError
        naming metrics.jsonl, and nothing more is written."""
        if self._file is None:
            raise RuntimeError(f"{self.path} is closed: nothing more is written to it")
        try:
            self._file.write("".join(json.dumps(r) + "\n" for r in records))
            self._file.flush()
        except OSError as err:
            self._close_quietly()
            raise write_error(
                err, self.path, "; --resume rewrites the records since the last checkpoint"
            ) from err
        self.lines += len(records)
        if self._sink is not None:
            self._sink(records)

    def _close_quietly(self) -> None:
        file, self._file = self._file, None
        try:
            file.close()  # retries the unwritten buffer, which may fail again
        except OSError:
            pass


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
