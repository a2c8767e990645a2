"""More episodes for the scripted policy at the project's sticky 0.1 (seed 7, 500 episodes each).

Run: taskset -c 0 env JAX_PLATFORMS=cpu python more_stats.py
"""

import compare

for which in ("minatar", "gymnax"):
    print(compare.fmt(compare.run_stats(which, "scripted", 0.1, 500, seed=7)), flush=True)
