"""Per-layer speed: envpool stepping, action selection, learner updates and the FLOP bound.

    python benchmarks/layers.py [--seconds 5]

(1) envpool Assault raw agent steps/s, sync and async, by num_envs and threads; (2) Nature-CNN
forward passes (greedy action selection) per second by batch; (3) learner updates per second at
batch 32 and 128, with the FLOPs per update from XLA's own cost analysis, the achieved FLOP/s,
and the machine's measured float32 matmul FLOP/s. Prints tables and appends JSON records to
benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envpool  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from benchmarks.train_sps import RESULTS, commit  # noqa: E402
from jaxdqn.losses import q_learning, td_loss  # noqa: E402
from jaxdqn.networks import NatureQNetwork  # noqa: E402


def timed(fn, seconds: float) -> float:
    """Calls per second of fn() (which must block), after one warm-up call."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def envpool_rates(seconds):
    rows = []
    for num_envs, threads, batch in [(4, 0, 4), (8, 0, 8), (16, 0, 16), (16, 2, 8), (32, 0, 32)]:
        env = envpool.make("Assault-v5", env_type="gymnasium", num_envs=num_envs,
                           batch_size=batch, num_threads=threads)  # fmt: skip
        mode = "sync" if batch == num_envs else "async"
        if mode == "sync":
            env.reset()
            actions = np.zeros(num_envs, np.int32)
            rate = timed(lambda a=actions, e=env: e.step(a), seconds) * num_envs
        else:
            env.async_reset()
            state = {"ids": env.recv()[-1]["env_id"]}

            def step(e=env, s=state, b=batch):
                e.send(np.zeros(b, np.int32), s["ids"])
                s["ids"] = e.recv()[-1]["env_id"]

            rate = timed(step, seconds) * batch
        rows.append({"layer": "envpool", "mode": mode, "num_envs": num_envs,
                     "batch_size": batch, "threads": threads or os.cpu_count(),
                     "agent_steps_per_s": rate, "frames_per_s": rate * 4})  # fmt: skip
    return rows


def network_rates(seconds):
    net = NatureQNetwork(7)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 84, 84), jnp.uint8))
    rows = []
    act = jax.jit(lambda p, o: jnp.argmax(net.apply(p, o).q_values, -1))
    for batch in (1, 4, 16, 32, 128):
        obs = jnp.zeros((batch, 4, 84, 84), jnp.uint8)
        rate = timed(lambda o=obs: act(params, o).block_until_ready(), seconds)
        rows.append({"layer": "act", "batch_size": batch, "calls_per_s": rate,
                     "observations_per_s": rate * batch})  # fmt: skip

    opt = optax.adam(1e-4, eps=1.5e-4)

    def update(p, target, opt_state, batch):
        def loss_fn(p):
            q_tm1 = net.apply(p, batch["s_tm1"]).q_values
            q_t = net.apply(target, batch["s_t"]).q_values
            td = jax.vmap(q_learning)(q_tm1, batch["a"], batch["r"], batch["d"], q_t)
            return td_loss(td, "huber")

        grads = jax.grad(loss_fn)(p)
        updates, opt_state = opt.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state

    update = jax.jit(update)
    for batch_size in (32, 128):
        batch = {
            "s_tm1": jnp.zeros((batch_size, 4, 84, 84), jnp.uint8),
            "s_t": jnp.zeros((batch_size, 4, 84, 84), jnp.uint8),
            "a": jnp.zeros((batch_size,), jnp.int32),
            "r": jnp.zeros((batch_size,)),
            "d": jnp.full((batch_size,), 0.99),
        }
        opt_state = opt.init(params)
        target = jax.tree_util.tree_map(jnp.array, params)
        flops = update.lower(params, target, opt_state, batch).compile().cost_analysis()
        flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))
        rate = timed(lambda b=batch, s=opt_state, t=target: jax.block_until_ready(
            update(params, t, s, b)), seconds)  # fmt: skip
        rows.append({"layer": "update", "batch_size": batch_size, "updates_per_s": rate,
                     "flops_per_update": flops, "achieved_flops_per_s": rate * flops})  # fmt: skip
    a = jnp.ones((2048, 2048), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    rate = timed(lambda: matmul(a).block_until_ready(), seconds)
    rows.append({"layer": "matmul", "size": 2048, "flops_per_s": rate * 2 * 2048**3})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    stamp = {
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "envpool": envpool.__version__,
        "commit": commit(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    rows = envpool_rates(args.seconds) + network_rates(args.seconds)
    with open(RESULTS, "a") as f:
        for row in rows:
            f.write(json.dumps({"benchmark": "layers", **row, **stamp}) + "\n")
    for row in rows:
        print({k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()})


if __name__ == "__main__":
    main()
