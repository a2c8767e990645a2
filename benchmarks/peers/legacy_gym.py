"""envpool's gymnasium-style env behind the legacy gym API that purejaxql's wrapper expects.

envpool ≥ 0.9 answers `env_type="gym"` with gymnasium's API (reset → (obs, info), steps →
(obs, reward, terminated, truncated, info)); purejaxql's `JaxLogEnvPoolWrapper` was written for
envpool 0.8's legacy one (reset → obs, steps → (obs, reward, done, info) with
`info["TimeLimit.truncated"]`), on the host and through `xla()`. `LegacyGym` gives it that API,
done = terminated or truncated as envpool 0.8 computed it, and lets the script set the
attributes it sets (`num_envs`, `name`, …), which envpool's env refuses. Standard library only:
purejaxql's virtualenv imports it from this folder.
"""

from __future__ import annotations


class LegacyGym:
    def __init__(self, env):
        self.__dict__["_env"] = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def __setattr__(self, name, value):
        self.__dict__[name] = value

    def reset(self, **kwargs):
        return self._env.reset(**kwargs)[0]

    def step(self, action):
        return _legacy(self._env.step(action))

    def xla(self):
        handle, recv, send, step = self._env.xla()

        def legacy_step(handle, action):
            handle, out = step(handle, action)
            return handle, _legacy(out)

        return handle, recv, send, legacy_step


def _legacy(out):
    obs, reward, terminated, truncated, info = out
    return obs, reward, terminated | truncated, {**info, "TimeLimit.truncated": truncated}
