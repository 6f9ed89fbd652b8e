"""The mapper's shortcut for the usual document: what `DocumentMapper.map_line` makes of it, for less.

Most documents of a collection hold only fields their entity maps, in the forms the spec expects. For those, much
of the general mapper's work changes nothing: the Extended JSON hook called on every object, the walk that gathers
the unmapped fields for `_extra`, the checks that pick an entity and a reject reason, each value's conversion
dispatched by type. `FastMapper` parses the text with the plain JSON decoder, checks that every field of the
document is one its entity reads (else it is not a usual one), converts the usual value forms of each column type
directly (`_CONVERT`: a string, an int in range, a day, a `$date` at a valid UTC time, an array of strings) and any
other value by `convert` itself, after the Extended JSON hook (`extjson.rehook`: what the hooked decoder makes of it,
object by object, by the same hook). A reject, an unmapped field, a row near a size limit, a line that is not plain
UTF-8 JSON: None, and the general mapper maps it, so rows, rejects and reasons stay the mapper's
(tests/include/transforms/test_fast_mapper.py compares both, line by line, over every value form and the bad-input
corpus; the acceptance sets' frozen reference compares whole runs). On the bench's collection 98% of the documents
take it, at about 20 µs a document against the general mapper's 27 (one core, 20,000 documents).

Only where it can say exactly what the mapper says: a full window (no interval run), no natural keys, a
discriminator field, entities keyed by `PK`/`SK` without child tables, of one collection.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from transforms.batching import may_exceed
from transforms.conversion import INT_RANGE, MAX_ID_LENGTH, convert, key_id, lookup
from transforms.extjson import OBJECTID_ORDER, rehook
from transforms.intervals import version_text
from transforms.mapped import Mapped
from transforms.source_text import holds_surrogates, nesting_exceeds, text_problem
from transforms.spec import EXTRA_COLUMN, VERSION_COLUMN, ColumnSpec, EntitySpec
from transforms.unmapped import mapped_paths

_decode = json.JSONDecoder().decode
_SCALARS = frozenset((str, int, float, bool))
_UTC_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{3})?Z")
_OID = re.compile(r"[0-9a-fA-F]{24}")
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def _general(value: Any, col: ColumnSpec) -> Any:
    """`convert` of a plainly decoded value, as the general mapper calls it."""
    return convert(value if type(value) in _SCALARS else rehook(value), col)


# Per column type, the forms of a value whose conversion is plain to see, converted as `convert` converts them
# (text without NUL, ASCII: no surrogate in it; an int in range; a day, or a `$date` at a valid UTC time…); every
# other value goes to `convert` itself.
def _text(v: Any, col: ColumnSpec) -> Any:
    if type(v) is str and (v.isascii() and "\x00" not in v or text_problem(v) is None):
        return v
    return _general(v, col)


def _whole(v: Any, col: ColumnSpec) -> Any:
    if type(v) is dict and len(v) == 1:  # `$numberInt`/`$numberLong` of plain digits: `int()` of them
        digits = v.get("$numberInt", v.get("$numberLong"))
        v = int(digits) if type(digits) is str and _DIGITS.fullmatch(digits) else v
    low, high = INT_RANGE[col.type]
    return v if type(v) is int and low <= v <= high else _general(v, col)


def _numeric(v: Any, col: ColumnSpec) -> Any:
    if type(v) is float and math.isfinite(v):  # `_to_decimal` of a float: its text
        d = Decimal(str(v)).quantize(Decimal(1).scaleb(-(col.scale or 0)), rounding=ROUND_HALF_UP)
        if d.adjusted() < (col.precision or 0) - (col.scale or 0):
            return d
    return _general(v, col)


def _date(v: Any, col: ColumnSpec) -> Any:
    if type(v) is str and len(v) == 10 and v.isascii() and v[0] > " " < v[-1]:  # `strip()` leaves it as it is
        return date.fromisoformat(v)  # what `_to_date` reads of it; a ValueError is its reject
    if type(v) is dict and len(v) == 1 and type(when := v.get("$date")) is str and _UTC_TIME.fullmatch(when):
        return date.fromisoformat(when[:10])  # a valid time in UTC: the day is the text's
    return _general(v, col)


def _texts(v: Any, col: ColumnSpec) -> Any:
    if col.array_of == "text" and type(v) is list and all(type(e) is str and e.isascii() and "\x00" not in e
                                                          for e in v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return _general(v, col)


_CONVERT: dict[str, Callable[[Any, ColumnSpec], Any]] = {"text": _text, "int": _whole, "bigint": _whole,
                                                          "numeric": _numeric, "date": _date, "json": _texts}


def _covered(value: Any, node: dict[str, Any]) -> bool:
    """Whether every field of the object `value` is one `node` (a `transforms.unmapped.trie`) consumes: nothing
    would be left for `_extra`. False for a value that is not an object (the mapper says what it is)."""
    if type(value) is not dict or not value.keys() <= node.keys():
        return False
    return all(sub is True or value[key] is None or _covered(value[key], sub)
               for key, sub in node.items() if key in value)


def _key_id(key: str, id_: str | None, field: str) -> str:
    """`key_id`: the id of a plain key at once."""
    if id_ and key.isascii() and "\x00" not in key and len(id_) <= MAX_ID_LENGTH and id_[0] > " " < id_[-1]:
        return id_
    return key_id(key, id_, field)


def objectid_columns(row: dict[str, Any], oid: str) -> tuple[int, str]:
    """Fills `row`'s lineage columns for an ObjectId `_id` (its lowercase hex); returns its `_id` order."""
    row["source_doc_id"], order = oid, (OBJECTID_ORDER, oid)
    row[VERSION_COLUMN] = version_text(order)
    return order


class _Plan:
    """What the shortcut reads of one entity's documents."""

    def __init__(self, entity: EntitySpec, consumed: dict[str, Any]) -> None:
        self.entity = entity
        self.fields = frozenset(consumed)
        self.nested = tuple((k, sub) for k, sub in consumed.items() if sub is not True)
        self.columns = tuple((col, _CONVERT.get(col.type, _general)) for col in entity.columns)


class FastMapper:
    """`__call__(line)`: the `Mapped` the general mapper makes of a usual document, None for any other line.

    Its `mapper` is the `transforms.adjacency.DocumentMapper` it stands in for (which imports this module)."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        shape = mapper.shape
        self.discriminator, self.pk_field, self.sk_field = shape.discriminator, shape.pk_field, shape.sk_field
        self.plans = {e.doc_type: _Plan(e, mapper._consumed[e.name]) for e in mapper.entities.values()
                      if self._usual(e)}

    @staticmethod
    def of(mapper: Any) -> Callable[[str], Mapped | None] | None:
        """The shortcut of `mapper`, None where it has none."""
        if not mapper.window.is_full or mapper.natural_targets or mapper.shape.discriminator is None:
            return None
        fast = FastMapper(mapper)
        return fast if fast.plans else None

    def _usual(self, entity: EntitySpec) -> bool:
        if entity.id_field or entity.children or entity.collection or entity.sk is None:
            return False
        paths = [p.split(".") for p in mapped_paths(entity)]  # no column reads a key field or an Extended JSON key
        return not ({p[0] for p in paths} & {"_id", self.discriminator, self.pk_field, self.sk_field}
                    or any(part.startswith("$") for p in paths for part in p))

    def __call__(self, line: str) -> Mapped | None:
        if type(line) is not str or not line.isascii() and holds_surrogates(line):
            return None
        mapper = self.mapper
        if nesting_exceeds(line, mapper.max_nesting_depth):
            return None
        try:
            doc = _decode(line)
        except (ValueError, RecursionError):
            return None
        if type(doc) is not dict or type(kind := doc.get(self.discriminator)) is not str:
            return None
        plan = self.plans.get(kind)
        if plan is None or not doc.keys() <= plan.fields:
            return None
        for key, sub in plan.nested:
            if doc.get(key) is not None and not _covered(doc[key], sub):
                return None
        try:
            return self._map(plan, doc, len(line))
        except Exception:  # noqa: BLE001 - a reject, or anything else: the general mapper says what it is
            return None

    def _map(self, plan: _Plan, doc: dict[str, Any], text_chars: int) -> Mapped | None:
        mapper, entity = self.mapper, plan.entity
        oid, pk, sk = doc.get("_id"), doc.get(self.pk_field), doc.get(self.sk_field)
        if oid is None or type(pk) is not str or type(sk) is not str:
            return None
        assert entity.sk is not None
        pk_id, sk_id = _key_id(pk, entity.pk.id_of(pk), self.pk_field), entity.sk.id_of(sk)
        if entity.sk.equals is None:
            sk_id = _key_id(sk, sk_id, self.sk_field)
        elif sk_id is None:
            return None
        row, refs = mapper._key_columns(entity, pk, pk_id, sk_id)
        for fref in entity.references:
            value = lookup(doc, fref.source)
            row[fref.column] = None if value is None else mapper._reference(fref.entity, fref.by, rehook(value),
                                                                            fref.source)
        for col, value_of in plan.columns:
            value = lookup(doc, col.source)
            if value is None:
                if col.required:
                    return None
                row[col.name] = None
            else:
                row[col.name] = value_of(value, col)
        row[EXTRA_COLUMN] = None
        if type(oid) is dict and len(oid) == 1 and type(h := oid.get("$oid")) is str and _OID.fullmatch(h):
            order = objectid_columns(row, h.lower())  # what `lineage_columns` makes of an ObjectId
            if may_exceed(text_chars, len(row), mapper._size_bound):
                return None
        else:
            order = mapper.lineage_columns(row, rehook(oid), entity, text_chars)
        return Mapped(entity.name, f"{pk}|{sk}", pk, order, row, tuple(refs))

