"""User-facing errors: one line that names the field and the fix.

Every error a user can cause by a study file or a CLI argument is raised as
:class:`ConfigError`; the CLI prints ``error: <message>`` and exits with code 2.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A study file or argument is invalid; ``str(err)`` is one line naming field and fix."""


def field_error(field: str, problem: str, fix: str) -> ConfigError:
    """``ConfigError("<field>: <problem> — fix: <fix>")`` on one line (line breaks in the parts become spaces)."""
    return ConfigError(" ".join(f"{field}: {problem} — fix: {fix}".splitlines()))


def _dotted(location: Iterable[object]) -> str:
    return ".".join(str(part) for part in location)


def _fix_for(error: dict, model: type[BaseModel] | None, field: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        valid = ", ".join(sorted(model.model_fields)) if model is not None else ""
        return f"remove it (valid keys here: {valid})" if valid else "remove it"
    if kind == "missing":
        return f"add `{field.rsplit('.', 1)[-1]} = ...`"
    if kind.startswith("int"):
        return "use a whole number, e.g. 16"
    if kind.startswith("float"):
        return "use a number, e.g. 0.001"
    if kind.startswith("bool"):
        return "use true or false"
    if kind.startswith("string") or kind == "str_type":
        return 'use a quoted string, e.g. "name"'
    if kind in ("list_type", "tuple_type"):
        return "use a list, e.g. [1, 2, 3]"
    if kind == "literal_error":
        return f"use one of {ctx.get('expected', 'the allowed values')}"
    for bound, word in (("gt", "greater than"), ("ge", "at least"), ("lt", "less than"), ("le", "at most")):
        if bound in ctx and kind.startswith(("greater", "less")):
            return f"use a value {word} {ctx[bound]}"
    return "see the study-file reference in docs/studies.md"


def config_error_from_validation(
    err: ValidationError,
    *,
    prefix: str = "",
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """Turn the first pydantic error into a one-line :class:`ConfigError`.

    ``prefix`` is prepended to the field path (e.g. ``"model"``); ``model`` is the
    pydantic class that was validated, used to list valid keys for unknown-key errors.
    """
    error = err.errors(include_url=False)[0]
    field = _dotted([p for p in (prefix, _dotted(error["loc"])) if p])
    message = {"extra_forbidden": "unknown key", "missing": "missing"}.get(
        error["type"], error["msg"].removeprefix("Value error, ")
    )
    if "fix:" in message:
        text = f"{field}: {message}"
    else:
        shown = error.get("input")
        got = "" if error["type"] in ("missing", "extra_forbidden") else f" (got {shown!r})"
        text = f"{field}: {message}{got} — fix: {_fix_for(error, model, field)}"
    extra = len(err.errors()) - 1
    if extra:
        text += f" [+{extra} more error{'s' if extra > 1 else ''}]"
    return ConfigError(" ".join(text.split()))
