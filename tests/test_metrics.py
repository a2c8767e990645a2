"""metrics.jsonl: records worked out by hand, resume truncation, full disks, reading back, and
the RunLogger facade that the training loop still calls."""

import errno
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from jaxdqn import logging as logging_facade
from jaxdqn.metrics import MetricsWriter, clean, keep_records, read_metrics, read_records
from jaxdqn.presets import cartpole

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_RUNS = sorted(
    p.parent
    for p in [*ROOT.glob("results/**/metrics.jsonl"), *ROOT.glob("docs/runs/*/metrics.jsonl")]
)
TRAIN_KEYS = ["seed", "step", "frames", "phase", "time", "charts/episodic_return",
              "charts/episodic_return_last", "charts/episodes", "charts/episodes_total",
              "charts/epsilon", "losses/td_loss", "losses/q_values", "charts/SPS"]  # fmt: skip
EVAL_KEYS = ["seed", "step", "frames", "phase", "time", "eval/score", "eval/score_std",
             "eval/episodes", "eval/human_normalized", "eval/seconds"]  # fmt: skip


def train_record(seed, step, phase, ret, last, episodes, total, eps, loss, q, sps):
    values = [seed, step, 4 * step, phase, None, ret, last, episodes, total, eps, loss, q, sps]
    return dict(zip(TRAIN_KEYS, values, strict=True))


def eval_record(seed, step, score, std, hns):
    values = [seed, step, 4 * step, "eval", None, score, std, 2, hns, 0.123]
    return dict(zip(EVAL_KEYS, values, strict=True))


class Loop:
    """Feeds a writer as the training loop does: games join the history before the chunk."""

    def __init__(self, writer, seeds=2):
        self.writer, self.scores = writer, [[] for _ in range(seeds)]

    def chunk(self, steps, new_games, eps, elapsed, phase="learn", loss=None, q=None):
        for s, games in enumerate(new_games):
            self.scores[s].extend(games)
        self.writer.log_chunk(steps=steps, frames=4 * steps, new_games=new_games,
                              scores=self.scores, loss=None if loss is None else np.array(loss),
                              mean_q=None if q is None else np.array(q),
                              parameter=np.array(eps), parameter_name="epsilon",
                              elapsed=elapsed, phase=phase)  # fmt: skip


def lines(path):
    """The records of a metrics file, `time` checked and set to None."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines()]
    for r in records:
        assert isinstance(r["time"], float) and 0 <= r["time"] < 60
        r["time"] = None
    return records


# ----------------------------------------------------------------------------- writing


def test_records_by_hand(tmp_path):
    writer = MetricsWriter(tmp_path, log_interval=100)
    loop = Loop(writer)
    loop.chunk(60, [[1.0, 3.0], []], [1.0, 1.0], 1.0, "warmup")
    loop.chunk(90, [[5.0], [2.0]], [0.9, 0.8], 0.5, "warmup")
    assert writer.lines == 0 and (tmp_path / "metrics.jsonl").read_text() == ""
    # A phase change writes the warm-up's part first (90 steps × 2 seeds in 1.5 s: 120 SPS);
    # reaching step 100 then writes the learning part (30 × 2 in 1 s). The history is read
    # when the records are written: seed 1's game of the new chunk is already in it.
    loop.chunk(120, [[], [4.0]], [0.7, 0.6], 1.0, loss=[1.0, 2.0], q=[3.0, 4.0])
    assert writer.lines == 4
    loop.chunk(150, [[7.0], []], [0.5, 0.4], 0.25, loss=[3.0, math.nan], q=[5.0, 6.0])
    # An evaluation writes the interval in progress first (30 × 2 in 0.25 s: 240 SPS).
    scores, hns = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.1, 0.3], [np.nan, 1.0]])
    writer.log_eval(150, 600, scores, hns, elapsed=0.1234)
    loop.chunk(230, [[], []], [0.3, 0.2], 2.0, loss=[1.0, 1.0], q=[1.0, np.inf])  # 80 SPS
    loop.chunk(260, [[8.0], []], [0.1, 0.1], 1.0, loss=[0.5, 0.5], q=[0.5, 0.5])
    writer.close()  # writes the interval in progress (30 × 2 in 1 s)
    writer.close()
    expected = [
        train_record(0, 90, "warmup", 3.0, 5.0, 3, 3, 0.9, None, None, 120.0),
        train_record(1, 90, "warmup", 2.0, 4.0, 1, 2, 0.8, None, None, 120.0),
        train_record(0, 120, "learn", None, 5.0, 0, 3, 0.7, 1.0, 3.0, 60.0),
        train_record(1, 120, "learn", 4.0, 4.0, 1, 2, 0.6, 2.0, 4.0, 60.0),
        train_record(0, 150, "learn", 7.0, 7.0, 1, 4, 0.5, 3.0, 5.0, 240.0),
        train_record(1, 150, "learn", None, 4.0, 0, 2, 0.4, None, 6.0, 240.0),
        eval_record(0, 150, 1.5, 0.5, 0.2),
        eval_record(1, 150, 4.0, 1.0, None),
        train_record(0, 230, "learn", None, 7.0, 0, 4, 0.3, 1.0, 1.0, 80.0),
        train_record(1, 230, "learn", None, 4.0, 0, 2, 0.2, 1.0, None, 80.0),
        train_record(0, 260, "learn", 8.0, 8.0, 1, 5, 0.1, 0.5, 0.5, 60.0),
        train_record(1, 260, "learn", None, 4.0, 0, 2, 0.1, 0.5, 0.5, 60.0),
    ]
    records = lines(tmp_path / "metrics.jsonl")
    assert records == expected
    assert [list(r) for r in records] == [list(r) for r in expected]  # key order too
    assert writer.lines == 12


def test_record_keys_are_those_of_committed_runs():
    """The same keys in the same order as the records of docs/runs/expected-sarsa (written
    before the writer was split out of logging.py), τ for ε aside."""
    records = read_metrics(ROOT / "docs" / "runs" / "expected-sarsa")
    train = next(r for r in records if r["phase"] == "learn")
    evaluation = next(r for r in records if r["phase"] == "eval")
    assert list(train) == [k.replace("epsilon", "temperature") for k in TRAIN_KEYS]
    assert list(evaluation) == EVAL_KEYS


def test_resume_keeps_the_records_of_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"n": {i}}}\n' + ("\n" if i == 1 else "") for i in range(6)))
    writer = MetricsWriter(tmp_path, log_interval=100, resume_steps=250, keep_lines=4)
    assert writer.lines == 4
    assert path.read_text() == "".join(f'{{"n": {i}}}\n' for i in range(4))  # blank dropped
    loop = Loop(writer, seeds=1)
    loop.chunk(280, [[1.0]], [0.1], 1.0, loss=[1.0], q=[1.0])
    assert writer.lines == 4  # the next record is due at step 300, counted from the resume
    loop.chunk(300, [[]], [0.1], 1.0, loss=[3.0], q=[1.0])
    writer.close()
    assert writer.lines == 5
    last = json.loads(path.read_text().splitlines()[-1]) | {"time": None}
    assert last == train_record(0, 300, "learn", 1.0, 1.0, 1, 1, 0.1, 2.0, 1.0, 25.0)


def test_keep_records_on_a_short_file(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert keep_records(path, 10) == 2 and path.read_text() == '{"a": 1}\n{"a": 2}\n'
    assert keep_records(path, 0) == 0 and path.read_text() == ""


def test_clean():
    assert [clean(x) for x in (None, 1, np.float32(0.5), math.nan, -math.inf)] == [
        None, 1.0, 0.5, None, None
    ]  # fmt: skip


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_full_disk_names_metrics_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.symlink_to("/dev/full")  # every write fails: ENOSPC, root too
    writer = MetricsWriter(tmp_path, log_interval=100)
    with pytest.raises(OSError) as exc:
        writer.log_eval(500, 500, np.ones((1, 2)), None, elapsed=0.1)
    assert exc.value.errno == errno.ENOSPC
    hint = "--resume rewrites the records since the last checkpoint"
    assert str(exc.value) == f"[Errno 28] cannot write {path}: No space left on device; {hint}"
    assert writer.lines == 0
    with pytest.raises(RuntimeError, match="is closed: nothing more is written"):
        writer.log_eval(600, 600, np.ones((1, 2)), None, elapsed=0.1)
    writer.flush()  # no second error on the way out
    writer.close()


def test_unopenable_metrics_file_names_it(tmp_path):
    (tmp_path / "metrics.jsonl").mkdir()  # open(..., "a") fails: IsADirectoryError
    with pytest.raises(OSError, match=re.escape(f"cannot write {tmp_path / 'metrics.jsonl'}")):
        MetricsWriter(tmp_path, log_interval=100)


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"seed": 0, "frames": 1, "phase": "learn"}\n{oops\n', ":2: malformed JSON"),
        ('\n[1, 2]\n', ":2: expected a JSON object, got '[1, 2]'"),
        ('{"seed": 0}\n', ":1: record lacks 'frames', 'phase'"),
        ("\n\n", ":1: empty metrics file"),
    ],
)  # fmt: skip
def test_read_records_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "metrics.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path}{message}")):
        read_records(path)


def test_read_records_skips_blank_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('\n{"seed": 1, "frames": 2, "phase": "eval", "x": null}\n\n')
    assert read_records(path) == [{"seed": 1, "frames": 2, "phase": "eval", "x": None}]
    assert read_metrics(tmp_path) == read_records(path)
    with pytest.raises(FileNotFoundError, match="no such metrics file"):
        read_metrics(tmp_path / "nope")


@pytest.mark.parametrize("run", COMMITTED_RUNS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_runs_still_read(run):
    records = read_metrics(run)
    known = {*TRAIN_KEYS, *EVAL_KEYS, "charts/temperature"}
    assert all(set(r) <= known for r in records), run
    assert {r["phase"] for r in records} <= {"warmup", "learn", "eval"}


def test_there_are_committed_runs():
    assert len(COMMITTED_RUNS) >= 9


# ----------------------------------------------------------------------------- the facade


class History:
    def __init__(self, seeds):
        self.scores = [[] for _ in range(seeds)]


def test_run_logger_facade_writes_what_the_parts_write(tmp_path, capsys):
    config = cartpole()  # log_interval 1,000 agent steps
    logger = logging_facade.RunLogger(tmp_path / "a", progress=False)
    (tmp_path / "a").mkdir()
    logger.note("before start")
    logger.start(config, total_frames=4_000)
    history = History(1)
    for steps in (600, 1_200):
        history.scores[0].append(float(steps))
        logger.log_chunk(steps=steps, frames=steps, new_games=[[float(steps)]], history=history,
                         loss=None, mean_q=None, parameter=np.array([0.5]),
                         parameter_name="epsilon", elapsed=1.0, phase="warmup")  # fmt: skip
    assert logger.metrics_lines == 1
    logger.log_eval(1_200, 1_200, np.array([[3.0, 5.0]]), None, elapsed=0.5)
    logger.finish()
    logger.finish()
    assert logger.metrics_lines == 2 and logger.run_dir == tmp_path / "a"
    record = json.loads((tmp_path / "a" / "config.json").read_text())
    assert list(record) == ["config", "versions", "derived", "component_modules"]
    train, evaluation = lines(tmp_path / "a" / "metrics.jsonl")
    # 1,200 steps of one seed in 2 s: 600 SPS; frames as given (frame skip 1)
    expected = train_record(0, 1_200, "warmup", 900.0, 1_200.0, 2, 2, 0.5, None, None, 600.0)
    assert train == {**expected, "frames": 1_200}
    assert evaluation["eval/score"] == 4.0 and evaluation["eval/episodes"] == 2
    out = capsys.readouterr().out.splitlines()
    assert out == ["before start", f"run directory: {tmp_path / 'a'}",
                   "eval at 1,200 frames: mean score per seed 4.0"]  # fmt: skip


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_full_disk_while_logging_names_metrics_file(tmp_path):
    (tmp_path / "metrics.jsonl").symlink_to("/dev/full")  # every write fails: ENOSPC, root too
    logger = logging_facade.RunLogger(tmp_path, progress=False)
    logger.start(cartpole(), total_frames=1_000)
    with pytest.raises(OSError) as exc:
        logger.log_eval(500, 500, np.ones((1, 2)), None, elapsed=0.1)
    assert exc.value.errno == errno.ENOSPC
    path = tmp_path / "metrics.jsonl"
    assert str(exc.value).startswith(f"[Errno 28] cannot write {path}: No space left on device")
    logger.finish()  # no second error on the way out
