"""The plan: config + options + machine resolved once; make_train resolves nothing again."""

import dataclasses
import importlib

import jax
import numpy as np
import pytest

from jaxdqn import backends, runtime
from jaxdqn.plan import Plan, make_plan
from jaxdqn.presets import cartpole
from jaxdqn.replay import replay_nbytes
from jaxdqn.runtime import RuntimeOptions, resolve


def small(num_seeds: int = 2):
    config = cartpole()
    return dataclasses.replace(
        config,
        env=dataclasses.replace(config.env, num_seeds=num_seeds),
        train=dataclasses.replace(config.train, total_frames=2_000, learning_starts=500),
    )


def test_the_plan_holds_what_the_run_needs_resolved_once():
    config = small()
    plan = make_plan(config, RuntimeOptions(chunk_iterations=8))
    assert isinstance(plan, Plan) and plan.config is config
    assert plan.runtime == resolve(config, RuntimeOptions(chunk_iterations=8))
    assert plan.runtime.chunk_iterations == 8
    assert plan.spec == ((4,), np.dtype(np.float32), 2) == backends.observation_spec(config.env)
    per_seed = replay_nbytes(config.replay.replay_capacity, config.env.envs_per_seed, (4,),
                             np.float32)  # fmt: skip
    assert plan.replay_bytes == 2 * per_seed
    assert (plan.num_seeds, plan.local_seeds, plan.seed_offset) == (2, 2, 0)
    assert plan.local_config == config  # one process trains every seed
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.runtime = None


def test_make_train_resolves_nothing_again(monkeypatch):
    """Once the plan is made, make_train neither resolves the runtime nor reads the env's spec."""
    train = importlib.import_module("jaxdqn.train")  # the module (jaxdqn.train is a function)

    config = small()
    plan = make_plan(config)

    def refuse(*args, **kwargs):
        raise AssertionError("resolved again")

    for module, name in ((runtime, "resolve"), (runtime, "resolve_spec"),
                         (backends, "observation_spec"), (train, "observation_spec")):  # fmt: skip
        monkeypatch.setattr(module, name, refuse)
    trainer = train.make_train(plan)
    assert trainer.plan is plan and trainer.runtime is plan.runtime
    assert trainer.config is plan.local_config
    state = trainer.init()
    assert state.obs.shape == (2, config.env.envs_per_seed, 4)
    state, _ = trainer.warmup(state, config.warmup_env_steps)
    state, metrics = trainer.run(state, 4)
    assert np.all(np.isfinite(np.asarray(metrics["loss"])))
    assert jax.tree_util.tree_leaves(trainer.abstract_checkpoint())
