"""Read one source value as its column's type, or reject the document saying why (`Reject`).

The per-value rules the mapper (`transforms.adjacency`) applies: whole numbers within the column's range, finite
decimals of the column's precision, dates and timestamps, text without NUL or lone surrogates, json that JSON can
hold. Pure Python.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from transforms.extjson import BadValue, loads, to_plain
from transforms.source_text import printable, text_problem
from transforms.spec import ColumnSpec

MAX_ID_LENGTH = 255
INT_RANGE = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
_INT_TEXT = re.compile(r"^[+-]?\d+$")


# A column's Python value from the text of a value read as plain (`transforms.native_mapping`), per column type:
# what `convert` returns for the same value.
VALUE_OF: dict[str, Callable[[str], Any]] = {
    "text": str, "json": str, "int": int, "bigint": int, "numeric": Decimal, "double": float,
    "date": date.fromisoformat, "boolean": lambda v: v == "true",
}


class Reject(Exception):
    """Why a document cannot be loaded: a reason of `transforms.adjacency.REJECT_REASONS` and a detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def lookup(doc: dict[str, Any], dotted: str) -> Any:
    if "." not in dotted and isinstance(doc, dict):  # most columns read a top-level field
        return doc.get(dotted)
    value: Any = doc
    for part in dotted.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise Reject("bad_type", f"{dotted}: {part!r} is inside a {type(value).__name__}, not an object")
        value = value.get(part)
    return value


def _to_int(value: Any, type_: str, field: str) -> int:
    if isinstance(value, bool):
        raise Reject("bad_type", f"{field}: boolean is not a {type_}")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
        result = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        result = int(value.strip())
    else:
        raise Reject("bad_type", f"{field}: {to_plain(value)!r} is not a whole number")
    low, high = INT_RANGE[type_]
    if not low <= result <= high:
        raise Reject("bad_type", f"{field}: {result} is out of range for {type_}")
    return result


def _to_decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool):
        raise Reject("bad_type", f"{field}: boolean is not a number")
    try:
        result = Decimal(str(value).strip()) if isinstance(value, int | float | Decimal | str) else None
    except InvalidOperation:
        result = None
    if result is None or not result.is_finite():
        raise Reject("bad_type", f"{field}: {to_plain(value)!r} is not a finite number")
    return result


def _to_date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]) if len(value.strip()) == 10 else _iso_dt(value).date()
        except ValueError:
            pass
    raise Reject("bad_type", f"{field}: {to_plain(value)!r} is not a date")


def _iso_dt(text: str) -> datetime:
    parsed = loads(json.dumps({"$date": text}))
    if isinstance(parsed, BadValue):
        raise ValueError(parsed.why)
    return parsed


def _to_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise Reject("bad_type", f"{field}: {type(value).__name__} {to_plain(value)!r} is not a string")
    problem = text_problem(value)
    if problem:
        raise Reject("bad_type", f"{field}: text {problem}")
    return value


def convert(value: Any, col: ColumnSpec, field: str | None = None) -> Any:
    """Convert one decoded source value to its column's Python type; raise `Reject` if it can't be read."""
    field = field or col.source
    if isinstance(value, BadValue):
        raise Reject("bad_type", f"{field}: {value.why} ({value.raw!r})")
    t = col.type
    if t in ("int", "bigint"):
        return _to_int(value, t, field)
    if t == "numeric":
        d = _to_decimal(value, field).quantize(Decimal(1).scaleb(-(col.scale or 0)), rounding=ROUND_HALF_UP)
        assert col.precision is not None
        if d.adjusted() >= col.precision - (col.scale or 0):
            raise Reject("bad_type", f"{field}: {to_plain(value)!r} does not fit numeric({col.precision},{col.scale})")
        return d
    if t == "double":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise Reject("bad_type", f"{field}: {to_plain(value)!r} is not a number")
        return float(value)
    if t == "text":
        return _to_text(value, field)
    if t == "date":
        return _to_date(value, field)
    if t == "timestamptz":
        if isinstance(value, datetime):
            return value
        raise Reject("bad_type", f"{field}: {to_plain(value)!r} is not a timestamp")
    if t == "boolean":
        if isinstance(value, bool):
            return value
        raise Reject("bad_type", f"{field}: {to_plain(value)!r} is not a boolean")
    # json
    if col.array_of is not None:
        if not isinstance(value, list):
            raise Reject("bad_type", f"{field}: {type(value).__name__} is not an array")
        item = ColumnSpec(col.name, col.source, col.array_of)
        value = [convert(v, item, f"{field}[{i}]") for i, v in enumerate(value)]
    reject_bad_values(value, field)
    return json.dumps(to_plain(value), ensure_ascii=False, separators=(",", ":"), default=str)


def reject_bad_values(value: Any, field: str) -> None:
    if isinstance(value, BadValue):
        raise Reject("bad_type", f"{field}: {value.why}")
    if isinstance(value, float) and not math.isfinite(value):
        raise Reject("bad_type", f"{field}: {value} is not valid in JSON")
    if isinstance(value, str) and (problem := text_problem(value)):
        raise Reject("bad_type", f"{field}: text {problem}")
    if isinstance(value, dict):
        for k, v in value.items():
            if problem := text_problem(k):
                raise Reject("bad_type", f"{field}: key {printable(k)!r} {problem}")
            reject_bad_values(v, f"{field}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            reject_bad_values(v, f"{field}[{i}]")


def key_id(part_value: Any, shape_id: str | None, name: str) -> str:
    if problem := text_problem(part_value):
        raise Reject("bad_key", f"{name} {printable(part_value)!r} {problem}")
    if shape_id is None:
        raise Reject("unknown_entity", f"{name} {part_value!r} does not have the shape of this entity type")
    if shape_id.strip() == "":
        raise Reject("bad_key", f"{name} {part_value!r} has an empty id")
    if len(shape_id) > MAX_ID_LENGTH:
        raise Reject("bad_key", f"{name} id is {len(shape_id)} characters (at most {MAX_ID_LENGTH})")
    return shape_id


def field_id(value: Any, field: str) -> str:
    """The id text of an entity keyed by a field: a string (an ObjectId is one, its hex) or a whole number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Reject("bad_key", f"`{field}` {type(value).__name__} {to_plain(value)!r} cannot key a row (a "
                                 "string, an ObjectId or a whole number can)")
    return key_id(value, value, f"`{field}`")


