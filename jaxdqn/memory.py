"""Memory checks: will the replay fit, and how much does this process hold."""

from __future__ import annotations

import jax

from jaxdqn.plan import Plan


def available_memory_bytes() -> tuple[int, str]:
    """Free memory where the replay will live: device memory on an accelerator, else host."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), str(device)
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "host memory (MemAvailable)"
    return 2**63 - 1, "unknown"


def process_rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process (default: this one; Linux), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def check_memory(plan: Plan, headroom: float = 0.85) -> int:
    """Raises before anything is allocated if the replay of this process's seeds cannot fit.

    Returns:
      the replay's bytes for this process's seeds (`plan.replay_bytes`, the sum tree included).
    """
    r, seeds, envs = plan.config.replay, plan.local_seeds, plan.envs_per_seed
    needed = plan.replay_bytes
    per_seed = needed / max(seeds, 1)
    available, where = available_memory_bytes()
    budget = int(available * headroom)
    if needed > budget:
        per_transition = per_seed / max(plan.config.replay_capacity, 1)
        fits = int(budget / seeds / per_transition) // envs * envs
        raise ValueError(
            f"replay_capacity={r.replay_capacity} does not fit: {seeds} seed(s) × "
            f"{per_seed / 2**30:.2f} GiB = {needed / 2**30:.2f} GiB of replay, but {where} has "
            f"{available / 2**30:.2f} GiB available (using at most {headroom:.0%}). "
            f"The largest capacity that fits is about --replay-capacity {max(fits, 0)}."
        )
    return needed
