"""Resume: the loop's state, the game history and the evaluation key from a checkpoint."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from jaxdqn import distributed
from jaxdqn.config import Config
from jaxdqn.plan import Plan
from jaxdqn.runtime import Runtime
from jaxdqn.trackers import SeedHistory
from jaxdqn.train import TrainState, make_train


class Restored(NamedTuple):
    """What a checkpoint gives back to the host loop and its trackers."""

    trainer: Any
    state: TrainState
    steps: int  # agent steps per seed
    history: SeedHistory  # every seed's games
    eval_key: Any
    metrics_lines: int  # metrics.jsonl lines written when it was saved
    episodes_continue: bool  # the envs were restored (gymnax), not restarted


def check_compatible(meta: dict, run_config: Config, runtime: Runtime, say) -> None:
    """Refuses a checkpoint of other settings; warns of other package versions or runtime."""
    from jaxdqn.checkpoint import CheckpointError, config_differences
    from jaxdqn.config import config_from_dict
    from jaxdqn.rundir import versions

    differences = config_differences(config_from_dict(meta["config"]), run_config)
    if differences:
        raise CheckpointError(
            "checkpoint is incompatible with this run's settings: " + "; ".join(differences)
        )
    if meta.get("versions") != versions():
        say(f"warning: resuming under different package versions: checkpoint "
            f"{meta.get('versions')} vs now {versions()}")  # fmt: skip
    changed = runtime.differences(meta.get("runtime", {}))
    if changed:
        say(
            "resuming on another runtime (the same run; a changed unroll or seed loop compiles "
            "other code, which can move float rounding): " + "; ".join(changed)
        )


def restore(plan: Plan, checkpointer, logger, components: dict) -> Restored:
    """Reads the checkpointer's latest checkpoint, after checking it matches the run's settings.

    Episodes restart there, the envs with fresh seeds, unless the checkpoint holds them (gymnax).
    """
    from jaxdqn.checkpoint import CheckpointError

    if checkpointer is None or checkpointer.latest_step() is None:
        where = checkpointer.directory if checkpointer else "(no checkpointer)"
        raise CheckpointError(f"cannot resume: no checkpoint in {where}")
    meta = checkpointer.restore_meta()
    run_config, runtime = plan.config, plan.runtime
    check_compatible(meta, run_config, runtime, logger.note if logger is not None else print)
    steps = int(meta["steps"])
    trainer = make_train(plan, env_epoch=steps, **components)
    abstract = trainer.abstract_checkpoint()
    multi_process = jax.process_count() > 1
    if multi_process:  # all seeds' arrays, each process reading its own
        mesh = distributed.global_seed_mesh(runtime.num_devices)
        abstract = distributed.global_abstract(abstract, run_config.env.num_seeds, mesh,
                                               ("eval_key",))  # fmt: skip
    restored, _ = checkpointer.restore(abstract)
    if multi_process:
        restored = distributed.to_local(restored, mesh, ("eval_key",))
    abstract_env = trainer.abstract_env()
    env_state = None  # a backend that saves its envs (gymnax) continues their episodes
    if abstract_env is not None and checkpointer.has_env():
        env_state = checkpointer.restore_env(abstract_env)
    state = trainer.init(agent_state=restored["agent"], replay_state=restored["replay"],
                         env_state=env_state)  # fmt: skip
    history = SeedHistory(meta["history_scores"], meta["history_lengths"])
    return Restored(
        trainer,
        state,
        steps,
        history,
        restored["eval_key"],
        int(meta["metrics_lines"]),
        env_state is not None,
    )
