"""Device check: end-to-end agent steps/s of the published settings on whatever JAX finds.

One command for the first minutes on an accelerator: the Nature settings with 1, 8 and 32
vmapped seeds, `drq_eps` with 1 and 8, and the `minatar` preset (Breakout, gymnax) with 1 and
64, each measured for a fixed number of seconds of its learning phase (the compile and the
replay warm-up timed apart), with the device's memory, the device kind, the jax version and the
commit. A setting that fails (out of memory, envpool missing) is recorded in its row and the
check goes on. Writes `device_check.json` and `device_check.md` to `--out`.

    python benchmarks/device_check.py --out device-check           # ≈5 minutes on one GPU
    python benchmarks/device_check.py --quick --out /tmp/dc        # tiny, on a CPU (CI)
    python benchmarks/device_check.py --only minatar --seconds 30  # some rows, longer

`--quick` runs the same code on CartPole (1 and 2 seeds) and MinAtar (1 seed), a few seconds
each, so the check cannot rot between the rare runs on a GPU (tests/test_device_check.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from jaxdqn import presets  # noqa: E402
from jaxdqn.config import Config  # noqa: E402
from jaxdqn.plan import make_plan  # noqa: E402
from jaxdqn.runtime import RuntimeOptions  # noqa: E402
from jaxdqn.train import make_train  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2**30


class Setting(NamedTuple):
    """One row of the check: a preset, its number of vmapped seeds, and what is shrunk."""

    preset: str  # a function of jaxdqn.presets
    num_seeds: int
    replay_capacity: int | None = None  # None: the preset's own
    note: str = ""
    chunk_iterations: int = 0  # 0: the runtime's choice for this device

    @property
    def name(self) -> str:
        return f"{self.preset}-{self.num_seeds}"


# Nature's 1M-transition replay is 7 GB a seed; sampling costs O(batch), so 100k measures the
# same speed and lets 32 seeds fit one device. drq_eps (110k) and minatar (100k) keep theirs.
_SMALL = "replay 100k, not 1M: sampling is O(batch), the rate does not depend on it"
FULL = (
    Setting("nature", 1, 100_000, _SMALL),
    Setting("nature", 8, 100_000, _SMALL),
    Setting("nature", 32, 100_000, _SMALL),
    Setting("drq_eps", 1),
    Setting("drq_eps", 8),
    Setting("minatar", 1),
    Setting("minatar", 64),
)
_TINY = "quick: replay 5k"
QUICK = (
    Setting("cartpole", 1, 5_000, _TINY),
    Setting("cartpole", 2, 5_000, _TINY),
    # One iteration a chunk: the CPU's unrolled chunk of 4 takes 4× as long to compile.
    Setting("minatar", 1, 5_000, _TINY + ", chunks of 1 iteration", chunk_iterations=1),
)
FULL_SECONDS, QUICK_SECONDS = 15.0, 2.0
# Agent steps of uniform random play before learning: enough for a batch of 10-step returns,
# few enough that the warm-up of 32 Atari seeds stays a few seconds.
LEARNING_STARTS = 1_000


def make_config(setting: Setting, learning_starts: int = LEARNING_STARTS) -> Config:
    """The preset with the setting's seeds and replay, and an early start."""
    base = getattr(presets, setting.preset)()
    return dataclasses.replace(
        base,
        env=dataclasses.replace(base.env, num_seeds=setting.num_seeds),
        replay=dataclasses.replace(
            base.replay, replay_capacity=setting.replay_capacity or base.replay.replay_capacity
        ),
        train=dataclasses.replace(base.train, learning_starts=learning_starts),
    )


def _block(state) -> float:
    jax.block_until_ready(state.obs)
    return time.perf_counter()


def time_learning(trainer, config: Config, seconds: float) -> dict:
    """Times a built trainer: init, warm-up (with its compile), the first learning chunk (with
    its compile), then whole chunks until `seconds` have passed. Only the latter count."""
    n = trainer.runtime.chunk_iterations
    t0 = time.perf_counter()
    state = trainer.init()
    t1 = _block(state)
    state, _ = trainer.warmup(state, config.warmup_env_steps)
    t2 = _block(state)
    state, _ = trainer.run(state, n)
    t3 = _block(state)
    chunk_s = []
    while sum(chunk_s) < seconds:
        start = time.perf_counter()
        state, _ = trainer.run(state, n)
        chunk_s.append(_block(state) - start)
    memory = device_memory()
    del state
    elapsed, S = sum(chunk_s), config.env.num_seeds
    steps = len(chunk_s) * n * config.agent_steps_per_iteration * S
    updates = len(chunk_s) * n * config.updates_per_iteration * S
    return {
        "agent_steps_per_s": steps / elapsed,
        "agent_steps_per_s_per_seed": steps / elapsed / S,
        "updates_per_s": updates / elapsed,
        "chunks": len(chunk_s),
        "chunk_iterations": n,
        "measured_s": elapsed,
        "init_s": t1 - t0,
        "warmup_s_incl_compile": t2 - t1,
        "first_chunk_s": t3 - t2,
        # The first chunk is compile + one chunk; a steady chunk's median takes the latter out.
        "compile_s": max(t3 - t2 - statistics.median(chunk_s), 0.0),
        "memory": memory,
    }


def measure(setting: Setting, seconds: float) -> dict:
    """One row: the setting's plan and its timings, or the error that stopped it."""
    row = {"setting": setting.name, "preset": setting.preset, "num_seeds": setting.num_seeds,
           "note": setting.note}  # fmt: skip
    trainer = None
    try:
        config = make_config(setting)
        plan = make_plan(config, RuntimeOptions(chunk_iterations=setting.chunk_iterations))
        row.update(
            env=config.env.env_id,
            env_backend=plan.runtime.env_backend,
            envs_per_seed=config.env.envs_per_seed,
            replay_capacity=config.replay.replay_capacity,
            replay_gib=plan.replay_bytes / GIB,
        )
        trainer = make_train(plan)
        row.update(time_learning(trainer, config, seconds))
    except Exception as e:  # noqa: BLE001 - recorded in the row; the next setting still runs
        row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
    finally:
        if trainer is not None:
            trainer.env.close()  # its env threads: the next setting gets the cores
        gc.collect()  # the last state's buffers, before the next setting allocates its own
    return row


def device_memory() -> dict | str:
    """The first device's memory counters in GiB, or "n/a" where the backend keeps none."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - some backends raise instead of returning None
        stats = None
    if not stats:
        return "n/a"
    keys = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")
    return {k.replace("bytes", "gib"): stats[k] / GIB for k in keys if k in stats}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, cwd=ROOT)  # fmt: skip
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    """What the numbers were measured on."""
    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "envpool": _version("envpool"),
        "gymnax": _version("gymnax"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _memory_cell(memory) -> str:
    if not isinstance(memory, dict):
        return "n/a"
    return f"{memory.get('gib_in_use', 0):.2f} / {memory.get('peak_gib_in_use', 0):.2f}"


def markdown(header: dict, rows: list[dict]) -> str:
    """The check as a results page: what ran where, then one row per setting."""
    lines = [
        f"# Device check, {header['date']}",
        "",
        f"{header['device_kind']} × {header['device_count']} ({header['backend']}), jax "
        f"{header['jax']}, jaxlib {header['jaxlib']}, envpool {header['envpool']}, commit "
        f"{header['commit']}, {header['cpus']} CPUs.",
        f"Command: `{header['command']}`; {header['seconds']:g} s of learning measured per "
        "setting, after 1,000 agent steps of warm-up per seed.",
        "",
        "| setting | env (backend) | seeds × envs | replay | agent steps/s | per seed | "
        "updates/s | compile s | warm-up s | device GiB now / peak | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "agent_steps_per_s" not in r:
            lines.append(f"| {r['setting']} | {r.get('env', '?')} | {r['num_seeds']} | | "
                         f"failed | | | | | | {r.get('error', '')} |")  # fmt: skip
            continue
        lines.append(
            f"| {r['setting']} | {r['env']} ({r['env_backend']}) | "
            f"{r['num_seeds']} × {r['envs_per_seed']} | {r['replay_capacity']:,} | "
            f"{r['agent_steps_per_s']:,.0f} | {r['agent_steps_per_s_per_seed']:,.0f} | "
            f"{r['updates_per_s']:,.0f} | {r['compile_s']:.1f} | "
            f"{r['warmup_s_incl_compile']:.1f} | {_memory_cell(r['memory'])} | {r['note']} |"
        )
    lines += [
        "",
        "Agent steps/s: all seeds together, learning phase only (compile and warm-up left out). "
        "Compile s: the first learning chunk less a steady one. Warm-up s: random play to "
        "learning_starts, its compile included. Device memory after the setting's last chunk; "
        "the peak is the process's so far.",
    ]
    return "\n".join(lines) + "\n"


def run_check(settings: tuple[Setting, ...], seconds: float, out: str, command: str) -> dict:
    """Measures every setting in turn and writes `device_check.json` and `.md` to `out`."""
    header = {**machine(), "seconds": seconds, "command": command}
    print(f"{header['device_kind']} ({header['backend']}), jax {header['jax']}, "
          f"commit {header['commit']}", flush=True)  # fmt: skip
    rows = []
    for setting in settings:
        row = measure(setting, seconds)
        rate = row.get("agent_steps_per_s")
        print(f"  {setting.name:<12} " + (f"{rate:>10,.0f} agent steps/s, compile "
              f"{row['compile_s']:.1f} s" if rate else f"failed: {row['error']}"),
              flush=True)  # fmt: skip
        rows.append(row)
    result = {"machine": header, "settings": rows}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "device_check.json"), "w") as f:
        json.dump(result, f, indent=1)
    page = markdown(header, rows)
    with open(os.path.join(out, "device_check.md"), "w") as f:
        f.write(page)
    print(page)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="device-check", help="folder for the JSON and Markdown")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CartPole and MinAtar, 1-2 seeds, a few seconds each (CPU, CI)",
    )
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"learning time measured per setting (default {FULL_SECONDS:g}, "
                        f"quick {QUICK_SECONDS:g})")  # fmt: skip
    parser.add_argument("--only", nargs="+", default=None,
                        help="run only the settings whose name contains one of these")  # fmt: skip
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.only:
        settings = tuple(s for s in settings if any(o in s.name for o in args.only))
    seconds = args.seconds or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    command = " ".join(["python benchmarks/device_check.py", *(argv or sys.argv[1:])])
    return run_check(settings, seconds, args.out, command)


if __name__ == "__main__":
    main()
