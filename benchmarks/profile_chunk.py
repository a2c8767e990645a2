"""Profile of learning chunks with jax.profiler: where the time of one chunk goes, by XLA op.

    python benchmarks/profile_chunk.py --chunks 10

Traces `--chunks` learning chunks of the Nature-settings Assault trainer (1 seed, after
warm-up and compilation) with `jax.profiler.trace(create_perfetto_trace=True)`, then sums the
durations of the XLA CPU runtime's leaf op events (the thunks executed on XLA's worker threads)
by op kind, and prints a table of the kinds with their share of op time. Op kinds are XLA's
names with the instance number removed; `--hlo` also writes the compiled chunk's HLO so a kind
can be traced to the operations it fuses. Appends a record to benchmarks/results.jsonl.
Run by hand, never by CI.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from benchmarks.train_sps import RESULTS, commit  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.presets import PRESETS  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402

# What each op kind is in this program (read from the compiled chunk's HLO, `--hlo`).
KINDS = {
    "ynn_fusion": "convolutions and matmuls run by XNNPACK (forward and backward)",
    "multiply_add_fusion": "element-wise updates: optimizer moments, parameter updates, grads",
    "transpose_copy_fusion": "layout transposes XLA inserts around conv gradients",
    "ffi_call": "envpool's XLA step (custom call): emulation, preprocessing",
    "convolution-base-dilated": "conv weight gradients XNNPACK does not take (dilated)",
    "convolution": "other XLA convolutions",
    "copy_bitcast_fusion": "copies",
    "maximum_bitcast_fusion": "ReLU (and its gradient)",
    "dot": "XLA matmuls outside XNNPACK",
    "bitcast_gather_fusion": "replay sampling: gathers of frames and transitions",
    "copy": "copies (small)",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=10)
    p.add_argument("--top", type=int, default=14)
    p.add_argument("--hlo", default=None, help="write the compiled chunk's HLO text here")
    p.add_argument("--preset", default="nature", choices=sorted(PRESETS))
    args = p.parse_args()

    base = PRESETS[args.preset]()
    config = dataclasses.replace(
        base,
        replay=dataclasses.replace(base.replay, replay_capacity=50_000),
        train=dataclasses.replace(
            base.train, learning_starts=min(base.train.learning_starts, 1_600)
        ),
    )
    plan = make_plan(config)
    runtime = plan.runtime
    trainer = make_train(plan)
    n = runtime.chunk_iterations
    state = trainer.init()
    state, _ = trainer.warmup(state, config.warmup_env_steps)
    state, _ = trainer.run(state, n)  # compile
    jax.block_until_ready(state.obs)
    if args.hlo:
        with open(args.hlo, "w") as f:
            f.write(trainer.run.lower(state, n).compile().as_text())
    trace_dir = tempfile.mkdtemp(prefix="jaxdqn-profile-")
    start = time.perf_counter()
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
        for _ in range(args.chunks):
            state, _ = trainer.run(state, n)
            jax.block_until_ready(state.obs)
    wall = time.perf_counter() - start
    (path,) = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)
    with gzip.open(path) as f:
        events = json.load(f)["traceEvents"]
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    by_kind, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") != "X" or not threads.get((e["pid"], e["tid"]), "").startswith("tf_XLA"):
            continue
        if e["name"].startswith(("ThunkExecutor", "end: ", "SlinkyThreadPool", "while", "call")):
            continue  # containers and markers, not ops
        kind = re.sub(r"\.\d+$", "", e["name"])
        by_kind[kind] += e["dur"] / 1e6
        count[kind] += 1
    total = sum(by_kind.values())
    steps = args.chunks * config.agent_steps_per_iteration * n
    print(f"{args.chunks} chunks, {steps} agent steps, {wall:.2f} s wall "
          f"({steps / wall:.0f} agent steps/s while tracing); op time {total:.2f} s "
          f"on XLA's threads")  # fmt: skip
    print(f"{'op kind':<26} {'s':>7} {'share':>6} {'calls':>6}  what")
    rows = []
    for kind, seconds in by_kind.most_common(args.top):
        rows.append({"kind": kind, "seconds": seconds, "share": seconds / total,
                     "calls": count[kind]})  # fmt: skip
        print(f"{kind:<26} {seconds:7.3f} {seconds / total:6.1%} {count[kind]:6d}  "
              f"{KINDS.get(kind, '')}")  # fmt: skip
    record = {
        "benchmark": "profile_chunk",
        "chunks": args.chunks,
        "agent_steps": steps,
        "wall_s": wall,
        "op_seconds": total,
        "top": rows,
        "backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "commit": commit(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    with open(RESULTS, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
