"""The one reading of a yes/no value: a param, a rendered template (`"True"`), a job argument.

Strict on purpose: `"flase"` or `"maybe"` for `dry_run` is an error, never a quiet "no" that writes the target.
Pure Python: shipped to EMR and Glue in the job bundle.
"""

from __future__ import annotations

from typing import Any

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off", "", "none"})  # "None": a template that rendered an unset value


def as_bool(value: Any) -> bool:
    """`value` as a boolean: a bool as it is, None as False, text by `TRUE`/`FALSE` (any case); else ValueError."""
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")
