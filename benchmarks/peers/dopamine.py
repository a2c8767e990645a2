"""Dopamine's DrQ(ε) (the labs agent, `DrQ_eps.gin`; Agarwal et al. 2021) as a peer of
`--preset drq_eps`.

`dopamine-rl` 4.1.2 from the package index does not run as shipped, and each repair is encoded
here: neither its wheel nor its sdist holds `labs/atari_100k/configs/*.gin` or
`labs/atari_100k/replay_memory/`, so they come from the repository at the commit that made
4.1.2 (2024-10-31), checked by sha256; the wheel's `labs/atari_100k/train.py` has a syntax
error (an internal import line starting with `.learning.deepmind`), deleted here from the
copy at the same commit; `discrete_domains/atari_lib.py` imports OpenAI `baselines` and
`jax/agents/ppo` imports `tensorboard`, neither declared (baselines 0.1.5 is installed without
its dependencies: only its `atari_wrappers` module is imported); and tensorflow-probability
reads `jax.interpreters.xla.pytype_aval_mappings`, which jax 0.10.2 keeps in `jax._src.core`
only, so the launcher puts the alias back.

Dopamine's own "training steps per second" counts only finished episodes, so the launcher
counts agent steps itself: it wraps the agent's `step` (called once per env step with one env)
and prints `dopamine agent_steps=N` after every 25th training step past `min_replay_history`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import metadata

from benchmarks.peers.common import PinnedFile, Source

NAME = "dopamine"
LABS = "dopamine/labs/atari_100k"
SOURCE = Source(
    repo="google/dopamine",
    commit="d6a6fb0390d7e8369ffb9ef824758087ce8b5758",  # "Update version number" to 4.1.2
    files=(
        PinnedFile(f"{LABS}/configs/DrQ_eps.gin",
                   "e0d587ae1b61401d285894c12db9ba34f5b0d4a085491d1bdd6f9f0886d807f6"),
        PinnedFile(f"{LABS}/replay_memory/deterministic_sum_tree.py",
                   "37aa26ca99ccefa73caf7454c62e6ad2200fd89cdb78b493048a88957110d9d1"),
        PinnedFile(f"{LABS}/replay_memory/subsequence_replay_buffer.py",
                   "4e56ed86d018221b4aa5855d860fcc8d3b65c987d1f7ff82ad16d70d2aaed41c"),
        PinnedFile(f"{LABS}/train.py",
                   "c53c275bf96c92260aab6389a3f3e7f3003930d7caa43cba3e808b40e989ed09"),
    ),
)  # fmt: skip
BROKEN_LINE = ".learning.deepmind.xmanager2"
VERSIONED = ("dopamine-rl", "jax", "flax", "optax", "tensorflow", "tensorflow-probability",
             "gym", "ale-py", "numpy")  # fmt: skip
LAUNCHER = """\
import runpy, sys
import jax.interpreters.xla as xla
from jax._src import core
if not hasattr(xla, "pytype_aval_mappings"):  # read by tensorflow-probability's jax backend
    xla.pytype_aval_mappings = core.pytype_aval_mappings
from dopamine.labs.atari_100k import atari_100k_rainbow_agent as rainbow
_step, _count = rainbow.Atari100kRainbowAgent.step, [0]
def step(self, *args, **kwargs):
    if not self.eval_mode:
        _count[0] += 1
        n = _count[0] - self.min_replay_history
        if n > 0 and n % 25 == 0:  # a few seconds apart at CPU speed
            print(f"dopamine agent_steps={n}", flush=True)
    return _step(self, *args, **kwargs)
rainbow.Atari100kRainbowAgent.step = step
sys.argv = ["train"] + sys.argv[1:]
runpy.run_module("dopamine.labs.atari_100k.train", run_name="__main__", alter_sys=True)
"""


def requirements() -> tuple[list[str], list[str]]:
    """(with dependencies, without): jax, flax and optax pinned to this environment's."""
    same = [f"{p}=={metadata.version(p)}" for p in ("jax", "jaxlib", "flax", "optax")]
    return ["dopamine-rl==4.1.2", *same, "tensorboard"], ["baselines==0.1.5"]


def install_source(python: str, src: str) -> None:
    """Copies the pinned files into the venv's `dopamine` package, the broken line deleted."""
    code = "import dopamine, os; print(os.path.dirname(os.path.dirname(dopamine.__file__)))"
    site = subprocess.run([python, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    for pinned in SOURCE.files:
        target = os.path.join(site, pinned.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(src, pinned.path), target)
    train = os.path.join(site, LABS, "train.py")
    with open(train) as f:
        lines = [ln for ln in f if not ln.startswith(BROKEN_LINE)]
    with open(train, "w") as f:
        f.writelines(lines)


def command(python: str, src: str, base_dir: str, game: str, learning_starts: int,
            replay_capacity: int, epsilon: float) -> list[str]:  # fmt: skip
    """DrQ_eps.gin on `game` with the comparison's warm-up, replay and fixed ε."""
    launcher = os.path.join(src, "launch_dopamine.py")
    with open(launcher, "w") as f:
        f.write(LAUNCHER)
    bindings = [
        f"atari_lib.create_atari_environment.game_name='{game}'",
        f"JaxDQNAgent.min_replay_history={learning_starts}",
        f"JaxDQNAgent.epsilon_train={epsilon}",
        "JaxFullRainbowAgent.epsilon_fn=@jax.agents.dqn.dqn_agent.identity_epsilon",
        f"OutOfGraphPrioritizedReplayBuffer.replay_capacity={replay_capacity}",
        "Runner.training_steps=100000000",
    ]
    gin = os.path.join(src, LABS, "configs", "DrQ_eps.gin")
    return [python, launcher, "--agent=DrQ_eps", f"--base_dir={base_dir}", f"--gin_files={gin}",
            *(f"--gin_bindings={b}" for b in bindings)]  # fmt: skip


def counter(line: str) -> int | None:
    if not line.startswith("dopamine agent_steps="):
        return None
    return int(line.split("=", 1)[1])


def settings(jaxdqn_config) -> list[tuple[str, str, str, str]]:
    """(setting, Dopamine, jaxdqn, why), Dopamine's from DrQ_eps.gin and its runner."""
    a, e, r = jaxdqn_config.agent, jaxdqn_config.env, jaxdqn_config.replay
    return [
        ("env", "gym 0.25 + ale-py, Dopamine's AtariPreprocessing", f"envpool ({e.env_id})",
         "each one's own; part of what is measured"),
        ("envs per seed", "1", str(e.envs_per_seed), ""),
        ("life loss ends episode / sticky", "yes / 0",
         f"{'yes' if e.episodic_life else 'no'} / {e.repeat_action_probability:g}", ""),
        ("network", "FullRainbowNetwork, dueling, SAME convs",
         f"{a.network}, {a.conv_padding} convs",
         "VALID by the preset's choice (≈1.5× cheaper on a CPU); --conv-padding SAME matches"),
        ("optimiser", "Adam 1e-4, ε 1.5e-4", f"{a.optimizer} {a.learning_rate:g}, "
         f"ε {a.optimizer_eps:g}", ""),
        ("loss / n-step", "double-Q, Huber / 10", f"{a.loss}, {a.td_loss} / {r.n_step}", ""),
        ("batch / train every / target every", "32 / 1 / 1", f"{r.batch_size} / "
         f"{jaxdqn_config.train.train_freq} / {a.target_update_period}", ""),
        ("augmentation", "DrQ random shift (+ intensity)", a.augmentation, ""),
        ("replay", "numpy, prioritised class in uniform mode", "on device, uniform",
         "each one's own"),
        ("ε", "fixed (identity_epsilon, epsilon_train)", "fixed (epsilon_start = epsilon_end)",
         "the steady phase after exploration"),
    ]  # fmt: skip
