"""The console progress line and notes."""

import pytest

from jaxdqn.progress import Progress, eval_note, latest_scores


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
    yield progress, progress._bar.tasks[0]
    progress.stop()


def test_bar_shows_frames_sps_and_scores(bar):
    progress, task = bar
    assert (task.completed, task.total, task.description) == (400, 1_000, "warm-up")
    assert task.fields == {"sps": "-", "scores": "score -"}
    # 50 steps since the resume × 2 seeds in 0.5 s.
    progress.update(steps=150, frames=600, elapsed=0.5, phase="warmup", scores=[[1.0], []])
    assert (task.completed, task.description) == (600, "warm-up")
    assert task.fields == {"sps": "200", "scores": "score 1.0 -"}
    # 2,000 steps × 2 seeds in 2 s; frames past the total (rounded-up chunks) fill the bar.
    progress.update(steps=2_150, frames=1_200, elapsed=2.0, phase="learn", scores=[[1, 3], [2]])
    assert (task.completed, task.description) == (1_000, "learning")
    assert task.fields == {"sps": "2,000", "scores": "score 2.0 2.0"}
    progress.update(steps=2_150, frames=1_200, elapsed=0.0, phase="learn", scores=[[1], [2]])
    assert task.fields["sps"] == "0"


def test_notes_go_above_the_bar_then_to_stdout(bar, capsys):
    progress, _ = bar
    progress.note("checkpoint at 400 frames")
    progress.stop()
    progress.note("after")
    out = capsys.readouterr().out
    assert "checkpoint at 400 frames\n" in out and out.endswith("after\n")
