"""Speed of the Atari 100k protocol (drq_eps preset) on this machine: the update, and the chunk.

    python benchmarks/atari100k_speed.py update [--seconds 5]
    python benchmarks/atari100k_speed.py update --per-core
    python benchmarks/atari100k_speed.py chunk [--chunk-iterations 1 4] [--per-core]

`update`: one DrQ(ε) learner update at batch 32 (shared-dueling Nature network, double-Q,
Adam, drq augmentation of s_tm1 and s_t), jitted on its own, for each variant: VALID or SAME
convolutions; a separate target forward pass or the one pass that `target_is_online` uses;
convolutions as flax's NHWC `nn.Conv`, as `lax.conv` on envpool's NCHW layout, or as
space-to-depth patches and one matmul; and 4 updates in a rolled `lax.scan`. Prints
updates/s, CPU seconds per update (all threads), XLA's FLOPs per update and the share of the
float32 matmul peak measured in the same process. `chunk`: agent steps/s of drq_eps
learning chunks (env step, act, replay add, sample, augmentation, update) after warm-up and
compilation. `--per-core` starts one process per CPU core, each pinned to its core, all at
once, and prints each one's output.
Appends JSON records to benchmarks/results.jsonl. Run by hand, never by CI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.train_sps import RESULTS, commit  # noqa: E402
from jaxdqn.agent import make_agent  # noqa: E402
from jaxdqn.augmentations import AUGMENTATIONS  # noqa: E402
from jaxdqn.losses import double_q_learning  # noqa: E402
from jaxdqn.networks import SharedDuelingQNetwork, dueling_head  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.presets import drq_eps  # noqa: E402
from jaxdqn.replay import Transition  # noqa: E402
from jaxdqn.runtime import RuntimeOptions  # noqa: E402
from jaxdqn.train import make_optimizer, make_train  # noqa: E402


def timed(fn, seconds: float) -> tuple[float, float]:
    """(calls per second, CPU seconds per call over all threads) of a blocking fn()."""
    fn()
    fn()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


def patches(x, size: int, stride: int, padding: str):
    """`[B, H, W, C]` → `[B, H', W', size·size·C]` patches in (row, col, channel) order, by
    space-to-depth (kernel a multiple of the stride) or strided slices."""
    B, H, W, C = x.shape
    if padding == "SAME":
        Ho, Wo = -(-H // stride), -(-W // stride)
        ph, pw = max((Ho - 1) * stride + size - H, 0), max((Wo - 1) * stride + size - W, 0)
        x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    if size % stride:
        cols = [x[:, i : i + stride * (Ho - 1) + 1 : stride, j : j + stride * (Wo - 1) + 1 : stride]
                for i in range(size) for j in range(size)]  # fmt: skip
        return jnp.concatenate(cols, -1)
    m, Hn, Wn = (
        size // stride,
        (Ho - 1 + size // stride) * stride,
        (Wo - 1 + size // stride) * stride,
    )
    x = x[:, :Hn, :Wn]
    x = x.reshape(B, Hn // stride, stride, Wn // stride, stride, C)
    cols = [x[:, i : i + Ho, :, j : j + Wo] for i in range(m) for j in range(m)]
    p = jnp.stack(cols).reshape(m, m, B, Ho, stride, Wo, stride, C)
    return p.transpose(2, 3, 5, 0, 4, 1, 6, 7).reshape(B, Ho, Wo, size * size * C)


class Conv(nn.Module):
    """A convolution with nn.Conv's parameters, computed in another layout or as a matmul."""

    features: int
    size: int
    stride: int
    padding: str
    how: str  # "nchw" | "patches"

    @nn.compact
    def __call__(self, x):
        channels = x.shape[1] if self.how == "nchw" else x.shape[-1]
        shape = (self.size, self.size, channels, self.features)
        kernel = self.param("kernel", nn.initializers.xavier_uniform(), shape)
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.how == "nchw":
            strides = (self.stride, self.stride)
            dims = ("NCHW", "HWIO", "NCHW")
            y = jax.lax.conv_general_dilated(
                x, kernel, strides, self.padding, dimension_numbers=dims
            )
            return y + bias[:, None, None]
        x = patches(x, self.size, self.stride, self.padding)
        return x @ kernel.reshape(-1, self.features) + bias


class VariantNetwork(nn.Module):
    """SharedDuelingQNetwork with its convolutions computed another way."""

    num_actions: int
    padding: str
    how: str

    @nn.compact
    def __call__(self, obs):
        x = obs.astype(jnp.float32) / 255.0
        if self.how != "nchw":
            x = jnp.moveaxis(x, -3, -1)
        for features, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = nn.relu(Conv(features, size, stride, self.padding, self.how)(x))
        x = nn.relu(nn.Dense(512)(x.reshape(x.shape[0], -1)))
        return dueling_head(nn.Dense(1)(x), nn.Dense(self.num_actions)(x))


def matmul_peak(seconds: float) -> float:
    a = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda x: x @ x)
    rate, _ = timed(lambda: mm(a).block_until_ready(), seconds)
    return rate * 2 * 2048**3


def update_rates(seconds: float) -> list[dict]:
    config = drq_eps()
    rng = np.random.default_rng(0)
    batch = Transition(
        s_tm1=jnp.asarray(rng.integers(0, 256, (32, 4, 84, 84), np.uint8)),
        a_tm1=jnp.asarray(rng.integers(0, 7, 32), jnp.int32),
        r_t=jnp.asarray(rng.normal(size=32), jnp.float32),
        discount_t=jnp.full((32,), 0.99**10, jnp.float32),
        s_t=jnp.asarray(rng.integers(0, 256, (32, 4, 84, 84), np.uint8)),
    )
    peak = matmul_peak(seconds)
    variants = [("VALID", "flax", False, 0), ("VALID", "flax", True, 0), ("SAME", "flax", False, 0),
                ("SAME", "flax", True, 0), ("VALID", "nchw", True, 0),
                ("VALID", "patches", True, 0), ("VALID", "flax", True, 4)]  # fmt: skip
    rows = []
    for padding, how, fused, scan in variants:
        if how == "flax":
            network = SharedDuelingQNetwork(7, padding)
        else:
            network = VariantNetwork(7, padding, how)
        agent = make_agent(network, make_optimizer(config), double_q_learning, None,
                           lambda s, i: 0.0, lambda p, t, u: p, None, 32, 7,
                           augment=AUGMENTATIONS["drq"], target_is_online=fused)  # fmt: skip
        state = agent.init(jax.random.PRNGKey(0), batch.s_tm1[:1])
        if scan:

            def many(state, batch=batch, agent=agent, n=scan):
                body = lambda s, _: (agent.update(s, batch)[0], None)  # noqa: E731
                return jax.lax.scan(body, state, None, length=n)[0]

            fn, per_call = jax.jit(many), scan
        else:
            fn, per_call = jax.jit(lambda s, agent=agent: agent.update(s, batch)[0]), 1
        cost = jax.jit(lambda s, agent=agent: agent.update(s, batch)[0]).lower(state).compile()
        cost = cost.cost_analysis()
        flops = (cost[0] if isinstance(cost, list) else cost).get("flops", float("nan"))
        rate, cpu = timed(lambda fn=fn, state=state: jax.block_until_ready(fn(state)), seconds)
        rate *= per_call
        row = {"padding": padding, "conv": how, "one_pass_at_s_t": fused, "rolled_scan": scan,
               "updates_per_s": rate, "cpu_s_per_update": cpu / per_call,
               "gflop_per_update": flops / 1e9, "achieved_gflop_per_s": rate * flops / 1e9,
               "matmul_peak_gflop_per_s": peak / 1e9,
               "share_of_peak": rate * flops / peak}  # fmt: skip
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return rows


def chunk_rates(seconds: float, iterations: list[int]) -> list[dict]:
    rows = []
    for n in iterations:
        base = drq_eps()
        config = base
        trainer = make_train(make_plan(config, RuntimeOptions(chunk_iterations=n, unroll=n)))
        state = trainer.init()
        state, _ = trainer.warmup(state, config.warmup_env_steps)
        for _ in range(2):  # compile, then one more
            state, _ = trainer.run(state, n)
            jax.block_until_ready(state.obs)
        box = [state]

        def chunk(box=box, trainer=trainer, n=n):
            box[0], _ = trainer.run(box[0], n)
            jax.block_until_ready(box[0].obs)

        rate, cpu = timed(chunk, seconds)
        row = {"chunk_iterations": n, "agent_steps_per_s": rate * n, "cpu_s_per_step": cpu / n}
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return rows


def per_core(argv: list[str]) -> list[dict]:
    """Runs this benchmark once per CPU core at the same time, each pinned to its core."""
    cores = sorted(os.sched_getaffinity(0))
    children = [
        subprocess.Popen([sys.executable, __file__, *argv, "--core-of", str(len(cores))],
                         stdout=subprocess.PIPE, text=True,
                         preexec_fn=lambda c=c: os.sched_setaffinity(0, {c}))
        for c in cores
    ]  # fmt: skip
    for core, child in zip(cores, children, strict=True):
        out, _ = child.communicate()
        print(f"core {core}:\n{out}", end="", flush=True)
    return []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("update", "chunk"))
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--chunk-iterations", type=int, nargs="+", default=[1, 4])
    p.add_argument("--per-core", action="store_true")
    p.add_argument("--core-of", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.per_core:
        per_core([a for a in sys.argv[1:] if a != "--per-core"])
        return
    if args.what == "update":
        rows = update_rates(args.seconds)
    else:
        rows = chunk_rates(args.seconds, args.chunk_iterations)
    stamp = {"benchmark": f"atari100k_speed_{args.what}", "cpus": os.cpu_count(),
             "pinned_one_of": args.core_of or None, "jax": jax.__version__,
             "commit": commit(),
             "date": datetime.datetime.now().isoformat(timespec="seconds")}  # fmt: skip
    with open(RESULTS, "a") as f:
        for row in rows:
            f.write(json.dumps({**stamp, **row}) + "\n")


if __name__ == "__main__":
    main()
