"""Checkpoints with orbax-checkpoint: save, restore, resume.

A checkpoint is `runs/<name>/checkpoints/<agent step>/` with two items: `state` (online and
target params, optimiser state, step and update counters, PRNG keys, the whole replay with its
cursors, the evaluation key) and `meta` (JSON: agent steps, the number of metrics.jsonl lines
written so far, finished-game history, the config and package versions). Emulator state cannot
be saved: a resumed run restarts every episode (as Dopamine and DQN Zoo do). Envs written in
JAX (gymnax) are pytrees: a third item, `env`, keeps them, and a resume continues their
episodes exactly.

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
process killed mid-save leaves the previous checkpoint intact. Saves are synchronous: the
training chunk donates (reuses) the state's buffers, which an asynchronous save would still
be reading.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxdqn.config import Config, config_from_dict
from jaxdqn.options import RunOptions, options_from_record

CHECKPOINT_DIR = "checkpoints"

# Fields that may change on resume; any other difference makes a checkpoint incompatible. How
# the run runs (`jaxdqn.options.RunOptions`: backend, devices, threads, checkpoints, chunks) is
# not in the config and may always change.
RESUMABLE_FIELDS = {
    "train": {"total_frames", "log_interval"},
    "eval": {"eval_every", "eval_episodes", "eval_epsilon", "eval_max_episode_steps"},
}


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not match the run being resumed."""


def config_differences(saved: Config, current: Config) -> list[str]:
    """Settings that differ between two configs, ignoring those a resume may change."""
    out = []
    for section in ("env", "replay", "agent", "train", "eval"):
        a = dataclasses.asdict(getattr(saved, section))
        b = dataclasses.asdict(getattr(current, section))
        for key in sorted(a):
            if key in RESUMABLE_FIELDS.get(section, ()):
                continue
            if a[key] != b.get(key):
                out.append(f"{key}: checkpoint {a[key]!r} vs now {b.get(key)!r}")
    return out


class Checkpointer:
    """Saves and restores training state in `run_dir/checkpoints`, keeping the latest `keep`."""

    def __init__(self, run_dir: str | Path, keep: int = 3):
        self.directory = Path(run_dir).absolute() / CHECKPOINT_DIR
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            enable_async_checkpointing=False,
            create=True,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "params", "meta", "env")
        )

    def save(self, step: int, state: Any, meta: dict, params: Any = None, env: Any = None) -> None:
        """Saves the full state, the online params alone (small, for play and export) and,
        where the backend can save them (gymnax), the envs (`env`: train.env_checkpoint).

        A write that fails (disk full, permissions, read-only filesystem) raises a
        CheckpointError naming the directory and the reason; the partial checkpoint is removed
        and the previous one stays restorable."""
        items = dict(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        if params is not None:
            items["params"] = ocp.args.StandardSave(params)
        if env is not None:
            items["env"] = ocp.args.StandardSave(env)
        previous = self.latest_step()
        try:
            self.manager.save(step, args=ocp.args.Composite(**items), force=True)
            self.manager.wait_until_finished()
        except (OSError, ValueError) as err:
            reason = _write_failure(err)
            if reason is None:
                raise  # not an I/O failure
            for partial in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
                shutil.rmtree(partial, ignore_errors=True)  # frees what it took
            kept = (
                f"the previous checkpoint (step {previous}) is intact"
                if previous is not None
                else "there is no earlier checkpoint"
            )
            raise CheckpointError(
                f"could not write checkpoint at step {step} to {self.directory}: {reason}; {kept}"
            ) from err

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def restore_meta(self, step: int | None = None) -> dict:
        return self._restore(step, "cannot be read", meta=ocp.args.JsonRestore()).meta

    def restore_params(self, abstract_params: Any, step: int | None = None) -> Any:
        """The online params of every seed, without reading the replay."""
        abstract_params = _placed(abstract_params)
        out = self._restore(
            step,
            "cannot be restored for this network (different architecture or a corrupt file)",
            abstract={"params": abstract_params},
            params=ocp.args.StandardRestore(abstract_params),
        )
        return out.params

    def has_env(self, step: int | None = None) -> bool:
        """Whether the checkpoint holds the envs (written by a backend that saves them)."""
        return (self.directory / str(self._step(step)) / "env").is_dir()

    def restore_env(self, abstract_env: Any, step: int | None = None) -> Any:
        """The envs saved with a checkpoint (`has_env`), into `abstract_env`'s shapes."""
        abstract_env = _placed(abstract_env)
        out = self._restore(step, "holds envs that cannot be restored for this run (another env "
                            "or number of envs, or a corrupt file)", abstract={"env": abstract_env},
                            env=ocp.args.StandardRestore(abstract_env))  # fmt: skip
        return out.env

    def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict]:
        """Restores (state, meta); `abstract_state` gives the expected shapes and dtypes, and
        where it has them the shardings (else the arrays come to this process's first
        device, whatever devices or processes wrote them)."""
        abstract_state = _placed(abstract_state)
        out = self._restore(
            step,
            "cannot be restored into this run's state (different network, replay or seeds, "
            "or a corrupt file)",
            abstract={"state": abstract_state},
            state=ocp.args.StandardRestore(abstract_state),
            meta=ocp.args.JsonRestore(),
        )
        return out.state, out.meta

    def _restore(self, step: int | None, failure: str, abstract: dict | None = None, **items):
        step = self._step(step)
        path = self.directory / str(step)
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as err:  # orbax raises many types for unreadable files
            raise CheckpointError(
                f"checkpoint {path} {failure}: {type(err).__name__}: {err}"
            ) from err
        for name, tree in (abstract or {}).items():
            _check_shapes(out[name], tree, path)
        return out

    def _step(self, step: int | None) -> int:
        if step is None:
            step = self.latest_step()
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        if step not in self.all_steps():
            raise CheckpointError(
                f"no checkpoint at step {step} in {self.directory}; have {self.all_steps()}"
            )
        return step


def _placed(abstract: Any) -> Any:
    """Abstract arrays without a sharding placed on the first local device: orbax refuses to
    restore a checkpoint written by another device topology (several processes or devices)
    into arrays without one."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def place(a):
        # float64 without jax_enable_x64 restores as numpy, as before: left as it is.
        if (isinstance(a, jax.ShapeDtypeStruct) and a.sharding is None
                and jax.dtypes.canonicalize_dtype(a.dtype) == a.dtype):  # fmt: skip
            return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device)
        return a

    return jax.tree_util.tree_map(place, abstract)


# absl status codes with which tensorstore reports failed file writes (as a ValueError)
_IO_STATUS = ("RESOURCE_EXHAUSTED", "PERMISSION_DENIED", "UNAVAILABLE", "DATA_LOSS", "INTERNAL")


def _write_failure(err: Exception) -> str | None:
    """The errno text of a failed checkpoint write, or None if `err` is not a write failure.
    Orbax's own files fail with OSError; array data is written by tensorstore, whose errors
    are ValueErrors carrying `[os_error_code='28']`."""
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        return f"{err.strerror or err}{where}"
    message = str(err)
    code = re.search(r"os_error_code='?(\d+)", message)
    if code:
        path = re.search(r'Failed (?:writing|to write)[^"]*"([^"]+)"', message)
        return os.strerror(int(code.group(1))) + (f" ({path.group(1)})" if path else "")
    if message.startswith(_IO_STATUS):
        return message.splitlines()[0][:300]
    return None


def _check_shapes(restored, abstract, path) -> None:
    bad = []

    def check(keypath, x, ref):
        if x.shape != ref.shape or x.dtype != ref.dtype:
            name = jax.tree_util.keystr(keypath)
            bad.append(f"{name}: checkpoint {x.shape} {x.dtype} vs run {ref.shape} {ref.dtype}")

    jax.tree_util.tree_map_with_path(check, restored, abstract)
    if bad:
        raise CheckpointError(f"checkpoint {path} does not match this run: " + "; ".join(bad[:5]))


def load_run_config(run_dir: str | Path) -> Config:
    """The config a run was started with (runs/<name>/config.json)."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {run_dir} is not a jaxdqn run directory")
    try:
        record = json.loads(path.read_text())
        return config_from_dict(record["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is not a valid run config: {err}") from err


def load_run_options(run_dir: str | Path) -> RunOptions:
    """The options a run last ran with (config.json's `options`, or where a run written before
    they existed kept them in its config)."""
    from jaxdqn.rundir import read_config

    return options_from_record(read_config(run_dir))
