"""Host-loop trackers (dqn_zoo's `parts.py`): each owns its state and returns records.

A tracker is called after every chunk (`after_chunk(run, chunk)`) and once at the end
(`at_end(run)`); it reads the loop's `Run` and returns a list of records (`Note`, `ChunkRecord`,
`EvalRecord`, `Curves`, `Stop`, `Failed`), which one `Writer` logs. Trackers never write into
each other or into the `Run`: the loop alone changes it (a `Stop` record stops it). In a
multi-process run every process runs every tracker; those that need all seeds gather them (a
collective in every process), and process 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from jaxdqn import distributed
from jaxdqn.session import StopFlag


@dataclasses.dataclass(frozen=True)
class Note:
    """A console line."""

    text: str


@dataclasses.dataclass(frozen=True)
class ChunkRecord:
    """One chunk for metrics.jsonl and the console display (`RunLogger.log_chunk`'s fields)."""

    steps: int
    frames: int
    new_games: list  # per seed, every process's games finished in this chunk
    history: Any  # SeedHistory after this chunk
    loss: Any
    mean_q: Any
    parameter: Any
    parameter_name: str
    elapsed: float
    phase: str


@dataclasses.dataclass(frozen=True)
class EvalRecord:
    """Evaluation games of every seed (`RunLogger.log_eval`'s fields)."""

    steps: int
    frames: int
    scores: Any  # [S, games]
    human_normalized: Any
    elapsed: float


@dataclasses.dataclass(frozen=True)
class Curves:
    """Redraw the run's curves (at every checkpoint: a run always leaves a picture)."""


@dataclasses.dataclass(frozen=True)
class Stop:
    """Stop the run at this chunk boundary (the signal's name, or another process's)."""

    signal: str


@dataclasses.dataclass(frozen=True)
class Failed:
    """The run cannot go on: written to the run directory's FAILED file, then raised."""

    message: str


class Writer:
    """The one place records reach the run's log (`logger`: process 0's RunLogger, else None)."""

    def __init__(self, logger):
        self.logger = logger

    def write(self, records) -> None:
        for record in records or ():
            self._write(record)

    def _write(self, record) -> None:
        logger = self.logger
        if isinstance(record, Failed):
            if logger is not None:
                logger.flush()
                try:
                    (logger.run_dir / "FAILED").write_text(record.message + "\n")
                except OSError:
                    pass
            raise FloatingPointError(record.message)
        if logger is None or isinstance(record, Stop):
            return
        if isinstance(record, Note):
            logger.note(record.text)
        elif isinstance(record, ChunkRecord):
            logger.log_chunk(**vars(record))
        elif isinstance(record, EvalRecord):
            logger.log_eval(record.steps, record.frames, record.scores,
                            record.human_normalized, record.elapsed)  # fmt: skip
        elif isinstance(record, Curves):
            from jaxdqn.analysis import write_curves

            write_curves(logger.run_dir)  # never raises
        else:
            raise TypeError(f"a tracker returned {record!r}, which is not a record")

    def flush(self) -> int:
        """Writes the interval in progress; returns the metrics lines written so far."""
        if self.logger is None:
            return 0
        self.logger.flush()
        return self.logger.metrics_lines

    def close(self, stopped: str | None, frames: int) -> None:
        """Closes the log last, after the final evaluation and checkpoint."""
        if self.logger is None:
            return
        if stopped:
            self.logger.note(f"stopped by signal {stopped} at {frames:,} frames; "
                             f"resume with --resume {self.logger.run_dir}")  # fmt: skip
        self.logger.finish()


class Tracker:
    """A host-loop tracker: called after every chunk and once at the end; returns records."""

    def after_chunk(self, run, chunk) -> list:
        return []

    def at_end(self, run) -> list:
        return []


Part = Tracker  # the name of earlier releases


@dataclasses.dataclass
class SeedHistory:
    """Host-side record of finished games, per seed."""

    scores: list[list[float]]
    lengths: list[list[int]]

    @classmethod
    def empty(cls, num_seeds: int) -> SeedHistory:
        return cls([[] for _ in range(num_seeds)], [[] for _ in range(num_seeds)])


def collect_games(metrics: dict, history: SeedHistory) -> list[list[float]]:
    """Appends the games finished in a chunk, in time order; returns the new ones per seed."""
    score = np.asarray(metrics["score"])  # [..., S, E]
    length = np.asarray(metrics["length"])
    S = score.shape[-2]
    score = score.reshape(-1, S, score.shape[-1])
    length = length.reshape(-1, S, length.shape[-1])
    new = []
    for s in range(S):
        finished = ~np.isnan(score[:, s])
        history.scores[s].extend(score[:, s][finished].tolist())
        history.lengths[s].extend(length[:, s][finished].tolist())
        new.append(score[:, s][finished].tolist())
    return new


def gather_games(metrics: dict, history: SeedHistory, num_seeds: int) -> list[list[float]]:
    """`collect_games` over every process's seeds (a collective when there are several)."""
    if jax.process_count() == 1:
        return collect_games(metrics, history)
    mine = SeedHistory.empty(num_seeds)
    collect_games(metrics, mine)
    scores = distributed.gather_lists(mine.scores)
    lengths = distributed.gather_lists(mine.lengths)
    for s, (new_scores, new_lengths) in enumerate(zip(scores, lengths, strict=True)):
        history.scores[s].extend(new_scores)
        history.lengths[s].extend(int(n) for n in new_lengths)
    return scores


class Games(Tracker):
    """Finished games of every seed (it owns their history) and each chunk's metrics record."""

    def __init__(self, history: SeedHistory, parameter_name: str):
        self.history, self.parameter_name = history, parameter_name

    def after_chunk(self, run, chunk):
        m, S = chunk.metrics, run.config.env.num_seeds
        new_games = gather_games(m, self.history, S)
        parameter = distributed.gather(np.asarray(m["parameter"]).reshape(-1, S)[-1])
        loss = mean_q = None
        if "loss" in m:
            loss = distributed.gather(np.asarray(m["loss"]).mean(0))
            mean_q = distributed.gather(np.asarray(m["mean_q"]).mean(0))
        fields = (run.steps, run.frames, new_games, self.history, loss, mean_q, parameter)
        return [ChunkRecord(*fields, self.parameter_name, chunk.elapsed, chunk.phase)]


class PhaseNotes(Tracker):
    """Notes at the moments a newcomer waits through without them: each phase's first chunk
    (it includes compiling that phase's function) and the end of warm-up."""

    def __init__(self):
        self.seen = set()

    def after_chunk(self, run, chunk):
        notes = []
        name = "warm-up" if chunk.phase == "warmup" else "learning"
        if chunk.phase not in self.seen:
            self.seen.add(chunk.phase)
            notes.append(Note(f"{name}: compiled and ran its first chunk in {chunk.elapsed:.1f} s"))
        if chunk.phase == "warmup" and run.steps >= run.config.learning_starts_rounded:
            notes.append(Note(
                f"warm-up done at {run.frames:,} frames ({run.steps:,} transitions of random play "
                "per seed in the replay); learning starts: compiling its chunk"
            ))  # fmt: skip
        return notes


class NanGuard(Tracker):
    """Stops the run at this chunk boundary if a loss or Q-value went NaN/inf; the last good
    checkpoint stays as it is and a FAILED note says where and which seeds."""

    def __init__(self, checkpointer):
        self.checkpointer = checkpointer

    def after_chunk(self, run, chunk):
        if chunk.phase != "learn":
            return []
        loss = distributed.gather(np.asarray(chunk.metrics["loss"]), axis=1)
        mean_q = distributed.gather(np.asarray(chunk.metrics["mean_q"]), axis=1)
        bad_values = ~np.isfinite(loss) | ~np.isfinite(mean_q)  # [iterations, S]
        if not bad_values.any():
            return []
        seeds = sorted(set(np.nonzero(bad_values)[-1].tolist()))
        last = self.checkpointer.latest_step() if self.checkpointer is not None else None
        return [Failed(
            f"non-finite TD loss or Q-values in the chunk ending at agent step {run.steps} "
            f"({run.frames:,} frames), seed(s) {seeds}; last good checkpoint: "
            f"{'none' if last is None else f'agent step {last}'}"
        )]  # fmt: skip


def next_multiple(steps: int, every_frames: int, frame_skip: int) -> int | None:
    """The first multiple of `every_frames` (in agent steps) after `steps`; None if 0."""
    n = every_frames // frame_skip
    return (steps // n + 1) * n if n else None


class Evaluation(Tracker):
    """Evaluation games every `eval_every` frames and always at the end (unless stopped); it
    owns the evaluation key and the results."""

    def __init__(self, run, key):
        from jaxdqn.evaluate import make_evaluator

        self.key, self.results = key, []
        config, self.every = run.config, run.config.eval.eval_every
        self.evaluator = make_evaluator(config, run.trainer.agent.q_values,
                                        seed_offset=run.seed_offset,
                                        total_seeds=run.run_config.env.num_seeds,
                                        options=run.options)  # fmt: skip
        self.next = next_multiple(run.steps, self.every, config.env.frame_skip)

    def evaluate(self, run) -> list:
        from jaxdqn.evaluate import human_normalized

        self.key, key = jax.random.split(self.key)
        start = time.perf_counter()
        scores = distributed.gather(self.evaluator(run.state.agent.params, key))  # [S, games]
        self.results.append({"step": run.steps, "scores": scores})
        hns = human_normalized(run.config.env.env_id, scores)
        return [EvalRecord(run.steps, run.frames, scores, hns, time.perf_counter() - start)]

    def after_chunk(self, run, chunk):
        if self.next is not None and self.next <= run.steps < run.total_steps:
            records = self.evaluate(run)
            self.next = next_multiple(run.steps, self.every, run.config.env.frame_skip)
            return records
        return []

    def at_end(self, run):
        return [] if run.stopped else self.evaluate(run)


class StopSignals(Tracker):
    """Processes stop at the same chunk: a signal to any of them decides."""

    def __init__(self, stop: StopFlag | None):
        self.stop = stop

    def after_chunk(self, run, chunk):
        if distributed.any_process(bool(self.stop)):
            return [
                Stop((self.stop.signal if self.stop else None) or "a signal to another process")
            ]
        return []


class Checkpoints(Tracker):
    """Checkpoints every `checkpoint_every` frames, after `checkpoint_minutes` of wall-clock
    time, and at the end; each also redraws the run's curves. A checkpoint holds the loop's
    state and that of the trackers handed in (`games`' history, `evaluation`'s key)."""

    def __init__(self, run, checkpointer, writer: Writer, games: Games, evaluation: Evaluation,
                 meta: dict):  # fmt: skip
        self.checkpointer, self.writer, self.meta = checkpointer, writer, meta
        self.games, self.evaluation = games, evaluation
        self.every = run.options.checkpoint_every
        self.minutes = run.options.checkpoint_minutes
        self.next = next_multiple(run.steps, self.every, run.config.env.frame_skip)
        self.last_save = time.monotonic()

    def save(self, run) -> list:
        from jaxdqn.rundir import versions
        from jaxdqn.train import env_checkpoint

        if self.checkpointer is None or self.checkpointer.latest_step() == run.steps:
            return []
        history = self.games.history
        metrics_lines = self.writer.flush()  # checkpoint boundaries are metrics boundaries
        meta = {"steps": run.steps, "metrics_lines": metrics_lines,
                "history_scores": history.scores, "history_lengths": history.lengths,
                "config": dataclasses.asdict(run.run_config), "versions": versions(),
                **self.meta}  # fmt: skip
        tree = {"agent": run.state.agent, "replay": run.state.replay,
                "eval_key": self.evaluation.key}  # fmt: skip
        params = run.state.agent.params
        env = env_checkpoint(run.state) if run.trainer.env.saves_env_state else None
        if jax.process_count() > 1:  # one checkpoint of all seeds: each process its shards
            mesh = distributed.global_seed_mesh(run.runtime.num_devices)
            tree = distributed.to_global(tree, mesh, ("eval_key",))
            params = distributed.to_global({"params": params}, mesh)["params"]
        self.checkpointer.save(run.steps, tree, meta, params=params, env=env)
        self.last_save = time.monotonic()
        return [Note(f"checkpoint at {run.frames:,} frames: {self.checkpointer.directory}"),
                Curves()]  # fmt: skip

    def after_chunk(self, run, chunk):
        due = self.next is not None and run.steps >= self.next
        late = self.minutes > 0 and time.monotonic() - self.last_save >= 60 * self.minutes
        due |= distributed.any_process(late)
        if not (due and not run.stopped and run.steps < run.total_steps):
            return []
        records = self.save(run)
        if self.next is not None:
            self.next = next_multiple(run.steps, self.every, run.config.env.frame_skip)
        return records

    def at_end(self, run):
        return self.save(run)
