"""Tracking: TensorBoard and W&B mirror metrics.jsonl per seed, through resumes and failures.

Event files are read back with TensorBoard's own reader (EventAccumulator), W&B's offline runs
from their .wandb files (W&B's record protobufs in its leveldb-style log); the expected series
are computed here from metrics.jsonl, not through jaxdqn.tracking.
"""

import dataclasses
import io
import json
import shutil
import socket
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import _cli  # noqa: E402
import cartpole  # noqa: E402
import track  # noqa: E402

from jaxdqn.logging import RunLogger  # noqa: E402
from jaxdqn.metrics import read_metrics, read_records  # noqa: E402
from jaxdqn.presets import cartpole as cartpole_preset  # noqa: E402
from jaxdqn.tracking import TensorBoardTracker, TrackingError, TrackingOptions  # noqa: E402

RECORD_FIELDS = {"seed", "step", "frames", "phase", "time"}
TINY = [
    "--num-seeds", "2", "--learning-starts", "500", "--chunk-iterations", "250",
    "--log-interval", "500", "--eval-every", "0", "--eval-episodes", "1",
    "--exploration-steps", "2000", "--no-progress",
]  # fmt: skip
EXAMPLE_RUN = ROOT / "docs" / "runs" / "expected-sarsa"  # a real run: 3 seeds, 312 records


# ----------------------------------------------------------------------------- readers


def expected_series(records, seed, cast=np.float32) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(frames, value)] of one seed, straight from metrics.jsonl (TensorBoard keeps
    float32; W&B the JSON float)."""
    out = {}
    for record in records:
        if record["seed"] != seed:
            continue
        for key, value in record.items():
            if key not in RECORD_FIELDS and value is not None:
                out.setdefault(key, []).append((record["frames"], float(cast(value))))
    return out


def tensorboard_series(seed_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(seed_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return {
        tag: [(e.step, float(e.value)) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def wandb_records(path: Path):
    """The records of a .wandb file: a 7-byte header (":W&B", magic, version), then 32 KiB
    blocks of chunks (crc32 4, length 2, type 1: full, first, middle, last)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header: padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        body, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = body if kind in (1, 2) else pending + body
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def wandb_run(run_dir: Path, run_id: str):
    """The run records, config and tag -> [(step, value)] of one W&B run over all its
    offline sessions (a resume opens a new one), in order."""
    runs, config, series = [], {}, {}
    for path in sorted(run_dir.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")):
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                runs.append(record.run)
            if kind in ("run", "config"):
                items = (record.run if kind == "run" else record).config.update
                config.update({item.key: json.loads(item.value_json) for item in items})
            if kind != "history":
                continue
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                if not key.startswith("_"):
                    value = json.loads(item.value_json)  # a number, or a media file's record
                    value = float(value) if isinstance(value, int | float) else value
                    series.setdefault(key, []).append((record.history.step.num, value))
    return runs, config, series


def steps_once(series: dict) -> bool:
    return all(
        [s for s, _ in points] == sorted({s for s, _ in points}) for points in series.values()
    )


# ----------------------------------------------------------------------------- a tracked run


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """2 seeds, 2,000 frames, checkpoints at 1,000 and 2,000, tracked to TensorBoard and W&B
    (offline); then, as if killed after the checkpoint at 1,000 (the one at 2,000 removed),
    resumed without tracking flags (the run's own come back) to 3,000 frames."""
    tmp = tmp_path_factory.mktemp("tracked")
    with pytest.MonkeyPatch.context() as env:
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            env.setenv(name, str(tmp / name.lower()))
        env.delenv("WANDB_MODE", raising=False)
        flags = [
            "--track",
            "tensorboard,wandb",
            "--wandb-mode",
            "offline",
            "--total-frames",
            "2000",
            "--checkpoint-every",
            "1000",
            "--run-dir",
            str(tmp),
            "--run-name",
            "t",
        ]
        cartpole.main(TINY + flags)
        run = tmp / "t"
        first = {"records": read_metrics(run),
                 "tensorboard": [tensorboard_series(run / "tensorboard" / f"seed_{s}")
                                 for s in (0, 1)]}  # fmt: skip
        shutil.rmtree(run / "checkpoints" / "2000")
        cartpole.main(["--resume", str(run), "--total-frames", "3000"])
    return first, run


@pytest.mark.slow
def test_tensorboard_holds_every_metric_of_every_seed(tracked):
    first, _ = tracked
    for seed in (0, 1):
        expected = expected_series(first["records"], seed)
        assert first["tensorboard"][seed] == expected
        assert {"eval/score", "losses/td_loss", "losses/q_values", "charts/epsilon",
                "charts/SPS", "charts/episodic_return"} <= set(expected)  # fmt: skip
        assert [s for s, _ in expected["charts/episodes_total"]] == [500, 1000, 1500, 2000]
    assert first["tensorboard"][0] != first["tensorboard"][1]  # one series per seed


@pytest.mark.slow
def test_resume_rewrites_tensorboard_from_the_checkpoint_without_duplicates(tracked):
    first, run = tracked
    records = read_metrics(run)
    for seed in (0, 1):
        series = tensorboard_series(run / "tensorboard" / f"seed_{seed}")
        assert steps_once(series)
        assert series == expected_series(records, seed)
        assert [s for s, _ in series["eval/score"]] == [3000]  # the killed run's 2,000 is gone
    # After the checkpoint the resumed run's games differ from the killed run's (episodes
    # restart), so a stale point would show: the series above hold the new ones.
    killed = expected_series(first["records"], 0)["charts/episodes_total"]
    resumed = expected_series(records, 0)["charts/episodes_total"]
    assert killed[:2] == resumed[:2] and killed[2:] != resumed[2:4]


@pytest.mark.slow
def test_wandb_offline_run_per_seed_continued_on_resume(tracked):
    first, run = tracked
    state = json.loads((run / "tracking.json").read_text())
    assert state["options"]["track"] == ["tensorboard", "wandb"]
    ids = [state["wandb"][str(s)]["id"] for s in (0, 1)]
    assert len(set(ids)) == 2
    resumed = read_metrics(run)
    for seed, run_id in enumerate(ids):
        runs, config, series = wandb_run(run, run_id)
        assert len(runs) == 2  # the first session and the resumed one: the same W&B run
        assert {(r.run_group, r.display_name, r.project) for r in runs} == {
            ("t", f"t/seed_{seed}", "jaxdqn")
        }
        assert config["seed"] == seed and config["config"]["env"]["num_seeds"] == 2
        assert config["runtime"]["platform"] == "cpu"
        assert steps_once(series)
        # A W&B run keeps what it was sent: the killed run's records up to 2,000 frames, then
        # the resumed run's after them.
        sent = [r for r in first["records"]] + [r for r in resumed if r["frames"] > 2000]
        assert series == expected_series(sent, seed, cast=float)


# ----------------------------------------------------------------------------- export


def copy_example(tmp_path) -> Path:
    run = tmp_path / "example"
    shutil.copytree(EXAMPLE_RUN, run)
    return run


def test_export_writes_metrics_jsonl_to_tensorboard_each_step_once(tmp_path):
    run = copy_example(tmp_path)
    records = read_records(run / "metrics.jsonl")
    for _ in range(2):  # exporting again rewrites the series, never doubles it
        written = track.main([str(run)])
        assert [t.name for t in written] == ["tensorboard"]
        for seed in range(3):
            series = tensorboard_series(run / "tensorboard" / f"seed_{seed}")
            assert steps_once(series) and series == expected_series(records, seed)
            assert len(series["charts/temperature"]) == sum(
                r["seed"] == seed and r["phase"] != "eval" for r in records
            )


def test_export_to_another_directory_names_the_run(tmp_path):
    run = copy_example(tmp_path)
    track.main([str(run), "--tensorboard-dir", str(tmp_path / "tb")])
    series = tensorboard_series(tmp_path / "tb" / "example" / "seed_2")
    assert series == expected_series(read_records(run / "metrics.jsonl"), 2)


def test_wandb_online_without_a_server_falls_back_to_offline(tmp_path, monkeypatch, capsys):
    """No W&B server at WANDB_BASE_URL (a closed port on this machine): a warning, then the
    runs go offline into the run directory with every record.

    The port stays bound, never listening, until the run is over: connections to it are
    refused, and no other process can take it. (Released at once, as this test first did, a
    busy machine could hand it to a server another test starts, e.g. test_distributed's
    coordinator, which picks its port the same way; the W&B check then found a "server".)"""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            monkeypatch.setenv(name, str(tmp_path / name.lower()))
        monkeypatch.delenv("WANDB_MODE", raising=False)
        run = copy_example(tmp_path)
        track.main([str(run), "--track", "wandb"])  # online is the default
    out = " ".join(capsys.readouterr().out.split())
    assert f"127.0.0.1:{port}: Connection refused" in out
    assert "cannot be reached" in out and "logging offline instead" in out
    assert "wandb sync" in out
    records = read_records(run / "metrics.jsonl")
    state = json.loads((run / "tracking.json").read_text())
    for seed in range(3):
        _, _, series = wandb_run(run, state["wandb"][str(seed)]["id"])
        assert series == expected_series(records, seed, cast=float)


# ----------------------------------------------------------------------------- bad input


def parse_error(capsys, flags) -> str:
    with pytest.raises(SystemExit) as exc:
        _cli.parse_tracked("cartpole", "", flags, {"cartpole": cartpole_preset})
    assert exc.value.code == 2
    return " ".join(capsys.readouterr().err.replace("│", " ").split())


def test_track_flags_parse_as_comma_list_or_repeated(tmp_path):
    for flags in (["--track", "tensorboard,wandb"], ["--track", "wandb", "--track", "tensorboard"],
                  ["--track=tensorboard", "wandb"]):  # fmt: skip
        _, options = _cli.parse_tracked("cartpole", "", flags, {"cartpole": cartpole_preset})
        assert options.trackers == ("tensorboard", "wandb")
    _, options = _cli.parse_tracked("cartpole", "", [], {"cartpole": cartpole_preset})
    assert options.trackers == ()  # off by default


def test_unknown_tracker_is_refused_with_the_allowed_names(capsys):
    err = parse_error(capsys, ["--track", "tensorbord"])
    assert "track='tensorbord' is invalid: one of tensorboard, wandb or none" in err
    with pytest.raises(TrackingError, match="none cannot be combined"):
        TrackingOptions(track=("none", "wandb"))
    with pytest.raises(TrackingError, match="wandb_mode='cloud' is invalid: one of online, off"):
        TrackingOptions(wandb_mode="cloud")


@pytest.mark.parametrize("tracker, package", [("tensorboard", "tensorboardX"), ("wandb", "wandb")])
def test_missing_package_is_named_with_its_pip_command(tracker, package, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if not installed
    err = parse_error(capsys, ["--track", tracker])
    assert f"--track {tracker} needs the {package} package" in err
    assert f"pip install {package}" in err


def test_unwritable_tensorboard_dir_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("in the way")  # even root cannot make a folder under a file
    where = tmp_path / "file" / "tb"
    err = parse_error(capsys, ["--track", "tensorboard", "--tensorboard-dir", str(where)])
    assert f"--tensorboard-dir {where} cannot be written: Not a directory" in err


# ----------------------------------------------------------------------------- failures


def test_tracker_failing_mid_run_is_dropped_and_metrics_go_on(tmp_path, monkeypatch, capsys):
    """The TensorBoard writer fails (disk full) at the third write: a warning, tracking off,
    metrics.jsonl keeps every record, nothing raised to the loop."""
    config = cartpole_preset()
    env = dataclasses.replace(config.env, num_seeds=2)
    train = dataclasses.replace(config.train, log_interval=10)
    config = dataclasses.replace(config, env=env, train=train)
    writes = []
    original = TensorBoardTracker.write

    def failing(self, records):
        writes.append(records)
        if len(writes) == 3:
            raise OSError(28, "No space left on device")
        original(self, records)

    monkeypatch.setattr(TensorBoardTracker, "write", failing)
    logger = RunLogger(tmp_path, progress=False, tracking=TrackingOptions(track=("tensorboard",)))
    logger.start(config, total_frames=50)
    history = type("History", (), {"scores": [[], []]})()
    for step in range(10, 60, 10):
        logger.log_chunk(steps=step, frames=step, new_games=[[1.0], [2.0]], history=history,
                         loss=np.array([0.5, 0.25]) * step, mean_q=np.array([1.0, 2.0]),
                         parameter=np.array([0.1, 0.2]), parameter_name="epsilon",
                         elapsed=1.0, phase="learn")  # fmt: skip
    logger.finish()
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: tensorboard tracking failed (write: OSError" in out
    assert "training goes on" in out
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records if r["seed"] == 0] == [10, 20, 30, 40, 50]
    assert len(writes) == 3  # never called again once it failed
    series = tensorboard_series(tmp_path / "tensorboard" / "seed_1")
    assert series["losses/td_loss"] == [(10, 2.5), (20, 5.0)]


@pytest.mark.slow
def test_play_sends_its_video_to_the_runs_trackers(tracked, tmp_path):
    import imageio.v3 as iio
    import play
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, tracked_run = tracked
    run = tmp_path / "t"
    shutil.copytree(tracked_run, run)
    out = play.main(["--run", str(run), "--episodes", "1", "--video", "--max-episode-steps",
                     "40", "--seed-index", "1", "--track", "tensorboard,wandb"])  # fmt: skip
    (video,) = out["videos"]
    events = EventAccumulator(str(run / "tensorboard" / "videos" / "seed_1"))
    events.Reload()
    (image,) = events.Images("play/game000")
    assert image.step == 3000  # the checkpoint's frames
    gif = Image.open(io.BytesIO(image.encoded_image_string))
    assert gif.n_frames == len(list(iio.imiter(video))) and gif.size == (image.width, image.height)
    state = json.loads((run / "tracking.json").read_text())["wandb"]["1"]
    runs, _, series = wandb_run(run, state["id"])
    assert len(runs) == 3  # the same W&B run, a third session
    # After the run's last point (3,000): a W&B step never goes back.
    assert series["play/game000/_type"] == [(3000 + 1, "video-file")]
    ((_, path),) = series["play/game000/path"]
    (session,) = sorted(run.glob(f"wandb/offline-run-*-{state['id']}"))[-1:]
    assert (session / "files" / path).read_bytes() == video.read_bytes()
