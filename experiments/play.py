"""Watch a trained agent: load it from a run, play full games, print real scores, record video.

    python experiments/play.py --run runs/NAME --episodes 3 --epsilon 0.001 --video
    python experiments/play.py --run runs/NAME --export params.msgpack
    python experiments/play.py --run runs/NAME --params params.msgpack --episodes 1
    python experiments/play.py --run runs/NAME --video --track tensorboard,wandb

Games follow the evaluation protocol (full games over all lives, raw rewards, up to 30 no-op
starts, capped at 108,000 frames). Videos go to runs/NAME/videos/*.mp4, rendered from the
emulator's RGB frames at the game's own speed. With --track, the videos also go to the run's
TensorBoard (an animated GIF per game, in TENSORBOARD_DIR/videos/seed_K) and W&B (the mp4 in
the seed's W&B run), with the W&B settings the run was tracked with (its tracking.json).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402

from jaxdqn.checkpoint import (  # noqa: E402
    Checkpointer,
    CheckpointError,
    load_run_config,
    load_run_options,
)
from jaxdqn.play import abstract_params, export_params, import_params, play  # noqa: E402
from jaxdqn.registry import ComponentModuleError  # noqa: E402
from jaxdqn.rundir import import_components  # noqa: E402
from jaxdqn.tracking import TrackingOptions, check, load_options, send_videos  # noqa: E402


@dataclass(frozen=True)
class Args:
    run: str
    """Run directory (runs/NAME) holding config.json and checkpoints/."""
    checkpoint: int | None = None
    """Agent step of the checkpoint to load (default: the latest)."""
    params: str | None = None
    """Load online params from this msgpack file (from --export) instead of a checkpoint."""
    seed_index: int = 0
    """Which of the run's vmapped seeds to play."""
    episodes: int = 1
    """Full games to play."""
    epsilon: float = 0.001
    """ε of the ε-greedy policy while playing."""
    video: bool = False
    """Write runs/NAME/videos/gameNNN.mp4."""
    video_dir: str | None = None
    """Where to write videos (default: runs/NAME/videos)."""
    max_episode_steps: int | None = None
    """Cap on a game in agent steps (default: the run's evaluation cap, 27,000)."""
    export: str | None = None
    """Write the selected seed's online params to this msgpack file and exit."""
    track: tuple[str, ...] = ()
    """With --video, also send the videos to these trackers: tensorboard, wandb (comma list)."""


def video_tracking(args: Args) -> TrackingOptions | None:
    """The run's tracking options (its tracking.json, else the defaults) with the trackers of
    --track, checked before any game is played; None without --track."""
    names = tuple(n for value in args.track for n in value.split(",") if n)
    if not names:
        return None
    if not args.video:
        raise ValueError("--track sends the videos of --video: add --video")
    options = dataclasses.replace(load_options(args.run) or TrackingOptions(), track=names)
    check(options, Path(args.run))
    return options


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        import_components(args.run)  # a fork's components, registered again by name
        config, options = load_run_config(args.run), load_run_options(args.run)
        tracking = video_tracking(args)
        if not 0 <= args.seed_index < config.env.num_seeds:
            raise ValueError(
                f"seed_index={args.seed_index} is invalid: the run has "
                f"{config.env.num_seeds} seed(s)"
            )
        if args.params:
            params = import_params(config, args.params, options)
            source, step = args.params, 0
        else:
            checkpointer = Checkpointer(args.run)
            step = args.checkpoint if args.checkpoint is not None else checkpointer.latest_step()
            if step is None:
                raise CheckpointError(f"run {args.run} has no checkpoints")
            all_params = checkpointer.restore_params(abstract_params(config, options), step)
            params = jax.tree_util.tree_map(lambda x: x[args.seed_index], all_params)
            source = f"checkpoint at agent step {step}"
        if args.export:
            path = export_params(params, args.export)
            print(f"exported seed {args.seed_index}'s online params ({source}) to {path}")
            return {"export": path}
        video_dir = None
        if args.video:
            video_dir = Path(args.video_dir or Path(args.run) / "videos")
        scores, videos = play(config, params, episodes=args.episodes, epsilon=args.epsilon,
                              seed=args.seed_index, video_dir=video_dir,
                              max_episode_steps=args.max_episode_steps,
                              options=options)  # fmt: skip
    except (ValueError, FileNotFoundError, CheckpointError, ComponentModuleError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"{config.env.env_id}, seed {args.seed_index}, {source}, ε={args.epsilon}")
    for i, score in enumerate(scores):
        print(f"game {i}: score {score:g}")
    print(f"mean score over {len(scores)} game(s): {np.mean(scores):g}")
    for path in videos:
        print(f"video: {path}")
    if tracking is not None:
        frames = step * config.env.frame_skip  # the checkpoint's (0: params from a file)
        send_videos(Path(args.run), tracking, args.seed_index, frames, videos)
    return {"scores": scores, "videos": videos}


if __name__ == "__main__":
    main()
