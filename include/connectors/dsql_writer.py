"""Idempotent upserts into Aurora DSQL from Spark executors, in transactions DSQL accepts.

Each partition opens its own connection (IAM token on DSQL, password on the stand-in), cuts its rows
into transactions of at most `batch_rows` rows and `batch_bytes` bytes (DSQL: 3,000 rows, 10 MiB), and
retries a transaction that loses an optimistic-concurrency conflict (SQLSTATE 40001, raised at COMMIT) or
its connection (replayed on a new one). Rows are upserted on their primary key, so a replayed transaction
or a re-run load updates rows instead of duplicating them. Each replay is logged as a warning (the
executor's log on EMR).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from connectors.dsql import DsqlTarget, RecyclingConnection, run_with_retry
from transforms.batching import batches

LINEAGE_COLUMNS = ("migration_run_id", "migrated_at")

log = logging.getLogger(__name__)


def upsert_statement(schema: str, table: str, columns: Sequence[str], key_columns: Sequence[str]) -> sql.Composed:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET every other column, lineage included."""
    cols = [*columns, *LINEAGE_COLUMNS]
    updates = [c for c in cols if c not in key_columns]
    return sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT ({keys}) DO UPDATE SET {sets}").format(
        t=sql.Identifier(schema, table),
        cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        keys=sql.SQL(", ").join(map(sql.Identifier, key_columns)),
        sets=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates),
    )


def upsert_rows(rows: Iterable[dict[str, Any]], *, target: DsqlTarget, schema: str, table: str,
                columns: Sequence[str], key_columns: Sequence[str], run_id: str, batch_rows: int,
                batch_bytes: int, attempts: int = 6, base_delay_s: float = 0.05) -> int:
    """Upsert `rows` (dicts holding `columns`) and return how many were written.

    Every row gets `migration_run_id = run_id` and one `migrated_at` for the whole call. Each batch is one
    transaction, tried at most `attempts` times (backoff from `base_delay_s`, see `run_with_retry`); a batch
    that still fails raises, and the batches committed before it stay (a re-run upserts them again).
    """
    stmt = upsert_statement(schema, table, columns, key_columns)
    migrated_at = datetime.now(UTC)
    written = 0
    with RecyclingConnection(target) as pool:
        for batch in batches(rows, batch_rows, batch_bytes):
            values = [(*(r[c] for c in columns), run_id, migrated_at) for r in batch]

            def commit_batch(values: list[tuple[Any, ...]] = values) -> None:
                conn = pool.get()
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(stmt, values)

            def log_retry(attempt: int, exc: BaseException, delay: float, n: int = len(batch)) -> None:
                log.warning("upsert into %s.%s: batch of %d rows failed on attempt %d/%d (%s: %s); "
                            "replaying it in %.2fs", schema, table, n, attempt, attempts,
                            type(exc).__name__, str(exc).strip(), delay)

            run_with_retry(commit_batch, attempts=attempts, base_delay_s=base_delay_s, on_retry=log_retry)
            written += len(batch)
    return written
