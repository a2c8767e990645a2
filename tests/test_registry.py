"""Registries remember which module registered each name, and import it again."""

import dataclasses
import importlib
import importlib.util
import runpy
import sys
import textwrap

import pytest

from jaxdqn import losses, registry
from jaxdqn.presets import cartpole
from jaxdqn.registry import (
    ComponentModuleError,
    Registry,
    component_modules,
    component_registries,
    import_component_modules,
    import_origin,
    is_library,
)

SCRIPT = textwrap.dedent("""
    from jaxdqn import losses

    def fork_loss(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online):
        return r_t - q_tm1[a_tm1]

    losses.LOSSES["{name}"] = fork_loss
    if __name__ == "__main__":
        raise SystemExit("the script's main block ran")
""")


@pytest.fixture
def registries():
    """Names a test registers are dropped after it; modules it imports are forgotten."""
    before = {field: set(r) for field, r in component_registries().items()}
    modules = set(sys.modules)
    yield component_registries()
    for field, reg in component_registries().items():
        for name in set(reg) - before[field]:
            del reg[name]
    for name in set(sys.modules) - modules:
        if name.startswith(("fork_pkg", "jaxdqn_component_")):
            del sys.modules[name]


@pytest.fixture
def fork_pkg(tmp_path, monkeypatch):
    """A package `fork_pkg` on sys.path whose module `comps` registers `pkg_loss`."""
    (tmp_path / "fork_pkg").mkdir()
    (tmp_path / "fork_pkg" / "__init__.py").write_text("")
    (tmp_path / "fork_pkg" / "comps.py").write_text(SCRIPT.format(name="pkg_loss"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "fork_pkg" / "comps.py"


def test_a_registry_is_a_dict_that_records_who_set_each_name():
    reg = Registry({"a": 1})
    reg["b"] = 2
    assert reg == {"a": 1, "b": 2} and isinstance(reg, dict)
    assert list(reg) == ["a", "b"] and "b" in reg and reg["b"] == 2
    assert reg.origin("a") == reg.origin("b") == __name__ == "tests.test_registry"
    assert reg.origin("nope") is None
    reg.update({"c": 3}, d=4)
    reg.setdefault("e", 5)
    reg |= {"f": 6}
    assert all(reg.origin(k) == __name__ for k in "cdef")
    del reg["a"]
    assert reg.pop("b") == 2 and reg.pop("b", None) is None
    assert reg.origin("a") is None and reg.origin("b") is None
    reg.clear()
    reg["a"] = 1
    assert reg == {"a": 1} and reg.origin("a") == __name__


def test_builtins_record_nothing_to_import():
    regs = component_registries()
    assert set(regs) == {"network", "augmentation", "loss", "policy", "target_update"}
    assert regs["loss"] is losses.LOSSES and isinstance(regs["loss"], Registry)
    for reg in regs.values():
        for name in reg:
            assert reg.origin(name).startswith("jaxdqn.") and is_library(reg.origin(name))
    assert component_modules(cartpole()) == {}


def test_is_library():
    assert is_library(None) and is_library("jaxdqn") and is_library("jaxdqn.losses")
    assert is_library("jaxdqn/losses.py")
    assert not is_library("jaxdqnfork.losses") and not is_library("examples/expected_sarsa.py")
    assert not is_library("/elsewhere/jaxdqn/x.py")


def test_a_module_imported_by_name_is_recorded_by_name(fork_pkg, registries):
    importlib.import_module("fork_pkg.comps")
    assert losses.LOSSES.origin("pkg_loss") == "fork_pkg.comps"
    config = cartpole()
    config = dataclasses.replace(config, agent=dataclasses.replace(config.agent, loss="pkg_loss"))
    assert component_modules(config) == {"loss": "fork_pkg.comps"}
    # Another process: the name is not registered until the module is imported again.
    del losses.LOSSES["pkg_loss"], sys.modules["fork_pkg.comps"]
    assert import_component_modules({"loss": "fork_pkg.comps"}, {"loss": "pkg_loss"}) == [
        "fork_pkg.comps"
    ]
    assert "pkg_loss" in losses.LOSSES
    # Already registered (the fork's own script runs): nothing to import.
    assert import_component_modules({"loss": "fork_pkg.comps"}, {"loss": "pkg_loss"}) == []


def test_a_script_is_recorded_by_its_path_and_imported_without_its_main_block(tmp_path, registries):
    script = tmp_path / "my_fork.py"
    script.write_text(SCRIPT.format(name="script_loss"))
    with pytest.raises(SystemExit, match="main block ran"):
        runpy.run_path(str(script), run_name="__main__")  # `python my_fork.py`
    assert losses.LOSSES.origin("script_loss") == str(script)  # absolute: outside the repo
    del losses.LOSSES["script_loss"]
    module = import_origin(str(script))
    assert module.__name__.startswith("jaxdqn_component_my_fork_")
    assert losses.LOSSES["script_loss"] is module.fork_loss
    # Imported by path, it still records its path (a resumed run records the same thing).
    assert losses.LOSSES.origin("script_loss") == str(script)
    assert import_origin(str(script)) is module  # once per process


def test_a_file_loaded_under_another_name_is_recorded_by_its_path(tmp_path, registries):
    script = tmp_path / "loaded.py"
    script.write_text(SCRIPT.format(name="loaded_loss"))
    spec = importlib.util.spec_from_file_location("some_other_name", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert losses.LOSSES.origin("loaded_loss") == str(script)


def test_a_script_in_the_repository_is_recorded_relative_to_it():
    origin = registry.origin_of(
        {"__name__": "__main__", "__file__": str(registry.ROOT / "examples" / "x.py")}
    )
    assert origin == "examples/x.py"
    assert registry.origin_of({"__name__": "__main__"}) == "__main__"  # python -c
    assert registry.origin_of({"__name__": "a.b", "__file__": "/x/a/b/__init__.py"}) == "a.b"


def test_errors_name_the_run_the_component_and_the_module(tmp_path, fork_pkg, registries):
    def fails(modules, message, name="gone_loss"):
        with pytest.raises(ComponentModuleError) as err:
            import_component_modules(modules, {"loss": name}, "run runs/x")
        assert str(err.value) == message

    gone = tmp_path / "gone.py"
    fails({"loss": str(gone)}, f"run runs/x uses loss 'gone_loss', registered by {gone}: "
          f"{gone} does not exist: restore it")  # fmt: skip
    fails({"loss": "gone_pkg.comps"}, "run runs/x uses loss 'gone_loss', registered by "
          "gone_pkg.comps: module gone_pkg.comps is not found (No module named 'gone_pkg'): "
          "restore it or put its directory on PYTHONPATH")  # fmt: skip
    fails({"loss": "__main__"}, "run runs/x uses loss 'gone_loss', registered by __main__: it "
          "was registered in an interactive session (python -c, a notebook), which cannot be "
          "imported again; register it in a module or script of its own")  # fmt: skip
    with pytest.raises(ComponentModuleError) as err:
        import_component_modules({"loss": "fork_pkg.comps"}, {"loss": "gone_loss"}, "run runs/x")
    message = str(err.value)
    start = "run runs/x uses loss 'gone_loss', registered by fork_pkg.comps, which no longer "
    assert message.startswith(start + "registers it (registered: q, double_q, ")
    assert "pkg_loss" in message
    broken = tmp_path / "broken.py"
    broken.write_text("import not_installed_dependency\n")
    fails({"loss": str(broken)}, f"run runs/x uses loss 'gone_loss', registered by {broken}, "
          "which fails to import: ModuleNotFoundError: No module named "
          "'not_installed_dependency'")  # fmt: skip
    assert not any(name.startswith("jaxdqn_component_broken") for name in sys.modules)
