"""The realistic baseline of the write phase: AWS's own Aurora DSQL loader's method (aws-samples/aurora-dsql-loader).

That loader does not COPY: it sends parameterised multi-row `INSERT … VALUES … ON CONFLICT DO UPDATE` statements,
each committed alone, from many concurrent connections. Written here as it does it, over the rows the job already
mapped (read back from the job's own load, every value as text, as the loader reads a CSV file): statements of
1,000 rows with bound parameters (PostgreSQL's `$n`, prepared once per shape on each connection), one commit per
statement, from `connections` threads each holding its own connection. Each table's key is its primary key.
`measure` loads into fresh copies of the tables at 2, 4 and 8 connections and reports each and the best.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import RawCursor, sql

from bench.common import drop_schema, fresh_schema

STATEMENT_ROWS = 1000
CONNECTIONS = (2, 4, 8)


@dataclass(frozen=True)
class TableRows:
    table: str
    columns: tuple[str, ...]  # the columns a row's values fill, in order: the lineage columns last
    key: tuple[str, ...]
    rows: list[tuple[str | None, ...]]


def read_rows(uri: str, schema: str, tables: Sequence[str]) -> list[TableRows]:
    """Every row of `tables` in `schema`, each value as its text (NULL as None), with the table's primary key."""
    from connectors.dsql_writer import LINEAGE_COLUMNS

    out = []
    with psycopg.connect(uri) as conn:
        for table in tables:
            names = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", [schema, table])]
            columns = (*(c for c in names if c not in LINEAGE_COLUMNS), *LINEAGE_COLUMNS)
            key = tuple(r[0] for r in conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
                [f"{schema}.{table}"]))
            text = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
            rows = conn.execute(sql.SQL("SELECT {} FROM {}").format(text, sql.Identifier(schema, table))).fetchall()
            out.append(TableRows(table, columns, key, rows))
    return out


def statement(schema: str, t: TableRows, rows: int) -> str:
    """INSERT … VALUES ($1, …), … × rows ON CONFLICT (key) DO UPDATE SET every other column = EXCLUDED, every
    column of every row its own parameter (the loader reads each row's values from its file, lineage too): the
    job's statement shape (`upsert_statement`) without its version guard or shared lineage parameters."""
    from connectors.dsql_writer import upsert_statement

    return upsert_statement(schema, t.table, t.columns, t.key, rows, lineage=False)


def load(uri: str, schema: str, tables: Sequence[TableRows], connections: int) -> float:
    """Every row into `schema`'s (empty) tables, `STATEMENT_ROWS` a statement, each its own transaction, from
    `connections` concurrent connections: seconds."""
    batches = [(t, i) for t in tables for i in range(0, len(t.rows), STATEMENT_ROWS)]
    local = threading.local()
    opened: list[Any] = []
    lock = threading.Lock()

    def send(batch: tuple[TableRows, int]) -> int:
        t, start = batch
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(uri, autocommit=True, cursor_factory=RawCursor)
            with lock:
                opened.append(conn)
        rows = t.rows[start:start + STATEMENT_ROWS]
        params = [v for row in rows for v in row]
        conn.execute(statement(schema, t, len(rows)), params, prepare=True)
        return len(rows)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=connections) as pool:
            sent = sum(pool.map(send, batches))
    finally:
        for conn in opened:
            conn.close()
    seconds = time.perf_counter() - started
    expected = sum(len(t.rows) for t in tables)
    if sent != expected:
        raise RuntimeError(f"the loader sent {sent} rows of {expected}")
    return seconds


def count_rows(uri: str, schema: str, tables: Sequence[str]) -> int:
    with psycopg.connect(uri) as conn:
        return sum(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, t))).fetchone()[0]
                   for t in tables)


def measure(uri: str, source_schema: str, table_names: Sequence[str], repeats: int) -> dict[str, Any]:
    """The job's rows loaded by the loader's method into fresh tables at each connection count, `repeats` times
    alternated: the median per count, and the best count's."""
    tables = read_rows(uri, source_schema, table_names)
    runs: dict[int, list[float]] = {n: [] for n in CONNECTIONS}
    for _ in range(repeats):
        for n in CONNECTIONS:
            schema = fresh_schema(uri, "bench_loader")
            try:
                runs[n].append(load(uri, schema, tables, n))
                landed = count_rows(uri, schema, table_names)
                if landed != sum(len(t.rows) for t in tables):
                    raise RuntimeError(f"the loader's {n} connections left {landed} rows in {schema}")
            finally:
                drop_schema(uri, schema)
            print(f"bench:   DSQL loader's method, {n} connections: {runs[n][-1]:.2f}s", flush=True)
    medians = {n: statistics.median(s) for n, s in runs.items()}
    best = min(medians, key=medians.__getitem__)
    return {"rows": sum(len(t.rows) for t in tables), "statement_rows": STATEMENT_ROWS, "runs": runs,
            "medians": medians, "best_connections": best, "best_s": medians[best]}
