"""Plugins: a researcher's own tasks and models, registered without forking samplelab.

A study file names them at its top level, ``plugins = ["my_tasks.py", "mypackage.models"]``:
a path (ending in ``.py``; relative to the study file) is executed as a module, a dotted
name is imported. An installed package can also name modules in the entry-point group
``samplelab.plugins``, loaded with every study. A plugin registers tasks and models with
``TASKS.register`` / ``MODELS.register``, as the built-ins do (docs/extending.md).

Each entry a plugin registers records the plugin and the sha256 of its source (the file, or
every ``.py`` file of a package), and a run of that task or model has the digest in its run
key (:func:`samplelab.spec.run_config.run_keys`): a changed plugin trains anew, an unchanged
one resumes. Code a plugin imports from elsewhere is not covered. Loading is idempotent per
source: a file whose source changed since it was loaded in this process is loaded again and
its old entries forgotten.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

from samplelab.core.errors import ConfigError
from samplelab.core.registry import registering_from
from samplelab.models import MODELS
from samplelab.tasks import TASKS

PLUGIN_GROUP = "samplelab.plugins"
_LOADED: dict[str, str] = {}  # plugin reference → digest of the source loaded in this process


def plugin_reference(name: str, base: Path) -> str:
    """A file plugin's absolute path (``name`` relative to ``base``), or a module name as given."""
    if name.endswith(".py") or "/" in name or "\\" in name:
        return str((base / name).resolve())
    return name


def load_plugins(names: list[str], base: Path) -> tuple[str, ...]:
    """Load the installed plugins and ``names`` (a study's ``plugins``, relative to ``base``);
    returns the references of the latter."""
    load_installed_plugins()
    references = tuple(plugin_reference(name, base) for name in names)
    for reference in references:
        load_plugin(reference)
    return references


def load_installed_plugins() -> None:
    """Load the modules installed packages name in the entry-point group ``samplelab.plugins``."""
    for entry_point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        load_plugin(entry_point.module)


def loaded_plugins() -> dict[str, str]:
    """Every plugin loaded in this process, with its source digest (a worker loads them
    before it reads a job: :func:`load_as_loaded`)."""
    return dict(_LOADED)


def load_as_loaded(plugins: dict[str, str]) -> None:
    """Load ``plugins`` (:func:`loaded_plugins` of another process) and check that each source
    is the one that process loaded: a plugin edited during a sweep would train new code under
    its old run keys."""
    for reference, digest in plugins.items():
        load_plugin(reference)
        if _LOADED[reference] != digest:
            raise ConfigError(
                f"plugins: {reference} changed since the sweep began — fix: run the command again (new run keys)"
            )


def forget_plugins() -> None:
    """Forget every plugin loaded in this process and what it registered (so that another
    plugin may register the same names, e.g. in a notebook or a test)."""
    for reference in _LOADED:
        for registry in (TASKS, MODELS):
            registry.forget(reference)
    _LOADED.clear()


def load_plugin(reference: str) -> None:
    """Load one plugin (a ``.py`` path or a module name) unless its source is loaded already."""
    if reference.endswith(".py"):
        _load_file(Path(reference))
    elif reference not in _LOADED:
        # Found and imported inside the plugin's context: a package whose __init__ imports the
        # module registers from it too. Imported before (and forgotten since): run its code again.
        def run() -> None:
            before = sys.modules.get(reference)
            _find_module(reference)  # may import it, through its package
            if before is not None:
                importlib.reload(before)
            elif reference not in sys.modules:
                importlib.import_module(reference)

        _execute(reference, run)
        _LOADED[reference] = _stamp(reference, _digest(_module_files(importlib.util.find_spec(reference))))


def _load_file(path: Path) -> None:
    reference = str(path)
    try:
        digest = _digest([path])
    except OSError as err:
        raise ConfigError(
            f"plugins: {path}: cannot read ({err.strerror}) — fix: give a .py file, relative to the study file"
        ) from None
    if _LOADED.get(reference) == digest:
        return
    stem = re.sub(r"\W", "_", path.stem)
    name = f"samplelab_plugin_{stem}_{hashlib.sha256(reference.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"plugins: {path}: not a Python module — fix: give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a worker process unpickles its configs by this name
    _execute(reference, lambda: spec.loader.exec_module(module), name)
    _LOADED[reference] = _stamp(reference, digest)


def _stamp(reference: str, digest: str) -> str:
    for registry in (TASKS, MODELS):
        registry.stamp(reference, digest)
    return digest


def _execute(reference: str, run: Callable[[], object], module: str | None = None) -> None:
    """Run a plugin's code with its registrations recorded as ``reference``'s; on any error
    forget them (and that it was loaded) and raise one line naming the plugin and the error's
    last line."""
    for registry in (TASKS, MODELS):
        registry.forget(reference)
    try:
        with registering_from(reference):
            run()
    except BaseException as err:
        for registry in (TASKS, MODELS):
            registry.forget(reference)
        _LOADED.pop(reference, None)  # a later, repaired load runs it again
        if module is not None:
            sys.modules.pop(module, None)
        if isinstance(err, ConfigError):
            raise
        if not isinstance(err, Exception):
            raise
        last = (str(err).strip().splitlines() or [""])[-1]
        raise ConfigError(
            f"plugins: {reference} failed to load: {type(err).__name__}{': ' + last if last else ''} — fix: correct "
            f"it (python {reference if module else '-c ' + repr('import ' + reference)} shows the whole error)"
        ) from None


def _find_module(name: str):
    """The module's spec; finding it imports its parent packages, whose errors become one line
    (by :func:`_execute`)."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise ConfigError(
            f"plugins: no module named {name!r} — fix: install it, or give a .py file relative to the study file"
        )
    return spec


def _module_files(spec) -> list[Path]:
    """A module's source file, or every ``.py`` file of a package (sorted)."""
    if spec.submodule_search_locations:
        return sorted(p for location in spec.submodule_search_locations for p in Path(location).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def _digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
