"""Replay add and sample rates for Atari-shaped data (uint8 [4, 84, 84] stacks).

    python benchmarks/replay_throughput.py                    # 1M deduplicated, 100k plain
    python benchmarks/replay_throughput.py --capacity 1000000 --batch-size 32 128

Times jitted, donated `add` (one step for every env column) and jitted `sample`, each on its
own, after compilation. Prints a table and appends JSON records to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.train_sps import RESULTS, commit  # noqa: E402
from jaxdqn.replay import make_replay, replay_nbytes  # noqa: E402


def measure(capacity, num_envs, batch_sizes, dedup, seconds):
    shape = (4, 84, 84)
    replay = make_replay(capacity, num_envs, shape, jnp.uint8, dedup_frames=dedup)
    add = jax.jit(replay.add, donate_argnums=0)
    state = replay.init()
    rng = np.random.default_rng(0)
    frames = jnp.asarray(rng.integers(0, 256, (num_envs,) + shape, dtype=np.uint8))
    zeros = jnp.zeros((num_envs,))
    actions = jnp.zeros((num_envs,), jnp.int32)
    first = jnp.zeros((num_envs,), bool)
    state = add(state, frames, actions, zeros, zeros, first)  # compile
    # Fill enough rows that sampling draws from a large range (the rate does not depend on it).
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            state = add(state, frames, actions, zeros, zeros, first)
        jax.block_until_ready(state.cursor)
        n += 100
    add_rate = n * num_envs / (time.perf_counter() - t0)
    rows = []
    for batch_size in batch_sizes:
        sample = jax.jit(replay.sample, static_argnums=2)
        key = jax.random.PRNGKey(0)
        jax.block_until_ready(sample(state, key, batch_size))
        k, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(50):
                key, sample_key = jax.random.split(key)
                batch = sample(state, sample_key, batch_size)
            jax.block_until_ready(batch)
            k += 50
        elapsed = time.perf_counter() - t0
        rows.append({
            "benchmark": "replay_throughput",
            "storage": "frame-deduplicated" if dedup else "plain",
            "capacity": capacity,
            "num_envs": num_envs,
            "bytes_per_transition": replay_nbytes(capacity, num_envs, shape, np.uint8, dedup)
            / capacity,
            "batch_size": batch_size,
            "add_transitions_per_s": add_rate,
            "sample_batches_per_s": k / elapsed,
            "sample_transitions_per_s": k * batch_size / elapsed,
            "backend": jax.default_backend(),
            "device": str(jax.devices()[0]),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "commit": commit(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument(
        "--plain-capacity",
        type=int,
        default=100_000,
        help="the plain buffer stores whole stacks: 1M would need 26 GiB",
    )
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = measure(args.capacity, args.num_envs, args.batch_size, True, args.seconds)
    rows += measure(args.plain_capacity, args.num_envs, args.batch_size, False, args.seconds)
    with open(RESULTS, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{'storage':<20} {'capacity':>9} {'B/transition':>12} {'batch':>5} "
          f"{'add trans/s':>12} {'sample trans/s':>15}")  # fmt: skip
    for r in rows:
        print(f"{r['storage']:<20} {r['capacity']:>9,} {r['bytes_per_transition']:>12,.0f} "
              f"{r['batch_size']:>5} {r['add_transitions_per_s']:>12,.0f} "
              f"{r['sample_transitions_per_s']:>15,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
