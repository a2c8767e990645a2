"""Seeds across devices and processes: the `("seed",)` mesh, jax.distributed, gathers.

One process, several devices (`--devices N`): the training state's leading seed axis is placed
with `NamedSharding(mesh, P("seed"))` over a mesh of the first N local devices, so the jitted
chunk (seeds vmapped, no cross-seed communication) is partitioned by GSPMD and each device
trains `num_seeds / N` seeds. The env pool stays one per process; its outputs are split to the
devices that own those seeds with `jax.device_put`.

Several processes (`--distributed`, or JAX_COORDINATOR_ADDRESS set): `jax.distributed`
joins them; process p trains seeds `[p·S_p, (p+1)·S_p)` of the run (S_p = num_seeds / P) with
its own env pool, exactly as a single process would train those seeds (same network keys, env
seeds and evaluation keys). Seeds never communicate, so training needs no global arrays. Only
the host loop talks: per-seed metrics, finished games and evaluation scores are gathered
(`process_allgather`) so that process 0 alone writes `metrics.jsonl`, `config.json` and
curves; a stop signal or a non-finite loss in any process stops all of them at the same chunk.
Checkpoints are orbax multi-process checkpoints of global arrays `[num_seeds, ...]` (each
process writes its own seeds' shards, process 0 the metadata): the same layout as a
single-process run of `num_seeds` seeds. The run directory must be on a filesystem all
processes share.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdqn.config import Config
from jaxdqn.options import RunOptions

SEED_AXIS = "seed"


# ----------------------------------------------------------------------------- processes


def wanted(options: RunOptions | None = None) -> bool:
    """Whether this process is part of a multi-process run (`--distributed`, or
    JAX_COORDINATOR_ADDRESS set)."""
    explicit = options is not None and options.distributed
    return explicit or bool(os.environ.get("JAX_COORDINATOR_ADDRESS"))


def initialize(options: RunOptions | None = None) -> None:
    """`jax.distributed.initialize` once, before JAX touches a device, when `wanted`.

    The coordinator comes from JAX_COORDINATOR_ADDRESS (host:port of process 0),
    JAX_NUM_PROCESSES and JAX_PROCESS_ID; where these are unset, JAX's cluster detection
    (SLURM, Open MPI, Kubernetes) fills them in.
    """
    if not wanted(options) or jax.distributed.is_initialized():
        return
    kwargs = {}
    for name, env in (("num_processes", "JAX_NUM_PROCESSES"), ("process_id", "JAX_PROCESS_ID")):
        if os.environ.get(env):
            kwargs[name] = int(os.environ[env])
    try:
        jax.distributed.initialize(**kwargs)
    except (ValueError, RuntimeError) as err:
        raise ValueError(
            f"distributed=True but jax.distributed.initialize failed: {err}. Set "
            "JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and "
            "JAX_PROCESS_ID, or run under SLURM (srun)"
        ) from err


def check_devices(config: Config, num_devices: int) -> None:
    """Raises before anything is allocated if the seeds cannot be split evenly over the
    devices and processes, or if more devices are asked for than this process has."""
    e = config.env
    local, processes = jax.local_device_count(), jax.process_count()
    if num_devices > local:
        raise ValueError(
            f"devices={num_devices} is invalid: this process has {local} local device(s) "
            f"({jax.default_backend()})"
        )
    per = num_devices * processes
    if e.num_seeds % per:
        raise ValueError(
            f"num_seeds={e.num_seeds} is invalid: must be divisible by devices × processes = "
            f"{num_devices} × {processes} = {per}, so that every device trains as many seeds"
        )


def seed_slice(config: Config) -> tuple[int, int]:
    """(first seed index, number of seeds) this process trains."""
    count = config.env.num_seeds // jax.process_count()
    return jax.process_index() * count, count


def local_config(config: Config) -> Config:
    """The config of this process's seeds: num_seeds / P seeds from seed + offset, and their
    temperatures. The same config in a single process."""
    if jax.process_count() == 1:
        return config
    offset, count = seed_slice(config)
    taus = config.agent.temperature_start
    if len(taus) > 1:
        taus = taus[offset : offset + count]
    return dataclasses.replace(
        config,
        env=dataclasses.replace(config.env, num_seeds=count, seed=config.env.seed + offset),
        agent=dataclasses.replace(config.agent, temperature_start=taus),
    )


def is_main() -> bool:
    """Process 0 writes the run directory."""
    return jax.process_index() == 0


class OtherProcessError(RuntimeError):
    """Another process of a multi-process run failed at a step all must pass together."""


# ----------------------------------------------------------------------------- gathers


def gather(x, axis: int = 0) -> np.ndarray:
    """This process's per-seed values (seed axis `axis`) → every seed's, in seed order."""
    x = np.asarray(x)
    if jax.process_count() == 1:
        return x
    from jax.experimental import multihost_utils

    moved = np.ascontiguousarray(np.moveaxis(x, axis, 0))
    out = np.asarray(multihost_utils.process_allgather(moved, tiled=True))
    return np.moveaxis(out, 0, axis)


def gather_lists(values: list[list[float]]) -> list[list[float]]:
    """Per-seed lists of different lengths (finished games) → every seed's lists."""
    if jax.process_count() == 1:
        return values
    counts = gather(np.array([len(v) for v in values], np.int64))
    padded = np.full((len(values), max(int(counts.max()), 1)), np.nan, np.float64)
    for s, v in enumerate(values):
        padded[s, : len(v)] = v
    padded = gather(padded)
    return [padded[s, :n].tolist() for s, n in enumerate(counts.tolist())]


def any_process(flag: bool) -> bool:
    """True in every process if `flag` is true in any."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.asarray(multihost_utils.process_allgather(np.array([flag]))).any())


def broadcast_text(text: str, size: int = 8192) -> str:
    """Process 0's `text` (up to `size` UTF-8 bytes) in every process."""
    if jax.process_count() == 1:
        return text
    from jax.experimental import multihost_utils

    data = np.zeros(size, np.uint8)
    raw = text.encode()[:size]
    data[: len(raw)] = np.frombuffer(raw, np.uint8)
    out = np.asarray(multihost_utils.broadcast_one_to_all(data))
    return out.tobytes().rstrip(b"\0").decode()


# ----------------------------------------------------------------------------- meshes


def seed_mesh(num_devices: int) -> Mesh:
    """The first `num_devices` local devices, one mesh axis named "seed"."""
    return Mesh(np.asarray(jax.local_devices()[:num_devices]), (SEED_AXIS,))


def global_seed_mesh(num_devices: int) -> Mesh:
    """Every process's first `num_devices` local devices, in process order."""
    by_process = [
        sorted((d for d in jax.devices() if d.process_index == p), key=lambda d: d.id)
        for p in range(jax.process_count())
    ]
    return Mesh(np.asarray([d for ds in by_process for d in ds[:num_devices]]), (SEED_AXIS,))


def to_global(tree: Any, mesh: Mesh, replicated: tuple[str, ...] = ()) -> Any:
    """Process-local seed-major arrays → global arrays `[num_seeds, ...]` over `mesh`
    (no copy); top-level keys in `replicated` (the same value in every process) are
    replicated instead."""
    from jax.experimental import multihost_utils

    specs = {k: P() if k in replicated else P(SEED_AXIS) for k in tree}
    return multihost_utils.host_local_array_to_global_array(tree, mesh, specs)


def to_local(tree: Any, mesh: Mesh, replicated: tuple[str, ...] = ()) -> Any:
    """The inverse of `to_global`: this process's seeds of global arrays."""
    from jax.experimental import multihost_utils

    specs = {k: P() if k in replicated else P(SEED_AXIS) for k in tree}
    return multihost_utils.global_array_to_host_local_array(tree, mesh, specs)


def global_abstract(tree: Any, num_seeds: int, mesh: Mesh, replicated=()) -> Any:
    """Shapes of a checkpoint of all seeds, placed over `mesh` (what orbax restores into)."""

    def place(key, sub):
        spec = P() if key in replicated else P(SEED_AXIS)
        sharding = NamedSharding(mesh, spec)

        def one(a):
            shape = a.shape if key in replicated else (num_seeds,) + tuple(a.shape[1:])
            return jax.ShapeDtypeStruct(shape, a.dtype, sharding=sharding)

        return jax.tree_util.tree_map(one, sub)

    return {k: place(k, v) for k, v in tree.items()}


class Placement(NamedTuple):
    """Where the training state lives: one device, or its seed axis over a mesh of several."""

    place: Callable  # host or device arrays [S, ...] → placed by seed
    constrain: Callable  # inside jit: the TrainState's sharding (identity on one device)
    fresh_kwargs: dict  # jax.jit out_shardings of the fresh agent and replay
    adopt_kwargs: dict  # jax.jit out_shardings of the TrainState
    abstract: Callable  # (tree, replicated=keys) → its ShapeDtypeStructs placed by seed


def placement(num_devices: int, state_cls) -> Placement:
    """The placement of a TrainState (`state_cls`, whose `handle` is replicated) over the
    first `num_devices` local devices; GSPMD partitions the vmapped chunk per device."""
    if num_devices == 1:
        identity = lambda tree: tree  # noqa: E731
        return Placement(identity, identity, {}, {}, lambda tree, replicated=(): tree)
    mesh = seed_mesh(num_devices)
    by_seed, replicated_sharding = NamedSharding(mesh, P(SEED_AXIS)), NamedSharding(mesh, P())
    fields = {f.name: by_seed for f in dataclasses.fields(state_cls)}
    state_sharding = state_cls(**{**fields, "handle": replicated_sharding})

    def abstract(tree: dict, replicated=()) -> dict:
        def placed(sharding):
            return lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)

        return {k: jax.tree_util.tree_map(placed(replicated_sharding if k in replicated
                                                 else by_seed), v)
                for k, v in tree.items()}  # fmt: skip

    return Placement(
        place=lambda tree: jax.device_put(tree, by_seed),
        constrain=lambda state: jax.lax.with_sharding_constraint(state, state_sharding),
        fresh_kwargs=dict(out_shardings=by_seed),
        adopt_kwargs=dict(out_shardings=state_sharding),
        abstract=abstract,
    )
