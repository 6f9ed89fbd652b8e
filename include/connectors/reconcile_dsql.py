"""Full reconciliation of a MongoDB → DSQL load: every target row against the source re-mapped by the job's rules.

    with psycopg.connect(uri) as conn:
        recs = reconcile_dsql(lambda: iter_lines(source_uri), spec, conn, "movie_db")
    recs["movie"].passed, recs["movie"].diffs

Expected rows come from `transforms.dsql_expected` (one pass over the source, per-key memory only); actual rows
from one server-side cursor per table, in large batches. Both sides fold into `transforms.reconcile` bucket
totals; only differing buckets are read again to name the keys. Scope `table` (a full load, the default)
compares whole tables: a row the source does not hold is `extra`. Scope `source` (a partial load into a shared
target) compares only the rows of the source's keys and counts the others, without failing. Airflow-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Loader

from transforms.adjacency import target_columns
from transforms.dsql_expected import ExpectedTables, Lines, expected_tables, key_bytes
from transforms.intervals import FULL, Window
from transforms.ordered_map import Aside
from transforms.reconcile import (
    DEFAULT_BUCKETS,
    BucketTotals,
    Key,
    Reconciliation,
    bucket_of,
    differing_buckets,
    drill_down,
    values_digest,
)
from transforms.spec import ChildSpec, EntitySpec

SCOPES = ("table", "source")
ITERSIZE = 20_000  # rows per round trip of the server-side cursor
LOOKUP_BATCH = 1_000
_MASK = (1 << 64) - 1


class _TextLoader(Loader):
    """uuid and json as the text PostgreSQL sends, which is what the mapping holds: no `uuid.UUID` or parsed
    document built and undone, and a json scalar (`26`, `"forty"`) stays JSON text as in the mapping."""

    def load(self, data: Any) -> str:
        return bytes(data).decode("utf-8")


@dataclass
class DsqlReconciliation:
    """Per entity the reconciliation, plus what the source pass counted and how long each part took."""

    tables: dict[str, Reconciliation]
    scope: str = "table"
    outside_source: dict[str, int] = field(default_factory=dict)  # scope `source`: target rows not compared
    orphans: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def scan_table(conn: psycopg.Connection[Any], schema: str, entity: EntitySpec | ChildSpec, columns: list[str],
               itersize: int = ITERSIZE) -> Iterator[tuple[Key, tuple[Any, ...]]]:
    """(primary key, column values) of every row of the entity's table, through one named cursor.

    The cursor lives in one transaction: on Aurora DSQL (5-minute transactions) that bounds one table's scan.
    """
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)),
                                                sql.Identifier(schema, entity.table))
    at = [columns.index(c) for c in entity.key_columns]
    with conn.transaction(), conn.cursor(name=f"reconcile_{entity.table}") as cur:
        for type_name in ("uuid", "json"):  # this cursor only: the caller's connection as it was
            cur.adapters.register_loader(type_name, _TextLoader)
        cur.itersize = itersize
        cur.execute(query)
        if len(at) == 1:
            (k,) = at
            for values in cur:
                yield (values[k],), values
        else:
            for values in cur:
                yield tuple(values[i] for i in at), values


def existing_ids(conn: psycopg.Connection[Any], schema: str) -> Callable[[EntitySpec, list[str]], set[str]]:
    """Which entity uuids have a row in the target: the orphan check's lookup, by primary key, in batches."""

    def lookup(entity: EntitySpec, ids: list[str]) -> set[str]:
        (col,) = entity.key_columns
        query = sql.SQL("SELECT {c}::text FROM {t} WHERE {c} = ANY(%s::uuid[])").format(
            c=sql.Identifier(col), t=sql.Identifier(schema, entity.table))
        found: set[str] = set()
        with conn.transaction():
            if conn.execute("SELECT to_regclass(%s)", [f"{schema}.{entity.table}"]).fetchone()[0] is None:
                return found  # no table yet: nothing exists
            for i in range(0, len(ids), LOOKUP_BATCH):
                found.update(r[0] for r in conn.execute(query, [ids[i:i + LOOKUP_BATCH]]))
        return found

    return lookup


def _actual_totals(conn: psycopg.Connection[Any], schema: str, entity: EntitySpec | ChildSpec, columns: list[str],
                   buckets: int, keep: dict[bytes, Any] | None, itersize: int = ITERSIZE) -> tuple[BucketTotals, int]:
    """Pass 1 over one table; with `keep` (scope `source`) rows of other keys are counted, not compared."""
    t = BucketTotals(buckets)
    counts, sums = t.counts, t.sums
    outside = 0
    for key, values in scan_table(conn, schema, entity, columns, itersize):
        if keep is not None and key_bytes(key) not in keep:
            outside += 1
            continue
        b = bucket_of(key, buckets)
        counts[b] += 1
        sums[b] = (sums[b] + values_digest(values)) & _MASK
    return t, outside


def reconcile_dsql_tables(lines: Lines, spec: Any, connection: psycopg.Connection[Any], schema: str | None = None,
                          *, scope: str = "table", buckets: int = DEFAULT_BUCKETS, max_diffs: int = 20,
                          max_drill_buckets: int = 64, window: Window = FULL,
                          itersize: int = ITERSIZE) -> DsqlReconciliation:
    """Reconcile every table of a `MongoToDsqlSpec` in `schema` (the spec's by default) with the source.

    `lines()` returns a fresh iterator of the source's document texts (`connectors.documents.iter_lines`); it is
    called once, again for `_id` ties, and again per table that differs, to drill down. `window`: the records
    of the source the target holds (interval loads: everything up to the latest end loaded). `itersize`: rows
    per round trip of each table's server-side cursor.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
    schema = schema or spec.target_schema
    tables = (*spec.entities, *spec.children)
    # scope `table`: the target's pass 1 needs nothing of the source's, so it runs beside it
    scans = _scans_aside(connection, schema, tables, buckets, itersize) if scope == "table" else None
    started = time.monotonic()
    try:
        exp = expected_tables(lines, spec, existing_ids(connection, schema), buckets, window)
    except BaseException:
        if scans is not None:
            scans.cancel()
        raise
    expected = exp.totals()
    out = DsqlReconciliation({}, scope, orphans=exp.orphans, seconds={"source": time.monotonic() - started})
    scanned = scans.result() if scans is not None else {}
    for entity in tables:
        started = time.monotonic()
        columns = exp.columns[entity.name]
        keep = exp.winners[entity.name] if scope == "source" else None
        if entity.name in scanned:
            actual, scan_s = scanned[entity.name]
            started -= scan_s
        else:
            actual, outside = _actual_totals(connection, schema, entity, columns, buckets, keep, itersize)
            if keep is not None:
                out.outside_source[entity.name] = outside
        out.tables[entity.name] = _drill(entity, exp, expected[entity.name], actual, lines, connection, schema,
                                         columns, keep, max_diffs, max_drill_buckets, itersize)
        out.seconds[entity.name] = time.monotonic() - started
    return out


def _scans_aside(connection: psycopg.Connection[Any], schema: str, tables: tuple[EntitySpec | ChildSpec, ...],
                 buckets: int, itersize: int) -> Aside[dict[str, tuple[BucketTotals, float]]]:
    """Pass 1 over every table (`_actual_totals`, and its seconds), started now in a forked process (`Aside`)
    through a second connection like `connection` (its parameters and password: a DSQL token is minted by the
    caller's hook, never in the fork, and used at once). A scan is mostly this client's CPU (decoding and
    hashing each row): beside the source pass it takes a core the mapping leaves, instead of time after it."""
    dsn, password = connection.info.dsn, connection.info.password

    def scan_all() -> dict[str, tuple[BucketTotals, float]]:
        out = {}
        with psycopg.connect(dsn, password=password, autocommit=True) as conn:
            for t in tables:
                started = time.monotonic()
                totals, _ = _actual_totals(conn, schema, t, target_columns(t), buckets, None, itersize)
                out[t.name] = (totals, time.monotonic() - started)
        return out

    return Aside(scan_all)


def reconcile_dsql(lines: Lines, spec: Any, connection: psycopg.Connection[Any], schema: str | None = None,
                   **options: Any) -> dict[str, Reconciliation]:
    """Entity name → its `Reconciliation` (`reconcile_dsql_tables` without the timings and tallies)."""
    return reconcile_dsql_tables(lines, spec, connection, schema, **options).tables


def _drill(entity: EntitySpec | ChildSpec, exp: ExpectedTables, expected: BucketTotals, actual: BucketTotals,
           lines: Lines, conn: psycopg.Connection[Any], schema: str, columns: list[str], keep: dict[bytes, Any] | None,
           max_diffs: int, max_drill_buckets: int, itersize: int = ITERSIZE) -> Reconciliation:
    """Pass 2, only when buckets differ: the expected rows of those buckets re-read by position, the table
    scanned again (`transforms.reconcile.drill_down` keeps the rows of those buckets only)."""
    name = entity.name
    differ = set(differing_buckets(expected, actual)[:max_drill_buckets])

    def expected_rows() -> Iterable[tuple[Key, dict[str, Any]]]:
        return exp.rows(lines, {name: exp.keys_in(name, differ)})[name]

    def actual_rows() -> Iterator[tuple[Key, dict[str, Any]]]:
        for key, values in scan_table(conn, schema, entity, columns, itersize):
            if keep is None or key_bytes(key) in keep:
                yield key, dict(zip(columns, values, strict=True))

    return drill_down(name, expected, actual, expected_rows, actual_rows, columns, max_diffs=max_diffs,
                      max_drill_buckets=max_drill_buckets)
