"""The pending area: relationship documents parked in the target schema until the entities they point at land.

A backfill loads a collection interval by interval, and a link (`movie_actor`) may be older than the actor it
names. Such a document is an orphan of its run; rejecting it for good would make a backfill lose rows a full
load keeps. So the job parks it in `<schema>.dbmigrate_pending` (include/sql/movie_db/080_dbmigrate_pending.sql),
every later run reads the parked documents back into its input, and a document leaves the table in the run
where it lands. A full load and a backfill of the same data end with the same pending set: the documents whose
ends exist nowhere. No Airflow imports (runs in the job's driver and executors).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from psycopg import sql

from connectors.dsql import DsqlTarget, connect, run_with_retry, table_exists
from connectors.dsql_writer import TableWrite
from transforms.mongo_to_dsql import PARKED_WHERE

PENDING_TABLE = "dbmigrate_pending"
PENDING_WRITE = TableWrite(PENDING_TABLE, ("entity", "source_key", "source_version", "missing_key", "document",
                                           "source_where"), ("entity", "source_key"), "source_version")
DELETE_BATCH = 1000  # keys per DELETE transaction (DSQL: at most 3,000 modified rows per transaction)
# The names a job's write pass gives the documents it parks (`pending_row`): this run's orphans, and parked
# documents still orphaned, parked again; both go to `PENDING_WRITE`, counted apart.
PARKED, PARKED_AGAIN = "pending", "pending_again"


def has_table(target: DsqlTarget, schema: str) -> bool:
    """Whether the schema has a pending table (its DDL from 080 on)."""
    with connect(target, autocommit=True) as conn:
        return table_exists(conn, schema, PENDING_TABLE)


def read_parked(target: DsqlTarget, schema: str) -> list[tuple[str, str, str, str]]:
    """Every parked document: `(entity, source key, text, where)`, in key order; none without a pending table."""
    with connect(target, autocommit=True) as conn:
        if not table_exists(conn, schema, PENDING_TABLE):
            return []
        query = sql.SQL("SELECT entity, source_key, document, source_where FROM {} ORDER BY entity, source_key"
                        ).format(sql.Identifier(schema, PENDING_TABLE))
        return [(e, k, doc, f"{PARKED_WHERE}{where})") for e, k, doc, where in
                conn.execute(query).fetchall()]


def pending_row(name: str, row: tuple[str, str, str, str, str, str | None]) -> tuple[str, dict[str, Any]]:
    """`(name, row)` for `upsert_tables` of one parked document `(entity, source key, version, missing key, text,
    where)`, `name` being `PARKED` or `PARKED_AGAIN`: the job's write pass parks them with its rows (a parked
    document with a greater version is kept)."""
    return name, dict(zip(PENDING_WRITE.columns, row, strict=True))


def release(keys: Iterable[tuple[str, str]], *, target: DsqlTarget, schema: str) -> int:
    """Delete the parked documents of `keys` (`(entity, source key)`), `DELETE_BATCH` keys a transaction, each
    retried on an optimistic-concurrency conflict. Returns how many rows were deleted."""
    ordered = sorted(set(keys))
    if not ordered:
        return 0
    table = sql.Identifier(schema, PENDING_TABLE)
    deleted = 0
    with connect(target, autocommit=False) as conn:
        for batch in _chunks(ordered, DELETE_BATCH):
            statement = sql.SQL("DELETE FROM {} WHERE (entity, source_key) IN ({})").format(
                table, sql.SQL(", ").join(sql.SQL("(%s, %s)") for _ in batch))

            def delete(b: list[tuple[str, str]] = batch, s: Any = statement) -> int:
                with conn.transaction():
                    return conn.execute(s, [v for key in b for v in key]).rowcount

            deleted += run_with_retry(delete)
    return deleted


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
