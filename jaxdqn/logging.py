"""The run's log, as the host loop writes it: config.json, metrics.jsonl and the console.

`RunLogger` joins the small parts that own each concern — `jaxdqn.rundir` (`write_config`),
`jaxdqn.metrics` (`MetricsWriter`), `jaxdqn.progress` (`Progress`) and `jaxdqn.tracking` (the
TensorBoard / W&B mirrors of metrics.jsonl, fed each record the file gets) — behind the calls
the loop's parts make (start, note, log_chunk, log_eval, flush, finish). Process 0 alone has
one in a multi-process run, so only process 0 writes, tracking included.
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxdqn.metrics import MetricsWriter
from jaxdqn.progress import Progress, eval_note
from jaxdqn.rundir import write_config
from jaxdqn.tracking import Mirror, TrackingOptions, open_mirror, save_options


class RunLogger:
    """Writes config.json and metrics.jsonl in a run directory; shows progress on the console
    (see `jaxdqn.metrics` for the records); mirrors the records to the trackers of `tracking`
    (`jaxdqn.tracking`; none by default)."""

    def __init__(
        self,
        run_dir: str | os.PathLike,
        progress: bool = True,
        tracking: TrackingOptions | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.progress_enabled = progress
        self.progress = Progress(enabled=progress)
        self.metrics: MetricsWriter | None = None
        self.tracking = tracking
        self.mirror: Mirror | None = None

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
        options=None,
    ) -> None:
        """Writes config.json (the config, and the `options` it runs with) and opens
        metrics.jsonl; on resume, drops the records written after the checkpoint (they will be
        written again) so no step is duplicated."""
        write_config(self.run_dir, config, runtime=runtime, options=options)
        self.metrics = MetricsWriter(self.run_dir, config.train.log_interval, resume_steps,
                                     resume_metrics_lines, sink=self._track)  # fmt: skip
        self.progress.start(total_frames, resume_steps, resume_steps * config.env.frame_skip)
        self.note(f"run directory: {self.run_dir}")
        if self.tracking is not None:
            self.start_tracking(self.tracking)

    def start_tracking(self, options: TrackingOptions) -> None:
        """Records the options (a resume's defaults) and opens the trackers, which first get
        the records metrics.jsonl kept; a failure to record them only warns."""
        try:
            save_options(self.run_dir, options)
        except (OSError, ValueError) as err:  # tracking.json unwritable or unreadable
            self.note(f"warning: cannot record the tracking options in {self.run_dir}: {err}")
        if options.trackers:
            self.mirror = open_mirror(options, self.run_dir, say=self.note)

    def _track(self, records: list[dict]) -> None:
        if self.mirror is not None:
            self.mirror.send(records)

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
        if self.mirror is not None:
            self.mirror.flush()  # at checkpoints: the trackers' files hold what the file holds

    def finish(self) -> None:
        try:
            if self.metrics is not None:
                self.metrics.close()
        finally:
            mirror, self.mirror = self.mirror, None
            for tracker in mirror.close() if mirror is not None else ():
                self.note(tracker.where())
            self.progress.stop()
