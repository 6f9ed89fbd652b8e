"""Idempotent upserts into Aurora DSQL from Spark executors, in transactions DSQL accepts.

Each partition opens its own connection (IAM token on DSQL, password on the stand-in), cuts each table's rows
into transactions of at most `batch_rows` rows and `batch_bytes` bytes (DSQL: 3,000 rows, 10 MiB), and
retries a transaction that loses an optimistic-concurrency conflict (SQLSTATE 40001, raised at COMMIT) or
its connection (replayed on a new one). A transaction is one multi-row `INSERT … ON CONFLICT (key) DO UPDATE`
(several when the rows need more than PostgreSQL's 65,535 bind parameters): one statement for the server to
plan and one round trip, instead of one per row. Rows are upserted on their primary key, so a replayed
transaction or a re-run load updates rows instead of duplicating them. Each replay is logged as a warning (the
executor's log on EMR).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from psycopg import RawCursor, sql

from connectors.dsql import DsqlTarget, RecyclingConnection, run_with_retry
from transforms.batching import CHILDREN, Batcher, rows_in

LINEAGE_COLUMNS = ("migration_run_id", "migrated_at")
MAX_BIND_PARAMETERS = 65535  # the wire protocol's limit per statement
MAX_STATEMENT_ROWS = 1000  # keeps a statement's text near 100 KB however many rows a transaction holds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableWrite:
    """Where one entity's rows go: the table, the columns a row fills (lineage excluded) and its primary key;
    `version_column`, when set, guards each update: a stored row with a greater version is kept."""

    table: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    version_column: str | None = None
    children: tuple[tuple[str, TableWrite], ...] = ()  # (child name, its table): rows under `row[CHILDREN]`


@lru_cache(maxsize=64)
def stale_children_statement(schema: str, child: TableWrite, parent: TableWrite) -> str:
    """DELETE the child rows of the parents `$1` (uuids) that their parent's row no longer holds: of a parent this
    write updated (`migrated_at = $2`, `migration_run_id = $3`), every child row it did not write (a re-exported
    document keeps its `_id`, so its version, and may hold fewer elements); of any parent, child rows older than
    it (what an older document, read after a newer one, just inserted)."""
    (parent_key,) = parent.key_columns
    return sql.SQL(
        'DELETE FROM {c} AS c WHERE c.{fk} = ANY($1::uuid[]) AND ('
        'c.{v} IS NULL OR c.{v} COLLATE "C" < (SELECT p.{v} FROM {p} AS p WHERE p.{pk} = c.{fk}) COLLATE "C" '
        'OR ((c.migrated_at IS DISTINCT FROM $2 OR c.migration_run_id IS DISTINCT FROM $3) AND EXISTS ('
        'SELECT 1 FROM {p} AS p WHERE p.{pk} = c.{fk} AND p.migrated_at = $2 AND p.migration_run_id = $3)))'
    ).format(c=sql.Identifier(schema, child.table), fk=sql.Identifier(child.key_columns[0]),
             v=sql.Identifier(child.version_column or "source_version"), p=sql.Identifier(schema, parent.table),
             pk=sql.Identifier(parent_key)).as_string(None)


@lru_cache(maxsize=256)
def upsert_statement(schema: str, table: str, columns: tuple[str, ...], key_columns: tuple[str, ...],
                     rows: int = 1, version_column: str | None = None, lineage: bool = True) -> str:
    """INSERT ... VALUES ($1, …), … × `rows` ON CONFLICT (key) DO UPDATE SET every other column, lineage included.

    The lineage columns (`lineage`) are the same for every row of a write, so every row names the same two
    parameters, after the rows' values: the server parses the run's id and timestamp once a statement instead of
    once a row, and the client sends two values instead of two a row. With `version_column` the update only
    happens where the stored version is NULL (a row loaded before there were versions) or at most the new one,
    compared byte by byte (`COLLATE "C"`, DSQL's only collation): the row of the greatest `_id` stays whichever
    interval loads last. PostgreSQL's own `$n` placeholders, run through a `psycopg.RawCursor`: psycopg parses
    `%s` placeholders of long statements on every call (it caches only short ones), which cost more than the
    server's whole work. Rendered once per shape (cached).
    """
    cols = [*columns, *LINEAGE_COLUMNS] if lineage else list(columns)
    updates = [c for c in cols if c not in key_columns]
    width = len(columns)
    shared = "".join(f", ${rows * width + i + 1}" for i in range(len(LINEAGE_COLUMNS))) if lineage else ""
    values = ", ".join("(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + shared + ")"
                       for r in range(rows))
    guard = sql.SQL("")
    if version_column is not None:
        guard = sql.SQL(' WHERE t.{v} IS NULL OR t.{v} COLLATE "C" <= EXCLUDED.{v} COLLATE "C"').format(
            v=sql.Identifier(version_column))
    return sql.SQL("INSERT INTO {t} AS t ({cols}) VALUES {vals} ON CONFLICT ({keys}) DO UPDATE SET {sets}{guard}"
                   ).format(
        t=sql.Identifier(schema, table),
        cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
        vals=sql.SQL(values),
        keys=sql.SQL(", ").join(map(sql.Identifier, key_columns)),
        sets=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates),
        guard=guard,
    ).as_string(None)


@lru_cache(maxsize=256)
def values_of(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values in `columns`' order, as a tuple: `operator.itemgetter`, in C (a generator per row cost more
    than the statement's send)."""
    get = itemgetter(*columns)
    return get if len(columns) > 1 else lambda row: (get(row),)


def _last_per_key(values: list[tuple[Any, ...]], key_at: tuple[int, ...]) -> list[tuple[Any, ...]]:
    """One row per key, the last one: what row-by-row upserts would leave, and what one INSERT ... ON CONFLICT
    needs (it cannot update a row twice)."""
    by_key = dict(zip(map(itemgetter(*key_at), values), values, strict=True))
    return list(by_key.values()) if len(by_key) < len(values) else values


def upsert_tables(rows: Iterable[tuple[str, dict[str, Any] | tuple[Any, ...]]], *, tables: Mapping[str, TableWrite],
                  target: DsqlTarget, schema: str, run_id: str, batch_rows: int, batch_bytes: int,
                  attempts: int = 6, base_delay_s: float = 0.05,
                  on_commit: Callable[[str, int], None] | None = None, connections: int = 1) -> dict[str, int]:
    """Upsert `(name, row)` pairs, each into `tables[name]` (a row: a dict, or the tuple of its values in the table's
    `columns` order, `transforms.row_tuples`), from `connections` concurrent connections (threads,
    each batch committed on whichever is free, at most two batches a connection in flight: how AWS's DSQL loader
    keeps the server busy while a task builds its next batches); return rows written per name.

    Every row gets `migration_run_id = run_id` and one `migrated_at` for the whole call. Each table's rows are
    batched on their own; each batch is one transaction, tried at most `attempts` times (backoff from
    `base_delay_s`, see `run_with_retry`); a batch that still fails raises, and the batches committed before it
    stay (a re-run upserts them again). `on_commit(name, n)` is called after each committed batch (progress).
    A table with `children` writes each row's child rows (`row[CHILDREN]`) in the row's transaction, the
    batches counting them against `batch_rows`, and reports them under the child's name.
    """
    migrated_at = datetime.now(UTC)
    lineage = (run_id, migrated_at)  # LINEAGE_COLUMNS' values, shared by every row
    written = dict.fromkeys([*tables, *(c for t in tables.values() for c, _ in t.children)], 0)
    batchers = {name: Batcher[Any](batch_rows, batch_bytes, rows_of=rows_in if t.children else None)
                for name, t in tables.items()}
    lock = threading.Lock()
    idle: queue.SimpleQueue[RecyclingConnection] = queue.SimpleQueue()
    opened = [RecyclingConnection(target, autocommit=True) for _ in range(max(connections, 1))]
    for c in opened:
        idle.put(c)
    try:

        def statements(t: TableWrite, rows: list[Any]) -> list[tuple[str, list[Any]]]:
            """The INSERT … ON CONFLICT statements (with their parameters) of `rows` of one table."""
            key_at = tuple(t.columns.index(k) for k in t.key_columns)
            get = values_of(t.columns)
            values = _last_per_key([r if type(r) is tuple else get(r) for r in rows], key_at)
            per_statement = max(min((MAX_BIND_PARAMETERS - len(LINEAGE_COLUMNS)) // len(t.columns),
                                    MAX_STATEMENT_ROWS), 1)
            return [(upsert_statement(schema, t.table, t.columns, t.key_columns, len(chunk), t.version_column),
                     [*chain.from_iterable(chunk), *lineage])
                    for chunk in (values[i:i + per_statement] for i in range(0, len(values), per_statement))]

        def commit(name: str, batch: list[dict[str, Any]]) -> None:
            t = tables[name]
            todo = statements(t, batch)
            child_rows: dict[str, int] = {}
            if t.children:  # the parents, then their child rows, then the child rows older than their parent
                parents = [r[t.key_columns[0]] for r in batch]
                for child_name, child in t.children:
                    rows = [c for r in batch for c in r[CHILDREN][child_name]]
                    child_rows[child_name] = len(rows)
                    todo += statements(child, rows) if rows else []
                    todo.append((stale_children_statement(schema, child, t), [parents, migrated_at, run_id]))

            def commit_batch() -> None:
                pool = idle.get()
                try:
                    conn = pool.get()
                    # one statement is its own transaction (autocommit): no BEGIN and COMMIT round trips
                    with conn.transaction() if len(todo) > 1 else nullcontext(), RawCursor(conn) as cur:
                        for stmt, params in todo:
                            cur.execute(stmt, params)
                finally:
                    idle.put(pool)

            def log_retry(attempt: int, exc: BaseException, delay: float) -> None:
                log.warning("upsert into %s.%s: batch of %d rows failed on attempt %d/%d (%s: %s); "
                            "replaying it in %.2fs", schema, t.table, len(batch), attempt, attempts,
                            type(exc).__name__, str(exc).strip(), delay)

            run_with_retry(commit_batch, attempts=attempts, base_delay_s=base_delay_s, on_retry=log_retry)
            with lock:
                for n, k in [(name, len(batch)), *child_rows.items()]:
                    written[n] += k
                    if on_commit is not None:
                        on_commit(n, k)

        def batches() -> Iterator[tuple[str, list[dict[str, Any]]]]:
            for name, row in rows:
                if (full := batchers[name].add(row)) is not None:
                    yield name, full
            for name, batcher in batchers.items():
                if (rest := batcher.flush()) is not None:
                    yield name, rest

        if connections <= 1:
            for name, batch in batches():
                commit(name, batch)
        else:
            in_flight: set[Future[None]] = set()
            with ThreadPoolExecutor(max_workers=connections) as workers:
                for name, batch in batches():
                    if len(in_flight) >= 2 * connections:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        for f in done:
                            f.result()  # a batch that failed every attempt raises here
                    in_flight.add(workers.submit(commit, name, batch))
                for f in in_flight:
                    f.result()
    finally:
        for c in opened:
            c.close()
    return written


def upsert_rows(rows: Iterable[dict[str, Any]], *, target: DsqlTarget, schema: str, table: str,
                columns: Sequence[str], key_columns: Sequence[str], run_id: str, batch_rows: int,
                batch_bytes: int, attempts: int = 6, base_delay_s: float = 0.05) -> int:
    """Upsert `rows` (dicts holding `columns`) of one table and return how many were written (`upsert_tables`)."""
    spec = TableWrite(table, tuple(columns), tuple(key_columns))
    return upsert_tables(((table, r) for r in rows), tables={table: spec}, target=target, schema=schema,
                         run_id=run_id, batch_rows=batch_rows, batch_bytes=batch_bytes, attempts=attempts,
                         base_delay_s=base_delay_s)[table]
