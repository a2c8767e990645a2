"""Start-up notes: what a newcomer needs to know in a run's first seconds and minutes."""

from __future__ import annotations

import jax

from jaxdqn.memory import available_memory_bytes


def start_notes(run, replay_bytes: int, rss_before: int, resumed: bool) -> list[str]:
    """How the run runs, the replay's memory, the budget's rounding, where a resume restarts,
    then `plan_notes`.

    Args:
      run: the host loop's `loop.Run`, before its first chunk.
      replay_bytes: the replay's bytes for this process's seeds.
      rss_before: this process's resident memory before the replay was allocated (0: unknown).
      resumed: whether the run continues from a checkpoint.
    """
    config, runtime, S = run.config, run.runtime, run.config.env.num_seeds
    notes = [runtime.describe()]
    available, where = available_memory_bytes()
    notes.append(
        f"replay: {replay_bytes / 2**30:.2f} GiB for {S} seed(s) × "
        f"{config.replay_capacity:,} transitions "
        f"({replay_bytes / S / config.replay_capacity:,.0f} B each, "
        f"{'frame-deduplicated' if run.trainer.replay.dedup_frames else 'plain'}); "
        f"{available / 2**30:.1f} GiB available in {where}"
        + (f" (process 0 of {jax.process_count()})" if jax.process_count() > 1 else "")
    )
    if runtime.num_devices > 1 or runtime.num_processes > 1:
        notes.append(f"seeds sharded: {run.run_config.env.num_seeds} seed(s) over "
                     f"{runtime.num_processes} process(es) × {runtime.num_devices} device(s) "
                     f"({runtime.platform}), env backend {runtime.env_backend}")  # fmt: skip
    if runtime.platform == "cpu" and rss_before:
        notes.append(
            f"expected process memory: {(rss_before + replay_bytes) / 2**30:.2f} GiB "
            f"({rss_before / 2**30:.2f} GiB in use before the replay)"
        )
    skip = config.env.frame_skip
    if run.total_steps != config.total_steps:
        notes.append(f"total_frames rounded up to whole iterations: {config.total_steps * skip}"
                     f" → {run.total_steps * skip} frames per seed")  # fmt: skip
    if resumed:
        how = "episodes go on (envs restored)" if run.episodes_continue else "episodes restart here"
        notes.append(f"resumed at {run.frames:,} frames; {how}")
    return notes + plan_notes(run)


def plan_notes(run) -> list[str]:
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
    eta = ", and the ETA shows `?` until its speed is measured" if run.options.progress else ""
    what = (f"a rollout of {config.env_steps_per_iteration} env steps, then "
            f"{config.agent.num_epochs} epoch(s) × {config.agent.num_minibatches} minibatches"
            if config.agent.pqn else f"{config.updates_per_iteration} update(s) every "
            f"{config.agent_steps_per_iteration} agent step(s)")  # fmt: skip
    notes.append(
        f"learning: frames {warm * skip:,} to {total * skip:,}, {what}; its first chunk "
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
