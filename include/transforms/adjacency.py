"""Map one document to one relational row (with the child rows of its arrays), or to a reject with its reason.

Per-document rules only; duplicates (greatest `_id` wins) and orphan references need the whole load
and are decided by the Spark pipeline (`transforms.mongo_to_dsql`). The same functions re-map the
validation sample, so the validator and the job can never disagree on what a row should be.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from transforms.batching import CHILDREN, may_exceed
from transforms.child_rows import ChildRows
from transforms.conversion import Reject, convert, field_id, key_id, lookup
from transforms.extjson import bson_order, loads, to_plain
from transforms.fast_mapper import FastMapper
from transforms.intervals import FULL, OBJECTID_FIELD, Window, record_time, version_text
from transforms.mapped import Mapped, Rejected
from transforms.natural_keys import natural_index, natural_text
from transforms.paths import leaves
from transforms.source_text import collection_of, invalid_utf8_at, is_blank, nesting_exceeds, printable, text_problem
from transforms.spec import (
    DEFAULT_SHAPE,
    DSQL_MAX_COLUMN_BYTES,
    DSQL_MAX_ROW_BYTES,
    DSQL_MAX_TXN_BYTES,
    DSQL_MAX_TXN_ROWS,
    EXTRA_COLUMN,
    MAX_NESTING_DEPTH,
    VERSION_COLUMN,
    ChildSpec,
    DocumentShape,
    EntitySpec,
)
from transforms.unmapped import mapped_paths, remainder, trie

# Fixed namespace: UUIDv5(namespace, source key) gives the same uuid on every run and every machine.
MIGRATION_NAMESPACE = uuid.UUID("6f1c1a52-8d4e-5b8e-9a57-2f1d8c0e4b31")
# `unmappable`: the mapping itself raised (a bug this run still survives); the detail names the exception.
REJECT_REASONS = ("missing_field", "bad_type", "unknown_entity", "bad_key", "orphan_reference", "malformed_json",
                  "bad_encoding", "too_large", "unmappable")
# Only a run with a window rejects for these: a document whose interval field holds no time.
WINDOW_REJECT_REASONS = ("no_interval_time",)
# What a run with a window rejects before it can place a line in any interval: every interval run meets these lines
# again, so each is quarantined once per source (`connectors.timeless`).
TIMELESS_REASONS = ("bad_encoding", "malformed_json", "no_interval_time")


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


class DocumentMapper(ChildRows):
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
                 window_field: str = OBJECTID_FIELD, ignore: Mapping[str, tuple[str, ...]] | None = None,
                 natural: Mapping[tuple[str, str, str], str] | None = None) -> None:
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
        self._size_bound = min(max_row_bytes, max_column_bytes)
        self.window = window
        self.window_field = window_field
        # what each entity's rows read (and the paths left out on purpose): the rest of a document is `_extra`
        ignore = ignore or {}
        self._consumed = {e.name: trie([*self._keys_of(e), *ignore.get(e.name, ()), *mapped_paths(e)])
                          for e in entities}
        self._element_consumed = {c.name: trie([col.source for col in c.columns]) for e in entities
                                  for c in e.children}
        self.natural = natural  # (entity, natural key field, value) → the uuid of the row holding it
        self._fast = FastMapper.of(self)  # the usual document's shortcut, where there is one

    def _keys_of(self, entity: EntitySpec) -> list[str]:
        keys = ["_id", *([self.shape.discriminator] if self.shape.discriminator else [])]
        return [*keys, entity.id_field] if entity.id_field else [*keys, self.shape.pk_field, self.shape.sk_field]

    @property
    def natural_targets(self) -> set[tuple[str, str]]:
        """(entity, field) of every natural key a reference or a junction names."""
        return {(r.entity, r.by) for e in self._all for r in e.references if r.by} | {
            (c.element_entity, c.element_by) for e in self._all for c in e.children
            if c.element_entity and c.element_by}

    def with_natural(self, natural: Mapping[tuple[str, str, str], str]) -> DocumentMapper:
        """This mapper, resolving natural keys through `natural` (`natural_index`)."""
        import copy

        other = copy.copy(self)
        other.natural = natural
        other._fast = FastMapper.of(other)  # its own, mapping for the copy
        return other

    def natural_keys(self, line: str) -> list[tuple[tuple[str, str, str], tuple[tuple[int, Any], str]]]:
        """((entity, field, value), (`_id` order, uuid)) of each natural key `line`'s document holds, for a document
        of an entity others name by a natural key; [] for any other line (or one that does not map)."""
        targets = self.natural_targets
        if not targets or is_blank(line):
            return []
        try:
            doc = loads(line)
        except (ValueError, RecursionError):
            return []
        entity = self._entity_of(doc, collection_of(line)) if isinstance(doc, dict) else None
        if entity is None or not any(e == entity.name for e, _ in targets):
            return []
        m = self.map_document(doc, collection_of(line), resolve=False)
        if not isinstance(m, Mapped):
            return []
        out = []
        for e, by in sorted(targets):
            value = natural_text(doc.get(by)) if e == entity.name else None
            if value is not None:
                out.append(((e, by, value), (m.order, m.row[entity.id_column or ""])))
        return out

    @classmethod
    def for_spec(cls, spec: Any, window: Window = FULL, lines: Callable[[], Iterable[str]] | None = None
                 ) -> DocumentMapper:
        """The mapper of a `MongoToDsqlSpec`, with its nesting and size limits, keeping only the documents of
        `window` (by the spec's `incremental.field`); where references go by natural key, with the keys of the
        whole source `lines()` indexed (`natural_index`)."""
        mapper = cls._of_spec(spec, window)
        if lines is not None and mapper.natural_targets:
            return mapper.with_natural(natural_index(p for line in lines() for p in mapper.natural_keys(line))[0])
        return mapper

    @classmethod
    def _of_spec(cls, spec: Any, window: Window) -> DocumentMapper:
        return cls(spec.entities, shape=spec.shape, max_nesting_depth=spec.max_nesting_depth,
                   max_row_bytes=spec.max_row_bytes, max_column_bytes=spec.max_column_bytes,
                   max_txn_rows=spec.batch_rows, max_txn_bytes=spec.batch_bytes, window=window,
                   window_field=spec.incremental.field,
                   ignore={e.name: spec.unmapped.ignored(e.name) for e in spec.entities})

    def read(self, line: str) -> dict[str, Any] | Rejected | None:
        """A line as its document: the one reading `map_line`, `timeless` and `outside_window` share. None for a
        blank line (not a document); a `Rejected` for invalid UTF-8, nesting past the limit, invalid JSON or a
        value that is not an object."""
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
        return doc

    def map_line(self, line: str, *, windowed: bool = True) -> Mapped | Rejected | None:
        """One document's text (a line or `--jsonArray` element, decoded by `transforms.source_text`);
        None for a blank line (not a document) or a document outside the mapper's window. A line that cannot
        be read has no time: every windowed run rejects it. `windowed=False` maps whatever the window (a
        document parked by an earlier run)."""
        if self._fast is not None and (fast := self._fast(line)) is not None:
            return fast
        doc = self.read(line)
        if not isinstance(doc, dict):
            return doc
        if windowed and not self.window.is_full:
            at = record_time(doc, self.window_field)
            if at is None:
                entity = self._entity_of(doc, collection_of(line))
                where = printable(str(to_plain(doc.get("_id"))))[:100]
                return Rejected("no_interval_time", entity.name if entity else None,
                                f"_id {where}: `{self.window_field}` holds no time, so the document belongs to no "
                                f"interval; only a load without a window takes it")
            if not self.window.contains(at):
                return None
        try:
            return self.map_document(doc, collection_of(line), text_chars=len(line))
        except Exception as err:  # noqa: BLE001 - one document must never stop the load; it is quarantined
            entity = self._entity_of(doc, collection_of(line))
            return Rejected("unmappable", entity.name if entity else None,
                            f"{type(err).__name__}: {printable(str(err))[:500]}")

    def timeless(self, line: str) -> bool:
        """Whether a run with a window rejects `line` before placing it in any interval (`TIMELESS_REASONS`): it
        cannot be read as a document, or its interval field holds no time. False without a window."""
        if self.window.is_full:
            return False
        doc = self.read(line)
        return isinstance(doc, Rejected) or (doc is not None and record_time(doc, self.window_field) is None)

    def outside_window(self, line: str) -> bool:
        """Whether `map_line` leaves `line` out as a document of another interval: a readable document whose
        interval field holds a time outside the window. What the validators count as this run's source."""
        if self.window.is_full:
            return False
        doc = self.read(line)
        at = record_time(doc, self.window_field) if isinstance(doc, dict) else None
        return at is not None and not self.window.contains(at)

    def _entity_of(self, doc: dict[str, Any], collection: str | None = None) -> EntitySpec | None:
        doc_type = self.shape.type_of(doc, self._all, collection)
        return self._by_type.get(doc_type) if doc_type is not None else None

    def map_document(self, doc: dict[str, Any], collection: str | None = None, *, resolve: bool = True,
                     text_chars: int | None = None) -> Mapped | Rejected:
        """One decoded document (from a file or from the live collection; of `collection` in a migration of
        several). `resolve=False` leaves natural-key references unresolved (indexing the keys themselves).
        `text_chars`: the length of the text it was read from, when there was one (`_row` skips measuring a row
        that text is too short to make too large)."""
        shape = self.shape
        entity = self._entity_of(doc, collection)
        name = entity.name if entity else None
        try:
            if shape.discriminator is not None and doc.get(shape.discriminator) is None:
                raise Reject("missing_field", f"`{shape.discriminator}` is missing")
            for field in ("_id", *self._key_fields, *([entity.id_field] if entity and entity.id_field else [])):
                if doc.get(field) is None:
                    raise Reject("missing_field", f"`{field}` is missing")
            if entity is None:
                if any(e.collection for e in self._all):
                    raise Reject("unknown_entity", f"the document's collection {collection!r} is none of the spec's")
                if shape.discriminator is None:
                    raise Reject("unknown_entity", f"`{shape.pk_field}`/`{shape.sk_field}` "
                                                    f"{to_plain(doc[shape.pk_field])!r}/"
                                                    f"{to_plain(doc[shape.sk_field])!r} have no entity's key shape")
                raise Reject("unknown_entity", f"unknown {shape.discriminator} {doc[shape.discriminator]!r}")
            return self._map(entity, doc, resolve, text_chars)
        except Reject as rej:
            where = doc.get("_id")
            prefix = "" if where is None else f"_id {printable(str(to_plain(where)))[:100]}: "
            return Rejected(rej.reason, name, prefix + rej.detail)

    def _map(self, entity: EntitySpec, doc: dict[str, Any], resolve: bool = True, text_chars: int | None = None
             ) -> Mapped:
        if entity.id_field is not None:  # keyed by a field of its own: the source key is `<type>#<id>`
            pk_id = field_id(doc[entity.id_field], entity.id_field)
            return self._row(entity, doc, f"{entity.pk.prefix}{pk_id}", "", pk_id, "", resolve, text_chars)
        assert entity.sk is not None
        pk_field, sk_field = self.shape.pk_field, self.shape.sk_field
        pk, sk = doc[pk_field], doc[sk_field]
        if not isinstance(pk, str) or not isinstance(sk, str):
            raise Reject("bad_key", f"`{pk_field}` and `{sk_field}` must be strings")
        pk_id = key_id(pk, entity.pk.id_of(pk), pk_field)
        sk_id = entity.sk.id_of(sk)
        if entity.sk.equals is None:
            sk_id = key_id(sk, sk_id, sk_field)
        elif sk_id is None:
            raise Reject("unknown_entity", f"{sk_field} {sk!r} does not have the shape of a {entity.name}")
        return self._row(entity, doc, pk, sk, pk_id, sk_id, resolve, text_chars)

    def _reference(self, entity: str, by: str | None, value: Any, field: str, resolve: bool = True) -> str:
        """The uuid a reference names: of the other entity's id, or (`by`) of the row holding that natural key;
        a natural key no row holds names a uuid no row has (kept, as a dangling id is, and reported)."""
        prefix = self.entities[entity].pk.prefix
        if by is None:
            return entity_uuid(f"{prefix}{field_id(value, field)}")
        text = natural_text(value)
        if text is None:
            raise Reject("bad_type", f"`{field}` {to_plain(value)!r} cannot name a {entity} by its `{by}`")
        if resolve and self.natural is None:
            raise RuntimeError("natural keys were not indexed (DocumentMapper.with_natural)")
        found = (self.natural or {}).get((entity, by, text)) if resolve else None
        return found or entity_uuid(f"{prefix}{by}={text}")

    def _row(self, entity: EntitySpec, doc: dict[str, Any], pk: str, sk: str, pk_id: str, sk_id: str,
             resolve: bool = True, text_chars: int | None = None) -> Mapped:
        row, refs = self._key_columns(entity, pk, pk_id, sk_id)
        for fref in entity.references:  # by a field holding the other entity's id (or natural key); null stays null
            value = lookup(doc, fref.source)
            row[fref.column] = None if value is None else self._reference(fref.entity, fref.by, value, fref.source,
                                                                          resolve)
        for col in entity.columns:
            value = lookup(doc, col.source)
            if value is None:
                if col.required:
                    raise Reject("missing_field", f"`{col.source}` is required")
                row[col.name] = None
            else:
                row[col.name] = convert(value, col)
        extra = remainder(doc, self._consumed[entity.name])
        row[EXTRA_COLUMN] = self._extra_json(extra, "")
        unmapped = [path for path, _ in leaves(extra)] if extra else []
        order = self.lineage_columns(row, doc["_id"], entity, text_chars)
        if entity.children:
            lineage = {"source_doc_id": row["source_doc_id"], VERSION_COLUMN: row[VERSION_COLUMN]}
            row[CHILDREN] = {c.name: self._child_rows(c, doc, row[entity.id_column], lineage, unmapped, resolve)
                             for c in entity.children}
            self._check_transaction(row)
        return Mapped(entity.name, f"{pk}|{sk}", pk, order, row, tuple(refs), tuple(unmapped))

    def lineage_columns(self, row: dict[str, Any], oid: Any, entity: EntitySpec, text_chars: int | None
                        ) -> tuple[int, Any]:
        """Fills `row`'s lineage columns from the document's decoded `_id`, and measures the row unless its text
        (`text_chars` long) is too short to make it too large; returns the `_id` order."""
        row["source_doc_id"] = str(oid)
        if problem := text_problem(row["source_doc_id"]):
            raise Reject("bad_key", f"`_id` {problem}")
        order = bson_order(oid)
        row[VERSION_COLUMN] = version_text(order)
        if may_exceed(text_chars, len(row), self._size_bound):
            self._check_size(entity.columns, row)
        return order

    def _key_columns(self, entity: EntitySpec, pk: str, pk_id: str, sk_id: str
                     ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """A row's first columns, from its keys: its own uuid and id, or the uuid of each entity it relates; and
        the (entity, source key) of each of those it points at."""
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
        return row, refs


def target_columns(entity: EntitySpec | ChildSpec) -> list[str]:
    """The columns a mapped row (or child row) fills, in table order (lineage columns are added by the writer)."""
    extra = [EXTRA_COLUMN]
    if isinstance(entity, ChildSpec):
        head = list(entity.key_columns)
        extra = extra if entity.of_objects else []
    elif entity.id_column:
        head = [entity.id_column, "source_id", *(r.column for r in entity.references)]
    else:
        head = [r.column for r in entity.refs]
    return [*head, *(c.name for c in entity.columns), *extra, "source_doc_id", VERSION_COLUMN]
