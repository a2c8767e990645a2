"""PQN's minibatch updates on CPU: one `lax.scan` (the default) against straight-line code.

    python benchmarks/pqn_loop.py scan
    python benchmarks/pqn_loop.py straight

Builds the `pqn_minatar` trainer on Breakout-MinAtar (1 seed, 128 envs, gymnax, one iteration
per chunk: a rollout of 32 steps, then 2 epochs × 32 minibatches of 128), times its first
chunk (compiling included) and the next `--iterations`, and prints the agent steps per second.
`straight` replaces `pqn.epochs` by a Python loop over the 64 updates, so the chunk holds them
as straight-line code (what DQN's conv updates gain from on XLA CPU, BENCHMARKS.md "Chunk
length on CPU"). Run by hand, never by CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxdqn import pqn, presets  # noqa: E402
from jaxdqn.options import RunOptions  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402


def straight_epochs(parts: pqn.Parts, state: pqn.PQNState, batch: pqn.Batch):
    """`pqn.epochs` with its updates unrolled by Python: the same draws, no loop."""
    key, order_key = jax.random.split(state.key)
    n = batch.target.shape[0]
    indices = pqn.epoch_indices(order_key, parts.num_epochs, n, parts.num_minibatches)
    indices = indices.reshape((-1, n // parts.num_minibatches))
    state, metrics = state.replace(key=key), []
    for minibatch in indices:
        state, out = pqn.update(parts, state, pqn.take(batch, minibatch))
        metrics.append(out)
    return state, jax.tree_util.tree_map(lambda *x: jnp.mean(jnp.stack(x)), *metrics)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("scan", "straight"))
    p.add_argument("--iterations", type=int, default=5)
    args = p.parse_args()
    if args.mode == "straight":
        pqn.epochs = straight_epochs  # what pqn.learn_rollout calls
    config = presets.pqn_minatar()
    config = dataclasses.replace(
        config, env=dataclasses.replace(config.env, env_id="Breakout-MinAtar")
    )
    trainer = make_train(make_plan(config, RunOptions(env_backend="gymnax", chunk_iterations=1)))
    state = trainer.init()
    start = time.perf_counter()
    state, _ = trainer.run(state, 1)
    jax.block_until_ready(state.obs)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.iterations):
        state, _ = trainer.run(state, 1)
    jax.block_until_ready(state.obs)
    seconds = time.perf_counter() - start
    steps = args.iterations * config.agent_steps_per_iteration
    print(f"{args.mode}: compile + first iteration {first:.1f} s; {args.iterations} iterations "
          f"{seconds:.2f} s = {steps / seconds:,.0f} agent steps/s")  # fmt: skip


if __name__ == "__main__":
    main()
