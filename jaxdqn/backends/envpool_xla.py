"""envpool through its XLA interface: env steps run inside the jitted chunk (CPU and GPU).

`pool.xla()` gives a handle and a `step(handle, actions)` usable inside `jax.jit` and
`lax.scan`; the handle is threaded through every step (in the TrainState) to order them. Sync
mode (`batch_size == num_envs`) returns envs in env id order, also through the XLA step.
"""

from __future__ import annotations

import numpy as np

from jaxdqn import envs as envs_lib
from jaxdqn.backends.step import Body, Step, jit_chunks
from jaxdqn.config import EnvConfig


class XlaStepper:
    """Runs the whole training iteration — env steps included — as one jitted program."""

    saves_env_state = False  # emulators cannot be saved: a resumed run restarts its episodes

    def __init__(self, config: EnvConfig, epoch: int = 0):
        self.pool = envs_lib.make_env(config, epoch=epoch)
        self.handle, _recv, _send, self._step = self.pool.xla()

    def reset(self) -> np.ndarray:
        return self.pool.reset()[0]

    def compile(self, body: Body):
        def step(handle, actions):
            handle, (obs, reward, terminated, truncated, info) = self._step(handle, actions)
            return handle, Step(
                obs, reward, terminated, truncated,
                envs_lib.game_reward(reward, info),
                envs_lib.game_over(terminated, truncated, info),
            )  # fmt: skip

        return jit_chunks(body, step)

    def close(self) -> None:
        self.pool.close()
