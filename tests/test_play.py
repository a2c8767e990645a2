"""Watching a trained agent: load from a run, play, export params, record a decodable video."""

import sys
from pathlib import Path

import imageio.v3 as iio
import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import assault  # noqa: E402
import play  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: runs training or real envs (the full suite)


@pytest.fixture(scope="module")
def tiny_assault_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    out = assault.main([
        "--num-seeds", "2", "--envs-per-seed", "2", "--total-frames", "4400",
        "--replay-capacity", "2000", "--learning-starts", "1000", "--batch-size", "8",
        "--eval-episodes", "1", "--eval-max-episode-steps", "100", "--run-dir", str(runs),
        "--run-name", "tiny", "--no-progress",
    ])  # fmt: skip
    return out, runs / "tiny"


@pytest.mark.slow
def test_play_writes_decodable_video_with_every_frame(tiny_assault_run):
    out, run_dir = tiny_assault_run
    result = play.main(["--run", str(run_dir), "--episodes", "1", "--video",
                        "--max-episode-steps", "120"])  # fmt: skip
    (video,) = result["videos"]
    assert video.parent == run_dir / "videos" and video.suffix == ".mp4"
    frames = np.stack(list(iio.imiter(video)))
    # The reset frame plus one per agent step; Assault's 210×160 RGB screen, not 84×84.
    assert frames.shape[0] == 121
    assert frames.shape[1:] == (210, 160, 3)
    assert result["scores"][0] % 21 == 0
    meta = iio.immeta(video)
    assert meta["fps"] == pytest.approx(15.0)  # 60 Hz emulator / frame skip 4


@pytest.mark.slow
def test_export_and_load_params_match_checkpoint(tiny_assault_run, tmp_path, capsys):
    out, run_dir = tiny_assault_run
    path = tmp_path / "params.msgpack"
    play.main(["--run", str(run_dir), "--export", str(path), "--seed-index", "1"])
    from jaxdqn.checkpoint import load_run_config
    from jaxdqn.play import import_params

    loaded = import_params(load_run_config(run_dir), path)
    final = jax.tree_util.tree_map(lambda x: np.asarray(x)[1], out["state"].agent.params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded, final)
    # Playing from the file and from the checkpoint gives the same game.
    a = play.main(["--run", str(run_dir), "--params", str(path), "--seed-index", "1",
                   "--max-episode-steps", "60"])  # fmt: skip
    b = play.main(["--run", str(run_dir), "--seed-index", "1", "--max-episode-steps", "60"])
    assert a["scores"] == b["scores"]
    assert "mean score over 1 game(s)" in capsys.readouterr().out


def test_play_errors_are_clear(tiny_assault_run, tmp_path, capsys):
    _, run_dir = tiny_assault_run
    (tmp_path / "nockpt").mkdir()
    (tmp_path / "nockpt" / "config.json").write_text((run_dir / "config.json").read_text())
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    unwritable.chmod(0o500)
    cases = [
        (["--run", str(tmp_path / "missing")], "does not exist"),
        (["--run", str(tmp_path / "nockpt")], "no checkpoint"),
        (["--run", str(run_dir), "--seed-index", "5"], "seed_index=5"),
        (["--run", str(run_dir), "--params", str(tmp_path / "nope.msgpack")], "nope.msgpack"),
        (["--run", str(run_dir), "--episodes", "0"], "episodes=0"),
    ]
    import os

    if os.geteuid() != 0:  # root can write anywhere
        cases.append((["--run", str(run_dir), "--video", "--video-dir", str(unwritable / "v")],
                      "cannot create video directory"))  # fmt: skip
    for args, message in cases:
        with pytest.raises(SystemExit) as exc:
            play.main(args)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err, args
