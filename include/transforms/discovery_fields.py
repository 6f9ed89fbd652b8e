"""What one field, and one group of documents, look like across a sample: the kinds of values a field holds, how
often it is present or null, the distinct strings it takes, arrays and nested objects; and which objects are maps
keyed by data. The statistics `transforms.discovery` finds entities and relationships in. Pure Python over decoded
documents (`transforms.extjson.loads`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from transforms.extjson import BadValue, ObjectId
from transforms.paths import ID_KEY, is_wrapper

MAX_DISTINCT_KEPT = 64  # distinct values kept per field (for discriminators and key constants)


# checked in order: bool before int (a bool is an int), ObjectId before str (an ObjectId is a str)
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "bool"), (int, "int"), (float, "float"), (Decimal, "decimal"), (datetime, "datetime"),
    (ObjectId, "objectid"), (Mapping, "object"), (list, "array"), (BadValue, "bad"))


def kind_of(value: Any) -> str:
    """The kind of one decoded value: null, bool, int, float, decimal, date, datetime, objectid, string,
    object, array, bad. A string reading as an ISO date or timestamp is a date or datetime."""
    if value is None:
        return "null"
    for cls, kind in _KINDS:
        if isinstance(value, cls):
            return kind
    if isinstance(value, str):
        return "date" if _ISO_DATE.match(value) else "datetime" if _ISO_DATETIME.match(value) else "string"
    return "string"


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass
class FieldStats:
    """What one (dotted) field holds across the documents of one group."""

    path: str
    present: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # null counted too
    element_kinds: Counter[str] = field(default_factory=Counter)  # arrays: the kinds of their elements
    int_min: int | None = None
    int_max: int | None = None
    max_length: int = 0  # strings
    max_scale: int = 0  # decimals and floats: digits after the point
    max_precision: int = 0
    distinct: Counter[str] = field(default_factory=Counter)  # up to MAX_DISTINCT_KEPT string values
    midnights: int = 0  # datetime values at 00:00:00 UTC (a date stored as a timestamp)
    dates_as_text: int = 0  # date and datetime values that were strings (ISO text, not `$date`)

    def add(self, value: Any) -> None:
        self.present += 1
        kind = kind_of(value)
        self.kinds[kind] += 1
        if kind == "int":
            self.int_min = value if self.int_min is None else min(self.int_min, value)
            self.int_max = value if self.int_max is None else max(self.int_max, value)
        elif kind in ("string", "date", "datetime") and isinstance(value, str):
            self.dates_as_text += kind != "string"
            self.max_length = max(self.max_length, len(value))
            if value in self.distinct or len(self.distinct) < MAX_DISTINCT_KEPT:
                self.distinct[value] += 1
        elif kind in ("decimal", "float"):
            digits = Decimal(str(value)).as_tuple()
            if isinstance(digits.exponent, int):
                self.max_scale = max(self.max_scale, -digits.exponent)
                self.max_precision = max(self.max_precision, len(digits.digits))
        elif kind == "array":
            self.element_kinds.update(kind_of(v) for v in value)
        if isinstance(value, datetime) and (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            self.midnights += 1

    @property
    def nulls(self) -> int:
        return self.kinds.get("null", 0)

    @property
    def value_kinds(self) -> set[str]:
        """The kinds seen other than null."""
        return {k for k in self.kinds if k != "null"}


@dataclass
class KeyPattern:
    """How one key field looks within one group: `<prefix><id>` or a constant."""

    field: str
    prefix: str | None = None
    equals: str | None = None
    coverage: float = 0.0  # share of the group's documents whose value has this shape

    def as_spec(self) -> dict[str, str]:
        return {"prefix": self.prefix} if self.prefix is not None else {"equals": self.equals or ""}


@dataclass
class Group:
    """The documents of one entity type."""

    name: str
    type_value: str | None
    documents: int = 0
    fields: dict[str, FieldStats] = field(default_factory=dict)
    keys: dict[str, KeyPattern] = field(default_factory=dict)  # key field → its pattern in this group
    children: dict[str, dict[str, FieldStats]] = field(default_factory=dict)  # array of objects → element fields
    maps: dict[str, dict[str, FieldStats]] = field(default_factory=dict)  # map keyed by data → value fields
    map_keys: dict[str, int] = field(default_factory=dict)  # map keyed by data → keys seen (entries)
    collection: str | None = None  # discovered from several collections: the one this entity's documents are in

    def add(self, doc: Mapping[str, Any], skip: set[str], maps: frozenset[str] = frozenset()) -> None:
        self.documents += 1
        for path, value in walk_fields(doc, skip, maps=maps):
            self.fields.setdefault(path, FieldStats(path)).add(value)
            if path in maps and isinstance(value, Mapping):
                fields = self.maps.setdefault(path, {})
                self.map_keys[path] = self.map_keys.get(path, 0) + len(value)
                for v in value.values():
                    for sub, x in walk_fields(v, set()) if isinstance(v, Mapping) else ():
                        fields.setdefault(sub, FieldStats(sub)).add(x)
            elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                child = self.children.setdefault(path, {})
                for element in value:
                    for sub, v in walk_fields(element, set()):
                        child.setdefault(sub, FieldStats(sub)).add(v)


def walk_fields(doc: Mapping[str, Any], skip: set[str], prefix: str = "", maps: frozenset[str] = frozenset()
          ) -> Iterable[tuple[str, Any]]:
    """(dotted path, value) of every field: an embedded object yields itself and its fields (one level deep
    per object, recursively); a map keyed by data (`maps`) yields itself only."""
    for key, value in doc.items():
        if not prefix and key in skip:
            continue
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, Mapping) and not is_wrapper(value) and path not in maps:
            yield from walk_fields(value, set(), f"{path}.", maps)


MAP_MIN_KEYS = 20  # an object with at least this many distinct keys in the sample, ...
MAP_MAX_KEY_SHARE = 0.05  # ... none of them in more than this share of the documents holding it, is keyed by data


def find_maps(docs: list[Mapping[str, Any]], skip: set[str]) -> dict[str, str]:
    """Objects keyed by data (path → why): every value an object, and the keys ids (`paths.ID_KEY`), or many
    distinct keys each rare. Such an object becomes a child table keyed by (parent, key)."""
    keys: dict[str, Counter[str]] = {}
    holders: Counter[str] = Counter()
    shapes: dict[str, bool] = {}

    def visit(obj: Mapping[str, Any], prefix: str) -> None:
        for key, value in obj.items():
            if not prefix and key in skip:
                continue
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and not is_wrapper(value) and value:
                holders[path] += 1
                keys.setdefault(path, Counter()).update(str(k) for k in value)
                objects = all(isinstance(v, Mapping) and not is_wrapper(v) for v in value.values())
                shapes[path] = shapes.get(path, True) and objects
                visit(value, f"{path}.")

    for d in docs:
        visit(d, "")
    out: dict[str, str] = {}
    for path, counter in sorted(keys.items()):
        if not shapes.get(path) or any(path.startswith(f"{m}.") for m in out):
            continue
        if all(ID_KEY.match(k) for k in counter):
            out[path] = f"its {len(counter)} distinct keys are all ids"
        elif len(counter) >= MAP_MIN_KEYS and max(counter.values()) <= MAP_MAX_KEY_SHARE * holders[path]:
            out[path] = (f"{len(counter)} distinct keys, none in more than {MAP_MAX_KEY_SHARE:.0%} of the "
                         f"{holders[path]} documents holding it")
    return out
