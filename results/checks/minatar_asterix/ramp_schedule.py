"""Difficulty-ramp schedule of both implementations, step by step (timers only; no entities).

Run: taskset -c 0 env JAX_PLATFORMS=cpu python ramp_schedule.py
The ramp depends only on the timers, so the original is stepped with spawning disabled (the player
can never die) and gymnax's `step_timers` is iterated from its reset state.
"""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))
import jax  # noqa: E402
from gymnax.environments.minatar import asterix as gx  # noqa: E402
from minatar.environments import asterix as mn  # noqa: E402

N = 1200
env = mn.Env(ramping=True)
env._spawn_entity = lambda: None
orig = []
for _t in range(N):
    env.act(0)
    orig.append((env.spawn_speed, env.move_speed, env.ramp_index))

genv = gx.MinAsterix(use_minimal_action_set=False)
params = genv.default_params
_, st = genv.reset_env(jax.random.PRNGKey(0), params)
step_timers = jax.jit(gx.step_timers)
gxs = []
for _t in range(N):
    st = step_timers(st, params)
    gxs.append((int(st.spawn_speed), int(st.move_speed), int(st.ramp_index)))

print("identical schedules over", N, "steps:", orig == gxs)
prev = None
print("step  spawn_speed  move_speed  ramp_index   (after this many steps; printed on change)")
for t, s in enumerate(orig, 1):
    if s != prev:
        print(f"{t:5d}  {s[0]:11d}  {s[1]:10d}  {s[2]:10d}")
        prev = s
