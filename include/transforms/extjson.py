"""Decode MongoDB Extended JSON (what `mongoexport` writes, relaxed or canonical) into plain Python values.

`$oid` (24 hex digits) → `ObjectId` (a str subclass), `$date` → aware UTC `datetime`, `$numberInt`/`$numberLong` → int,
`$numberDouble` → float (NaN and ±Infinity included), `$numberDecimal` → `Decimal`. A wrapper whose
payload is unreadable (`{"$date": "1999-13-45"}`) becomes a `BadValue` instead of failing the whole
document: only a field the mapping actually uses makes the document a `bad_type` reject. Other
wrappers (`$binary`, `$timestamp`, ...) stay as the dicts they are: no target column reads them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEX_24 = re.compile(r"[0-9a-fA-F]{24}")
_NUMBERS = ("$numberInt", "$numberLong", "$numberDouble", "$numberDecimal")


class ObjectId(str):
    """A MongoDB ObjectId kept as its 24-hex-digit string; ordered like BSON orders ObjectIds."""

    __slots__ = ()


class BadValue:
    """An Extended JSON value that could not be decoded; `why` says what was wrong."""

    __slots__ = ("raw", "why")

    def __init__(self, raw: Any, why: str) -> None:
        self.raw, self.why = raw, why

    def __repr__(self) -> str:
        return f"BadValue({self.raw!r}: {self.why})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BadValue) and (self.raw, self.why) == (other.raw, other.why)

    def __hash__(self) -> int:
        return hash(repr(self.raw))


def _date_from_ms(ms: Any) -> datetime | BadValue:
    try:
        return _EPOCH + timedelta(milliseconds=int(ms))
    except (TypeError, ValueError, OverflowError):
        return BadValue(ms, "not a millisecond timestamp in the supported range")


def _parse_date(payload: Any) -> datetime | BadValue:
    if isinstance(payload, BadValue):  # canonical `{"$numberLong": "1.5"}`: the hook decoded (and rejected) it first
        return payload
    if isinstance(payload, int) and not isinstance(payload, bool):
        return _date_from_ms(payload)
    if isinstance(payload, str):
        text = payload.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return BadValue(payload, "not an ISO 8601 date")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return BadValue(payload, "unsupported $date payload")


def _number(kind: str, payload: Any) -> Any:
    if not isinstance(payload, str):
        return BadValue(payload, f"{kind} payload must be a string")
    try:
        if kind in ("$numberInt", "$numberLong"):
            return int(payload)
        if kind == "$numberDouble":
            return float(payload)
        return Decimal(payload)
    except (ValueError, InvalidOperation):
        return BadValue(payload, f"not a valid {kind}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:  # most objects: no wrapper, returned at once (this runs for every object of every document)
        return obj
    (key, payload), = obj.items()
    if key == "$oid":
        if isinstance(payload, str) and _HEX_24.fullmatch(payload):
            return ObjectId(payload.lower())
        return BadValue(payload, "not a 24-hex-digit ObjectId")
    if key == "$date":
        return _parse_date(payload)
    if key in _NUMBERS:
        return _number(key, payload)
    return obj


# One decoder for every document (`json.loads` with a hook builds a new one per call).
_DECODER = json.JSONDecoder(object_hook=_hook)


def loads(text: str) -> Any:
    """Parse one Extended JSON document; raises `ValueError` (json.JSONDecodeError) on broken JSON."""
    if type(text) is not str or text.startswith("\ufeff"):  # json.loads' own checks and messages (a BOM, bytes)
        return json.loads(text, object_hook=_hook)
    return _DECODER.decode(text)


def rehook(value: Any) -> Any:
    """`value` of a document decoded as plain JSON, as `loads` would have decoded it: the hook applied to each object
    after its members, as the decoder applies it (`transforms.fast_mapper` decodes plainly, hooks what it reads)."""
    if type(value) is dict:
        return _hook({k: rehook(v) for k, v in value.items()})
    if type(value) is list:
        return [rehook(v) for v in value]
    return value


def to_plain(value: Any) -> Any:
    """Turn decoded values back into JSON-serialisable ones (for json columns and quarantine records): a date becomes
    its relaxed-mode ISO text, an ObjectId its hex, a Decimal a JSON number when a float holds exactly its value (else
    its text), a `BadValue` its raw payload; non-finite floats stay floats (callers reject them)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        # a JSON number only when a float says exactly this value; else its text (NaN and Infinity included:
        # neither is a JSON number, and a signalling NaN raises when compared)
        if value.is_finite() and Decimal(repr(as_float := float(value))) == value:
            return as_float
        return str(value)
    if isinstance(value, BadValue):
        return to_plain(value.raw)
    return value


OBJECTID_ORDER = 7  # an ObjectId's rank in `bson_order`


def bson_order(value: Any) -> tuple[int, Any]:
    """A sort key that orders `_id` values the way MongoDB does across types (numbers < strings < ObjectId)."""
    if isinstance(value, bool):
        return (8, value)
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    if isinstance(value, ObjectId):
        return (OBJECTID_ORDER, str(value))
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime):
        return (9, value.isoformat())
    return (3, json.dumps(to_plain(value), sort_keys=True, default=str))
