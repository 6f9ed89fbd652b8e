"""What the validators read back from a DSQL target (or the PostgreSQL stand-in): counts, rows by key, child rows,
versions, ids and dangling references, each looked up in batches of keys, never one query per row.

Every function takes `query(sql, params) -> rows` (the Airflow hook's `get_records`, or a psycopg cursor's
execute-and-fetch), so the operators only wire what they compare. json columns are read as the text stored, which
is what the mapping holds (the driver would parse it: `26` → 26). No Airflow imports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from transforms.identifiers import quoted

Query = Callable[..., list[tuple[Any, ...]]]
BATCH = 500  # keys per query


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), BATCH):  # read at each call: a test sets it small
        yield items[i:i + BATCH]


def _columns(table: Any, columns: Sequence[str]) -> str:
    as_text = {c.name for c in table.columns if c.type == "json"}
    return ", ".join(f"{quoted(c)}::text" if c in as_text else quoted(c) for c in columns)


def table_count(query: Query, schema: str, table: str) -> int:
    """Every row of `schema.table`."""
    return int(query(f"SELECT count(*) FROM {quoted(schema, table)}")[0][0])


def count_present(query: Query, schema: str, entity: Any, keys: Iterable[tuple[str, ...]]) -> int:
    """How many of `keys` (values of the entity's key columns, uuids as text) have a row."""
    columns = ", ".join(quoted(c) for c in entity.key_columns)
    one = "(" + ", ".join(["%s"] * len(entity.key_columns)) + ")"
    present = 0
    for batch in _batches(sorted(keys)):
        statement = (f"SELECT count(*) FROM {quoted(schema, entity.table)} "
                     f"WHERE ({columns}) IN (VALUES {', '.join([one] * len(batch))})")
        present += query(statement, [uuid.UUID(v) for key in batch for v in key])[0][0]
    return present


def rows_by_key(query: Query, schema: str, entity: Any, columns: Sequence[str], keys: Iterable[tuple[str, ...]]
                ) -> dict[tuple[str, ...], dict[str, Any]]:
    """The rows of `keys` (values of the entity's key columns, uuids as text) that exist, column → value."""
    key_columns = list(entity.key_columns)
    at = [columns.index(k) for k in key_columns]
    one = "(" + ", ".join(["%s"] * len(key_columns)) + ")"
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for batch in _batches(sorted(set(keys))):
        statement = (f"SELECT {_columns(entity, columns)} FROM {quoted(schema, entity.table)} "
                     f"WHERE ({', '.join(quoted(k) for k in key_columns)}) IN (VALUES {', '.join([one] * len(batch))})")
        for r in query(statement, [uuid.UUID(v) for key in batch for v in key]):
            found[tuple(str(r[i]) for i in at)] = dict(zip(columns, r, strict=True))
    return found


def child_rows(query: Query, schema: str, child: Any, columns: Sequence[str], parents: Iterable[str]
               ) -> dict[str, list[dict[str, Any]]]:
    """Parent id → its rows of the child table, for every parent of `parents` (uuids as text)."""
    at = columns.index(child.parent_column)
    found: dict[str, list[dict[str, Any]]] = {}
    for batch in _batches(sorted(set(parents))):
        for r in query(f"SELECT {_columns(child, columns)} FROM {quoted(schema, child.table)} "
                       f"WHERE {quoted(child.parent_column)} = ANY(%s)", [[uuid.UUID(p) for p in batch]]):
            found.setdefault(str(r[at]), []).append(dict(zip(columns, r, strict=True)))
    return found


def existing_source_ids(query: Query, schema: str, table: str, ids: Iterable[str]) -> set[str]:
    """Which of `ids` a row of `table` holds as its `source_id`."""
    found: set[str] = set()
    for batch in _batches(sorted(set(ids))):
        found.update(str(r[0]) for r in query(f"SELECT source_id FROM {quoted(schema, table)} "
                                              "WHERE source_id = ANY(%s)", [list(batch)]))
    return found


def versions(query: Query, schema: str, entity: Any, version_column: str, ids: Iterable[str]) -> dict[str, Any]:
    """Row id → its stored version, for the rows of `ids` (the entity's single key column, uuids as text)."""
    (key,) = entity.key_columns
    found: dict[str, Any] = {}
    for batch in _batches(sorted(set(ids))):
        found.update((str(i), v) for i, v in query(
            f"SELECT {quoted(key)}, {quoted(version_column)} FROM {quoted(schema, entity.table)} "
            f"WHERE {quoted(key)} = ANY(%s)", [[uuid.UUID(i) for i in batch]]))
    return found


def child_counts(query: Query, schema: str, child: Any, parents: Iterable[str]) -> dict[str, int]:
    """Parent id → how many rows of the child table it has (parents without any are left out)."""
    found: dict[str, int] = {}
    column = quoted(child.parent_column)
    for batch in _batches(sorted(set(parents))):
        found.update((str(p), int(n)) for p, n in query(
            f"SELECT {column}, count(*) FROM {quoted(schema, child.table)} WHERE {column} = ANY(%s) GROUP BY 1",
            [[uuid.UUID(p) for p in batch]]))
    return found


def by_batches(query: Query, statement: str, ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of `statement` (its one parameter an array, as in `… = ANY(%s)`) for `ids`, `BATCH` at a time."""
    for batch in _batches(list(ids)):
        yield from query(statement, [list(batch)])


def source_doc_ids(query: Query, schema: str, table: str) -> set[str]:
    """Every `source_doc_id` of `table`: the `_id`s whose documents it holds."""
    return {str(r[0]) for r in query(f"SELECT source_doc_id FROM {quoted(schema, table)}")}


def dangling_references(query: Query, spec: Any, examples: int = 5) -> dict[str, dict[str, Any]]:
    """References and junction rows of the whole target that name a row which exists nowhere: written as the
    source names them (DSQL has no foreign keys), reported with the source ids of the rows holding them."""
    schema = spec.target_schema
    found: dict[str, dict[str, Any]] = {}

    def note(what: str, rows_from: str, holder: str, column: str, target: Any) -> None:
        """`rows_from` names the referencing rows `x` and their holder's `source_id` as `{holder}.source_id`."""
        (key,) = target.key_columns
        where = (f"FROM {rows_from} WHERE x.{quoted(column)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                 f"{quoted(schema, target.table)} t WHERE t.{quoted(key)} = x.{quoted(column)})")
        count = query(f"SELECT count(*) {where}")[0][0]
        if count:
            ids = query(f"SELECT DISTINCT {holder}.source_id {where} ORDER BY 1 LIMIT {int(examples)}")
            found[what] = {"count": count, "examples": [r[0] for r in ids]}

    for e in spec.entities:
        table = quoted(schema, e.table)
        for r in e.references:
            note(f"{e.table}.{r.column}: names no {r.entity} (kept: no foreign keys)", f"{table} x", "x",
                 r.column, spec.entity(r.entity))
        for c in e.children:
            if c.element_entity is not None:
                note(f"{c.table}.{c.element_column}: names no {c.element_entity} (kept: no foreign keys)",
                     f"{quoted(schema, c.table)} x JOIN {table} h ON h.{quoted(e.id_column)} = "
                     f"x.{quoted(c.parent_column)}", "h", c.element_column, spec.entity(c.element_entity))
    return found
