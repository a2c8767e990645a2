"""Learning-chunk length on the Nature-settings Assault trainer: agent steps/s of `run` for
several `chunk_iterations` (and the host-stepped envpool backend for comparison).

    python benchmarks/chunk_length.py --seconds 20

`--num-seeds` seeds (default 1), 100k replay, 1,000 steps of warm-up; the rate (all seeds)
excludes compilation and warm-up.
Run by hand, never by CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from jaxdqn.options import RunOptions  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.presets import nature  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--chunk-iterations", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--num-seeds", type=int, default=1)
    p.add_argument("--no-host", action="store_true", help="skip the host-stepped comparison")
    args = p.parse_args()
    settings = [(n, "envpool-xla") for n in args.chunk_iterations]
    settings += [] if args.no_host else [(4, "envpool")]
    for iterations, backend in settings:
        base = nature()
        config = dataclasses.replace(
            base,
            env=dataclasses.replace(base.env, num_seeds=args.num_seeds),
            replay=dataclasses.replace(base.replay, replay_capacity=100_000),
            train=dataclasses.replace(base.train, learning_starts=1_000),
        )  # fmt: skip
        options = RunOptions(env_backend=backend, chunk_iterations=iterations, progress=False)
        trainer = make_train(make_plan(config, options))
        state = trainer.init()
        state, _ = trainer.warmup(state, config.warmup_env_steps)
        jax.block_until_ready(state.obs)
        start = time.perf_counter()
        state, _ = trainer.run(state, iterations)
        jax.block_until_ready(state.obs)
        compile_s = time.perf_counter() - start
        chunks, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            state, _ = trainer.run(state, iterations)
            jax.block_until_ready(state.obs)
            chunks += 1
        rate = chunks * iterations * config.agent_steps_per_iteration * args.num_seeds
        rate /= time.perf_counter() - start
        print(f"seeds={args.num_seeds} chunk_iterations={iterations:3d} {backend:12s} "
              f"{rate:7.1f} agent steps/s "
              f"(compile + first chunk {compile_s:.1f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
