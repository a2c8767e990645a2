"""CleanRL's `dqn_atari_jax.py` (Huang et al. 2022) as a peer of `--preset cleanrl`.

The script is not on the package index: PyPI's newest `cleanrl` (0.4.8, 2021) predates it, so
the three files it needs come from the repository at one commit, each checked by its sha256
(`--cleanrl-src` takes them from a checkout instead, e.g. where GitHub is out of reach). Its
virtualenv holds the same jax, flax and optax as this one (the loop is compared, not jax
releases), gymnasium 0.29.1 (the last with the `FrameStack` and `GrayScaleObservation` wrappers
the script uses), ale-py, tyro, and torch with tensorboard (its replay buffer and its
`SummaryWriter` import them).

The script prints `SPS: …` after every 100th agent step once learning has started (with
`train_frequency` 4, on every step that is a multiple of 100): each such line is 100 more agent
steps, so the count of lines is its step count; its own SPS, global step over time since the
start, would mix in the warm-up.
"""

from __future__ import annotations

import os
from importlib import metadata

from benchmarks.peers.common import PinnedFile, Source

NAME = "cleanrl"
SOURCE = Source(
    repo="vwxyzjn/cleanrl",
    commit="fe8d8a03c41a7ef5b523e2e354bd01c363e786bb",  # 2026-04-20
    files=(
        PinnedFile("cleanrl/dqn_atari_jax.py",
                   "ae573f887327d52c4ffcbe587a29ab2672fd5d9bfe4ecf25d85d3ce59d4e67f5"),
        PinnedFile("cleanrl_utils/__init__.py",
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        PinnedFile("cleanrl_utils/atari_wrappers.py",
                   "7fbb7a5d6b9c020c99b6e1037f502657bbba4973f1e9c70c9629f66110c81f2d"),
        PinnedFile("cleanrl_utils/buffers.py",
                   "b43d54020783ac53f7d23fe7c0ed72aff20e1f377a633d134d66eb9bdbece4b8"),
    ),
)  # fmt: skip
STEPS_PER_LINE = 100
VERSIONED = ("jax", "jaxlib", "flax", "optax", "gymnasium", "ale-py", "torch", "numpy")
# ale-py 0.9+ ships the ROMs but registers its ids with gymnasium only from gymnasium 1.0's
# `register_envs`: register the v0/v4 ids (`AssaultNoFrameskip-v4`) by hand for 0.29, then run
# the script as `python dqn_atari_jax.py ARGS` would.
LAUNCHER = """\
import runpy, sys
from ale_py.registration import register_v0_v4_envs
register_v0_v4_envs()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def requirements() -> list[str]:
    """The peer's virtualenv: jax, flax and optax pinned to this environment's versions."""
    same = [f"{p}=={metadata.version(p)}" for p in ("jax", "jaxlib", "flax", "optax")]
    return same + ["gymnasium==0.29.1", "ale-py", "opencv-python-headless", "tyro", "torch",
                   "tensorboard"]  # fmt: skip


def command(python: str, src: str, game: str, learning_starts: int, replay_capacity: int,
            epsilon: float, seed: int = 1) -> list[str]:  # fmt: skip
    """CleanRL's script on `game` with the comparison's warm-up, replay and fixed ε."""
    launcher = os.path.join(src, "launch_cleanrl.py")
    with open(launcher, "w") as f:
        f.write(LAUNCHER)
    return [python, launcher, os.path.join(src, "cleanrl", "dqn_atari_jax.py"),
            f"--env-id={game}NoFrameskip-v4", f"--learning-starts={learning_starts}",
            f"--buffer-size={replay_capacity}", f"--start-e={epsilon}", f"--end-e={epsilon}",
            "--total-timesteps=100000000", f"--seed={seed}"]  # fmt: skip


def new_counter():
    """A fresh `steps_of` for one run (the line count starts at 0)."""
    count = [0]

    def counted(line: str) -> int | None:
        if not line.startswith("SPS:"):
            return None
        count[0] += 1
        return count[0] * STEPS_PER_LINE

    return counted


def settings(jaxdqn_config) -> list[tuple[str, str, str, str]]:
    """(setting, CleanRL, jaxdqn, why) for every value the comparison could differ in; CleanRL's
    from the script's `Args` and `make_env` at the pinned commit."""
    a, e, r = jaxdqn_config.agent, jaxdqn_config.env, jaxdqn_config.replay
    return [
        ("env", "gymnasium 0.29 + ale-py, Python wrappers", f"envpool ({e.env_id})",
         "each one's own; part of what is measured"),
        ("envs per seed", "1", str(e.envs_per_seed), "CleanRL asserts num_envs == 1"),
        ("frame skip / no-op max / sticky", "4 (max-pool) / 30 / 0",
         f"{e.frame_skip} / {e.noop_max} / {e.repeat_action_probability:g}", ""),
        ("life loss ends episode / reward clip", "yes / yes",
         f"{'yes' if e.episodic_life else 'no'} / {'yes' if e.reward_clip else 'no'}", ""),
        ("network", "Nature CNN, VALID", f"{a.network}, {a.conv_padding}", ""),
        ("optimiser", "Adam 1e-4, ε 1e-8, no clipping",
         f"{a.optimizer} {a.learning_rate:g}, ε {a.optimizer_eps:g}, "
         f"clip {a.max_grad_norm:g}", ""),
        ("loss", "MSE", a.td_loss, ""),
        ("batch / train every / target every", "32 / 4 / 1,000 agent steps",
         f"{r.batch_size} / {jaxdqn_config.train.train_freq} / "
         f"{a.target_update_period} updates", ""),
        ("replay", "numpy, optimize_memory_usage (frames once)",
         "on device, frame-deduplicated", "each one's own"),
        ("ε", "fixed (--start-e = --end-e)", "fixed (epsilon_start = epsilon_end)",
         "the steady phase after exploration: both act greedily 99% of steps"),
        ("augmentation", "none", a.augmentation or "none", ""),
    ]  # fmt: skip
