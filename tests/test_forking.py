"""Forking: components registered by name outside the library, docs/forking.md's example, and
the round trip of a forked run (trained by the fork's script; played, resumed and plotted by
scripts that do not import it)."""

import dataclasses
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn import agent, config, losses, networks, policies, presets, rundir
from jaxdqn.metrics import read_metrics
from jaxdqn.registry import check_names, check_pairings
from jaxdqn.train import make_network, make_target_update

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "expected_sarsa.py"
DOC = ROOT / "docs" / "forking.md"
sys.path.insert(0, str(ROOT / "experiments"))

import _cli  # noqa: E402
import play  # noqa: E402
import plot as plot_script  # noqa: E402

REGISTRIES = {
    "network": networks.NETWORKS,
    "loss": losses.LOSSES,
    "policy": policies.POLICIES,
    "target_update": agent.TARGET_UPDATES,
}


@pytest.fixture
def td_errors():
    """Running the example registers its loss in the library's LOSSES: undo that after."""
    before = set(losses.LOSSES)
    yield losses.LOSSES
    for name in set(losses.LOSSES) - before:
        del losses.LOSSES[name]


def load_example():
    spec = importlib.util.spec_from_file_location("expected_sarsa_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- registries


@pytest.mark.parametrize("field", list(REGISTRIES))
def test_a_fork_registered_name_is_accepted(field, monkeypatch):
    # A working component under a new name: setting up the run builds it (the network is traced
    # to choose the CPU strategy by what it is).
    working = REGISTRIES[field][getattr(presets.cartpole().agent, field)]
    monkeypatch.setitem(REGISTRIES[field], "fork_x", working)
    assert getattr(config.AgentConfig(**{field: "fork_x"}), field) == "fork_x"
    # The command line takes any registered name (the fields are str, not Literal).
    flag = "--" + field.replace("_", "-")
    parsed, _, _ = _cli.parse("cartpole", "", [flag, "fork_x"])
    assert getattr(parsed.agent, field) == "fork_x"


@pytest.mark.parametrize("field", list(REGISTRIES))
def test_an_unknown_name_is_refused_listing_the_names(field, monkeypatch):
    monkeypatch.setitem(REGISTRIES[field], "fork_x", lambda *args: None)
    with pytest.raises(ValueError) as err:  # checked where the registries live
        check_names(config.Config(agent=config.AgentConfig(**{field: "nope"})))
    message = str(err.value)
    assert f"{field}='nope'" in message
    assert ", ".join(REGISTRIES[field]) in message and "fork_x" in message


def test_make_network_and_target_update_call_the_registered_functions(monkeypatch):
    calls = []
    monkeypatch.setitem(networks.NETWORKS, "fork_net", lambda n, a: calls.append(n) or "net")
    monkeypatch.setitem(agent.TARGET_UPDATES, "fork_sync", lambda a: calls.append(a) or "sync")
    cfg = presets.cartpole()
    cfg = dataclasses.replace(
        cfg, agent=dataclasses.replace(cfg.agent, network="fork_net", target_update="fork_sync")
    )
    assert make_network(cfg, 3) == "net"
    assert make_target_update(cfg) == "sync"
    assert calls == [3, cfg.agent]


def test_builtin_networks_and_target_updates():
    a = config.AgentConfig(hidden=(8,), target_update_period=3, polyak_rate=0.25)
    assert networks.NETWORKS["mlp"](2, a) == networks.MLPQNetwork(2, hidden=(8,))
    assert networks.NETWORKS["nature"](2, a) == networks.NatureQNetwork(2)
    assert networks.NETWORKS["dueling"](2, a) == networks.DuelingQNetwork(2)
    online, target = {"w": jnp.ones(2)}, {"w": jnp.zeros(2)}
    hard = agent.TARGET_UPDATES["hard"](a)
    np.testing.assert_array_equal(hard(online, target, 2)["w"], [0.0, 0.0])
    np.testing.assert_array_equal(hard(online, target, 3)["w"], [1.0, 1.0])  # every 3 updates
    polyak = agent.TARGET_UPDATES["polyak"](a)
    np.testing.assert_allclose(polyak(online, target, 1)["w"], [0.25, 0.25])


def test_image_networks_need_atari():
    # IMAGE_NETWORKS are refused on vector observations; a forked network not listed there
    # is accepted on CartPole (test_a_fork_registered_name_is_accepted).
    with pytest.raises(ValueError, match=r"network='dueling' .*needs image observations"):
        cfg = presets.cartpole()
        check_pairings(
            dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, network="dueling"))
        )


# ----------------------------------------------------------------------------- the example


def test_doc_shows_the_example_verbatim():
    with open(DOC) as f:
        doc = f.read()
    blocks = re.findall(r"<!-- examples/expected_sarsa.py -->\n```python\n(.*?)```", doc, re.S)
    with open(EXAMPLE) as f:
        assert blocks == [f.read()]


def q_inputs(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online, q_tm1_target=None):
    """LossInputs of Q-value-only network outputs."""
    out = lambda q: networks.QOutput(q_values=q)  # noqa: E731
    target_tm1 = q_tm1 if q_tm1_target is None else q_tm1_target
    return losses.LossInputs(out(q_tm1), out(target_tm1), a_tm1, r_t, discount_t,
                             out(q_t_online), out(q_t_target))  # fmt: skip


@pytest.mark.slow
def test_expected_sarsa_td_error_by_hand(td_errors, monkeypatch):
    example = load_example()
    assert "expected_sarsa" in td_errors
    q_tm1, r_t, discount_t = jnp.array([0.5, 2.0]), jnp.array(1.0), jnp.array(0.5)
    q_t_target, q_t_online = jnp.array([2.0, 4.0]), jnp.array([1.0, 3.0])
    # τ = 1: π = softmax([1, 3]) = [1, e²] / (1 + e²) = [0.1192029, 0.8807971];
    # Σ π·Q_target = 0.1192029·2 + 0.8807971·4 = 3.7615942; target = 1 + 0.5·3.7615942 = 2.8807971.
    monkeypatch.setattr(example, "TAU", 1.0)
    fn = jax.vmap(example.expected_sarsa)
    stack = lambda x: jnp.stack([x, x])  # noqa: E731
    batch = q_inputs(stack(q_tm1), jnp.array([0, 1]), stack(r_t), stack(discount_t),
                     stack(q_t_target), stack(q_t_online))  # fmt: skip
    for f in (fn, jax.jit(fn)):
        np.testing.assert_allclose(f(batch), [2.3807971, 0.8807971], rtol=1e-6)
    # The registered loss: MSE of δ with --td-loss mse, priority |δ|.
    config = dataclasses.replace(_cli.parse("cartpole", "", [])[0].agent, td_loss="mse")
    loss, priority = jax.vmap(td_errors["expected_sarsa"](config))(batch)
    np.testing.assert_allclose(loss, 0.5 * np.square([2.3807971, 0.8807971]), rtol=1e-5)
    np.testing.assert_allclose(priority, [2.3807971, 0.8807971], rtol=1e-6)
    # The target is held fixed: only Q(s, a) receives a gradient.
    grads = jax.grad(lambda q, qt, qo: example.expected_sarsa(
        q_inputs(q, jnp.array(1), r_t, discount_t, qt, qo)), argnums=(0, 1, 2))(
        q_tm1, q_t_target, q_t_online)  # fmt: skip
    np.testing.assert_array_equal(grads[0], [0.0, -1.0])
    np.testing.assert_array_equal(grads[1], [0.0, 0.0])
    np.testing.assert_array_equal(grads[2], [0.0, 0.0])
    # The example's τ = 0.05 is greedy to float precision (e^-40): the double-Q target 1 + 0.5·4.
    monkeypatch.setattr(example, "TAU", 0.05)
    td = example.expected_sarsa(q_inputs(q_tm1, jnp.array(0), r_t, discount_t, q_t_target,
                                         q_t_online))  # fmt: skip
    np.testing.assert_allclose(td, 2.5, rtol=1e-6)


# ----------------------------------------------------------------------------- the round trip

TRAIN = [
    "--total-frames", "3000", "--learning-starts", "500", "--chunk-iterations", "500",
    "--log-interval", "500", "--eval-every", "0", "--eval-episodes", "1", "--no-progress",
]  # fmt: skip


def script(*args, cwd=ROOT):
    """Runs a script as a user does, with jaxdqn importable (PYTHONPATH standing in for
    `pip install`); returns its stdout (it must exit 0)."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def forked_run(tmp_path_factory):
    """`python examples/expected_sarsa.py`: a run of the forked loss, checkpointed at 3,000."""
    runs = tmp_path_factory.mktemp("runs")
    script(EXAMPLE, *TRAIN, "--run-dir", runs, "--run-name", "es")
    return runs / "es"


def copy_run(run, tmp_path):
    shutil.copytree(run, tmp_path / run.name, ignore=shutil.ignore_patterns("LOCK"))
    return tmp_path / run.name


@pytest.mark.slow
def test_example_trains_with_the_registered_loss(forked_run):
    record = json.loads((forked_run / "config.json").read_text())
    saved = record["config"]["agent"]
    assert (saved["loss"], saved["policy"]) == ("expected_sarsa", "boltzmann")
    # The run names the script that registered its loss (relative to the repository).
    assert record["component_modules"] == {"loss": "examples/expected_sarsa.py"}
    losses_seen = [
        r["losses/td_loss"]
        for r in read_metrics(forked_run)
        if r["phase"] != "eval" and r.get("losses/td_loss") is not None
    ]
    assert len(losses_seen) == 5  # 2,500 learning steps, one record per 500
    assert all(math.isfinite(x) for x in losses_seen), losses_seen


@pytest.mark.slow
def test_example_runs_outside_the_repository(tmp_path):
    """A fork is a file of its own: copied out of the repository, it runs from there and
    imports nothing but the public jaxdqn (`jaxdqn.cli` for the command line)."""
    outside = tmp_path / "my_fork"
    outside.mkdir()
    assert not outside.resolve().is_relative_to(ROOT)
    fork = Path(shutil.copy(EXAMPLE, outside / "my_sarsa.py"))
    source = fork.read_text()
    assert "sys.path" not in source and "_cli" not in source
    flags = ["--total-frames", "600", "--learning-starts", "200", "--chunk-iterations", "200",
             "--log-interval", "200", "--eval-every", "0", "--eval-episodes", "1",
             "--no-progress", "--run-dir", "runs", "--run-name", "es"]  # fmt: skip
    script(fork, *flags, cwd=outside)
    record = json.loads((outside / "runs" / "es" / "config.json").read_text())
    assert record["config"]["agent"]["loss"] == "expected_sarsa"
    assert record["options"]["run_dir"] == "runs"  # as given, not made absolute
    assert record["component_modules"] == {"loss": str(fork.resolve())}
    assert record["launch"] == {
        "preset": "cartpole",
        "flags": ["--policy", "boltzmann", "--loss", "expected_sarsa", *flags],
    }
    assert [r["step"] for r in read_metrics(outside / "runs" / "es") if r["phase"] == "eval"] == [
        600
    ]


@pytest.mark.slow
def test_play_plays_a_forked_run(forked_run, tmp_path):
    # From another directory: the script is found from the repository, not the cwd.
    out = script(ROOT / "experiments" / "play.py", "--run", forked_run, cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0] == "CartPole-v1, seed 0, checkpoint at agent step 3000, ε=0.001", out
    score = re.fullmatch(r"game 0: score (\d+)", lines[1])
    assert score and 1 <= int(score[1]) <= 500, out
    assert lines[2] == f"mean score over 1 game(s): {score[1]}"


@pytest.mark.slow
@pytest.mark.long  # CI keeps the fork run from outside the repository and played
def test_resume_a_forked_run_from_a_script_that_does_not_register_it(forked_run, tmp_path):
    run = copy_run(forked_run, tmp_path)
    before = read_metrics(run)
    script(ROOT / "experiments" / "cartpole.py", "--resume", run, "--total-frames", "4000",
           "--no-progress")  # fmt: skip
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["agent"]["loss"] == "expected_sarsa"
    assert record["component_modules"] == {"loss": "examples/expected_sarsa.py"}  # still
    after = read_metrics(run)
    assert after[: len(before)] == before  # the checkpoint at 3,000 counted every record
    assert [(r["step"], r["phase"]) for r in after[len(before) :]] == [
        (3500, "learn"), (4000, "learn"), (4000, "eval")
    ]  # fmt: skip


def test_a_run_whose_module_is_gone_fails_with_a_clear_error(tmp_path, td_errors, capsys):
    td_errors.pop("expected_sarsa", None)  # as in a new process
    run = tmp_path / "es"
    run.mkdir()
    record = rundir.config_record(presets.cartpole())  # the rest of the run is not needed
    record["config"]["agent"]["loss"] = "expected_sarsa"
    record["component_modules"] = {"loss": "examples/gone_fork.py"}
    (run / "config.json").write_text(json.dumps(record))
    gone = ROOT / "examples" / "gone_fork.py"
    message = (f"run {run} uses loss 'expected_sarsa', registered by examples/gone_fork.py: "
               f"{gone} does not exist: restore it")  # fmt: skip
    commands = {
        "play": lambda: play.main(["--run", str(run)]),
        "resume": lambda: _cli.parse("cartpole", "", ["--resume", str(run)]),
        "plot": lambda: plot_script.main([str(run), "--out", str(tmp_path / "c.png")]),
    }
    for name, command in commands.items():
        with pytest.raises(SystemExit) as exit_:
            command()
        assert exit_.value.code == 2, name
        assert capsys.readouterr().err == f"error: {message}\n", name
    assert "expected_sarsa" not in td_errors
