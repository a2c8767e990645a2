"""The TensorBoard tracker: one tensorboardX writer per seed, and play.py's videos as GIFs.

See `jaxdqn.tracking` for how a tracker is fed (every record of metrics.jsonl, then each new
one) and why every open purges the seed directories.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from jaxdqn.tracking_state import flat_settings, num_seeds, scalars


class TensorBoardTracker:
    """One tensorboardX writer per seed in `<logdir>/seed_<k>`; every open purges what the
    directories held, and the caller then feeds every record again."""

    name = "tensorboard"

    def __init__(self, logdir: Path, settings: dict):
        from tensorboardX import SummaryWriter

        self.logdir = Path(logdir)
        self.writers = []
        for seed in range(num_seeds(settings)):
            # A name that sorts after any earlier file of the directory, even in the same
            # second: TensorBoard reads a run's files in name order.
            writer = SummaryWriter(str(self.logdir / f"seed_{seed}"), purge_step=0,
                                   flush_secs=30, filename_suffix=f".{time.time_ns()}")  # fmt: skip
            self.writers.append(writer)
            write_settings(writer, settings, seed)

    def write(self, records: list[dict]) -> None:
        for record in records:
            writer = self.writers[record["seed"]]
            for tag, value in scalars(record).items():
                writer.add_scalar(tag, value, record["frames"])

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def where(self) -> str:
        return f"TensorBoard: {self.logdir}/seed_* (tensorboard --logdir {self.logdir})"


def write_settings(writer, settings: dict, seed: int) -> None:
    """The run's config.json as text and its flat settings as an HParams session (the seed
    one of them), at step 0."""
    from tensorboardX.summary import hparams

    text = json.dumps(settings, indent=2, default=str)
    writer.add_text("config.json", "\n".join("    " + line for line in text.splitlines()), 0)
    metrics = {"eval/score": None, "charts/episodic_return": None}
    for summary in hparams({**flat_settings(settings), "seed": seed}, metrics):
        writer.file_writer.add_summary(summary, 0)


# ----------------------------------------------------------------------------- videos

VIDEO_FRAMES = 500  # at most, in a TensorBoard GIF: longer games keep every k-th frame


def gif_summary(tag: str, path: Path, max_frames: int = VIDEO_FRAMES):
    """An mp4 as a TensorBoard image summary holding an animated GIF (TensorBoard's only
    moving picture; tensorboardX's add_video makes the same but needs moviepy): every k-th
    frame so that at most `max_frames` remain, played back at the video's own speed."""
    import io

    import imageio.v3 as iio
    from PIL import Image
    from tensorboardX.proto.summary_pb2 import Summary

    frames = list(iio.imiter(path))
    every = -(-len(frames) // max_frames)
    fps = iio.immeta(path).get("fps") or 30
    images = [Image.fromarray(frame) for frame in frames[::every]]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 * every / fps), loop=0)  # fmt: skip
    height, width = frames[0].shape[:2]
    image = Summary.Image(height=height, width=width, colorspace=3,
                          encoded_image_string=buffer.getvalue())  # fmt: skip
    return Summary(value=[Summary.Value(tag=tag, image=image)])


def write_videos(logdir: Path, seed: int, frames: int, videos: list[Path]) -> None:
    """mp4 files as GIFs `play/<file name>` at step `frames`, in `<logdir>/videos/seed_<k>`:
    a TensorBoard run of their own, which the seed's rewritten scalars leave alone."""
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(logdir / "videos" / f"seed_{seed}"),
                       filename_suffix=f".{time.time_ns()}") as writer:  # fmt: skip
        for path in videos:
            writer.file_writer.add_summary(gif_summary(f"play/{path.stem}", path), frames)
