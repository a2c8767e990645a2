"""End-to-end training throughput: agent steps per second after learning has started.

Compilation and the replay warm-up are excluded from the rate and reported separately.
Run by hand, never by CI:

    python benchmarks/train_sps.py --env assault --num-seeds 1 4
    python benchmarks/train_sps.py --env cartpole --num-seeds 1 3
    python benchmarks/train_sps.py --env-backend envpool-xla envpool gymnasium --num-seeds 1 4
    python benchmarks/train_sps.py --env breakout-minatar --num-seeds 1 8 64   # gymnax
    python benchmarks/train_sps.py --env cartpole --env-backend gymnax --num-seeds 1 8 64
    python benchmarks/train_sps.py --env-backend ale-xla envpool-xla --num-seeds 1 4 --repeats 3

Prints a table and appends one JSON record per setting to benchmarks/results.jsonl. With
--repeats N every setting is measured N times, the backends taking turns within each round (on
a shared machine, load that comes and goes then falls on all of them alike), and a second table
sets the backends' medians side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from jaxdqn.options import RunOptions  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.presets import cartpole, minatar, nature  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.jsonl")


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=os.path.dirname(RESULTS))  # fmt: skip
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def measure(
    env: str, num_seeds: int, seconds: float, replay_capacity: int | None, backend: str = "auto"
) -> dict:
    base = {"assault": nature, "cartpole": cartpole, "breakout-minatar": minatar}[env]()
    replay = base.replay
    if replay_capacity:
        replay = dataclasses.replace(replay, replay_capacity=replay_capacity)
    learning_starts = max(replay.batch_size * 4, 1_000)
    config = dataclasses.replace(
        base,
        env=dataclasses.replace(base.env, num_seeds=num_seeds),
        replay=replay,
        train=dataclasses.replace(base.train, learning_starts=learning_starts),
    )
    plan = make_plan(config, RunOptions(env_backend=backend, progress=False))
    runtime = plan.runtime
    trainer = make_train(plan)
    state = trainer.init()
    n = runtime.chunk_iterations
    t0 = time.perf_counter()
    state, _ = trainer.warmup(state, config.warmup_env_steps)
    jax.block_until_ready(state.obs)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, _ = trainer.run(state, n)
    jax.block_until_ready(state.obs)
    first_chunk_s = time.perf_counter() - t0
    per_chunk = config.agent_steps_per_iteration * n
    chunks, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        state, metrics = trainer.run(state, n)
        jax.block_until_ready(state.obs)
        chunks += 1
    elapsed = time.perf_counter() - t0
    trainer.env.close()  # its env threads: a later setting gets the cores
    steps = chunks * per_chunk * num_seeds
    updates = chunks * n * config.updates_per_iteration * num_seeds
    return {
        "benchmark": "train_sps",
        "env": config.env.env_id,
        "env_backend": runtime.env_backend,
        "num_seeds": num_seeds,
        "envs_per_seed": config.env.envs_per_seed,
        "batch_size": config.replay.batch_size,
        "replay_capacity": config.replay.replay_capacity,
        "chunk_iterations": n,
        "unroll": runtime.unroll,
        "agent_steps_per_s": steps / elapsed,
        "agent_steps_per_s_per_seed": steps / elapsed / num_seeds,
        "frames_per_s": steps * config.env.frame_skip / elapsed,
        "updates_per_s": updates / elapsed,
        "compile_and_first_chunk_s": first_chunk_s,
        "warmup_s_incl_compile": warmup_s,
        "measured_s": elapsed,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "jax": jax.__version__,
        "commit": commit(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def rounds(backends: list[str], num_seeds: list[int], repeats: int):
    """(repeat, num_seeds, backend) in measuring order: every round measures every setting,
    the backends one after the other for each number of seeds, their order reversed on odd
    rounds so that none always runs first after a compile-heavy switch."""
    for r in range(repeats):
        for n in num_seeds:
            for backend in backends if r % 2 == 0 else backends[::-1]:
                yield r, n, backend


def print_rows(rows: list[dict]) -> None:
    print(f"{'env':<16} {'backend':<12} {'seeds':>5} {'steps/s':>10} {'per seed':>9} "
          f"{'frames/s':>9} {'updates/s':>9} {'compile+1st chunk s':>20}")  # fmt: skip
    for r in rows:
        print(f"{r['env']:<16} {r['env_backend']:<12} {r['num_seeds']:>5} "
              f"{r['agent_steps_per_s']:>10.1f} {r['agent_steps_per_s_per_seed']:>9.1f} "
              f"{r['frames_per_s']:>9.1f} {r['updates_per_s']:>9.1f} "
              f"{r['compile_and_first_chunk_s']:>20.1f}")  # fmt: skip


def print_medians(rows: list[dict]) -> None:
    """Markdown: per number of seeds, each backend's median agent steps/s over the repeats
    (min–max), and the first backend's median over the second's."""
    backends = list(dict.fromkeys(r["env_backend"] for r in rows))
    seeds = list(dict.fromkeys(r["num_seeds"] for r in rows))
    head = " | ".join(f"{b} steps/s, median (min–max)" for b in backends)
    ratio = f" | {backends[0]} / {backends[1]}" if len(backends) > 1 else ""
    print(f"| seeds | repeats | {head}{ratio} |")
    print("|---:|---:|" + "---:|" * (len(backends) + bool(ratio)))
    for n in seeds:
        rates = {b: sorted(r["agent_steps_per_s"] for r in rows
                           if r["env_backend"] == b and r["num_seeds"] == n)
                 for b in backends}  # fmt: skip
        medians = {b: statistics.median(v) for b, v in rates.items()}
        cells = " | ".join(f"{medians[b]:.1f} ({v[0]:.1f}–{v[-1]:.1f})" for b, v in rates.items())
        if ratio:
            cells += f" | {medians[backends[0]] / medians[backends[1]]:.2f}"
        print(f"| {n} | {len(rates[backends[0]])} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=["assault", "cartpole", "breakout-minatar"],
                        default="assault")  # fmt: skip
    parser.add_argument("--num-seeds", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring time per setting")
    parser.add_argument("--replay-capacity", type=int, default=100_000,
                        help="smaller than Nature's 1M so 4 seeds fit in 24 GiB; sampling is "
                        "O(batch), so capacity does not change the rate")  # fmt: skip
    parser.add_argument("--env-backend", nargs="+", default=["auto"],
                        choices=["auto", "envpool-xla", "envpool", "gymnasium", "gymnax",
                                 "ale-xla"])  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds over every setting (medians need several)")  # fmt: skip
    args = parser.parse_args()
    rows = []
    for repeat, n, backend in rounds(args.env_backend, args.num_seeds, args.repeats):
        row = measure(args.env, n, args.seconds, args.replay_capacity, backend)
        row["repeat"] = repeat
        rows.append(row)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")
    print_rows(rows)
    if args.repeats > 1 or len(args.env_backend) > 1:
        print()
        print_medians(rows)


if __name__ == "__main__":
    main()
