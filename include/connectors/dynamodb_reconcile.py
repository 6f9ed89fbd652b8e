"""Reconcile every item of a declared design's DynamoDB tables with the SQL source: the I/O around the pure parts.

Expected: the source streamed through one DB-API connection (psycopg's server-side cursors, or a driver's own
row streaming with `fetchmany`: pymssql on SQL Server), one item type's query after the other, rendered by
`transforms.design_reconcile`. Actual: a parallel Scan of each table (`connectors.dynamodb_scan`). Both
become (key, row) pairs of one form and go through `transforms.reconcile`: pass 1 reads each side once, the
two sides at the same time (the source in a thread while the scan runs), into per-bucket hashes. Only when
buckets differ does the drill-down read again: the source in full, the table as a keys-only Scan whose keys in
the differing buckets are then fetched whole with BatchGetItem (a fraction of the bytes of a second full scan).
Callable outside Airflow (the benchmark).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.dynamodb_scan import DEFAULT_SEGMENTS, batch_get_items, scan_items
from transforms.design_checks import columns_sql, rows_sql
from transforms.design_reconcile import columns_of, expected_items, item_key, item_row
from transforms.dynamodb_tables import TableSpec
from transforms.reconcile import (
    DEFAULT_BUCKETS,
    BucketTotals,
    Reconciliation,
    bucket_of,
    differing_buckets,
    drill_down,
    totals,
)
from transforms.source_as_of import cut_sql

__all__ = ["ITERSIZE", "Timings", "expected_rows", "reconcile_dynamodb", "stream_dicts", "stream_rows"]

ITERSIZE = 5000  # rows per round trip of the source cursor
log = logging.getLogger(__name__)
Rows = Callable[[], Iterator[tuple[Any, dict[str, str]]]]


def stream_rows(conn: Any, sql: str, *, itersize: int = ITERSIZE, names: list[str] | None = None
                ) -> Iterator[tuple[Any, ...]]:
    """The rows of `sql` as tuples, `itersize` at a time, never the whole result in memory; `names`, if given, is
    filled with the columns' names once the first rows arrived.

    psycopg (3 or 2): a server-side (named) cursor, WITH HOLD when the connection is in autocommit; other
    drivers (pymssql) stream a plain cursor's result as it is fetched. PostgreSQL plans a cursor for its first
    10% of rows (`cursor_tuple_fraction`), which turns an item type's joins into nested loops over whole
    tables (minutes instead of milliseconds at 100k rows): every row is read here, so the session plans for all.
    """
    if type(conn).__module__.split(".")[0] in ("psycopg", "psycopg2"):
        with conn.cursor() as setting:
            setting.execute("SET cursor_tuple_fraction = 1")
        cursor = conn.cursor(name=f"dbmigrate_reconcile_{uuid.uuid4().hex[:12]}", withhold=bool(conn.autocommit))
        cursor.itersize = itersize
    else:
        cursor = conn.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(itersize):
            if names is not None and not names:
                names.extend(d[0] for d in cursor.description)
            yield from rows
    finally:
        cursor.close()


def stream_dicts(conn: Any, sql: str, *, itersize: int = ITERSIZE) -> Iterator[dict[str, Any]]:
    """`stream_rows`, each row a dict keyed by the query's column names."""
    names: list[str] = []
    for r in stream_rows(conn, sql, itersize=itersize, names=names):
        yield dict(zip(names, r, strict=True))


def _columns(conn: Any, schema: str, table: str) -> list[str]:
    with closing(conn.cursor()) as cur:
        cur.execute(columns_sql(schema, table))
        names = [d[0] for d in cur.description or []]
        cur.fetchall()
    return names


def expected_rows(conn: Any, schema: str, spec: Any, target: str, as_of: datetime | None = None) -> Rows:
    """A fresh stream of the (key, row) pairs every item of `target` must match, per call (pass 1, pass 2), for a
    table that reflects the source up to `as_of` (interval loads of the spec's incremental table; None:
    everything)."""
    items = spec.items_of(target)
    key_names = [a.name for a in TableSpec.from_dict(spec.targets[target]).key_attrs]
    known = frozenset(columns_of(items, spec.type_attribute[target]))
    inc = spec.incremental

    def rows() -> Iterator[tuple[Any, dict[str, str]]]:
        for item in items:
            sql = rows_sql(item, schema, {t: _columns(conn, schema, t) for t in item.tables})
            if inc.table is not None:
                sql = cut_sql(sql, schema, inc.table, inc.field, None, as_of)
            for it in expected_items(item, stream_dicts(conn, sql), spec.column_types, spec.type_attribute[target],
                                     key_names):
                yield item_row(it, key_names, known)

    return rows


def actual_rows(client: Any, key_names: list[str], known: frozenset[str], physical_name: str, segments: int,
                page_size: int | None = None) -> Rows:
    """A fresh parallel Scan of `physical_name` as (key, row) pairs, per call."""
    def rows() -> Iterator[tuple[Any, dict[str, str]]]:
        for item in scan_items(physical_name, client=client, segments=segments, page_size=page_size):
            yield item_row(item, key_names, known)

    return rows


def drilled_rows(client: Any, key_names: list[str], known: frozenset[str], physical_name: str, segments: int,
                 drill: set[int], buckets: int, page_size: int | None = None) -> Rows:
    """The (key, row) pairs of the items in the `drill` buckets: a keys-only parallel Scan picks their keys,
    BatchGetItem reads them whole."""
    names = {f"#k{n}": k for n, k in enumerate(key_names)}

    def rows() -> Iterator[tuple[Any, dict[str, str]]]:
        keys = [{k: it[k] for k in key_names} for it in scan_items(
                    physical_name, client=client, segments=segments, page_size=page_size,
                    ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
                if bucket_of(item_key(it, key_names), buckets) in drill]
        for item in batch_get_items(physical_name, keys, client=client):
            yield item_row(item, key_names, known)

    return rows


@dataclass
class Timings:
    """Seconds spent per table: each side's pass 1 (they overlap), the whole pass 1, and the drill-down."""

    seconds: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {t: {k: round(v, 3) for k, v in s.items()} for t, s in self.seconds.items()}


def _timed_totals(rows: Rows, columns: tuple[str, ...], buckets: int) -> tuple[BucketTotals, float]:
    started = time.perf_counter()
    return totals(rows(), columns, buckets), time.perf_counter() - started


def reconcile_dynamodb(source_conn: Any, schema: str, client: Any, spec: Any, tables: Mapping[str, str], *,
                       segments: int = DEFAULT_SEGMENTS, buckets: int = DEFAULT_BUCKETS, max_diffs: int = 20,
                       max_drill_buckets: int = 64, timings: Timings | None = None,
                       as_of: Mapping[str, datetime | None] | None = None, page_size: int | None = None
                       ) -> dict[str, Reconciliation]:
    """Reconcile every item of each table in `tables` (spec target name → table name) with the source, by the
    declared design of `spec` (a `sql_to_dynamodb` spec).

    :param source_conn: a DB-API connection to the source (psycopg, pymssql); used by one query at a time.
    :param schema: the source schema (checked as a plain identifier).
    :param client: a boto3 DynamoDB client.
    :param segments: parallel Scan segments per table.
    :param page_size: items per Scan request (default DynamoDB's 1 MB pages).
    :param timings: filled with the seconds each phase took, if given.
    :param as_of: interval loads, per target: the latest end loaded (`connectors.dynamodb_load_log`); rows of the
        incremental table after it are not expected yet. None (or absent): the whole source.
    """
    unknown = sorted(set(tables) - set(spec.jobs))
    if unknown:
        raise ValueError(f"no reconciliation for {unknown}; the spec's targets: {list(spec.jobs)}")
    out: dict[str, Reconciliation] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-source") as pool:
        for target in (t for t in spec.jobs if t in tables):
            key_names = [a.name for a in TableSpec.from_dict(spec.targets[target]).key_attrs]
            columns = columns_of(spec.items_of(target), spec.type_attribute[target])
            known = frozenset(columns)
            expected = expected_rows(source_conn, schema, spec, target, (as_of or {}).get(target))
            actual = actual_rows(client, key_names, known, tables[target], segments, page_size)
            started = time.perf_counter()
            source = pool.submit(_timed_totals, expected, columns, buckets)  # overlaps with the scan below
            act, act_s = _timed_totals(actual, columns, buckets)
            exp, exp_s = source.result()
            pass_1 = time.perf_counter() - started
            drill = set(differing_buckets(exp, act)[:max_drill_buckets])  # the buckets drill_down reads
            rec = drill_down(target, exp, act, expected,
                             drilled_rows(client, key_names, known, tables[target], segments, drill, buckets,
                                          page_size), columns, max_diffs=max_diffs,
                             max_drill_buckets=max_drill_buckets)
            out[target] = rec
            drill_s = time.perf_counter() - started - pass_1
            if timings is not None:
                timings.seconds[target] = {"source": exp_s, "target": act_s, "pass_1": pass_1, "drill_down": drill_s}
            log.info("%s: %d expected, %d found, %d differing keys; source %.1f s, scan %.1f s, drill-down %.1f s",
                     target, rec.rows_expected, rec.rows_actual, rec.diff_count, exp_s, act_s, drill_s)
    return out
