"""purejaxql's `pqn_atari.py` (Gallici et al. 2024) as a peer of `--preset pqn_atari`.

PQN's reference implementation: one `jax.jit` over the whole run (a `lax.scan` of rollouts of
128 envpool envs stepped through envpool's XLA interface, λ-returns, epochs of minibatches).
Not on the package index, so its files come from the repository at one commit, each checked
by its sha256 (`--purejaxql-src` takes them from a checkout instead). Its virtualenv holds the
same jax, flax, optax, chex and envpool as this one (the loop is compared, not releases; the
repository asks for jax ≤ 0.4.38, and its PQN code runs unchanged on this one), the legacy
`gym` 0.23.1 its envpool wrapper asserts, and hydra/omegaconf/wandb, which it imports. The
one adaptation: envpool 1.2.5's `env_type="gym"` speaks gymnasium's API (reset → (obs, info),
five-tuple steps), where the script's wrapper was written for envpool 0.8's legacy one; the
launcher puts the legacy API in front of it (`legacy_gym.py`).

The script logs through `wandb.log` from a `jax.debug.callback` after every rollout when its
`WANDB_MODE` is not "disabled"; the launcher below replaces `wandb.log` with a print of the
rollout's `env_step` (agent steps of all envs so far), the line run.py counts, and calls the
script's own `make_train` with its `pqn_atari.yaml` and the comparison's game and fixed ε
(hydra's `main` is not used: it would also start a wandb run).
"""

from __future__ import annotations

import os
from importlib import metadata

from benchmarks.peers.common import PinnedFile, Source

NAME = "purejaxql"
SOURCE = Source(
    repo="mttga/purejaxql",
    commit="47af6d7b35c89ddfe633aaf7341bdb8964cb7cce",  # 2025-11-12, "reference to render script"
    files=(
        PinnedFile("purejaxql/__init__.py",
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        PinnedFile("purejaxql/pqn_atari.py",
                   "2d8016ea6e607e1683c4e7e48fd5f20a0aba1483cf173dbedae65a6d384773ce"),
        PinnedFile("purejaxql/utils/atari_wrapper.py",
                   "fbe9e4206f22bfa11f5f7d4b18d73b8fe0bc2b65cd2478a93c7ecfca8724eb59"),
        PinnedFile("purejaxql/config/alg/pqn_atari.yaml",
                   "919ab7a329ecfb99dcf0672fa3d2514f202a1990dbe75efa2b94c040153ac1b5"),
    ),
)  # fmt: skip
VERSIONED = ("jax", "jaxlib", "flax", "optax", "chex", "envpool", "gym", "numpy")
LAUNCHER = """\
import os, sys
import envpool, jax, wandb
from omegaconf import OmegaConf
src, here, game, epsilon, seed = sys.argv[1:4] + [float(sys.argv[4]), int(sys.argv[5])]
sys.path[:0] = [src, here]
from legacy_gym import LegacyGym
wandb.log = lambda metrics, step=None: print(
    f"purejaxql env_step={int(metrics['env_step'])}", flush=True)

make = envpool.make
envpool.make = lambda *args, **kwargs: LegacyGym(make(*args, **kwargs))
import purejaxql.pqn_atari as pqn
yaml = os.path.join(src, "purejaxql", "config", "alg", "pqn_atari.yaml")
alg = OmegaConf.to_container(OmegaConf.load(yaml))
config = {**alg, "NUM_SEEDS": 1, "SEED": seed, "WANDB_MODE": "offline",
          "ENV_NAME": f"{game}-v5", "EPS_START": epsilon, "EPS_FINISH": epsilon,
          "TEST_DURING_TRAINING": False, "TOTAL_TIMESTEPS": 1e9, "TOTAL_TIMESTEPS_DECAY": 1e9}
print("purejaxql compiling", flush=True)
jax.block_until_ready(jax.jit(pqn.make_train(config))(jax.random.PRNGKey(seed)))
"""


def requirements() -> list[str]:
    """The peer's virtualenv: jax, flax, optax, chex, envpool and numpy pinned to this one's."""
    same = [f"{p}=={metadata.version(p)}"
            for p in ("jax", "jaxlib", "flax", "optax", "chex", "envpool", "numpy")]  # fmt: skip
    return same + ["gym==0.23.1", "hydra-core", "omegaconf", "wandb", "packaging"]


def command(python: str, src: str, game: str, epsilon: float, seed: int = 1) -> list[str]:
    """purejaxql's PQN on `game` with the comparison's fixed ε and no test envs."""
    launcher = os.path.join(src, "launch_purejaxql.py")
    with open(launcher, "w") as f:
        f.write(LAUNCHER)
    here = os.path.dirname(os.path.abspath(__file__))  # legacy_gym.py
    return [python, launcher, src, here, game, str(epsilon), str(seed)]


def counter(line: str) -> int | None:
    """Agent steps of all envs so far, from the launcher's line after each rollout."""
    if not line.startswith("purejaxql env_step="):
        return None
    return int(line.split("=", 1)[1])


def settings(jaxdqn_config) -> list[tuple[str, str, str, str]]:
    """(setting, purejaxql, jaxdqn, why), purejaxql's from `pqn_atari.yaml` and the script at
    the pinned commit."""
    a, e, t = jaxdqn_config.agent, jaxdqn_config.env, jaxdqn_config.train
    return [
        ("env", "envpool Pong-v5 → the comparison's game, XLA interface",
         f"envpool ({e.env_id}), XLA interface", "the same backend on both sides"),
        ("envs / rollout steps", "128 / 32", f"{e.envs_per_seed} / {t.rollout_steps}", ""),
        ("epochs × minibatches", "2 × 32", f"{a.num_epochs} × {a.num_minibatches}", ""),
        ("network", "Nature CNN, VALID, LayerNorm before each ReLU",
         f"{a.network}, {a.conv_padding}, layer_norm {a.layer_norm}", ""),
        ("optimiser", "RAdam 2.5e-4, clip 10", f"{a.optimizer} {a.learning_rate:g}, "
         f"clip {a.max_grad_norm:g}", ""),
        ("λ / γ", "0.65 / 0.99", f"{a.td_lambda:g} / {a.gamma:g}", ""),
        ("ε", "fixed (EPS_START = EPS_FINISH)", "fixed (epsilon_start = epsilon_end)",
         "the steady phase after exploration"),
        ("test envs during training", "off (TEST_DURING_TRAINING False; the yaml's 8 on)",
         "none", "jaxdqn evaluates at the end instead"),
        ("logging", "one host callback per rollout", "one host return per chunk", "each one's own"),
    ]  # fmt: skip
