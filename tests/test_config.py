"""Configuration: each validation rule, the presets, and derived quantities."""

import math
import os
import re
import subprocess
import sys
import textwrap

import pytest

from jaxdqn import presets as config
from jaxdqn.config import AgentConfig, Config, EnvConfig, ReplayConfig, TrainConfig
from jaxdqn.registry import check_names, check_pairings


def raises_naming(field, value):
    """pytest.raises(ValueError) whose message contains `field=<repr of value>`."""
    return pytest.raises(ValueError, match=re.escape(f"{field}={value!r}"))


@pytest.mark.parametrize(
    "field, value",
    [
        ("gamma", 1.5),
        ("gamma", -0.1),
        ("gamma", math.inf),
        ("epsilon_start", 1.1),
        ("epsilon_start", -0.5),
        ("epsilon_end", -0.1),
        ("epsilon_end", 2.0),
        ("temperature_start", 0.0),
        ("temperature_start", -1.0),
        ("temperature_end", 0.0),
        ("learning_rate", 0.0),
        ("learning_rate", -1e-4),
        ("learning_rate", math.nan),
        ("td_loss", "l1"),
        ("optimizer", "sgd"),
        ("conv_padding", "same"),  # VALID or SAME, as flax spells them
        ("conv_padding", "FULL"),
    ],
)
def test_agent_config_rejects(field, value):
    with raises_naming(field, value):
        AgentConfig(**{field: value})


@pytest.mark.parametrize(
    "field, value",
    [
        ("loss", "triple_q"),
        ("policy", "softmax"),
        ("network", "resnet"),
        ("augmentation", "crop"),
        ("augmentation", "DrQ"),  # names are case-sensitive
        ("target_update", "soft"),
    ],
)
def test_component_names_are_checked_against_the_registries(field, value):
    """The Config imports no component module: its names are checked by the registries, when
    the plan is made (`jaxdqn.registry.check_names`)."""
    config = Config(agent=AgentConfig(**{field: value}))  # plain data: accepted as such
    with raises_naming(field, value):
        check_names(config)


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("loss", "triple_q", "q, double_q"),
        ("td_loss", "l1", "huber, mse"),
        ("policy", "softmax", "epsilon, boltzmann"),
        ("gamma", 1.5, "[0.0, 1.0]"),
        ("augmentation", "crop", "none, drq (the names in jaxdqn.augmentations.AUGMENTATIONS)"),
        ("conv_padding", "same", "one of VALID, SAME"),
    ],
)
def test_agent_config_message_lists_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=re.escape(allowed)):
        check_names(Config(agent=AgentConfig(**{field: value})))


def test_agent_config_boundaries_are_accepted():
    # [0, 1] is closed for γ and ε; τ only needs to be positive.
    AgentConfig(gamma=0.0, epsilon_start=0.0, epsilon_end=0.0, temperature_end=1e-6)
    AgentConfig(gamma=1.0, epsilon_start=1.0, epsilon_end=1.0)


def test_replay_config_rejects_zero_capacity():
    with raises_naming("replay_capacity", 0):
        ReplayConfig(replay_capacity=0)


def test_replay_config_rejects_batch_larger_than_capacity():
    with pytest.raises(ValueError, match=r"batch_size=32 .*replay_capacity \(10\)"):
        ReplayConfig(replay_capacity=10, batch_size=32)
    ReplayConfig(replay_capacity=32, batch_size=32)  # equal is fine


def test_config_rejects_learning_starts_below_batch_size():
    with pytest.raises(ValueError, match=r"learning_starts=10 .*batch_size \(64\)"):
        Config(
            replay=ReplayConfig(replay_capacity=1_000, batch_size=64),
            train=TrainConfig(learning_starts=10),
        )


def test_unknown_env_lists_close_matches():
    """The env id is checked against the backend's registry when the runtime is resolved
    (the Config itself imports no env library)."""
    from jaxdqn.backends import check_env_id
    from jaxdqn.runtime import resolve

    typo = EnvConfig(env_id="Asault-v5")
    for check in (lambda: check_env_id("Asault-v5", "envpool-xla"),
                  lambda: resolve(Config(env=typo, agent=AgentConfig(network="mlp")))):  # fmt: skip
        with pytest.raises(ValueError, match=re.escape("env_id='Asault-v5'")) as info:
            check()
        assert "Assault-v5" in str(info.value).split("matches")[-1]
    # With the default (image) network too: the env id is checked before the network.
    with pytest.raises(ValueError, match=re.escape("env_id='Asault-v5'")) as info:
        resolve(Config(env=typo))
    assert "Assault-v5" in str(info.value).split("matches")[-1]
    # An image network on a known non-Atari env is refused by name, offering the Atari game.
    with pytest.raises(ValueError, match=r"Asault-v5 is not Atari.*Did you mean Assault-v5\?"):
        check_pairings(Config(env=typo))
    with pytest.raises(ValueError, match="add --env-backend gymnasium"):
        check_env_id("ALE/Pong-v5", "envpool")
    check_env_id("Assault-v5", "gymnasium")  # envpool's name of an ale-py game is accepted


PLAIN_DATA = textwrap.dedent("""
    import sys
    for name in ("envpool", "gymnasium", "ale_py"):
        sys.modules[name] = None  # importing any of them now raises ImportError
    from jax._src import xla_bridge
    from jaxdqn.config import Config, EnvConfig
    from jaxdqn.presets import PRESETS
    for name, preset in PRESETS.items():
        config = preset()
        print(name, config.env.frame_skip, config.total_steps_rounded, config.total_updates)
    print(EnvConfig(env_id="Asault-v5").env_id)  # a typo is the runtime's to catch
    print("backends", sorted(xla_bridge._backends))
""")


@pytest.mark.slow
def test_config_builds_without_env_libraries_or_devices():
    """Building every preset and its budget imports no env library and initialises no JAX
    backend: the same flags give the same run on any machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", PLAIN_DATA], cwd=root, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["backends"] == "[]"
    assert "Asault-v5" in out.stdout.splitlines()
    # cartpole: 100,000 frames = agent steps, 1,000 warm-up, one update per step
    assert lines["cartpole"] == "1 100000 99000"
    # drq_eps: 400,000 frames = 100,000 agent steps, 1,600 warm-up, one update per step
    assert lines["drq_eps"] == "4 100000 98400"
    # nature: 40M frames = 10M agent steps, 50,000 warm-up, 4 envs, an update per 4 steps
    assert lines["nature"] == f"4 10000000 {(10_000_000 - 50_000) // 4}"


UNDER_O = textwrap.dedent("""
    import sys
    from jaxdqn.config import AgentConfig, EnvConfig
    assert False, "asserts must be stripped"  # proves -O is on: this line does nothing
    print("optimize", sys.flags.optimize)
    from jaxdqn.backends import check_env_id
    for build in (lambda: check_env_id("Asault-v5", "envpool"), lambda: AgentConfig(gamma=1.5),
                  lambda: EnvConfig(num_seeds=0)):
        try:
            build()
        except ValueError as err:
            print("ValueError", err)
        else:
            print("accepted")
""")


@pytest.mark.slow
@pytest.mark.long  # a subprocess per check; the checks themselves run in CI
def test_validation_holds_under_python_O():
    """`python -O` strips `assert`: validation must raise ValueError all the same."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-O", "-c", UNDER_O], cwd=root, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "optimize 1"
    assert len(lines) == 4 and all(line.startswith("ValueError") for line in lines[1:]), lines
    assert "env_id='Asault-v5'" in lines[1] and "Assault-v5" in lines[1].split("matches")[-1]
    assert "gamma=1.5" in lines[2] and "num_seeds=0" in lines[3]


def test_env_config_rejects_zero_seeds():
    with raises_naming("num_seeds", 0):
        EnvConfig(num_seeds=0)
    with raises_naming("envs_per_seed", 0):
        EnvConfig(envs_per_seed=0)


def test_presets_construct():
    nature = config.nature()
    assert nature.env.env_id == "Assault-v5" and nature.env.atari
    assert nature.env.frame_skip == 4
    # Nature: 40M frames = 10M agent steps; replay 1M, batch 32, update every 4 agent steps.
    assert nature.total_steps == 10_000_000
    assert (nature.replay.replay_capacity, nature.replay.batch_size) == (1_000_000, 32)
    assert nature.train.train_freq == 4

    cartpole = config.cartpole()
    assert cartpole.env.env_id == "CartPole-v1" and not cartpole.env.atari
    assert cartpole.env.frame_skip == 1
    assert cartpole.agent.network == "mlp"
    assert cartpole.total_steps == cartpole.train.total_frames
    assert set(config.PRESETS) == {"nature", "dopamine", "cleanrl", "drq_eps", "cartpole", "c51",
                                   "qr_dqn", "rainbow", "der", "iqn", "minatar", "pqn_minatar",
                                   "pqn_atari"}  # fmt: skip


def test_augmentation_refused_on_a_non_atari_env():
    # Even with an image-free network (mlp), drq on CartPole's 4-vector is refused, by name.
    with raises_naming("augmentation", "drq") as info:
        check_pairings(
            Config(
                env=EnvConfig(env_id="CartPole-v1"),
                agent=AgentConfig(network="mlp", augmentation="drq"),
            )
        )
    assert "CartPole-v1 is not Atari" in str(info.value)
    # none is accepted there, and drq on Atari.
    check_pairings(Config(env=EnvConfig(env_id="CartPole-v1"), agent=AgentConfig(network="mlp")))
    check_pairings(Config(agent=AgentConfig(augmentation="drq")))


def test_augmentation_and_conv_padding_flags(capsys):
    """--augmentation and --conv-padding reach AgentConfig; bad values exit 2 naming them."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))
    import _cli

    cfg, _, _ = _cli.parse("nature", "", ["--augmentation", "drq", "--conv-padding", "SAME"])
    assert (cfg.agent.augmentation, cfg.agent.conv_padding) == ("drq", "SAME")
    with pytest.raises(SystemExit) as exc:
        _cli.parse("nature", "", ["--augmentation", "crop"])
    assert exc.value.code == 2
    assert "augmentation='crop'" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(SystemExit) as exc:
        _cli.parse("cartpole", "", ["--augmentation", "drq"])
    assert exc.value.code == 2
    assert "augmentation='drq'" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(SystemExit) as exc:  # tyro refuses a value outside the Literal
        _cli.parse("nature", "", ["--conv-padding", "same"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "invalid choice 'same' for argument '--conv-padding'" in err


@pytest.mark.parametrize(
    "envs_per_seed, train_freq, env_steps, updates",
    [
        (4, 4, 1, 1),  # one vector step = 4 agent steps = one update
        (8, 4, 1, 2),  # one vector step = 8 agent steps = two updates
        (1, 4, 4, 1),  # four vector steps per update
        (2, 4, 2, 1),
    ],
)
def test_derived_iteration_sizes(envs_per_seed, train_freq, env_steps, updates):
    cfg = Config(
        env=EnvConfig(envs_per_seed=envs_per_seed), train=TrainConfig(train_freq=train_freq)
    )
    assert cfg.env_steps_per_iteration == env_steps
    assert cfg.updates_per_iteration == updates
    # The replay ratio of the paper: one update per train_freq agent steps.
    agent_steps = cfg.agent_steps_per_iteration
    assert agent_steps == env_steps * envs_per_seed
    assert agent_steps == updates * train_freq


def test_train_freq_must_fit_envs_per_seed():
    # 3 envs and train_freq 4: neither divides the other.
    with raises_naming("train_freq", 4):
        Config(env=EnvConfig(envs_per_seed=3), train=TrainConfig(train_freq=4))


@pytest.mark.parametrize(
    "kwargs, field, value",
    [
        (dict(head="categorical", num_atoms=1), "num_atoms", 1),  # atoms ≤ 1
        (dict(head="quantile", num_atoms=0), "num_atoms", 0),  # quantiles ≤ 0
        (dict(v_min=10.0, v_max=10.0), "v_min", 10.0),  # v_min ≥ v_max
        (dict(v_min=3.0, v_max=-3.0), "v_min", 3.0),
        (dict(quantile_kappa=-1.0), "quantile_kappa", -1.0),
        (dict(head="mixture"), "head", "mixture"),
    ],
)
def test_distributional_settings_refused_by_name(kwargs, field, value):
    with raises_naming(field, value):
        config.AgentConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field, value",
    [
        (dict(priority_exponent=-0.5), "priority_exponent", -0.5),  # α < 0
        (dict(importance_exponent_start=-0.1), "importance_exponent_start", -0.1),  # β ∉ [0, 1]
        (dict(importance_exponent_end=1.5), "importance_exponent_end", 1.5),
    ],
)
def test_prioritized_replay_settings_refused_by_name(kwargs, field, value):
    with raises_naming(field, value):
        config.ReplayConfig(**kwargs)


@pytest.mark.parametrize(
    "loss, head, needed",
    [("categorical", "q", "categorical"), ("categorical_double_q", "quantile", "categorical"),
     ("quantile", "categorical", "quantile"), ("quantile_double_q", "q", "quantile")],
)  # fmt: skip
def test_a_distributional_loss_needs_its_head(loss, head, needed):
    """A loss that needs a distribution the network does not give: refused when the plan is
    made, before anything is allocated, naming the head it needs."""
    with raises_naming("loss", loss) as info:
        check_pairings(Config(agent=config.AgentConfig(loss=loss, head=head)))
    assert f"--head {needed}" in str(info.value)
    check_pairings(Config(agent=config.AgentConfig(loss=loss, head=needed)))  # and accepted


def test_config_imports_no_component_module():
    """The plain data sits below the agent: config.py imports no network, loss, policy,
    augmentation or agent module (their names are checked by the registries)."""
    import ast
    import pathlib

    import jaxdqn.config

    tree = ast.parse(pathlib.Path(jaxdqn.config.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    }
    ours = {name for name in imported if name and name.startswith("jaxdqn")}
    assert ours == {"jaxdqn.atari_data", "jaxdqn.validation"}
