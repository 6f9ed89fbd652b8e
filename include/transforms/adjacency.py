"""Map one document to one relational row (with the child rows of its arrays), or to a reject with its reason.

Per-document rules only; duplicates (greatest `_id` wins) and orphan references need the whole load
and are decided by the Spark pipeline (`transforms.mongo_to_dsql`). The same functions re-map the
validation sample, so the validator and the job can never disagree on what a row should be.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from transforms.batching import CHILDREN, row_size, rows_in
from transforms.extjson import BadValue, bson_order, loads, to_plain
from transforms.intervals import FULL, OBJECTID_FIELD, Window, record_time, version_text
from transforms.source_text import invalid_utf8_at, is_blank, nesting_exceeds, printable, text_problem
from transforms.spec import (
    DEFAULT_SHAPE,
    DSQL_MAX_COLUMN_BYTES,
    DSQL_MAX_ROW_BYTES,
    DSQL_MAX_TXN_BYTES,
    DSQL_MAX_TXN_ROWS,
    MAX_NESTING_DEPTH,
    ChildSpec,
    ColumnSpec,
    DocumentShape,
    EntitySpec,
)

# Fixed namespace: UUIDv5(namespace, source key) gives the same uuid on every run and every machine.
MIGRATION_NAMESPACE = uuid.UUID("6f1c1a52-8d4e-5b8e-9a57-2f1d8c0e4b31")
MAX_ID_LENGTH = 255
# The `_id` order as text (`transforms.intervals.version_text`): upserts only replace a row with an equal or
# greater one, so a document loaded by a later interval run never overwrites a newer row.
VERSION_COLUMN = "source_version"
# `unmappable`: the mapping itself raised (a bug this run still survives); the detail names the exception.
REJECT_REASONS = ("missing_field", "bad_type", "unknown_entity", "bad_key", "orphan_reference", "malformed_json",
                  "bad_encoding", "too_large", "unmappable")
# Only a run with a window rejects for these: a document whose interval field holds no time.
WINDOW_REJECT_REASONS = ("no_interval_time",)
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
_INT_TEXT = re.compile(r"^[+-]?\d+$")


_NAMESPACE_SHA1 = hashlib.sha1(MIGRATION_NAMESPACE.bytes, usedforsecurity=False)


@lru_cache(maxsize=1 << 16)
def entity_uuid(source_key: str) -> str:
    """The target primary key of the entity stored under `source_key` (e.g. `MOVIE#tt0111161`).

    `uuid.uuid5(MIGRATION_NAMESPACE, source_key)`, computed from a pre-hashed namespace and cached: every
    relationship document names two entities, so the same keys come back again and again.
    """
    h = _NAMESPACE_SHA1.copy()
    h.update(source_key.encode("utf-8"))
    b = bytearray(h.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@dataclass(frozen=True)
class Mapped:
    """A document that maps cleanly: its entity, dedup key, `_id` order, target row and references."""

    entity: str
    key: str  # "<PK>|<SK>": documents with the same key are duplicates of one row
    pk: str
    order: tuple[int, Any]
    row: dict[str, Any]
    refs: tuple[tuple[str, str], ...] = ()  # (entity name, source key) this row points at


@dataclass(frozen=True)
class Rejected:
    """A document that cannot be loaded; `reason` is one of REJECT_REASONS."""

    reason: str
    entity: str | None
    detail: str


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _lookup(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _Reject("bad_type", f"{dotted}: {part!r} is inside a {type(value).__name__}, not an object")
        value = value.get(part)
    return value


def _to_int(value: Any, type_: str, field: str) -> int:
    if isinstance(value, bool):
        raise _Reject("bad_type", f"{field}: boolean is not a {type_}")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
        result = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        result = int(value.strip())
    else:
        raise _Reject("bad_type", f"{field}: {to_plain(value)!r} is not a whole number")
    low, high = _INT_RANGE[type_]
    if not low <= result <= high:
        raise _Reject("bad_type", f"{field}: {result} is out of range for {type_}")
    return result


def _to_decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool):
        raise _Reject("bad_type", f"{field}: boolean is not a number")
    try:
        result = Decimal(str(value).strip()) if isinstance(value, int | float | Decimal | str) else None
    except InvalidOperation:
        result = None
    if result is None or not result.is_finite():
        raise _Reject("bad_type", f"{field}: {to_plain(value)!r} is not a finite number")
    return result


def _to_date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]) if len(value.strip()) == 10 else _iso_dt(value).date()
        except ValueError:
            pass
    raise _Reject("bad_type", f"{field}: {to_plain(value)!r} is not a date")


def _iso_dt(text: str) -> datetime:
    parsed = loads(json.dumps({"$date": text}))
    if isinstance(parsed, BadValue):
        raise ValueError(parsed.why)
    return parsed


def _to_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Reject("bad_type", f"{field}: {type(value).__name__} {to_plain(value)!r} is not a string")
    problem = text_problem(value)
    if problem:
        raise _Reject("bad_type", f"{field}: text {problem}")
    return value


def convert(value: Any, col: ColumnSpec, field: str | None = None) -> Any:
    """Convert one decoded source value to its column's Python type; raise `_Reject` if it can't be read."""
    field = field or col.source
    if isinstance(value, BadValue):
        raise _Reject("bad_type", f"{field}: {value.why} ({value.raw!r})")
    t = col.type
    if t in ("int", "bigint"):
        return _to_int(value, t, field)
    if t == "numeric":
        d = _to_decimal(value, field).quantize(Decimal(1).scaleb(-(col.scale or 0)), rounding=ROUND_HALF_UP)
        assert col.precision is not None
        if d.adjusted() >= col.precision - (col.scale or 0):
            raise _Reject("bad_type", f"{field}: {to_plain(value)!r} does not fit numeric({col.precision},{col.scale})")
        return d
    if t == "double":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise _Reject("bad_type", f"{field}: {to_plain(value)!r} is not a number")
        return float(value)
    if t == "text":
        return _to_text(value, field)
    if t == "date":
        return _to_date(value, field)
    if t == "timestamptz":
        if isinstance(value, datetime):
            return value
        raise _Reject("bad_type", f"{field}: {to_plain(value)!r} is not a timestamp")
    if t == "boolean":
        if isinstance(value, bool):
            return value
        raise _Reject("bad_type", f"{field}: {to_plain(value)!r} is not a boolean")
    # json
    if col.array_of is not None:
        if not isinstance(value, list):
            raise _Reject("bad_type", f"{field}: {type(value).__name__} is not an array")
        item = ColumnSpec(col.name, col.source, col.array_of)
        value = [convert(v, item, f"{field}[{i}]") for i, v in enumerate(value)]
    _reject_bad_values(value, field)
    return json.dumps(to_plain(value), ensure_ascii=False, separators=(",", ":"), default=str)


def _reject_bad_values(value: Any, field: str) -> None:
    if isinstance(value, BadValue):
        raise _Reject("bad_type", f"{field}: {value.why}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Reject("bad_type", f"{field}: {value} is not valid in JSON")
    if isinstance(value, str) and (problem := text_problem(value)):
        raise _Reject("bad_type", f"{field}: text {problem}")
    if isinstance(value, dict):
        for k, v in value.items():
            if problem := text_problem(k):
                raise _Reject("bad_type", f"{field}: key {printable(k)!r} {problem}")
            _reject_bad_values(v, f"{field}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_bad_values(v, f"{field}[{i}]")


def _key_id(part_value: Any, shape_id: str | None, name: str) -> str:
    if problem := text_problem(part_value):
        raise _Reject("bad_key", f"{name} {printable(part_value)!r} {problem}")
    if shape_id is None:
        raise _Reject("unknown_entity", f"{name} {part_value!r} does not have the shape of this entity type")
    if shape_id.strip() == "":
        raise _Reject("bad_key", f"{name} {part_value!r} has an empty id")
    if len(shape_id) > MAX_ID_LENGTH:
        raise _Reject("bad_key", f"{name} id is {len(shape_id)} characters (at most {MAX_ID_LENGTH})")
    return shape_id


def _field_id(value: Any, field: str) -> str:
    """The id text of an entity keyed by a field: a string (an ObjectId is one, its hex) or a whole number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Reject("bad_key", f"`{field}` {type(value).__name__} {to_plain(value)!r} cannot key a row (a "
                                 "string, an ObjectId or a whole number can)")
    return _key_id(value, value, f"`{field}`")


class DocumentMapper:
    """Classifies and maps documents of one adjacency-list collection, as its spec's entities describe.

    Every document ends as a `Mapped` row or a `Rejected` with its reason: whatever one document holds
    (invalid UTF-8, nesting, NUL, lone surrogates, a 20 MB field, a value the mapping trips over), it never
    raises, so one bad document cannot stop a load. Rows over the target's size limits (DSQL's by default)
    are `too_large` here rather than failing a transaction later.
    """

    def __init__(self, entities: tuple[EntitySpec, ...], *, shape: DocumentShape = DEFAULT_SHAPE,
                 max_nesting_depth: int = MAX_NESTING_DEPTH, max_row_bytes: int = DSQL_MAX_ROW_BYTES,
                 max_column_bytes: int = DSQL_MAX_COLUMN_BYTES, max_txn_rows: int = DSQL_MAX_TXN_ROWS,
                 max_txn_bytes: int = DSQL_MAX_TXN_BYTES, window: Window = FULL,
                 window_field: str = OBJECTID_FIELD) -> None:
        self.entities = {e.name: e for e in entities}
        self._by_type = {e.doc_type: e for e in entities}
        self._all = tuple(entities)
        self._key_fields: tuple[str, ...] = () if any(e.id_field for e in entities) else (shape.pk_field,
                                                                                         shape.sk_field)
        self.shape = shape
        self.max_nesting_depth = max_nesting_depth
        self.max_row_bytes = max_row_bytes
        self.max_column_bytes = max_column_bytes
        self.max_txn_rows = max_txn_rows  # a document and its child rows are written in one transaction
        self.max_txn_bytes = max_txn_bytes
        self.window = window
        self.window_field = window_field

    @classmethod
    def for_spec(cls, spec: Any, window: Window = FULL) -> DocumentMapper:
        """The mapper of a `MongoToDsqlSpec`, with its nesting and size limits, keeping only the documents of
        `window` (by the spec's `incremental.field`)."""
        return cls(spec.entities, shape=spec.shape, max_nesting_depth=spec.max_nesting_depth,
                   max_row_bytes=spec.max_row_bytes, max_column_bytes=spec.max_column_bytes,
                   max_txn_rows=spec.batch_rows, max_txn_bytes=spec.batch_bytes, window=window,
                   window_field=spec.incremental.field)

    def map_line(self, line: str, *, windowed: bool = True) -> Mapped | Rejected | None:
        """One document's text (a line or `--jsonArray` element, decoded by `transforms.source_text`);
        None for a blank line (not a document) or a document outside the mapper's window. A line that cannot
        be read has no time: every windowed run rejects it. `windowed=False` maps whatever the window (a
        document parked by an earlier run)."""
        if is_blank(line):
            return None
        bad_byte = invalid_utf8_at(line)
        if bad_byte is not None:
            return Rejected("bad_encoding", None, f"not valid UTF-8 at character {bad_byte}: "
                                                  f"{printable(line[max(bad_byte - 20, 0):bad_byte + 4])!r}")
        if nesting_exceeds(line, self.max_nesting_depth):
            return Rejected("malformed_json", None, f"nested deeper than {self.max_nesting_depth} levels")
        try:
            doc = loads(line)
        except (ValueError, RecursionError) as err:
            return Rejected("malformed_json", None, f"not valid JSON: {printable(str(err))}")
        if not isinstance(doc, dict):
            return Rejected("malformed_json", None, f"a document must be a JSON object, got {type(doc).__name__}")
        if windowed and not self.window.is_full:
            at = record_time(doc, self.window_field)
            if at is None:
                entity = self._entity_of(doc)
                where = printable(str(to_plain(doc.get("_id"))))[:100]
                return Rejected("no_interval_time", entity.name if entity else None,
                                f"_id {where}: `{self.window_field}` holds no time, so the document belongs to no "
                                f"interval; only a load without a window takes it")
            if not self.window.contains(at):
                return None
        try:
            return self.map_document(doc)
        except Exception as err:  # noqa: BLE001 - one document must never stop the load; it is quarantined
            entity = self._entity_of(doc)
            return Rejected("unmappable", entity.name if entity else None,
                            f"{type(err).__name__}: {printable(str(err))[:500]}")

    def outside_window(self, line: str) -> bool:
        """Whether `map_line` leaves `line` out as a document of another interval: a readable document whose
        interval field holds a time outside the window. What the validators count as this run's source."""
        if self.window.is_full or is_blank(line) or invalid_utf8_at(line) is not None \
                or nesting_exceeds(line, self.max_nesting_depth):
            return False
        try:
            doc = loads(line)
        except (ValueError, RecursionError):
            return False
        at = record_time(doc, self.window_field) if isinstance(doc, dict) else None
        return at is not None and not self.window.contains(at)

    def _entity_of(self, doc: dict[str, Any]) -> EntitySpec | None:
        doc_type = self.shape.type_of(doc, self._all)
        return self._by_type.get(doc_type) if doc_type is not None else None

    def map_document(self, doc: dict[str, Any]) -> Mapped | Rejected:
        """One decoded document (from a file or from the live collection)."""
        shape = self.shape
        entity = self._entity_of(doc)
        name = entity.name if entity else None
        try:
            if shape.discriminator is not None and doc.get(shape.discriminator) is None:
                raise _Reject("missing_field", f"`{shape.discriminator}` is missing")
            for field in ("_id", *self._key_fields, *([entity.id_field] if entity and entity.id_field else [])):
                if doc.get(field) is None:
                    raise _Reject("missing_field", f"`{field}` is missing")
            if entity is None:
                if shape.discriminator is None:
                    raise _Reject("unknown_entity", f"`{shape.pk_field}`/`{shape.sk_field}` "
                                                    f"{to_plain(doc[shape.pk_field])!r}/"
                                                    f"{to_plain(doc[shape.sk_field])!r} have no entity's key shape")
                raise _Reject("unknown_entity", f"unknown {shape.discriminator} {doc[shape.discriminator]!r}")
            return self._map(entity, doc)
        except _Reject as rej:
            where = doc.get("_id")
            prefix = "" if where is None else f"_id {printable(str(to_plain(where)))[:100]}: "
            return Rejected(rej.reason, name, prefix + rej.detail)

    def _map(self, entity: EntitySpec, doc: dict[str, Any]) -> Mapped:
        if entity.id_field is not None:  # keyed by a field of its own: the source key is `<type>#<id>`
            pk_id = _field_id(doc[entity.id_field], entity.id_field)
            return self._row(entity, doc, f"{entity.pk.prefix}{pk_id}", "", pk_id, "")
        assert entity.sk is not None
        pk_field, sk_field = self.shape.pk_field, self.shape.sk_field
        pk, sk = doc[pk_field], doc[sk_field]
        if not isinstance(pk, str) or not isinstance(sk, str):
            raise _Reject("bad_key", f"`{pk_field}` and `{sk_field}` must be strings")
        pk_id = _key_id(pk, entity.pk.id_of(pk), pk_field)
        sk_id = entity.sk.id_of(sk)
        if entity.sk.equals is None:
            sk_id = _key_id(sk, sk_id, sk_field)
        elif sk_id is None:
            raise _Reject("unknown_entity", f"{sk_field} {sk!r} does not have the shape of a {entity.name}")
        return self._row(entity, doc, pk, sk, pk_id, sk_id)

    def _row(self, entity: EntitySpec, doc: dict[str, Any], pk: str, sk: str, pk_id: str, sk_id: str) -> Mapped:
        row: dict[str, Any] = {}
        refs: list[tuple[str, str]] = []
        if entity.id_column:
            row[entity.id_column] = entity_uuid(pk)
            row["source_id"] = pk_id
        for ref in entity.refs:
            target = self.entities[ref.entity]
            ref_key = f"{target.pk.prefix}{pk_id if ref.key == 'pk' else sk_id}"
            row[ref.column] = entity_uuid(ref_key)
            refs.append((ref.entity, ref_key))
        for fref in entity.references:  # by a field holding the other entity's id; null stays null
            value = _lookup(doc, fref.source)
            row[fref.column] = None if value is None else entity_uuid(
                f"{self.entities[fref.entity].pk.prefix}{_field_id(value, fref.source)}")
        for col in entity.columns:
            value = _lookup(doc, col.source)
            if value is None:
                if col.required:
                    raise _Reject("missing_field", f"`{col.source}` is required")
                row[col.name] = None
            else:
                row[col.name] = convert(value, col)
        row["source_doc_id"] = str(doc["_id"])
        if problem := text_problem(row["source_doc_id"]):
            raise _Reject("bad_key", f"`_id` {problem}")
        order = bson_order(doc["_id"])
        row[VERSION_COLUMN] = version_text(order)
        self._check_size(entity.columns, row)
        if entity.children:
            lineage = {"source_doc_id": row["source_doc_id"], VERSION_COLUMN: row[VERSION_COLUMN]}
            row[CHILDREN] = {c.name: self._child_rows(c, doc, row[entity.id_column], lineage)
                             for c in entity.children}
            self._check_transaction(row)
        return Mapped(entity.name, f"{pk}|{sk}", pk, order, row, tuple(refs))

    def _child_rows(self, child: ChildSpec, doc: dict[str, Any], parent_id: str, lineage: dict[str, Any]
                    ) -> list[dict[str, Any]]:
        """The rows of one child table from the document's array (a missing or null array: none)."""
        array = _lookup(doc, child.source)
        if array is None:
            return []
        if not isinstance(array, list):
            raise _Reject("bad_type", f"{child.source}: {type(array).__name__} {printable(str(to_plain(array)))[:80]!r}"
                                      " is not an array")
        rows: list[dict[str, Any]] = []
        if child.element_entity is not None:  # ids of another entity: a junction row per distinct id
            prefix = self.entities[child.element_entity].pk.prefix
            seen: set[str] = set()
            for i, value in enumerate(array):
                if value is None:
                    raise _Reject("bad_key", f"`{child.source}[{i}]` is null: it names no {child.element_entity}")
                ref = entity_uuid(f"{prefix}{_field_id(value, f'{child.source}[{i}]')}")
                if ref not in seen:
                    seen.add(ref)
                    rows.append({child.parent_column: parent_id, child.element_column: ref, **lineage})
            return rows
        for i, element in enumerate(array):
            if not isinstance(element, dict):
                raise _Reject("bad_type", f"{child.source}[{i}]: {type(element).__name__} is not an object")
            row: dict[str, Any] = {child.parent_column: parent_id, ChildSpec.POSITION: i}
            for col in child.columns:
                at = f"{child.source}[{i}].{col.source}"
                value = _lookup(element, col.source)
                if value is None and col.required:
                    raise _Reject("missing_field", f"`{at}` is required")
                row[col.name] = None if value is None else convert(value, col, at)
            row.update(lineage)
            self._check_size(child.columns, row)
            rows.append(row)
        return rows

    def _check_transaction(self, row: dict[str, Any]) -> None:
        """A document and its child rows go in one transaction: they must fit one."""
        n = rows_in(row)
        if n > self.max_txn_rows:
            raise _Reject("too_large", f"the document makes {n} rows with its child rows; a transaction holds at "
                                       f"most {self.max_txn_rows} (write.batch_rows)")
        size = row_size(row)
        if size > self.max_txn_bytes:
            raise _Reject("too_large", f"the document and its child rows are ~{size} bytes; a transaction holds "
                                       f"at most {self.max_txn_bytes} (write.batch_bytes)")

    def _check_size(self, columns: tuple[ColumnSpec, ...], row: dict[str, Any]) -> None:
        for col in columns:
            value = row.get(col.name)
            if isinstance(value, str) and len(value) * 4 > self.max_column_bytes:  # cheap bound before encoding
                size = len(value.encode("utf-8"))
                if size > self.max_column_bytes:
                    raise _Reject("too_large", f"`{col.source}` is {size} bytes; a column holds at most "
                                               f"{self.max_column_bytes}")
        size = row_size(row)
        if size > self.max_row_bytes:
            raise _Reject("too_large", f"the row is ~{size} bytes; a row holds at most {self.max_row_bytes}")


def target_columns(entity: EntitySpec | ChildSpec) -> list[str]:
    """The columns a mapped row (or child row) fills, in table order (lineage columns are added by the writer)."""
    if isinstance(entity, ChildSpec):
        head = list(entity.key_columns)
    elif entity.id_column:
        head = [entity.id_column, "source_id", *(r.column for r in entity.references)]
    else:
        head = [r.column for r in entity.refs]
    return [*head, *(c.name for c in entity.columns), "source_doc_id", VERSION_COLUMN]
