"""envpool through its XLA interface: env steps run inside the jitted chunk (CPU and GPU).

`pool.xla()` gives a handle and a `step(handle, actions)` usable inside `jax.jit` and
`lax.scan`; the handle is threaded through every step (in the TrainState) to order them. Sync
mode (`batch_size == num_envs`) returns envs in env id order, also through the XLA step.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.step import Body, Step
from jaxdqn.config import EnvConfig


class XlaStepper:
    """Runs the whole training iteration — env steps included — as one jitted program."""

    def __init__(self, config: EnvConfig, epoch: int = 0):
        self.pool = envs_lib.make_env(config, epoch=epoch)
        self.handle, _recv, _send, self._step = self.pool.xla()

    def reset(self) -> np.ndarray:
        return self.pool.reset()[0]

    def compile(self, body: Body):
        def env_step(state, act_fn):
            state, actions, parameter = body.choose(state, act_fn)
            handle, (obs, reward, terminated, truncated, info) = self._step(
                state.handle, actions.reshape(-1)
            )
            step = Step(
                obs, reward, terminated, truncated,
                envs_lib.game_reward(reward, info),
                envs_lib.game_over(terminated, truncated, info),
            )  # fmt: skip
            return body.observe(state, actions, parameter, body.split(step), handle)

        def warmup(state, num_env_steps: int):
            def random_step(state, _):
                return env_step(state, body.act_randomly)

            return jax.lax.scan(random_step, state, length=num_env_steps)

        def run(state, iterations: int):
            return body.repeat(lambda s: body.iteration(s, env_step, body.learn), state, iterations)

        return (
            jax.jit(warmup, static_argnums=1, donate_argnums=0),
            jax.jit(run, static_argnums=1, donate_argnums=0),
        )

    def close(self) -> None:
        self.pool.close()
