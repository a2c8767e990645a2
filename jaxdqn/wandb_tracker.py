"""The W&B tracker: one W&B run per seed, continued (never rewritten) across resumes.

See `jaxdqn.tracking` for how a tracker is fed; the runs' ids and the last record each seed sent
are kept in tracking.json (`jaxdqn.tracking_state`).
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

from jaxdqn.tracking_state import (
    TrackingOptions,
    num_seeds,
    read_state,
    record_key,
    scalars,
    write_state,
)

WANDB_DEFAULT_URL = "https://api.wandb.ai"  # W&B's own service, without WANDB_BASE_URL


def wandb_unreachable(url: str | None = None, timeout: float = 5.0) -> str | None:
    """Why the W&B server cannot be reached (None if a TCP connection opens): its address is
    WANDB_BASE_URL, else W&B's own service."""
    url = url or os.environ.get("WANDB_BASE_URL") or WANDB_DEFAULT_URL
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as err:
        return f"{url}: {err.strerror or err}"
    return None


class WandbTracker:
    """One W&B run per seed (`reinit="create_new"`), grouped by the run's name; ids and the
    last record each seed sent are kept in tracking.json, so a resume continues the same runs
    and never logs a step twice. `seeds`: the seeds whose runs to open (default: all)."""

    name = "wandb"

    def __init__(self, options: TrackingOptions, run_dir: Path, settings: dict, say, seeds=None):
        import wandb

        self.run_dir, self.say = Path(run_dir), say
        self.mode = options.mode
        if self.mode == "online":
            reason = wandb_unreachable()
            if reason:
                self._go_offline(f"the W&B server cannot be reached ({reason})")
        state = read_state(self.run_dir).get("wandb", {})
        self.sent = {int(s): tuple(v["sent"]) for s, v in state.items() if v.get("sent")}
        self.runs = {}
        name = options.wandb_name or self.run_dir.name
        for seed in range(num_seeds(settings)) if seeds is None else seeds:
            run_id = state.get(str(seed), {}).get("id")  # None: W&B makes one
            kwargs = dict(project=options.wandb_project, entity=options.wandb_entity,
                          group=options.wandb_group or self.run_dir.name,
                          name=f"{name}/seed_{seed}", id=run_id, resume="allow",
                          dir=str(self.run_dir), reinit="create_new",
                          settings=wandb.Settings(console="off", silent=True))  # fmt: skip
            self.runs[seed] = self._init(wandb, kwargs)
            self.runs[seed].config.update({**settings, "seed": seed}, allow_val_change=True)
        self._save()

    def _go_offline(self, why: str) -> None:
        self.mode = "offline"
        self.say(f"warning: W&B online mode: {why}; logging offline instead, to "
                 f"{self.run_dir / 'wandb'} (upload later with `wandb sync`)")  # fmt: skip

    def _init(self, wandb, kwargs):
        """wandb.init in the tracker's mode; online failing (not logged in, server errors)
        falls back to offline for this and the next seeds."""
        if self.mode == "online":
            try:
                return wandb.init(mode="online", **kwargs)
            except Exception as err:  # wandb raises its own errors and plain ones alike
                self._go_offline(f"{type(err).__name__}: {err}")
        return wandb.init(mode="offline", **kwargs)

    def write(self, records: list[dict]) -> None:
        sent = False
        for record in records:
            seed, key = record["seed"], record_key(record)
            if seed in self.sent and key <= self.sent[seed]:
                continue  # logged before this run was resumed
            self.runs[seed].log(scalars(record), step=int(record["frames"]))
            self.sent[seed], sent = key, True
        if sent:
            self._save()

    def write_videos(self, seed: int, frames: int, videos: list[Path]) -> int:
        """Logs mp4 files (play.py's games) in the seed's run as `play/<file name>`, at
        `frames` or, if the run has points there or later, just after its last one (a W&B
        step never goes back). Returns the step."""
        import wandb

        last = self.sent.get(seed)
        step = max(frames, last[0] + 1 if last else 0)
        self.runs[seed].log({f"play/{path.stem}": wandb.Video(str(path), format="mp4")
                             for path in videos}, step=step)  # fmt: skip
        self.sent[seed] = (step, 1)
        self._save()
        return step

    def _save(self) -> None:
        state = read_state(self.run_dir)
        runs = {**state.get("wandb", {}),
                **{str(s): {"id": run.id, "sent": list(self.sent.get(s, ()))}
                   for s, run in self.runs.items()}}  # fmt: skip
        write_state(self.run_dir, {**state, "wandb": runs})

    def flush(self) -> None:
        pass  # each log is handed to W&B's service at once

    def close(self) -> None:
        for run in self.runs.values():
            run.finish()

    def where(self) -> str:
        ids = ", ".join(run.id for run in self.runs.values())
        if self.mode == "offline":
            return (f"W&B (offline): runs {ids} in {self.run_dir / 'wandb'}; upload with "
                    f"`wandb sync {self.run_dir / 'wandb'}/offline-run-*`")  # fmt: skip
        return f"W&B: runs {ids}, " + ", ".join(run.url or "" for run in self.runs.values())
