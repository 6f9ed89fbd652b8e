"""What a MongoDB → DSQL load should have written, re-derived from the source by the job's own rules.

Every document is re-mapped with `transforms.adjacency.DocumentMapper` (the job's mapper); per target primary
key one winner is kept (greatest `_id` by `Mapped.order`, identical `_id`s by text, as
`transforms.mongo_to_dsql._winner`); rejects are not expected, nor are relationship rows whose referenced entity
exists neither in this load nor in the target (the job quarantines those as `orphan_reference`).

Memory is per key, never per row, and packed (~150 bytes a key with Python's dict overhead): the key as the raw
bytes of its uuids, and one int holding the winner's ObjectId, row digest, bucket and position in the source.
Rows are re-read by position when a drill-down needs them, texts only to break `_id` ties. Pure: the source is
a function returning a fresh iterator of document texts, the target lookup a function too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from transforms.adjacency import DocumentMapper, Mapped, target_columns
from transforms.batching import CHILDREN
from transforms.intervals import FULL, Window
from transforms.ordered_map import ordered_map
from transforms.reconcile import DEFAULT_BUCKETS, BucketTotals, Key, bucket_of, row_digest, values_digest
from transforms.spec import ChildSpec, EntitySpec

Lines = Callable[[], Iterable[str]]
# (entity, [entity uuids as text]) → those of them that have a row in the target
ExistingIds = Callable[[EntitySpec, list[str]], set[str]]
# A winner, packed: ObjectId << 112 | digest << 48 | bucket << 32 | position; (order, low bits) for other `_id`s.
Packed = int | tuple[Any, int]
_POS_BITS, _BUCKET_BITS, _LOW_BITS = 32, 16, 112
_POS_MASK, _BUCKET_MASK, _LOW_MASK = (1 << 32) - 1, (1 << 16) - 1, (1 << 112) - 1
_OBJECT_ID = 7  # `transforms.extjson.bson_order`'s rank of an ObjectId


def key_bytes(key: Key) -> bytes:
    """A target key (uuids as text; a child row's position) as the concatenation of its uuids' 16 bytes (8 for a
    position): a third of the memory."""
    return b"".join(k.to_bytes(8, "big", signed=True) if type(k) is int else bytes.fromhex(k.replace("-", ""))
                    for k in key)


def key_text(raw: bytes) -> Key:
    """`key_bytes` undone."""
    return tuple(str(uuid.UUID(bytes=raw[i:i + 16])) for i in range(0, len(raw), 16))


def _pack(order: tuple[int, Any], digest: int, bucket: int, position: int) -> Packed:
    low = digest << 48 | bucket << 32 | position
    if order[0] == _OBJECT_ID and isinstance(order[1], str) and len(order[1]) == 24:
        try:
            return int(order[1], 16) << _LOW_BITS | low
        except ValueError:
            pass
    return order, low


def _order(p: Packed) -> tuple[int, Any]:
    return (_OBJECT_ID, format(p >> _LOW_BITS, "024x")) if isinstance(p, int) else p[0]


def _low(p: Packed) -> int:
    return p & _LOW_MASK if isinstance(p, int) else p[1]


def digest_of(p: Packed) -> int:
    return _low(p) >> 48


def bucket_in(p: Packed) -> int:
    return _low(p) >> 32 & _BUCKET_MASK


def position_of(p: Packed) -> int:
    return _low(p) & _POS_MASK


@dataclass
class ExpectedTables:
    """Per entity: key bytes → packed winner; and what the pass counted on the way."""

    spec: Any
    buckets: int
    winners: dict[str, dict[bytes, Packed]]
    documents: int = 0
    rejected: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)
    window: Window = FULL  # the records the target holds (`covered` by `connectors.load_log.loaded_windows`)

    @property
    def columns(self) -> dict[str, list[str]]:
        return {t.name: target_columns(t) for t in (*self.spec.entities, *self.spec.children)}

    def totals(self) -> dict[str, BucketTotals]:
        """Pass-1 aggregates of the expected rows, per entity."""
        out = {}
        for name, keys in self.winners.items():
            t = BucketTotals(self.buckets)
            counts, sums = t.counts, t.sums
            for p in keys.values():
                low = p & _LOW_MASK if type(p) is int else p[1]
                b = low >> 32 & _BUCKET_MASK
                counts[b] += 1
                sums[b] = (sums[b] + (low >> 48)) & 0xFFFFFFFFFFFFFFFF
            out[name] = t
        return out

    def keys_in(self, name: str, buckets: set[int]) -> set[bytes]:
        return {k for k, p in self.winners[name].items() if bucket_in(p) in buckets}

    def rows(self, lines: Lines, wanted: dict[str, set[bytes]]) -> dict[str, list[tuple[Key, dict[str, Any]]]]:
        """The expected rows of the `wanted` keys per entity, re-read by position and re-mapped."""
        at = {position_of(self.winners[name][k]) for name, keys in wanted.items() for k in keys}
        out: dict[str, list[tuple[Key, dict[str, Any]]]] = {name: [] for name in self.winners}
        mapper = DocumentMapper.for_spec(self.spec, self.window, lines)
        tables = {t.name: t for t in (*self.spec.entities, *self.spec.children)}
        for i, text in enumerate(lines()):
            if i in at:
                m = mapper.map_line(text)
                if not isinstance(m, Mapped):
                    raise RuntimeError(f"document {i} of the source no longer maps: was the source changed?")
                for name, row in table_rows(m):
                    key = row_key(tables[name], row)
                    if key_bytes(key) in wanted.get(name, ()):
                        out[name].append((key, row))
        return out


def table_rows(m: Mapped) -> list[tuple[str, dict[str, Any]]]:
    """(table's entity or child name, row) of every row a mapped document fills: its own, then its child rows."""
    return [(m.entity, m.row), *((name, r) for name, rows in m.row.get(CHILDREN, {}).items() for r in rows)]


def row_key(entity: EntitySpec | ChildSpec, row: dict[str, Any]) -> Key:
    """The target primary key of a mapped row (its key columns' uuids, as text)."""
    return tuple(row[c] for c in entity.key_columns)


# What one source line contributes, computed where it is mapped (`_Recorder`): None for a line that is no document,
# False for a reject, else (entity, key bytes, `_id` order, row digest, bucket, its child rows' (child, key bytes,
# digest, bucket), None where the row holds no child rows' field).
Children = tuple[tuple[str, bytes, int, int], ...]
Record = tuple[str, bytes, tuple[int, Any], int, int, Children | None] | bool | None


class _Recorder:
    """A source line's `Record`: the mapping and hashing, the part of the pass `ordered_map` spreads over
    processes (forked: nothing here is pickled)."""

    def __init__(self, mapper: DocumentMapper, spec: Any, buckets: int) -> None:
        self.mapper, self.buckets = mapper, buckets
        self.columns = {t.name: target_columns(t) for t in (*spec.entities, *spec.children)}
        self.key_cols = {e.name: e.key_columns for e in spec.entities}
        self.children = {c.name: c for c in spec.children}
        # a row's values in table order, taken in C: a mapped row holds every column (else `_digest` asks by name)
        self._values = {name: itemgetter(*cols) if len(cols) > 1 else lambda row, c=cols[0]: (row[c],)
                        for name, cols in self.columns.items()}

    def __call__(self, text: str) -> Record:
        m = self.mapper.map_line(text)
        if m is None:
            return None
        return self.of(m) if isinstance(m, Mapped) else False

    def of(self, m: Mapped) -> Record:
        name, row, buckets = m.entity, m.row, self.buckets
        key = tuple(row[c] for c in self.key_cols[name])
        raw = bytes.fromhex(key[0].replace("-", "")) if len(key) == 1 else key_bytes(key)
        kids = None if CHILDREN not in row else tuple(
            (child, key_bytes(k), self._digest(child, r), bucket_of(k, buckets))
            for child, rows in row[CHILDREN].items() for r in rows for k in (row_key(self.children[child], r),))
        return name, raw, m.order, self._digest(name, row), bucket_of(key, buckets), kids

    def _digest(self, name: str, row: dict[str, Any]) -> int:
        try:
            return values_digest(self._values[name](row))
        except KeyError:
            return row_digest(row, self.columns[name])


def expected_tables(lines: Lines, spec: Any, existing: ExistingIds, buckets: int = DEFAULT_BUCKETS,
                    window: Window = FULL, *, workers: int | None = None) -> ExpectedTables:
    """One pass over the source: map, keep one winner per key, then drop the orphans (`existing` is asked only
    about referenced entities this load does not hold). With a `window`, only its documents, as the job's
    mapper of that window keeps them. Documents are mapped in order across `workers` processes once the source
    proves long (`transforms.ordered_map`; default: this machine's CPUs); the winners are chosen here, in order."""
    if not 0 < buckets <= 1 << _BUCKET_BITS:
        raise ValueError(f"buckets must be 1..{1 << _BUCKET_BITS}")
    recorder = _Recorder(DocumentMapper.for_spec(spec, window, lines), spec, buckets)
    entities = {e.name: e for e in spec.entities}
    winners: dict[str, dict[bytes, Packed]] = {name: {} for name in recorder.columns}
    kids: dict[bytes, list[tuple[str, bytes]]] = {}  # parent key → its child rows' (child, key) of the winner

    def adopt(children: Children, order: tuple[int, Any], raw: bytes, i: int) -> None:
        """The winner's child rows replace those of the document it beat."""
        for child, ckey in kids.pop(raw, ()):
            winners[child].pop(ckey, None)
        for child, ckey, digest, bucket in children:
            winners[child][ckey] = _pack(order, digest, bucket, i)
        if children:
            kids[raw] = [(child, ckey) for child, ckey, _, _ in children]

    duplicates = dict.fromkeys(entities, 0)
    ties: dict[tuple[str, bytes], list[int]] = {}
    documents = rejected = 0
    for i, rec in enumerate(ordered_map(recorder, lines(), workers=workers)):
        if rec is None:
            continue
        documents += 1
        if rec is False:
            rejected += 1
            continue
        name, raw, order, digest, bucket, children = rec  # type: ignore[misc]
        table = winners[name]
        held = table.get(raw)
        if held is None:
            table[raw] = _pack(order, digest, bucket, i)
            if children is not None:
                adopt(children, order, raw, i)
            continue
        duplicates[name] += 1
        held_order = _order(held)
        if order > held_order:
            table[raw] = _pack(order, digest, bucket_in(held), i)
            if children is not None:
                adopt(children, order, raw, i)
            ties.pop((name, raw), None)
        elif order == held_order:  # a re-exported document: the greater text wins, decided below
            ties.setdefault((name, raw), [position_of(held)]).append(i)
    if ties:
        for order, raw, i, children in _break_ties(lines, recorder, ties, winners):
            if children is not None:
                adopt(children, order, raw, i)
    out = ExpectedTables(spec, buckets, winners, documents, rejected, duplicates, window=window)
    out.orphans = _drop_orphans(out, entities, existing)
    return out


def _break_ties(lines: Lines, recorder: _Recorder, ties: dict[tuple[str, bytes], list[int]],
                winners: dict[str, dict[bytes, Packed]]) -> list[tuple[tuple[int, Any], bytes, int, Children | None]]:
    """Documents with one key and one `_id`: the greatest text wins (`_winner`); re-read by position. Returns
    each winner's `_id` order, key, position and child rows (`Record`), which the caller adopts."""
    out = []
    wanted = {i for positions in ties.values() for i in positions}
    texts = {i: text for i, text in enumerate(lines()) if i in wanted}
    for (name, raw), positions in ties.items():
        best = max(positions, key=lambda i: texts[i])
        rec = recorder(texts[best])
        if not isinstance(rec, tuple):
            raise RuntimeError(f"document {best} of the source no longer maps: was the source changed?")
        _, _, order, digest, _, children = rec
        winners[name][raw] = _pack(order, digest, bucket_in(winners[name][raw]), best)
        out.append((order, raw, best, children))
    return out


def _drop_orphans(exp: ExpectedTables, entities: dict[str, EntitySpec], existing: ExistingIds) -> dict[str, int]:
    """Relationship rows whose referenced entity is neither a winner of this load nor in the target."""
    missing: dict[str, set[bytes]] = {}
    for name, keys in exp.winners.items():
        refs = entities[name].refs if name in entities else ()
        for raw in keys if refs else ():
            for n, ref in enumerate(refs):
                part = raw[16 * n:16 * n + 16]
                if part not in exp.winners[ref.entity]:
                    missing.setdefault(ref.entity, set()).add(part)
    if not missing:
        return {}
    absent: dict[str, set[bytes]] = {}
    for ent, parts in missing.items():
        found = existing(entities[ent], sorted(key_text(p)[0] for p in parts))
        absent[ent] = {p for p in parts if key_text(p)[0] not in found}
    orphans: dict[str, int] = {}
    for name, keys in exp.winners.items():
        refs = entities[name].refs if name in entities else ()
        if not refs:
            continue
        gone = [raw for raw in keys if any(raw[16 * n:16 * n + 16] in absent.get(ref.entity, ())
                                           for n, ref in enumerate(refs))]
        for raw in gone:
            del keys[raw]
        if gone:
            orphans[name] = len(gone)
    return orphans
