"""Plain Python values ⇄ DynamoDB attribute values (the low-level `{"N": "45.50"}` JSON form).

Pure Python, no boto3: the Spark job maps rows with `to_item` on the executors, validation maps items
back with `from_item`, and capacity estimates use `item_size_bytes`.

Mapping (`to_attribute`):

=====================  ==========================================================
Python value           attribute value
=====================  ==========================================================
None                   no attribute at all (`to_attribute` returns None)
bool                   ``{"BOOL": value}``
int                    ``{"N": str(value)}``: exact, whatever its size
Decimal                ``{"N": ...}`` in positional notation, scale kept ("45.50")
float                  ``{"N": repr(value)}``
str                    ``{"S": value}`` (an empty string stays an empty string)
datetime / date        ``{"S": value.isoformat()}``
list / tuple           ``{"L": [...]}`` (None elements become ``{"NULL": True}``)
dict                   ``{"M": {...}}`` (None values are omitted, like top-level ones)
=====================  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

__all__ = ["MAX_ITEM_BYTES", "from_item", "item_size_bytes", "to_attribute", "to_item"]

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit, names and values together

AttributeValue = dict[str, Any]

# DynamoDB numbers: at most 38 significant digits
_MAX_DIGITS = 38


def _number_text(value: Decimal) -> str:
    """Positional notation that keeps the scale: Decimal("45.50") → "45.50", Decimal("1E+2") → "100"."""
    if not value.is_finite():
        raise ValueError(f"DynamoDB numbers must be finite, got {value!r}")
    digits = value.as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0"))
    if significant > _MAX_DIGITS:
        raise ValueError(f"DynamoDB numbers have at most {_MAX_DIGITS} significant digits, got {value!r}")
    return format(value, "f")


def to_attribute(value: Any) -> AttributeValue | None:
    """Map one Python value to a DynamoDB attribute value; None means "omit the attribute".

    >>> to_attribute(Decimal("45.50")), to_attribute("01"), to_attribute(None)
    ({'N': '45.50'}, {'S': '01'}, None)

    Raises:
        ValueError: a NaN or infinite number, or one with more than 38 significant digits.
        TypeError: a value of a type with no mapping.
    """
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Decimal):
        return {"N": _number_text(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB numbers must be finite, got {value!r}")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, date):  # datetime is a date subclass
        return {"S": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) or {"NULL": True} for v in value]}
    if isinstance(value, Mapping):
        return {"M": to_item(value)}
    raise TypeError(f"no DynamoDB mapping for {type(value).__name__}: {value!r}")


def to_item(row: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Map a row (column name → value) to a DynamoDB item; None values are left out, never stored as NULL."""
    item: dict[str, AttributeValue] = {}
    for name, value in row.items():
        attribute = to_attribute(value)
        if attribute is not None:
            item[name] = attribute
    return item


def _number(text: str) -> int | Decimal:
    """"42" → 42, "45.50" → Decimal("45.50"), "1E+2" → Decimal("1E+2")."""
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def _from_attribute(attribute: Mapping[str, Any]) -> Any:
    if len(attribute) != 1:
        raise ValueError(f"an attribute value has exactly one type key, got {dict(attribute)!r}")
    (kind, value), = attribute.items()
    if kind in ("S", "B", "BOOL"):
        return value
    if kind == "N":
        return _number(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [_from_attribute(v) for v in value]
    if kind == "M":
        return from_item(value)
    if kind in ("SS", "BS"):
        return set(value)
    if kind == "NS":
        return {_number(v) for v in value}
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Inverse of `to_item`: N → int when integral text, else Decimal (scale kept); S → str; BOOL → bool."""
    return {name: _from_attribute(attribute) for name, attribute in item.items()}


def _number_size(text: str) -> int:
    """About 1 byte per two significant digits plus 1 (leading and trailing zeros are not stored)."""
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "")
    significant = len(mantissa.strip("0")) or 1
    return (significant + 1) // 2 + 1


def _value_size(attribute: Mapping[str, Any]) -> int:
    (kind, value), = attribute.items()
    if kind == "S":
        return len(value.encode("utf-8"))
    if kind == "N":
        return _number_size(value)
    if kind == "B":
        return len(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in value)
    if kind == "NS":
        return sum(_number_size(v) for v in value)
    if kind == "BS":
        return sum(len(v) for v in value)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in value)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in value.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Approximate stored size of an item by DynamoDB's rules: UTF-8 name lengths plus value sizes.

    Good enough for write-capacity estimates (1 WCU per started KB); DynamoDB's own accounting may
    differ by a few bytes for numbers and nested values.
    """
    return sum(len(name.encode("utf-8")) + _value_size(attribute) for name, attribute in item.items())
