"""The checks every spec section is read through: each names the file and field at fault in a `SpecError`.

Shared by `transforms.spec` (the migration as a whole) and `transforms.entity_spec` (the entities of a MongoDB
migration). Pure Python.
"""

from __future__ import annotations

import re
from typing import Any

IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


class SpecError(ValueError):
    """A migration spec that cannot be used; the message names the file and the field."""


def need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise SpecError(f"{where}: {msg}")


def whole(value: Any, where: str, *, minimum: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)
    need(ok, where, f"must be a whole number{'' if minimum is None else f' >= {minimum}'}, got {value!r}")
    return value


def number(value: Any, where: str) -> float:
    need(isinstance(value, int | float) and not isinstance(value, bool), where, f"must be a number, got {value!r}")
    return float(value)


def text(value: Any, where: str) -> str:
    need(isinstance(value, str) and value != "", where, f"must be a non-empty string, got {value!r}")
    return value


def texts(value: Any, where: str) -> tuple[str, ...]:
    ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    need(ok, where, f"must be a list of strings, got {value!r}")
    return tuple(value)


def section(raw: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    """`raw[key]` as a mapping (empty if absent) whose keys are all in `allowed`."""
    value = raw.get(key)
    if value is None:
        return {}
    need(isinstance(value, dict), f"{where}.{key}".lstrip("."), "must be a mapping")
    unknown = set(value) - allowed
    need(not unknown, f"{where}.{key}".lstrip("."), f"unknown keys {sorted(unknown)}; known: {sorted(allowed)}")
    return value


def ident(value: Any, where: str) -> str:
    ok = isinstance(value, str) and bool(IDENT_RE.match(value))
    need(ok, where, f"must be a lower-case SQL identifier, got {value!r}")
    return value

