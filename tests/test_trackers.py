"""Host-loop trackers: each owns its state and returns records; one writer logs them."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from jaxdqn import loop
from jaxdqn.session import StopFlag
from jaxdqn.trackers import (
    ChunkRecord,
    Curves,
    EvalRecord,
    Failed,
    Games,
    NanGuard,
    Note,
    PhaseNotes,
    SeedHistory,
    Stop,
    StopSignals,
    Tracker,
    Writer,
    collect_games,
    next_multiple,
)

NAN = math.nan


class FakeLogger:
    """Records what the writer asked for, in order."""

    def __init__(self, run_dir):
        self.run_dir, self.calls, self.metrics_lines = run_dir, [], 7

    def note(self, text):
        self.calls.append(("note", text))

    def log_chunk(self, **fields):
        self.calls.append(("chunk", fields))

    def log_eval(self, *args):
        self.calls.append(("eval", args))

    def flush(self):
        self.calls.append(("flush",))

    def finish(self):
        self.calls.append(("finish",))


def fake_run(steps=100, num_seeds=2, learning_starts=50, frame_skip=4):
    env = SimpleNamespace(num_seeds=num_seeds, frame_skip=frame_skip)
    config = SimpleNamespace(env=env, learning_starts_rounded=learning_starts)
    return SimpleNamespace(config=config, steps=steps, frames=steps * frame_skip, stopped=None)


def chunk(metrics, phase="learn", elapsed=1.5):
    return loop.Chunk(metrics, phase, elapsed)


def test_old_name_part_is_the_tracker():
    assert loop.Part is Tracker
    assert Tracker().after_chunk(None, None) == [] and Tracker().at_end(None) == []


def test_collect_games_in_time_order_by_hand():
    # [iterations 2, S 2, E 2]: seed 0 ends games 1 then 3 and 4; seed 1 ends one game, 2.
    score = np.array([[[1.0, NAN], [NAN, 2.0]], [[3.0, 4.0], [NAN, NAN]]])
    length = np.array([[[10, 0], [0, 20]], [[30, 40], [0, 0]]])
    history = SeedHistory.empty(2)
    new = collect_games({"score": score, "length": length}, history)
    assert new == [[1.0, 3.0, 4.0], [2.0]]
    assert history.scores == [[1.0, 3.0, 4.0], [2.0]]
    assert history.lengths == [[10, 30, 40], [20]]


def test_games_owns_the_history_and_returns_one_record():
    games = Games(SeedHistory.empty(2), "epsilon")
    metrics = {
        "score": np.array([[[5.0], [NAN]]]),  # [1, S 2, E 1]
        "length": np.array([[[9], [0]]]),
        "parameter": np.array([[0.5, 0.4], [0.3, 0.2]]),  # [iterations, S]
        "loss": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "mean_q": np.array([[0.0, 1.0], [2.0, 3.0]]),
    }
    (record,) = games.after_chunk(fake_run(), chunk(metrics))
    assert isinstance(record, ChunkRecord)
    assert record.new_games == [[5.0], []] and record.history is games.history
    np.testing.assert_array_equal(record.parameter, [0.3, 0.2])  # the chunk's last value
    np.testing.assert_array_equal(record.loss, [2.0, 3.0])  # mean over the chunk
    np.testing.assert_array_equal(record.mean_q, [1.0, 2.0])
    assert (record.steps, record.frames, record.phase) == (100, 400, "learn")
    assert games.history.scores == [[5.0], []]
    warmup = {k: metrics[k] for k in ("score", "length", "parameter")}
    (record,) = games.after_chunk(fake_run(), chunk(warmup, "warmup"))
    assert record.loss is None and record.mean_q is None


def test_phase_notes_once_per_phase_and_at_the_end_of_warm_up():
    notes = PhaseNotes()
    first = notes.after_chunk(fake_run(steps=20), chunk({}, "warmup", 2.0))
    assert first == [Note("warm-up: compiled and ran its first chunk in 2.0 s")]
    done = notes.after_chunk(fake_run(steps=50), chunk({}, "warmup"))
    assert len(done) == 1 and done[0].text.startswith("warm-up done at 200 frames (50 transitions")
    assert notes.after_chunk(fake_run(steps=60), chunk({}, "learn", 3.0)) == [
        Note("learning: compiled and ran its first chunk in 3.0 s")
    ]
    assert notes.after_chunk(fake_run(steps=70), chunk({}, "learn")) == []


def test_nan_guard_returns_failed_and_the_writer_writes_and_raises(tmp_path):
    guard = NanGuard(SimpleNamespace(latest_step=lambda: 40))
    good = {"loss": np.ones((3, 2)), "mean_q": np.ones((3, 2))}
    assert guard.after_chunk(fake_run(), chunk(good)) == []
    assert guard.after_chunk(fake_run(), chunk({}, "warmup")) == []
    bad = {
        "loss": np.array([[1.0, NAN], [1.0, 1.0]]),
        "mean_q": np.array([[1.0, 1.0], [np.inf, 1]]),
    }
    (failed,) = guard.after_chunk(fake_run(), chunk(bad))
    assert isinstance(failed, Failed)
    assert "agent step 100 (400 frames), seed(s) [0, 1]; last good checkpoint: agent step 40" in (
        failed.message
    )
    logger = FakeLogger(tmp_path)
    with pytest.raises(FloatingPointError, match="seed\\(s\\) \\[0, 1\\]"):
        Writer(logger).write([failed])
    assert logger.calls == [("flush",)]
    assert (tmp_path / "FAILED").read_text() == failed.message + "\n"
    with pytest.raises(FloatingPointError):  # a silent process fails the same way
        Writer(None).write([failed])


def test_stop_signals_returns_stop_and_the_loop_stops():
    flag = StopFlag()
    tracker = StopSignals(flag)
    assert tracker.after_chunk(fake_run(), None) == []
    flag.signal = "SIGTERM"
    assert tracker.after_chunk(fake_run(), None) == [Stop("SIGTERM")]
    run = fake_run()
    loop.write(run, Writer(None), [Note("x"), Stop("SIGTERM")])
    assert run.stopped == "SIGTERM"


def test_writer_logs_records_in_order(tmp_path, monkeypatch):
    import jaxdqn.analysis

    drawn = []
    monkeypatch.setattr(jaxdqn.analysis, "write_curves", drawn.append)
    logger = FakeLogger(tmp_path)
    writer = Writer(logger)
    history = SeedHistory([[1.0]], [[3]])
    record = ChunkRecord(8, 32, [[1.0]], history, None, None, [0.1], "epsilon", 0.5, "warmup")
    writer.write([Note("a"), record, EvalRecord(8, 32, [[2.0]], None, 0.25), Curves()])
    writer.write(None)  # a tracker of the old interface returns nothing
    assert logger.calls[0] == ("note", "a")
    assert logger.calls[1] == ("chunk", vars(record))
    assert logger.calls[2] == ("eval", (8, 32, [[2.0]], None, 0.25))
    assert drawn == [tmp_path]
    assert writer.flush() == 7 and Writer(None).flush() == 0
    with pytest.raises(TypeError, match="not a record"):
        writer.write(["a string"])
    writer.close("SIGINT", 32)
    assert logger.calls[-2] == ("note", f"stopped by signal SIGINT at 32 frames; resume with "
                                        f"--resume {tmp_path}")  # fmt: skip
    assert logger.calls[-1] == ("finish",)


def test_next_multiple_by_hand():
    assert next_multiple(0, 1000, 4) == 250
    assert next_multiple(250, 1000, 4) == 500
    assert next_multiple(499, 1000, 4) == 500
    assert next_multiple(10, 0, 4) is None
