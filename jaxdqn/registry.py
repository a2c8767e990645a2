"""Name → component registries that remember which module registered each name.

A fork registers a component with one line, `losses.LOSSES["mine"] = fn`, in a module or
a script of its own. The run's config names only `"mine"`; so that a later process (play,
resume, plot) can rebuild that config, the registry records where each name was set, the run
writes it to config.json (`component_modules`), and the later process imports it again:

    registered in            recorded as                     imported again by
    jaxdqn.losses            (nothing: the library)          -
    myfork.losses            "myfork.losses"                 importlib.import_module
    python examples/x.py     "examples/x.py" (from the       its file, under another name
      (or any file loaded      repository root, or absolute    than __main__, so its
      by path)                 outside it)                     `if __name__ == "__main__"`
                                                               block does not run
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

V = TypeVar("V")

ROOT = Path(__file__).resolve().parent.parent  # relative script paths are relative to this
LIBRARY = "jaxdqn"
INTERACTIVE = "__main__"  # the origin of a name set in `python -c` or a notebook: no file
_FILE_MODULES: dict[str, str] = {}  # name given to a script imported by path → its origin


class ComponentModuleError(ImportError):
    """A run's component cannot be registered again: its module or script is gone, fails to
    import, or no longer registers the name."""


class Registry(dict[str, V]):
    """A dict of name → component that records, for each name set, the module that set it.

    Reads are a dict's (`REG[name]`, `in`, iteration, equality with a dict). Every write
    (`REG[name] = fn`, `update`, `setdefault`, `|=`, and the entries given when the registry
    is built) records its caller: see `origin`.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self._origins: dict[str, str | None] = {}
        self.update(*args, **kwargs)

    def origin(self, name: str) -> str | None:
        """Where `name` was registered: a module name, a script path ending in `.py` (relative
        to the repository root when under it), `"__main__"` for an interactive session, or
        None for a name this registry does not hold."""
        return self._origins.get(name) if name in self else None

    def __setitem__(self, name: str, value: V) -> None:
        super().__setitem__(name, value)
        self._origins[name] = _caller_origin()

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._origins.pop(name, None)

    def pop(self, name: str, *default: Any) -> Any:
        self._origins.pop(name, None)
        return super().pop(name, *default)

    def popitem(self) -> tuple[str, V]:
        name, value = super().popitem()
        self._origins.pop(name, None)
        return name, value

    def clear(self) -> None:
        super().clear()
        self._origins.clear()

    def update(self, other: Mapping | Iterable = (), /, **kwargs: Any) -> None:
        items = other.items() if isinstance(other, Mapping) else other
        for name, value in [*items, *kwargs.items()]:
            self[name] = value

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def __ior__(self, other: Mapping | Iterable) -> Registry[V]:
        self.update(other)
        return self


def _caller_origin() -> str | None:
    """The origin of the first frame outside this module (the code that set the name)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return None if frame is None else origin_of(frame.f_globals)


def origin_of(module_globals: Mapping[str, Any]) -> str | None:
    """How to import again the module whose globals these are (see `Registry.origin`).

    A module imported by its name is recorded by name. `__main__` (a script), a script
    imported by `import_origin`, and any file loaded under a name that is not its path
    (`importlib.util.spec_from_file_location("x", "a/b.py")`) cannot be imported by that name:
    they are recorded by their file."""
    name = module_globals.get("__name__")
    file = module_globals.get("__file__")
    if not file:
        return name  # a built-in, namespace or interactive (`__main__`) module
    if name == "__main__" or name in _FILE_MODULES or not _named_after(name, file):
        return _file_origin(file)
    return name


def _named_after(name: str | None, file: str) -> bool:
    """Whether `name` is the dotted path of `file` (`a.b` for .../a/b.py or .../a/b/__init__.py),
    as it is for a module found on sys.path."""
    if not name:
        return False
    parts, path = tuple(name.split(".")), Path(file).with_suffix("")
    if path.name == "__init__":
        path = path.parent
    return path.parts[-len(parts) :] == parts


def _file_origin(file: str) -> str:
    path = Path(file).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def is_library(origin: str | None) -> bool:
    """Whether `origin` is inside jaxdqn itself (nothing to import: jaxdqn is imported)."""
    if origin is None:
        return True
    if origin.endswith(".py"):
        return Path(origin).parts[:1] == (LIBRARY,)
    return origin == LIBRARY or origin.startswith(LIBRARY + ".")


def import_origin(origin: str) -> Any:
    """Imports the module recorded as `origin` (see `Registry.origin`) and returns it.

    Raises:
      ComponentModuleError: the script does not exist, the module is not found, or the
        origin is an interactive session.
      Exception: whatever the module itself raises while it runs.
    """
    if origin == INTERACTIVE:
        raise ComponentModuleError(
            "it was registered in an interactive session (python -c, a notebook), which "
            "cannot be imported again; register it in a module or script of its own"
        )
    if not origin.endswith(".py"):
        try:
            return importlib.import_module(origin)
        except ModuleNotFoundError as err:
            if err.name is None or not (origin + ".").startswith(err.name + "."):
                raise  # the module exists but one of its own imports is missing
            raise ComponentModuleError(
                f"module {origin} is not found (No module named {err.name!r}): restore it or "
                "put its directory on PYTHONPATH"
            ) from None
    return _import_file(origin)


def _import_file(origin: str) -> Any:
    """A script imported by its path under a name of its own (never `__main__`), once."""
    path = Path(origin) if Path(origin).is_absolute() else ROOT / origin
    path = path.resolve()
    if not path.is_file():
        raise ComponentModuleError(f"{path} does not exist: restore it")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = "jaxdqn_component_" + re.sub(r"\W", "_", path.stem) + "_" + digest
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    _FILE_MODULES[name] = origin
    sys.modules[name] = module  # before it runs, as an import does (dataclasses look it up)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def component_registries() -> dict[str, Registry]:
    """The registries of the components a config names, by the config field (in
    `config.agent`) that names them."""
    # Imported here: those modules build their registries with this one.
    modules = {
        "network": ("jaxdqn.networks", "NETWORKS"),
        "augmentation": ("jaxdqn.augmentations", "AUGMENTATIONS"),
        "loss": ("jaxdqn.losses", "LOSSES"),
        "policy": ("jaxdqn.policies", "POLICIES"),
        "target_update": ("jaxdqn.agent", "TARGET_UPDATES"),
    }
    return {
        field: getattr(importlib.import_module(module), attr)
        for field, (module, attr) in modules.items()
    }


def component_modules(config: Any) -> dict[str, str]:
    """For each component of `config` registered outside jaxdqn, the config field → the module
    or script that registered it (`{"loss": "examples/expected_sarsa.py"}`); {} if none."""
    out = {}
    for field, registry in component_registries().items():
        name = getattr(config.agent, field, None)
        origin = registry.origin(name) if isinstance(registry, Registry) else None
        if not is_library(origin):
            out[field] = origin
    return out


def import_component_modules(
    modules: Mapping[str, str], settings: Mapping[str, Any], where: str = "the run"
) -> list[str]:
    """Imports the modules recorded by `component_modules`, each once, unless its component
    is already registered (the fork's own script is the one running). `settings` maps the
    fields to the names (a config.json's `config.agent`); `where` names the run in errors.
    Returns the origins imported.

    Raises:
      ComponentModuleError: names the component, where it came from and what went wrong.
    """
    registries = component_registries()
    imported: list[str] = []
    for field, origin in modules.items():
        name, registry = settings.get(field), registries.get(field)
        if registry is not None and name in registry:
            continue
        what = f"{where} uses {field} {name!r}, registered by {origin}"
        if origin not in imported:
            try:
                import_origin(origin)
            except ComponentModuleError as err:
                raise ComponentModuleError(f"{what}: {err}") from None
            except Exception as err:
                raise ComponentModuleError(
                    f"{what}, which fails to import: {type(err).__name__}: {err}"
                ) from err
            imported.append(origin)
        if registry is not None and name not in registry:
            raise ComponentModuleError(
                f"{what}, which no longer registers it (registered: {', '.join(registry)})"
            )
    return imported


# ----------------------------------------------------------------------------- names


def check_names(config: Any) -> None:
    """Raises ValueError for a component name of `config.agent` that no registry holds, naming
    the field, the value, close matches and the registry the names come from."""
    import difflib

    where = {"network": "jaxdqn.networks.NETWORKS", "loss": "jaxdqn.losses.LOSSES",
             "policy": "jaxdqn.policies.POLICIES",
             "augmentation": "jaxdqn.augmentations.AUGMENTATIONS",
             "target_update": "jaxdqn.agent.TARGET_UPDATES"}  # fmt: skip
    registries = component_registries()
    for field in ("network", "loss", "policy", "augmentation", "target_update"):
        value, known = getattr(config.agent, field), registries[field]
        if value in known:
            continue
        close = difflib.get_close_matches(str(value), list(known), n=3, cutoff=0.6)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        raise ValueError(f"{field}={value!r} is invalid: one of {', '.join(known)} (the names "
                         f"in {where[field]}).{hint}")  # fmt: skip


def check_pairings(config: Any) -> None:
    """Raises ValueError for registered components that do not fit together or the env: a loss
    without the head it reads, an augmentation or image network on vector observations, a
    network on MinAtar grids it cannot take. Run after `check_names`."""
    from jaxdqn.losses import LOSS_HEADS
    from jaxdqn.networks import IMAGE_NETWORKS
    from jaxdqn.validation import atari_hint as _atari_hint
    from jaxdqn.validation import fail as _fail

    a, env_id, atari = config.agent, config.env.env_id, config.env.atari
    needed = LOSS_HEADS.get(a.loss)
    if needed is not None and a.head != needed:
        gives = "Q-values only" if a.head == "q" else f"a {a.head} distribution"
        _fail("loss", a.loss, f"needs the {needed} head (--head {needed}); head is {a.head!r}, "
              f"which gives {gives}")  # fmt: skip
    if a.augmentation != "none" and not atari:
        _fail("augmentation", a.augmentation, f"augments image observations; {env_id} is not "
              f"Atari (use none){_atari_hint(env_id)}")  # fmt: skip
    minatar = env_id.endswith("-MinAtar")
    # MinAtar's [10, 10, C] boolean grids fit neither the Atari CNNs ([4, 84, 84] frames) nor
    # the MLPs (vectors); a minatar network on anything else is refused too.
    if minatar and a.network in IMAGE_NETWORKS | {"mlp", "mlp_dueling"}:
        _fail("network", a.network, f"{env_id} (gymnax backend) gives MinAtar observations, "
              "[10, 10, C] boolean grids; the nature, dueling and shared_dueling networks take "
              "Atari frames [4, 84, 84] and mlp vectors: use --network minatar (Young & Tian "
              "2019) or a network registered for MinAtar grids")  # fmt: skip
    if a.network == "minatar" and not minatar:
        _fail("network", a.network, f"takes MinAtar's [10, 10, C] grids (Breakout-MinAtar, …); "
              f"{env_id} is not a MinAtar game (use mlp or nature)")  # fmt: skip
    if a.network in IMAGE_NETWORKS and not atari:
        _fail("network", a.network, f"needs image observations; {env_id} is not Atari (use "
              f"mlp){_atari_hint(env_id)}")  # fmt: skip
