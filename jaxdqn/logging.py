"""The run's log, as the host loop writes it: config.json, metrics.jsonl and the console.

`RunLogger` joins the three small parts that own each concern — `jaxdqn.rundir`
(`write_config`), `jaxdqn.metrics` (`MetricsWriter`) and `jaxdqn.progress` (`Progress`) — behind
the calls the loop's parts make (start, note, log_chunk, log_eval, flush, finish). Process 0
alone has one in a multi-process run.
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxdqn.metrics import MetricsWriter
from jaxdqn.progress import Progress, eval_note
from jaxdqn.rundir import write_config


class RunLogger:
    """Writes config.json and metrics.jsonl in a run directory; shows progress on the console
    (see `jaxdqn.metrics` for the records)."""

    def __init__(self, run_dir: str | os.PathLike, progress: bool = True):
        self.run_dir = Path(run_dir)
        self.progress_enabled = progress
        self.progress = Progress(enabled=progress)
        self.metrics: MetricsWriter | None = None

    @property
    def metrics_lines(self) -> int:
        """Records in metrics.jsonl (those kept on resume included)."""
        return self.metrics.lines if self.metrics is not None else 0

    def start(
        self,
        config,
        total_frames: int,
        resume_steps: int = 0,
        resume_metrics_lines: int | None = None,
        runtime=None,
    ) -> None:
        """Writes config.json and opens metrics.jsonl; on resume, drops the records written
        after the checkpoint (they will be written again) so no step is duplicated."""
        write_config(self.run_dir, config, runtime=runtime)
        self.metrics = MetricsWriter(
            self.run_dir, config.train.log_interval, resume_steps, resume_metrics_lines
        )
        self.progress.start(total_frames, resume_steps, resume_steps * config.env.frame_skip)
        self.note(f"run directory: {self.run_dir}")

    def note(self, message: str) -> None:
        self.progress.note(message)

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
    ) -> None:
        """Adds one chunk to the metrics (a record per seed once `log_interval` steps passed,
        and at a phase change) and refreshes the console display."""
        self.metrics.log_chunk(steps=steps, frames=frames, new_games=new_games,
                               scores=history.scores, loss=loss, mean_q=mean_q,
                               parameter=parameter, parameter_name=parameter_name,
                               elapsed=elapsed, phase=phase)  # fmt: skip
        self.progress.update(
            steps=steps, frames=frames, elapsed=elapsed, phase=phase, scores=history.scores
        )

    def log_eval(self, steps, frames, scores, human_normalized, elapsed) -> None:
        """One record per seed: `eval/score` (mean real game score of the evaluation games)."""
        self.metrics.log_eval(steps, frames, scores, human_normalized, elapsed)
        self.note(eval_note(frames, scores))

    def flush(self) -> None:
        """Writes the records of the interval in progress now."""
        if self.metrics is not None:
            self.metrics.flush()

    def finish(self) -> None:
        try:
            if self.metrics is not None:
                self.metrics.close()
        finally:
            self.progress.stop()
