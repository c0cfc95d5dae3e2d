"""Name → implementation registries for tasks and models.

A new task or model is one module that defines a pydantic config class and calls
:meth:`Registry.register`; importing :mod:`samplelab.tasks` / :mod:`samplelab.models`
imports every such module, and a plugin (:mod:`samplelab.spec.plugins`) registers its own
the same way, inside :func:`registering_from`, so that each of its entries records where it
came from and the digest of that source (which run keys include).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from samplelab.core.errors import ConfigError, config_error_from_validation


class StrictConfig(BaseModel):
    """Base of every config: unknown keys are errors, instances are immutable and hashable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=StrictConfig)


@dataclass(frozen=True)
class Entry(Generic[ConfigT]):
    """One registered implementation: its config class, its factory and a one-line description."""

    name: str
    config_class: type[ConfigT]
    factory: Callable[..., Any]
    description: str
    origin: str | None = None  # the plugin (or outside module) that registered it; None: built in
    code_digest: str | None = None  # sha256 of that plugin's source: part of its runs' keys


_ORIGIN: list[str] = []  # the plugins being loaded now, innermost last


@contextlib.contextmanager
def registering_from(origin: str) -> Iterator[None]:
    """Entries registered inside record ``origin`` (a plugin); :meth:`Registry.stamp` then gives
    them its source's digest, once the plugin has loaded."""
    _ORIGIN.append(origin)
    try:
        yield
    finally:
        _ORIGIN.pop()


def _module_digest(module_name: str) -> str | None:
    """sha256 of a module's source file (``None``: it has none, e.g. a notebook's ``__main__``)."""
    path = getattr(sys.modules.get(module_name), "__file__", None)
    if not path or not path.endswith(".py"):
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Registry:
    """A named collection of :class:`Entry` objects (``kind`` is "task" or "model")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, config_class: type[StrictConfig], description: str):
        """Decorator registering ``factory`` under ``name``."""

        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            origin, digest = (_ORIGIN[-1], None) if _ORIGIN else (None, None)
            module = getattr(factory, "__module__", None) or ""
            if origin is None and not module.startswith("samplelab."):
                # Registered by a script or module outside any plugin: its own source is the code.
                origin, digest = module, _module_digest(module)
            if name in self._entries:
                first = self._entries[name].origin or "samplelab"
                raise ConfigError(
                    f"{origin or 'samplelab'}: registers {self.kind} {name!r}, which {first} already registers — fix: "
                    "give it another name"
                )
            self._entries[name] = Entry(name, config_class, factory, description, origin, digest)
            return factory

        return decorate

    def forget(self, origin: str) -> None:
        """Drop the entries ``origin`` registered, and those of its submodules (before loading a
        changed plugin again)."""
        self._entries = {
            name: e
            for name, e in self._entries.items()
            if e.origin != origin and not (e.origin or "").startswith(origin + ".")
        }

    def stamp(self, origin: str, digest: str) -> None:
        """Give the entries ``origin`` registered the digest of its source (part of their run keys)."""
        for name, entry in self._entries.items():
            if entry.origin == origin:
                self._entries[name] = dataclasses.replace(entry, code_digest=digest)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in self.names()]

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name, e.g. a list
            raise ConfigError(
                f"{self.kind}.name: unknown {self.kind} {name!r} — fix: use one of {', '.join(self.names())}"
            ) from None

    def validate(self, data: Any) -> StrictConfig:
        """Validate a ``{"name": ..., **fields}`` table into that entry's config instance."""
        if isinstance(data, StrictConfig):
            return data
        if not isinstance(data, dict):
            raise ConfigError(f"{self.kind}: expected a table like [{self.kind}] — fix: add name = ...")
        if "name" not in data:
            raise ConfigError(f"{self.kind}.name: missing — fix: add name = one of {', '.join(self.names())}")
        entry = self.get(data["name"])
        try:
            return entry.config_class.model_validate(data)
        except ValidationError as err:
            raise config_error_from_validation(err, prefix=self.kind, model=entry.config_class) from None
