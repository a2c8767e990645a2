"""jaxdqn's side of a peer comparison: a preset with the peer's settings, trained until killed.

Prints `jaxdqn agent_steps=N` after every learning chunk (N agent steps of all envs since
learning started), the one line `run.py` counts; the warm-up and the first chunk's compile
come before the first such line. Built from the public entry points only (`make_plan`,
`make_train`), as benchmarks/train_sps.py is.

    python benchmarks/peers/jaxdqn_side.py --preset cleanrl --env-id Assault-v5 \
        --learning-starts 1000 --replay-capacity 100000 --epsilon 0.01
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402

from jaxdqn import presets  # noqa: E402
from jaxdqn.config import Config  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402


def make_config(args: argparse.Namespace) -> Config:
    """The preset with the comparison's env, warm-up, replay and (fixed) ε."""
    base = getattr(presets, args.preset)()
    agent = dataclasses.replace(base.agent, epsilon_start=args.epsilon, epsilon_end=args.epsilon)
    if args.conv_padding:
        agent = dataclasses.replace(agent, conv_padding=args.conv_padding)
    return dataclasses.replace(
        base,
        env=dataclasses.replace(
            base.env,
            env_id=args.env_id,
            num_seeds=1,
            envs_per_seed=args.envs_per_seed,
            seed=args.seed,
        ),  # fmt: skip
        replay=dataclasses.replace(base.replay, replay_capacity=args.replay_capacity),
        agent=agent,
        train=dataclasses.replace(
            base.train, learning_starts=args.learning_starts, total_frames=4 * 10**9
        ),  # fmt: skip
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cleanrl")
    p.add_argument("--env-id", default="Assault-v5")
    p.add_argument("--envs-per-seed", type=int, default=1)
    p.add_argument("--learning-starts", type=int, default=1_000)
    p.add_argument("--replay-capacity", type=int, default=100_000)
    p.add_argument("--epsilon", type=float, default=0.01, help="ε throughout (the steady phase)")
    p.add_argument("--conv-padding", choices=["VALID", "SAME"], default=None)
    p.add_argument("--seed", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> None:
    config = make_config(parser().parse_args(argv))
    plan = make_plan(config)
    trainer = make_train(plan)
    n = plan.runtime.chunk_iterations
    per_chunk = n * config.agent_steps_per_iteration
    state = trainer.init()
    state, _ = trainer.warmup(state, config.warmup_env_steps)
    print(f"jaxdqn warm-up done; chunks of {n} iteration(s), {per_chunk} agent steps", flush=True)
    steps = 0
    while True:
        state, _ = trainer.run(state, n)
        jax.block_until_ready(state.obs)
        steps += per_chunk
        print(f"jaxdqn agent_steps={steps}", flush=True)


if __name__ == "__main__":
    main()
