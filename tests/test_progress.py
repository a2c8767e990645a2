"""The console progress line and notes."""

import pytest

from jaxdqn.progress import (
    PhaseClock,
    Progress,
    duration,
    eta_text,
    eval_note,
    latest_scores,
    remaining,
)


def test_latest_scores_by_hand():
    # Seed 2: the last 10 of 0..19 are 10..19, mean 14.5.
    assert latest_scores([[1.0, 2.0, 3.0], [], list(range(20))]) == "score 2.0 - 14.5"
    assert latest_scores([[1.0, 4.0]], last=1) == "score 4.0"
    assert latest_scores([[], []]) == "score - -"


def test_eval_note():
    note = eval_note(12_345, [[1.0, 2.0], [3.0, 4.5]])
    assert note == "eval at 12,345 frames: mean score per seed 1.5 3.8"


def test_disabled_progress_prints_notes_only(capsys):
    progress = Progress(enabled=False)
    progress.note("before")
    progress.start(total_frames=1_000)
    progress.update(steps=10, frames=40, elapsed=1.0, phase="learn", scores=[[1.0]])
    progress.note("during")
    progress.stop()
    progress.stop()
    assert capsys.readouterr().out == "before\nduring\n"


@pytest.fixture
def bar(capsys):
    progress = Progress()
    progress.start(total_frames=1_000, steps=100, frames=400)  # a run resumed at step 100
    progress.plan(learning_from=800)
    yield progress, progress._bar.tasks[0]
    progress.stop()


def test_bar_shows_frames_sps_and_scores(bar):
    progress, task = bar
    assert (task.completed, task.total, task.description) == (400, 1_000, "warm-up")
    # Nothing timed yet: neither the warm-up's end nor the run's is known.
    assert task.fields == {"sps": "-", "eta": "ETA ? · learning in ?", "scores": "score -"}
    # 50 steps since the resume × 2 seeds in 0.5 s; the first warm-up chunk is not timed.
    progress.update(steps=150, frames=600, elapsed=0.5, phase="warmup", scores=[[1.0], []])
    assert (task.completed, task.description) == (600, "warm-up")
    assert task.fields == {"sps": "200", "eta": "ETA ? · learning in ?", "scores": "score 1.0 -"}
    # 2,000 steps × 2 seeds in 2 s; frames past the total (rounded-up chunks) fill the bar.
    progress.update(steps=2_150, frames=1_200, elapsed=2.0, phase="learn", scores=[[1, 3], [2]])
    assert (task.completed, task.description) == (1_000, "learning")
    assert task.fields == {"sps": "2,000", "eta": "ETA 0:00:00", "scores": "score 2.0 2.0"}
    progress.update(steps=2_150, frames=1_200, elapsed=0.0, phase="learn", scores=[[1], [2]])
    assert task.fields["sps"] == "0"


def test_notes_go_above_the_bar_then_to_stdout(bar, capsys):
    progress, _ = bar
    progress.note("checkpoint at 400 frames")
    progress.stop()
    progress.note("after")
    out = capsys.readouterr().out
    assert "checkpoint at 400 frames\n" in out and out.endswith("after\n")


# ----------------------------------------------------------------------------- the ETA


def test_duration_by_hand():
    assert duration(0) == "0:00:00"
    assert duration(59.6) == "0:01:00"
    assert duration(3_661) == "1:01:01"
    # Hours are not folded into days: 39 h 1 min 1 s = 140,461 s.
    assert duration(140_461) == "39:01:01"


def test_phase_clock_leaves_out_the_compiling_chunk():
    clock = PhaseClock()
    assert clock.rate() is None
    clock.add(400, 30.0)  # compile + 400 frames: not timed
    assert clock.rate() is None
    clock.add(400, 2.0)
    clock.add(800, 2.0)
    assert clock.rate() == pytest.approx(1_200 / 4.0)
    # Not before more than `min_seconds` have been timed.
    assert clock.rate(min_seconds=4.0) is None
    assert clock.rate(min_seconds=3.9) == pytest.approx(300.0)


# The Nature Assault run: 40M frames per seed, learning from 200,000 frames (50,000 agent steps
# × frame skip 4); warm-up at 4,000 frames/s, learning at 740 frames/s (185 agent steps/s).
TOTAL, LEARNING_FROM = 40_000_000, 200_000


def test_remaining_during_warm_up_knows_only_the_warm_up():
    # 160,000 warm-up frames left at 4,000 frames/s = 40 s; the total needs the learning speed
    # (warm-up speed would have said 39,960,000 / 4,000 s = 2:46:30, 5.4× too soon).
    assert remaining(40_000, TOTAL, LEARNING_FROM, 4_000.0, None) == (40.0, None)
    assert remaining(40_000, TOTAL, LEARNING_FROM, None, None) == (None, None)
    # With both speeds: 40 s + 39,800,000 / 740 s = 53,823.78 s.
    to_learning, to_end = remaining(40_000, TOTAL, LEARNING_FROM, 4_000.0, 740.0)
    assert to_learning == 40.0
    assert to_end == pytest.approx(40 + 39_800_000 / 740)
    assert duration(to_end) == "14:57:04"


def test_remaining_while_learning():
    # 32,000,000 frames left at 740 frames/s = 43,243.24 s = 12:00:43; warm-up speed is unused.
    to_learning, to_end = remaining(8_000_000, TOTAL, LEARNING_FROM, None, 740.0)
    assert to_learning == 0.0
    assert to_end == pytest.approx(43_243.243, abs=1e-3)
    assert duration(to_end) == "12:00:43"
    assert remaining(8_000_000, TOTAL, LEARNING_FROM, 4_000.0, None) == (0.0, None)


def test_remaining_at_and_past_the_end():
    # Frames past the total (a budget rounded up to whole chunks) leave nothing to do.
    assert remaining(TOTAL, TOTAL, LEARNING_FROM, None, None) == (0.0, 0.0)
    assert remaining(TOTAL + 16, TOTAL, LEARNING_FROM, None, None) == (0.0, 0.0)
    # No warm-up at all (learning from frame 0): only the learning speed matters.
    assert remaining(0, 7_400, 0, None, 740.0) == (0.0, pytest.approx(10.0))


def test_eta_text():
    assert eta_text(None, None, learning=False) == "ETA ? · learning in ?"
    assert eta_text(40.0, None, learning=False) == "ETA ? · learning in 0:00:40"
    assert eta_text(0.0, None, learning=True) == "ETA ? · timing learning"
    assert eta_text(0.0, 43_243.2, learning=True) == "ETA 12:00:43"
    assert eta_text(40.0, 53_823.8, learning=False) == "ETA 14:57:04"


def fake_clock(times):
    """A clock that returns `times` in order: one reading per start and per update."""
    readings = iter(times)
    return lambda: next(readings)


def test_bar_eta_through_warm_up_and_learning(capsys):
    # start at 0 s; warm-up chunks of 20,000 frames: the first (compiling) ends at 30 s, then
    # one every 5 s (4,000 frames/s); 10 chunks reach 200,000 frames at 75 s. The first
    # learning chunk (compiling the update) ends at 135 s at 207,400 frames, then 7,400 frames
    # every 10 s (740 frames/s).
    warm_times = [30.0 + 5.0 * i for i in range(10)]
    learn_times = [135.0, 145.0, 155.0]
    progress = Progress(clock=fake_clock([0.0, *warm_times, *learn_times]))
    progress.start(total_frames=TOTAL)
    progress.plan(learning_from=LEARNING_FROM)
    task = progress._bar.tasks[0]
    seen = []
    for i in range(10):
        frames = 20_000 * (i + 1)
        progress.update(steps=frames // 4, frames=frames, elapsed=1.0, phase="warmup",
                        scores=[[]])  # fmt: skip
        seen.append(task.fields["eta"])
    # After chunk 2 (40,000 frames): 160,000 frames left at 4,000 frames/s.
    assert seen[:3] == ["ETA ? · learning in ?", "ETA ? · learning in 0:00:40",
                        "ETA ? · learning in 0:00:35"]  # fmt: skip
    for i in range(len(learn_times)):
        frames = LEARNING_FROM + 7_400 * (i + 1)
        progress.update(steps=frames // 4, frames=frames, elapsed=1.0, phase="learn",
                        scores=[[1.0]])  # fmt: skip
        seen.append(task.fields["eta"])
    # The compiling chunk, then 10 s timed (not more than the 10 s minimum), then 20 s timed:
    # (40,000,000 − 222,200) / 740 = 53,753.78 s.
    assert seen[10:] == ["ETA ? · timing learning", "ETA ? · timing learning", "ETA 14:55:54"]
    progress.stop()


def test_eta_is_unknown_before_the_phases_are_planned(capsys):
    progress = Progress(clock=fake_clock([0.0, 30.0]))
    progress.start(total_frames=TOTAL)
    task = progress._bar.tasks[0]
    assert task.fields["eta"] == "ETA ?"
    progress.update(steps=5_000, frames=20_000, elapsed=1.0, phase="warmup", scores=[[]])
    assert task.fields["eta"] == "ETA ?"
    progress.plan(learning_from=LEARNING_FROM)
    assert task.fields["eta"] == "ETA ? · learning in ?"
    progress.stop()


def test_resumed_run_times_its_first_learning_chunk_as_compiling():
    # Resumed at 8,000,000 frames: the first chunk compiles (60 s), then 740 frames/s.
    progress = Progress(enabled=False, clock=fake_clock([0.0, 60.0, 70.0, 80.0]),
                        min_learn_seconds=0.0)  # fmt: skip
    progress.start(total_frames=TOTAL, steps=2_000_000, frames=8_000_000)
    progress.plan(learning_from=LEARNING_FROM)
    for frames in (8_007_400, 8_014_800):
        progress.update(steps=frames // 4, frames=frames, elapsed=1.0, phase="learn",
                        scores=[[]])  # fmt: skip
    # After the compiling chunk, one timed chunk of 10 s: 7,400 / 10 = 740 frames/s.
    assert progress.remaining(8_014_800) == (0.0, pytest.approx((TOTAL - 8_014_800) / 740))
    progress.update(steps=2_005_550, frames=8_022_200, elapsed=1.0, phase="learn", scores=[[]])
    assert progress.remaining(8_022_200) == (0.0, pytest.approx((TOTAL - 8_022_200) / 740))
