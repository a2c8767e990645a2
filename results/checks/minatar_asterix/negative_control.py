"""Negative control: the lock-step comparator must flag a rule change in the original.

Run: taskset -c 0 env JAX_PLATFORMS=cpu python negative_control.py
Changes the original's ramp_interval from 100 to 99 (gymnax keeps 100) and reruns part A.
"""

import compare
from minatar.environments import asterix as mn

mn.ramp_interval = 99
print("ramp_interval 99 vs 100, scripted:", compare.exact(n_episodes=20, seed=1, policy="scripted"))
