"""The host loop: chunks of training, and between them trackers that each own their state.

    for each piece of warm-up, then each learning chunk (until the budget or a stop record):
        state, metrics = trainer.warmup / trainer.run          (jitted, the state donated)
        for tracker in trackers: writer.write(tracker.after_chunk(run, chunk))
    for tracker in trackers: writer.write(tracker.at_end(run))

The trackers (`jaxdqn.trackers`, dqn_zoo's `parts.py`): `Games` (finished games and the chunk's
metrics record), `PhaseNotes`, `NanGuard` (stops on a non-finite loss), `Evaluation`,
`StopSignals`, `Checkpoints` (every N frames, every M minutes, at the end). Each returns
records and one `Writer` logs them (metrics.jsonl and the console). A caller may add its own.
The session (run directory, lock, signals) is `jaxdqn.session`; memory checks `jaxdqn.memory`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import numpy as np

from jaxdqn import distributed
from jaxdqn.config import Config
from jaxdqn.memory import available_memory_bytes, check_memory, process_rss_bytes
from jaxdqn.notes import plan_notes, start_notes
from jaxdqn.options import RunOptions
from jaxdqn.plan import Plan
from jaxdqn.runtime import Runtime, chunk_lengths
from jaxdqn.session import StopFlag, catch_signals, open_run_dir
from jaxdqn.trackers import (
    Checkpoints,
    Evaluation,
    Games,
    NanGuard,
    Part,
    PhaseNotes,
    SeedHistory,
    Stop,
    StopSignals,
    Tracker,
    Writer,
)
from jaxdqn.train import Trainer, TrainState, make_train

__all__ = [
    "Chunk", "Part", "Run", "StopFlag", "Tracker", "available_memory_bytes", "check_memory",
    "mean_last", "plan_notes", "process_rss_bytes", "run_experiment", "run_loop", "start_notes",
    "train",
]  # fmt: skip


@dataclasses.dataclass
class Run:
    """The loop's state between chunks: the trackers read it, the loop alone changes it."""

    config: Config  # this process's seeds
    run_config: Config  # all seeds: what is logged, checkpointed and compared on resume
    runtime: Runtime
    trainer: Trainer
    state: TrainState
    steps: int  # agent steps per seed done
    components: dict
    seed_offset: int = 0
    stopped: str | None = None  # the signal that stopped the run
    episodes_continue: bool = False  # resumed with its envs restored (gymnax), not restarted
    options: RunOptions = dataclasses.field(default_factory=RunOptions)  # how the run runs

    @property
    def frames(self) -> int:
        return self.steps * self.config.env.frame_skip

    @property
    def total_steps(self) -> int:
        return self.config.total_steps_rounded


@dataclasses.dataclass(frozen=True)
class Chunk:
    metrics: dict  # the chunk's metrics, leaves [iterations, (env steps,) S, ...]
    phase: str  # "warmup" or "learn"
    elapsed: float  # seconds


def pieces(run: Run):
    """(phase, length) of every chunk still to run: warm-up in pieces of ≈5,000 agent steps
    so that progress shows (at most two compiled lengths), then the learning chunks."""
    config, E = run.config, run.config.env.envs_per_seed
    left = max(0, config.learning_starts_rounded - run.steps) // E
    piece = max(1, min(left, 5_000 // E))
    while left > 0:
        n = min(piece, left)
        yield "warmup", n, n * E
        left -= n
    done = max(run.steps, config.learning_starts_rounded) - config.learning_starts_rounded
    per = config.agent_steps_per_iteration
    for n in chunk_lengths(config, run.runtime, done // per):
        yield "learn", n, n * per


def write(run: Run, writer: Writer, records) -> None:
    """Logs a tracker's records; a `Stop` among them stops the run after this chunk."""
    writer.write(records)
    for record in records or ():
        if isinstance(record, Stop):
            run.stopped = record.signal


def run_loop(run: Run, trackers: list[Tracker], writer: Writer) -> None:
    """Chunks until the budget is spent or a tracker returns `Stop`; then every tracker's end,
    and the writer closes the log."""
    for phase, n, agent_steps in pieces(run):
        if run.stopped:
            break
        start = time.perf_counter()
        chunk_fn = run.trainer.warmup if phase == "warmup" else run.trainer.run
        run.state, metrics = chunk_fn(run.state, n)
        jax.block_until_ready(run.state.obs)
        run.steps += agent_steps
        chunk = Chunk(metrics, phase, time.perf_counter() - start)
        for tracker in trackers:
            write(run, writer, tracker.after_chunk(run, chunk))
    for tracker in trackers:
        write(run, writer, tracker.at_end(run))
    writer.close(run.stopped, run.frames)


def start(plan: Plan, components: dict, resume: bool, checkpointer, logger
          ) -> tuple[Run, SeedHistory, Any, int | None]:  # fmt: skip
    """The loop's first state, fresh or from the latest checkpoint; with the game history, the
    evaluation key and (on resume) the metrics lines written so far."""
    config, run_config, runtime = plan.local_config, plan.config, plan.runtime
    if resume:
        from jaxdqn.resume import restore

        r = restore(plan, checkpointer, logger, components)
        run = Run(config, run_config, runtime, r.trainer, r.state, r.steps, components,
                  plan.seed_offset, episodes_continue=r.episodes_continue,
                  options=plan.options)  # fmt: skip
        return run, r.history, r.eval_key, r.metrics_lines
    trainer = make_train(plan, **components)
    history = SeedHistory.empty(run_config.env.num_seeds)
    eval_key = jax.random.fold_in(jax.random.PRNGKey(run_config.env.seed), 0xE7A1)
    run = Run(config, run_config, runtime, trainer, trainer.init(), 0, components,
              plan.seed_offset, options=plan.options)  # fmt: skip
    return run, history, eval_key, None


def train(
    plan: Plan,
    *,
    components: dict | None = None,
    logger=None,
    checkpointer=None,
    resume: bool = False,
    stop: StopFlag | None = None,
    parts: tuple[Tracker, ...] = (),
) -> dict:
    """Trains `config.env.num_seeds` seeds; logs, evaluates and checkpoints between chunks.

    Args:
      plan: the run's settings (all seeds) as resolved on this machine, once
        (`jaxdqn.plan.make_plan`).
      components: replacements for make_train's parts (network, td_error, policy, …).
      logger: a RunLogger (None: silent).
      checkpointer: a checkpoint.Checkpointer (None: no checkpoints).
      resume: continue from the checkpointer's latest checkpoint; episodes restart there.
      stop: when it becomes true (SIGINT/SIGTERM), finish the chunk, checkpoint and return.
      parts: more trackers, called after the built-in reporting ones and before the
        evaluation, stop and checkpoint trackers.

    In a multi-process run (`jaxdqn.distributed`) every process calls this with the run's
    config: it trains its own slice of the seeds, and the per-seed logs, games, evaluations
    and checkpoints cover all seeds (process 0 passes the logger; the others pass None).

    Returns:
      dict with "scores" / "lengths" (per seed, every finished game in order), "evaluations",
      "state" (the final TrainState, this process's seeds), "steps" (agent steps per seed),
      "trainer", "stopped".
    """
    components = components or {}
    run_config, runtime = plan.config, plan.runtime
    config = plan.local_config  # this process's seeds
    replay_bytes = plan.replay_bytes
    rss_before = process_rss_bytes()
    if logger is not None:  # the next seconds (pools, networks, replay) would pass in silence
        logger.note(f"setting up: environments, networks and a {replay_bytes / 2**30:.2f} GiB "
                    f"replay{', restoring the checkpoint' if resume else ''}")  # fmt: skip
    run, history, eval_key, metrics_lines = start(plan, components, resume, checkpointer, logger)
    evaluation = Evaluation(run, eval_key)  # before the clock starts: its env pool takes seconds
    if logger is not None:
        logger.start(run_config, run.total_steps * config.env.frame_skip, resume_steps=run.steps,
                     resume_metrics_lines=metrics_lines, runtime=runtime,
                     options=plan.options)  # fmt: skip
        for line in start_notes(run, replay_bytes, rss_before, resume):
            logger.note(line)
        logger.progress.plan(config.learning_starts_rounded * config.env.frame_skip)
    writer, games = Writer(logger), Games(history, run.trainer.parts.policy.parameter_name)
    checkpoints = Checkpoints(run, checkpointer, writer, games, evaluation,
                              {"runtime": dataclasses.asdict(runtime)})  # fmt: skip
    run_loop(run, [games, PhaseNotes(), NanGuard(checkpointer), *parts, evaluation,
                   StopSignals(stop), checkpoints], writer)  # fmt: skip
    return {"evaluations": evaluation.results, "scores": history.scores,
            "lengths": history.lengths, "state": run.state, "steps": run.steps,
            "trainer": run.trainer, "stopped": run.stopped}  # fmt: skip


# ----------------------------------------------------------------------------- entry point


def run_experiment(
    plan: Plan,
    components: dict | None = None,
    resume: bool = False,
    tracking=None,
) -> dict:
    """The host edge: checks memory, makes (or reopens) the run directory, trains with live
    progress and checkpoints; SIGINT/SIGTERM finish the chunk, checkpoint and return. A
    second process on the same run directory is refused (`rundir.RunLockedError`).
    `tracking` (`jaxdqn.tracking.TrackingOptions`) mirrors the metrics to TensorBoard / W&B.

    In a multi-process run (`--distributed`, see `jaxdqn.distributed`) every process calls
    this: process 0 opens, locks and writes the run directory, the others follow it."""
    check_memory(plan)  # before the run directory exists
    with open_run_dir(plan.config, plan.options, resume) as run_dir:
        return _run_locked(plan, components, resume, run_dir, tracking)


def _run_locked(plan: Plan, components, resume: bool, run_dir, tracking=None) -> dict:
    from jaxdqn.checkpoint import Checkpointer
    from jaxdqn.logging import RunLogger

    options = plan.options
    checkpointer = Checkpointer(run_dir, keep=options.keep_checkpoints)
    main = distributed.is_main()  # process 0 alone writes logs, config and curves
    logger = RunLogger(run_dir, progress=options.progress, tracking=tracking) if main else None
    try:
        with catch_signals(StopFlag(), logger) as stop:
            out = train(plan, components=components, logger=logger,
                        checkpointer=checkpointer, resume=resume, stop=stop)  # fmt: skip
    finally:
        if logger is not None:
            logger.finish()
    out["run_dir"] = run_dir
    if not main:
        return out
    for s, scores in enumerate(out["scores"]):
        tail = mean_last(scores, 20)
        print(f"seed {s}: {len(scores)} games, mean score of the last 20: {tail:.1f}")
    print(f"metrics: {run_dir / 'metrics.jsonl'}")
    return out


def mean_last(scores: list[float], n: int) -> float:
    """Mean of the last n finished games (NaN if none)."""
    tail = scores[-n:]
    return float(np.mean(tail)) if tail else math.nan
