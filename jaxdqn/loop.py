"""The host loop: chunks of training, and between them small parts that each own their state.

    for each piece of warm-up, then each learning chunk (until the budget or a stop signal):
        state, metrics = trainer.warmup / trainer.run          (jitted, the state donated)
        for part in parts: part.after_chunk(run, chunk)
    for part in parts: part.at_end(run)

The parts, in order (dqn_zoo's trackers): `Games` (finished games per seed), `Report`
(metrics.jsonl and the console), `NanGuard` (stops on a non-finite loss), `Evaluation`,
`StopSignals`, `Checkpoints` (every N frames, every M minutes, at the end). A caller may add
its own parts. In a multi-process run every process runs the loop on its own seeds; the parts
that need all seeds gather them (a collective in every process), and process 0 alone writes.
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
from jaxdqn.replay import replay_nbytes
from jaxdqn.runtime import Runtime, chunk_lengths, resolve
from jaxdqn.train import Trainer, TrainState, env_checkpoint, make_train, observation_spec


@dataclasses.dataclass
class SeedHistory:
    """Host-side record of finished games, per seed."""

    scores: list[list[float]]
    lengths: list[list[int]]


@dataclasses.dataclass
class Run:
    """What the parts read and change between chunks."""

    config: Config  # this process's seeds
    run_config: Config  # all seeds: what is logged, checkpointed and compared on resume
    runtime: Runtime
    trainer: Trainer
    state: TrainState
    steps: int  # agent steps per seed done
    history: SeedHistory  # every seed's games
    eval_key: Any
    components: dict
    seed_offset: int = 0
    stopped: str | None = None  # the signal that stopped the run
    episodes_continue: bool = False  # resumed with its envs restored (gymnax), not restarted

    @property
    def frames(self) -> int:
        return self.steps * self.config.env.frame_skip

    @property
    def total_steps(self) -> int:
        return self.config.total_steps_rounded


@dataclasses.dataclass
class Chunk:
    metrics: dict  # the chunk's metrics, leaves [iterations, (env steps,) S, ...]
    phase: str  # "warmup" or "learn"
    elapsed: float  # seconds
    new_games: list[list[float]] | None = None  # set by Games: per seed, every process's


class Part:
    """A host-loop part: called after every chunk and once at the end."""

    def after_chunk(self, run: Run, chunk: Chunk) -> None:
        pass

    def at_end(self, run: Run) -> None:
        pass


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


class Games(Part):
    """Finished games of every seed into `run.history` (gathered over processes)."""

    def after_chunk(self, run, chunk):
        if jax.process_count() == 1:
            chunk.new_games = collect_games(chunk.metrics, run.history)
            return
        S = run.config.env.num_seeds
        mine = SeedHistory([[] for _ in range(S)], [[] for _ in range(S)])
        collect_games(chunk.metrics, mine)
        scores = distributed.gather_lists(mine.scores)
        lengths = distributed.gather_lists(mine.lengths)
        for s, (new_scores, new_lengths) in enumerate(zip(scores, lengths, strict=True)):
            run.history.scores[s].extend(new_scores)
            run.history.lengths[s].extend(int(n) for n in new_lengths)
        chunk.new_games = scores


class Report(Part):
    """metrics.jsonl records and the console display (`logger`: process 0's RunLogger)."""

    def __init__(self, logger, parameter_name: str):
        self.logger, self.parameter_name = logger, parameter_name

    def after_chunk(self, run, chunk):
        # Gathered in every process (a collective), logged by process 0.
        m, S = chunk.metrics, run.config.env.num_seeds
        parameter = distributed.gather(np.asarray(m["parameter"]).reshape(-1, S)[-1])
        loss = mean_q = None
        if "loss" in m:
            loss = distributed.gather(np.asarray(m["loss"]).mean(0))
            mean_q = distributed.gather(np.asarray(m["mean_q"]).mean(0))
        if self.logger is not None:
            self.logger.log_chunk(steps=run.steps, frames=run.frames, new_games=chunk.new_games,
                                  history=run.history, loss=loss, mean_q=mean_q,
                                  parameter=parameter, parameter_name=self.parameter_name,
                                  elapsed=chunk.elapsed, phase=chunk.phase)  # fmt: skip


class PhaseNotes(Part):
    """Notes at the moments a newcomer waits through without them: each phase's first chunk
    (it includes compiling that phase's function) and the end of warm-up."""

    def __init__(self, logger):
        self.logger, self.seen = logger, set()

    def after_chunk(self, run, chunk):
        if self.logger is None:
            return
        name = "warm-up" if chunk.phase == "warmup" else "learning"
        if chunk.phase not in self.seen:
            self.seen.add(chunk.phase)
            self.logger.note(f"{name}: compiled and ran its first chunk in {chunk.elapsed:.1f} s")
        if chunk.phase == "warmup" and run.steps >= run.config.learning_starts_rounded:
            self.logger.note(
                f"warm-up done at {run.frames:,} frames ({run.steps:,} transitions of random play "
                "per seed in the replay); learning starts: compiling its chunk"
            )


class Finish(Part):
    """Closes the run's log last, after the final evaluation and checkpoint."""

    def __init__(self, logger):
        self.logger = logger

    def at_end(self, run):
        if self.logger is None:
            return
        if run.stopped:
            self.logger.note(f"stopped by signal {run.stopped} at {run.frames:,} frames; "
                             f"resume with --resume {self.logger.run_dir}")  # fmt: skip
        self.logger.finish()


class NanGuard(Part):
    """Stops the run at this chunk boundary if a loss or Q-value went NaN/inf; the last good
    checkpoint stays as it is and a FAILED note says where and which seeds."""

    def __init__(self, logger, checkpointer):
        self.logger, self.checkpointer = logger, checkpointer

    def after_chunk(self, run, chunk):
        if chunk.phase != "learn":
            return
        loss = distributed.gather(np.asarray(chunk.metrics["loss"]), axis=1)
        mean_q = distributed.gather(np.asarray(chunk.metrics["mean_q"]), axis=1)
        bad_values = ~np.isfinite(loss) | ~np.isfinite(mean_q)  # [iterations, S]
        if not bad_values.any():
            return
        seeds = sorted(set(np.nonzero(bad_values)[-1].tolist()))
        last = self.checkpointer.latest_step() if self.checkpointer is not None else None
        message = (
            f"non-finite TD loss or Q-values in the chunk ending at agent step {run.steps} "
            f"({run.frames:,} frames), seed(s) {seeds}; last good checkpoint: "
            f"{'none' if last is None else f'agent step {last}'}"
        )
        if self.logger is not None:
            self.logger.flush()
            try:
                (self.logger.run_dir / "FAILED").write_text(message + "\n")
            except OSError:
                pass
        raise FloatingPointError(message)


def next_multiple(steps: int, every_frames: int, frame_skip: int) -> int | None:
    """The first multiple of `every_frames` (in agent steps) after `steps`; None if 0."""
    n = every_frames // frame_skip
    return (steps // n + 1) * n if n else None


class Evaluation(Part):
    """Evaluation games every `eval_every` frames and always at the end (unless stopped)."""

    def __init__(self, run: Run, logger):
        from jaxdqn.evaluate import make_evaluator

        self.logger, self.results = logger, []
        config, self.every = run.config, run.config.eval.eval_every
        self.evaluator = make_evaluator(config, run.trainer.agent.q_values,
                                        seed_offset=run.seed_offset,
                                        total_seeds=run.run_config.env.num_seeds)  # fmt: skip
        self.next = next_multiple(run.steps, self.every, config.env.frame_skip)

    def evaluate(self, run: Run) -> None:
        from jaxdqn.evaluate import human_normalized

        run.eval_key, key = jax.random.split(run.eval_key)
        start = time.perf_counter()
        scores = distributed.gather(self.evaluator(run.state.agent.params, key))  # [S, games]
        self.results.append({"step": run.steps, "scores": scores})
        if self.logger is not None:
            hns = human_normalized(run.config.env.env_id, scores)
            self.logger.log_eval(run.steps, run.frames, scores, hns, time.perf_counter() - start)

    def after_chunk(self, run, chunk):
        if self.next is not None and self.next <= run.steps < run.total_steps:
            self.evaluate(run)
            self.next = next_multiple(run.steps, self.every, run.config.env.frame_skip)

    def at_end(self, run):
        if not run.stopped:
            self.evaluate(run)


class StopFlag:
    """Set by SIGINT/SIGTERM; `StopSignals` checks it between chunks."""

    def __init__(self):
        self.signal = None

    def __bool__(self):
        return self.signal is not None


class StopSignals(Part):
    """Processes stop at the same chunk: a signal to any of them decides."""

    def __init__(self, stop: StopFlag | None):
        self.stop = stop

    def after_chunk(self, run, chunk):
        if distributed.any_process(bool(self.stop)):
            run.stopped = (self.stop.signal if self.stop else None) or "a signal to another process"


class Checkpoints(Part):
    """Checkpoints every `checkpoint_every` frames, after `checkpoint_minutes` of wall-clock
    time, and at the end; each also redraws the run's curves."""

    def __init__(self, run: Run, checkpointer, logger, meta: dict):
        self.checkpointer, self.logger, self.meta = checkpointer, logger, meta
        self.every = run.config.train.checkpoint_every
        self.minutes = run.config.train.checkpoint_minutes
        self.next = next_multiple(run.steps, self.every, run.config.env.frame_skip)
        self.last_save = time.monotonic()

    def save(self, run: Run) -> None:
        from jaxdqn.analysis import write_curves
        from jaxdqn.rundir import versions

        if self.checkpointer is None or self.checkpointer.latest_step() == run.steps:
            return
        if self.logger is not None:
            self.logger.flush()  # checkpoint boundaries are metrics boundaries
        meta = {"steps": run.steps,
                "metrics_lines": self.logger.metrics_lines if self.logger is not None else 0,
                "history_scores": run.history.scores, "history_lengths": run.history.lengths,
                "config": dataclasses.asdict(run.run_config), "versions": versions(),
                **self.meta}  # fmt: skip
        tree = {"agent": run.state.agent, "replay": run.state.replay, "eval_key": run.eval_key}
        params = run.state.agent.params
        env = env_checkpoint(run.state) if run.trainer.env.saves_env_state else None
        if jax.process_count() > 1:  # one checkpoint of all seeds: each process its shards
            mesh = distributed.global_seed_mesh(run.runtime.num_devices)
            tree = distributed.to_global(tree, mesh, ("eval_key",))
            params = distributed.to_global({"params": params}, mesh)["params"]
        self.checkpointer.save(run.steps, tree, meta, params=params, env=env)
        self.last_save = time.monotonic()
        if self.logger is not None:
            self.logger.note(f"checkpoint at {run.frames:,} frames: {self.checkpointer.directory}")
            write_curves(self.logger.run_dir)  # a run always leaves a picture; never raises

    def after_chunk(self, run, chunk):
        due = self.next is not None and run.steps >= self.next
        late = self.minutes > 0 and time.monotonic() - self.last_save >= 60 * self.minutes
        due |= distributed.any_process(late)
        if due and not run.stopped and run.steps < run.total_steps:
            self.save(run)
            if self.next is not None:
                self.next = next_multiple(run.steps, self.every, run.config.env.frame_skip)

    def at_end(self, run):
        self.save(run)


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


def run_loop(run: Run, parts: list[Part]) -> None:
    """Chunks until the budget is spent or a part sets `run.stopped`; then every part's end."""
    for phase, n, agent_steps in pieces(run):
        if run.stopped:
            break
        start = time.perf_counter()
        chunk_fn = run.trainer.warmup if phase == "warmup" else run.trainer.run
        run.state, metrics = chunk_fn(run.state, n)
        jax.block_until_ready(run.state.obs)
        run.steps += agent_steps
        chunk = Chunk(metrics, phase, time.perf_counter() - start)
        for part in parts:
            part.after_chunk(run, chunk)
    for part in parts:
        part.at_end(run)


# ----------------------------------------------------------------------------- train


def restore(config, run_config, runtime, checkpointer, logger, components) -> tuple[Run, Any]:
    """Builds the Run to continue from the checkpointer's latest checkpoint (episodes restart
    there, the envs with fresh seeds, unless the checkpoint holds them: gymnax), after checking
    it matches the run's settings."""
    from jaxdqn.checkpoint import CheckpointError, config_differences
    from jaxdqn.config import config_from_dict
    from jaxdqn.rundir import versions

    if checkpointer is None or checkpointer.latest_step() is None:
        where = checkpointer.directory if checkpointer else "(no checkpointer)"
        raise CheckpointError(f"cannot resume: no checkpoint in {where}")
    meta = checkpointer.restore_meta()
    differences = config_differences(config_from_dict(meta["config"]), run_config)
    if differences:
        raise CheckpointError(
            "checkpoint is incompatible with this run's settings: " + "; ".join(differences)
        )
    say = logger.note if logger is not None else print
    if meta.get("versions") != versions():
        say(f"warning: resuming under different package versions: checkpoint "
            f"{meta.get('versions')} vs now {versions()}")  # fmt: skip
    changed = runtime.differences(meta.get("runtime", {}))
    if changed:
        say(
            "resuming on another runtime (the same run; a changed unroll or seed loop compiles "
            "other code, which can move float rounding): " + "; ".join(changed)
        )
    steps = int(meta["steps"])
    trainer = make_train(config, runtime, env_epoch=steps, **components)
    abstract = trainer.abstract_checkpoint()
    multi_process = jax.process_count() > 1
    if multi_process:  # all seeds' arrays, each process reading its own
        mesh = distributed.global_seed_mesh(runtime.num_devices)
        abstract = distributed.global_abstract(abstract, run_config.env.num_seeds, mesh,
                                               ("eval_key",))  # fmt: skip
    restored, _ = checkpointer.restore(abstract)
    if multi_process:
        restored = distributed.to_local(restored, mesh, ("eval_key",))
    abstract_env = trainer.abstract_env()
    env_state = None  # a backend that saves its envs (gymnax) continues their episodes
    if abstract_env is not None and checkpointer.has_env():
        env_state = checkpointer.restore_env(abstract_env)
    state = trainer.init(agent_state=restored["agent"], replay_state=restored["replay"],
                         env_state=env_state)  # fmt: skip
    history = SeedHistory(meta["history_scores"], meta["history_lengths"])
    run = Run(config, run_config, runtime, trainer, state, steps, history, restored["eval_key"],
              components, episodes_continue=env_state is not None)  # fmt: skip
    return run, int(meta["metrics_lines"])


def start_notes(run: Run, logger, replay_bytes: int, rss_before: int, resumed: bool) -> None:
    """What a newcomer needs to know in the first seconds: how the run runs, the replay's
    memory, the budget's rounding, where a resume restarts."""
    config, S = run.config, run.config.env.num_seeds
    logger.note(run.runtime.describe())
    available, where = available_memory_bytes()
    logger.note(
        f"replay: {replay_bytes / 2**30:.2f} GiB for {S} seed(s) × "
        f"{config.replay.replay_capacity:,} transitions "
        f"({replay_bytes / S / config.replay.replay_capacity:,.0f} B each, "
        f"{'frame-deduplicated' if run.trainer.replay.dedup_frames else 'plain'}); "
        f"{available / 2**30:.1f} GiB available in {where}"
        + (f" (process 0 of {jax.process_count()})" if jax.process_count() > 1 else "")
    )
    runtime = run.runtime
    if runtime.num_devices > 1 or runtime.num_processes > 1:
        logger.note(f"seeds sharded: {run.run_config.env.num_seeds} seed(s) over "
                    f"{runtime.num_processes} process(es) × {runtime.num_devices} device(s) "
                    f"({runtime.platform}), env backend {runtime.env_backend}")  # fmt: skip
    if run.runtime.platform == "cpu" and rss_before:
        logger.note(
            f"expected process memory: {(rss_before + replay_bytes) / 2**30:.2f} GiB "
            f"({rss_before / 2**30:.2f} GiB in use before the replay)"
        )
    skip = config.env.frame_skip
    if run.total_steps != config.total_steps:
        logger.note(f"total_frames rounded up to whole iterations: {config.total_steps * skip}"
                    f" → {run.total_steps * skip} frames per seed")  # fmt: skip
    if resumed:
        how = "episodes go on (envs restored)" if run.episodes_continue else "episodes restart here"
        logger.note(f"resumed at {run.frames:,} frames; {how}")
    for line in plan_notes(run):
        logger.note(line)
    logger.progress.plan(config.learning_starts_rounded * skip)


def plan_notes(run: Run) -> list[str]:
    """What the run will do, phase by phase, and when the console's numbers appear: the first
    minutes of a run (compiling, random play, `score -`, `ETA ?`) otherwise look stuck."""
    config, skip = run.config, run.config.env.frame_skip
    warm, total = config.learning_starts_rounded, run.total_steps
    notes = []
    if run.steps < warm:
        notes.append(
            f"warm-up: {warm:,} agent steps ({warm * skip:,} frames) per seed of uniform random "
            "play fill the replay, no learning; its first chunk includes compiling it"
        )
    eta = ", and the ETA shows `?` until its speed is measured" if config.train.progress else ""
    notes.append(
        f"learning: frames {warm * skip:,} to {total * skip:,}, {config.updates_per_iteration} "
        f"update(s) every {config.agent_steps_per_iteration} agent step(s); its first chunk "
        f"includes compiling the update{eta}"
    )
    every = config.eval.eval_every
    evaluations = f"every {every:,} frames and at the end" if every else "at the end"
    notes.append(
        "score: per seed, the mean real game score of its last 10 finished games (`-` until its "
        f"first game ends; warm-up games are random play); evaluation {evaluations} "
        f"({config.eval.eval_episodes} games per seed)"
    )
    return notes


def train(
    config: Config,
    runtime: Runtime | None = None,
    *,
    components: dict | None = None,
    logger=None,
    checkpointer=None,
    resume: bool = False,
    stop: StopFlag | None = None,
    parts: tuple[Part, ...] = (),
) -> dict:
    """Trains `config.env.num_seeds` seeds; logs, evaluates and checkpoints between chunks.

    Args:
      config: the run's settings (all seeds).
      runtime: how to run them here (default: `runtime.resolve(config)`).
      components: replacements for make_train's parts (network, td_error, policy, …).
      logger: a RunLogger (None: silent).
      checkpointer: a checkpoint.Checkpointer (None: no checkpoints).
      resume: continue from the checkpointer's latest checkpoint; episodes restart there.
      stop: when it becomes true (SIGINT/SIGTERM), finish the chunk, checkpoint and return.
      parts: more host-loop parts, called after the built-in reporting parts and before the
        evaluation, stop and checkpoint parts.

    In a multi-process run (`jaxdqn.distributed`) every process calls this with the run's
    config: it trains its own slice of the seeds, and the per-seed logs, games, evaluations
    and checkpoints cover all seeds (process 0 passes the logger; the others pass None).

    Returns:
      dict with "scores" / "lengths" (per seed, every finished game in order), "evaluations",
      "state" (the final TrainState, this process's seeds), "steps" (agent steps per seed),
      "trainer", "stopped".
    """
    run_config, components = config, components or {}
    runtime = runtime or resolve(run_config)
    config = distributed.local_config(run_config)  # this process's seeds
    seed_offset, _ = distributed.seed_slice(run_config)
    obs_shape, obs_dtype, _ = observation_spec(config)
    replay_bytes = check_memory(config, obs_shape, obs_dtype)
    rss_before = process_rss_bytes()
    if logger is not None:  # the next seconds (pools, networks, replay) would pass in silence
        logger.note(f"setting up: environments, networks and a {replay_bytes / 2**30:.2f} GiB "
                    f"replay{', restoring the checkpoint' if resume else ''}")  # fmt: skip
    metrics_lines = None
    if resume:
        run, metrics_lines = restore(config, run_config, runtime, checkpointer, logger, components)
    else:
        trainer = make_train(config, runtime, **components)
        S_all = run_config.env.num_seeds
        history = SeedHistory([[] for _ in range(S_all)], [[] for _ in range(S_all)])
        eval_key = jax.random.fold_in(jax.random.PRNGKey(run_config.env.seed), 0xE7A1)
        run = Run(config, run_config, runtime, trainer, trainer.init(), 0, history, eval_key,
                  components)  # fmt: skip
    run.seed_offset = seed_offset
    evaluation = Evaluation(run, logger)  # before the clock starts: its env pool takes seconds
    if logger is not None:
        logger.start(run_config, run.total_steps * config.env.frame_skip, resume_steps=run.steps,
                     resume_metrics_lines=metrics_lines, runtime=runtime)  # fmt: skip
        start_notes(run, logger, replay_bytes, rss_before, resume)
    meta = {"runtime": dataclasses.asdict(runtime)}
    run_loop(run, [Games(), Report(logger, run.trainer.parts.policy.parameter_name),
                   PhaseNotes(logger), NanGuard(logger, checkpointer), *parts, evaluation,
                   StopSignals(stop), Checkpoints(run, checkpointer, logger, meta),
                   Finish(logger)])  # fmt: skip
    return {"evaluations": evaluation.results, "scores": run.history.scores,
            "lengths": run.history.lengths, "state": run.state, "steps": run.steps,
            "trainer": run.trainer, "stopped": run.stopped}  # fmt: skip


# ----------------------------------------------------------------------------- entry point


def run_experiment(
    config: Config,
    components: dict | None = None,
    resume: bool = False,
    runtime: Runtime | None = None,
    tracking=None,
) -> dict:
    """The host edge: checks memory, makes (or reopens) the run directory, trains with live
    progress and checkpoints; SIGINT/SIGTERM finish the chunk, checkpoint and return. A
    second process on the same run directory is refused (`rundir.RunLockedError`).
    `tracking` (`jaxdqn.tracking.TrackingOptions`) mirrors the metrics to TensorBoard / W&B.

    In a multi-process run (`--distributed`, see `jaxdqn.distributed`) every process calls
    this: process 0 opens, locks and writes the run directory, the others follow it."""
    import json

    from jaxdqn.rundir import lock_run_dir, make_run_dir

    distributed.initialize(config)
    runtime = runtime or resolve(config)
    local = distributed.local_config(config)
    obs_shape, obs_dtype, _ = observation_spec(local)
    check_memory(local, obs_shape, obs_dtype)  # before the run directory exists
    if jax.process_count() == 1:
        run_dir = make_run_dir(config, resume=resume)
        # One process per run directory; the OS drops the lock if this one dies (even SIGKILL).
        with lock_run_dir(run_dir):
            return _run_locked(config, runtime, components, resume, run_dir, tracking)

    from pathlib import Path

    lock, failure, opened = None, None, ["", ""]
    if distributed.is_main():
        try:
            run_dir = make_run_dir(config, resume=resume)
            lock = lock_run_dir(run_dir)
            opened[0] = str(run_dir)
        except Exception as err:  # every process must hear of it, or the others would wait
            failure, opened[1] = err, f"{type(err).__name__}: {err}"
    run_dir, error = json.loads(distributed.broadcast_text(json.dumps(opened)))
    if failure is not None:
        raise failure
    if error:
        raise distributed.OtherProcessError(f"process 0 could not open the run directory: {error}")
    try:
        return _run_locked(config, runtime, components, resume, Path(run_dir), tracking)
    finally:
        if lock is not None:
            lock.release()


def _run_locked(config: Config, runtime, components, resume: bool, run_dir, tracking=None) -> dict:
    import signal

    from jaxdqn.checkpoint import Checkpointer
    from jaxdqn.logging import RunLogger

    checkpointer = Checkpointer(run_dir, keep=config.train.keep_checkpoints)
    main = distributed.is_main()  # process 0 alone writes logs, config and curves
    logger = RunLogger(run_dir, progress=config.train.progress, tracking=tracking) if main else None
    stop = StopFlag()

    def on_signal(signum, frame):
        del frame
        if stop:  # a second signal: stop now
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name
        message = f"{stop.signal}: finishing this chunk, then saving a checkpoint"
        logger.note(message) if logger is not None else print(message, flush=True)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        out = train(config, runtime, components=components, logger=logger,
                    checkpointer=checkpointer, resume=resume, stop=stop)  # fmt: skip
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
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


# ----------------------------------------------------------------------------- memory


def available_memory_bytes() -> tuple[int, str]:
    """Free memory where the replay will live: device memory on an accelerator, else host."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), str(device)
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "host memory (MemAvailable)"
    return 2**63 - 1, "unknown"


def process_rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process (default: this one; Linux), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def check_memory(config: Config, obs_shape, obs_dtype, headroom: float = 0.85) -> int:
    """Raises before anything is allocated if the replay of all seeds cannot fit."""
    e, r = config.env, config.replay
    per_seed = replay_nbytes(
        r.replay_capacity, e.envs_per_seed, obs_shape, obs_dtype, r.dedup_frames
    )
    needed = per_seed * e.num_seeds
    available, where = available_memory_bytes()
    budget = int(available * headroom)
    if needed > budget:
        per_transition = per_seed / max(r.replay_capacity, 1)
        fits = int(budget / e.num_seeds / per_transition) // e.envs_per_seed * e.envs_per_seed
        raise ValueError(
            f"replay_capacity={r.replay_capacity} does not fit: {e.num_seeds} seed(s) × "
            f"{per_seed / 2**30:.2f} GiB = {needed / 2**30:.2f} GiB of replay, but {where} has "
            f"{available / 2**30:.2f} GiB available (using at most {headroom:.0%}). "
            f"The largest capacity that fits is about --replay-capacity {max(fits, 0)}."
        )
    return needed


def mean_last(scores: list[float], n: int) -> float:
    """Mean of the last n finished games (NaN if none)."""
    tail = scores[-n:]
    return float(np.mean(tail)) if tail else math.nan
