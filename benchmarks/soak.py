"""Soak test (a benchmark, never run by CI): a long CPU Assault run, killed with SIGKILL at random
moments and resumed, with the process's resident memory sampled throughout.

    python benchmarks/soak.py --hours 2 --kills 2 --checkpoint-minutes 10

What it checks and records:
  * the run reaches its frame budget despite the kills (the final process exits 0);
  * every resume starts from the latest checkpoint written before the kill (the step the
    resumed run announces equals the newest checkpoint on disk at kill time);
  * the final checkpoint restores (parameters, replay and metadata) with the library's API;
  * metrics.jsonl is coherent: per seed, agent steps strictly increase (no duplicated or lost
    records across resumes) and end at the run's last step;
  * RSS (VmRSS of the training process) sampled every `--sample-seconds`: its range per process
    after the replay is allocated, and the drift over each process's life.

The RSS series goes to benchmarks/soak/<run>.csv and a summary record to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results.jsonl"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hours", type=float, default=2.0, help="planned length; kills fall inside")
    p.add_argument("--kills", type=int, default=2, help="SIGKILLs at random moments")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--total-frames", type=int, default=2_400_000, help="frames per seed")
    p.add_argument("--replay-capacity", type=int, default=250_000)
    p.add_argument("--sample-seconds", type=float, default=15.0)
    p.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    p.add_argument("--run-dir", default=str(ROOT / "runs"))
    args = p.parse_args()

    from jaxdqn.checkpoint import Checkpointer
    from jaxdqn.loop import process_rss_bytes
    from jaxdqn.metrics import read_metrics

    name = "soak-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.run_dir) / name
    rng = random.Random(args.seed)
    # Kills fall after the first checkpoint can exist and well before the planned end.
    lo = 1.5 * args.checkpoint_minutes * 60
    hi = 0.8 * args.hours * 3600
    kill_at = sorted(rng.uniform(lo, hi) for _ in range(args.kills))
    base = [sys.executable, str(ROOT / "experiments" / "assault.py")]
    fresh = base + [
        "--preset", "nature",
        "--total-frames", str(args.total_frames),
        "--replay-capacity", str(args.replay_capacity),
        "--checkpoint-minutes", str(args.checkpoint_minutes),
        "--checkpoint-every", "0",
        "--no-progress",
        "--run-dir", args.run_dir,
        "--run-name", name,
    ]  # fmt: skip
    resume = base + ["--resume", str(run_dir), "--no-progress"]

    csv_dir = ROOT / "benchmarks" / "soak"
    csv_dir.mkdir(parents=True, exist_ok=True)
    csv_path = csv_dir / f"{name}.csv"
    csv = open(csv_path, "w")
    csv.write("seconds,process,rss_bytes\n")
    events, processes = [], []
    t0 = time.monotonic()
    log = open(csv_dir / f"{name}.log", "w")

    def event(what: str, **kw):
        record = {"t": round(time.monotonic() - t0, 1), "event": what, **kw}
        events.append(record)
        print(json.dumps(record), flush=True)

    command = fresh
    while True:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        index = len(processes)
        processes.append({"pid": proc.pid, "rss": []})
        event("start", process=index, command=" ".join(command[1:]))
        killed = False
        while proc.poll() is None:
            time.sleep(args.sample_seconds)
            now = time.monotonic() - t0
            rss = process_rss_bytes(proc.pid)
            if rss:
                processes[index]["rss"].append((now, rss))
                csv.write(f"{now:.1f},{index},{rss}\n")
                csv.flush()
            if kill_at and now >= kill_at[0] and proc.poll() is None:
                kill_at.pop(0)
                steps_on_disk = Checkpointer(run_dir).all_steps()
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                event("SIGKILL", process=index, checkpoints_on_disk=steps_on_disk)
                processes[index]["latest_checkpoint_at_kill"] = max(steps_on_disk or [0])
                killed = True
        if not killed:
            event("exit", process=index, returncode=proc.returncode)
            break
        command = resume
    log.close()
    csv.close()

    # Resumes start where the last checkpoint was.
    log_text = (csv_dir / f"{name}.log").read_text()
    resumed_frames = [
        int(line.split("resumed at ")[1].split(" frames")[0].replace(",", ""))
        for line in log_text.splitlines()
        if "resumed at " in line
    ]
    expected = [
        4 * p["latest_checkpoint_at_kill"] for p in processes if "latest_checkpoint_at_kill" in p
    ]
    # The final checkpoint restores.
    from jaxdqn.checkpoint import load_run_config
    from jaxdqn.plan import make_plan
    from jaxdqn.train import make_train

    config = load_run_config(run_dir)
    checkpointer = Checkpointer(run_dir)
    trainer = make_train(make_plan(config))
    restored, meta = checkpointer.restore(trainer.abstract_checkpoint())
    final_step = int(meta["steps"])
    # Metrics coherence.
    records = [r for r in read_metrics(run_dir) if r["phase"] in ("warmup", "learn")]
    coherent = True
    for seed in {r["seed"] for r in records}:
        seed_steps = [r["step"] for r in records if r["seed"] == seed]
        coherent &= all(b > a for a, b in zip(seed_steps, seed_steps[1:], strict=False))
        coherent &= seed_steps[-1] == final_step
    summary_rss = []
    for i, proc_info in enumerate(processes):
        series = [r for t, r in proc_info["rss"]]
        if len(series) < 4:
            continue
        settled = series[len(series) // 4 :]  # after warm-up and replay allocation
        summary_rss.append({
            "process": i,
            "samples": len(series),
            "settled_min_gib": round(min(settled) / 2**30, 3),
            "settled_max_gib": round(max(settled) / 2**30, 3),
            "drift_gib": round((settled[-1] - settled[0]) / 2**30, 3),
        })  # fmt: skip
    record = {
        "benchmark": "soak",
        "run": name,
        "wall_hours": round((time.monotonic() - t0) / 3600, 3),
        "kills": len(expected),
        "resumed_at_frames": resumed_frames,
        "latest_checkpoint_at_kill_frames": expected,
        "resumes_from_latest_checkpoint": resumed_frames == expected,
        "completed": processes and events[-1].get("returncode") == 0,
        "final_step": final_step,
        "final_checkpoint_restores": restored is not None,
        "metrics_coherent": bool(coherent),
        "rss": summary_rss,
        "events": events,
        "total_frames": args.total_frames,
        "replay_capacity": args.replay_capacity,
        "checkpoint_minutes": args.checkpoint_minutes,
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    try:
        record["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        pass
    with open(RESULTS, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "events"}, indent=1))


if __name__ == "__main__":
    main()
