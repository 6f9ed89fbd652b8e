"""Reconcile every item of the dms_sample DynamoDB tables with the SQL source: the I/O around the pure parts.

Expected: the source streamed through one DB-API connection (psycopg's server-side cursors, or a driver's own
row streaming with `fetchmany`: pymssql on SQL Server), one query after the other, re-mapped by
`transforms.ticketing_reconcile`. Actual: a parallel Scan of each table (`connectors.dynamodb_scan`). Both
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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.dynamodb_scan import DEFAULT_SEGMENTS, batch_get_items, scan_items
from transforms.reconcile import (
    DEFAULT_BUCKETS,
    BucketTotals,
    Reconciliation,
    bucket_of,
    differing_buckets,
    drill_down,
    totals,
)
from transforms.ticketing_checks import KEY_NAMES
from transforms.ticketing_reconcile import (
    COLUMNS,
    TABLES,
    Dimensions,
    available_sql,
    config_sql,
    dimension_sql,
    expected_config_items,
    expected_ticket_sales_items,
    held_sql,
    history_sql,
    item_key,
    item_row,
)

__all__ = ["ITERSIZE", "Timings", "expected_rows", "reconcile_dynamodb", "stream_rows"]

ITERSIZE = 5000  # rows per round trip of the source cursor
log = logging.getLogger(__name__)
Rows = Callable[[], Iterator[tuple[Any, dict[str, str]]]]


def stream_rows(conn: Any, sql: str, *, itersize: int = ITERSIZE) -> Iterator[tuple[Any, ...]]:
    """The rows of `sql` as tuples, `itersize` at a time, never the whole result in memory.

    psycopg (3 or 2): a server-side (named) cursor, WITH HOLD when the connection is in autocommit; other
    drivers (pymssql) stream a plain cursor's result as it is fetched. PostgreSQL plans a cursor for its first
    10% of rows (`cursor_tuple_fraction`), which turns the joins of `history_sql` into nested loops over whole
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
            yield from rows
    finally:
        cursor.close()


def load_dimensions(conn: Any, schema: str) -> Dimensions:
    """The small source tables (events, teams, venues, leagues) in dicts."""
    return Dimensions.from_rows({t: stream_rows(conn, sql) for t, sql in dimension_sql(schema).items()})


def expected_rows(conn: Any, schema: str, table: str, dims: Dimensions, as_of: datetime | None = None) -> Rows:
    """A fresh stream of the (key, row) pairs every item of `table` must match, per call (pass 1, pass 2), for a
    target that reflects the source up to `as_of` (None: everything)."""
    def rows() -> Iterator[tuple[Any, dict[str, str]]]:
        if table == "ticket_sales":
            items = expected_ticket_sales_items(stream_rows(conn, history_sql(schema, as_of)),
                                                stream_rows(conn, available_sql(schema)),
                                                stream_rows(conn, held_sql(schema, as_of)), dims)
        else:
            items = expected_config_items({t: stream_rows(conn, sql) for t, sql in config_sql(schema).items()},
                                          dims.leagues)
        for item in items:
            yield item_row(table, item)

    return rows


def actual_rows(client: Any, table: str, physical_name: str, segments: int, page_size: int | None = None) -> Rows:
    """A fresh parallel Scan of `physical_name` as (key, row) pairs, per call."""
    def rows() -> Iterator[tuple[Any, dict[str, str]]]:
        for item in scan_items(physical_name, client=client, segments=segments, page_size=page_size):
            yield item_row(table, item)

    return rows


def drilled_rows(client: Any, table: str, physical_name: str, segments: int, drill: set[int], buckets: int,
                 page_size: int | None = None) -> Rows:
    """The (key, row) pairs of the items in the `drill` buckets: a keys-only parallel Scan picks their keys,
    BatchGetItem reads them whole."""
    pk, sk = KEY_NAMES[table]

    def rows() -> Iterator[tuple[Any, dict[str, str]]]:
        keys = [{pk: it[pk], sk: it[sk]} for it in scan_items(
                    physical_name, client=client, segments=segments, page_size=page_size,
                    ProjectionExpression="#k, #s",
                    ExpressionAttributeNames={"#k": pk, "#s": sk})
                if bucket_of(item_key(table, it), buckets) in drill]
        for item in batch_get_items(physical_name, keys, client=client):
            yield item_row(table, item)

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


def reconcile_dynamodb(source_conn: Any, schema: str, client: Any, tables: Mapping[str, str], *,
                       segments: int = DEFAULT_SEGMENTS, buckets: int = DEFAULT_BUCKETS, max_diffs: int = 20,
                       max_drill_buckets: int = 64, timings: Timings | None = None,
                       as_of: datetime | None = None, page_size: int | None = None) -> dict[str, Reconciliation]:
    """Reconcile every item of each table in `tables` (spec target name → table name) with the source.

    :param source_conn: a DB-API connection to the source (psycopg, pymssql); used by one query at a time.
    :param schema: the source schema (checked as a plain identifier).
    :param client: a boto3 DynamoDB client.
    :param segments: parallel Scan segments per table.
    :param page_size: items per Scan request (default DynamoDB's 1 MB pages).
    :param timings: filled with the seconds each phase took, if given.
    :param as_of: interval loads: the latest end loaded (`connectors.dynamodb_load_log`); history after it is
        not expected yet. None: the whole source.
    """
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"no reconciliation for {unknown}; known tables: {list(TABLES)}")
    started = time.perf_counter()
    dims = load_dimensions(source_conn, schema)
    if timings is not None:
        timings.seconds["dimensions"] = {"read": time.perf_counter() - started}
    out: dict[str, Reconciliation] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-source") as pool:
        for table in (t for t in TABLES if t in tables):
            columns = COLUMNS[table]
            expected = expected_rows(source_conn, schema, table, dims, as_of)
            actual = actual_rows(client, table, tables[table], segments, page_size)
            started = time.perf_counter()
            source = pool.submit(_timed_totals, expected, columns, buckets)  # overlaps with the scan below
            act, act_s = _timed_totals(actual, columns, buckets)
            exp, exp_s = source.result()
            pass_1 = time.perf_counter() - started
            drill = set(differing_buckets(exp, act)[:max_drill_buckets])  # the buckets drill_down reads
            rec = drill_down(table, exp, act, expected,
                             drilled_rows(client, table, tables[table], segments, drill, buckets, page_size), columns,
                             max_diffs=max_diffs, max_drill_buckets=max_drill_buckets)
            out[table] = rec
            drill_s = time.perf_counter() - started - pass_1
            if timings is not None:
                timings.seconds[table] = {"source": exp_s, "target": act_s, "pass_1": pass_1, "drill_down": drill_s}
            log.info("%s: %d expected, %d found, %d differing keys; source %.1f s, scan %.1f s, drill-down %.1f s",
                     table, rec.rows_expected, rec.rows_actual, rec.diff_count, exp_s, act_s, drill_s)
    return out
