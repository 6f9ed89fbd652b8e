"""Lines that carry no time, quarantined once per source: `<schema>.dbmigrate_timeless`.

An interval run places a document by its interval field; a line that cannot be read, or whose field holds no time,
belongs to no interval, so every interval run of a daily schedule would meet it again, quarantine it again and
count it against that day's reject ratio (a quiet day: "6 of 6 rejected"). So the first interval run that meets
such a line quarantines it and records it here, keyed by its content (`transforms.source_text.content_digest`);
later interval runs of the same source skip it and say how many they met again. A rerun of the run that recorded a
line (same run id) quarantines it again, as its first try did. Loads without a window map every document, as they
always did. The table's DDL: include/sql/movie_db/100_dbmigrate_timeless.sql. No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from connectors.dsql import run_with_retry, table_exists

TIMELESS_TABLE = "dbmigrate_timeless"
INSERT_BATCH = 1000  # rows per transaction (DSQL: at most 3,000 modified rows per transaction)


def known_timeless(conn: Any, schema: str, source_uri: str, run_id: str) -> set[str] | None:
    """The digests of `source_uri`'s timeless lines that runs other than `run_id` quarantined; None when the schema
    has no such table (its DDL predates it: every interval run quarantines them, as before)."""
    if not table_exists(conn, schema, TIMELESS_TABLE):
        return None
    query = sql.SQL("SELECT digest FROM {} WHERE source_uri = %s AND first_run <> %s").format(
        sql.Identifier(schema, TIMELESS_TABLE))
    return {row[0] for row in conn.execute(query, [source_uri, run_id]).fetchall()}


def recorded_by(conn: Any, schema: str, source_uri: str, run_id: str) -> int | None:
    """How many timeless lines of `source_uri` `run_id` recorded (None: no table)."""
    if not table_exists(conn, schema, TIMELESS_TABLE):
        return None
    query = sql.SQL("SELECT count(*) FROM {} WHERE source_uri = %s AND first_run = %s").format(
        sql.Identifier(schema, TIMELESS_TABLE))
    return int(conn.execute(query, [source_uri, run_id]).fetchone()[0])


def record_timeless(conn: Any, schema: str, source_uri: str, run_id: str, lines: Iterable[tuple[str, str]]) -> int:
    """Record `(digest, reason)` pairs as quarantined by `run_id`; a digest another run recorded keeps its first
    run. `INSERT_BATCH` rows a transaction, each retried on a conflict. Returns how many rows were new."""
    rows = sorted(set(lines))
    now = datetime.now(UTC)
    table = sql.Identifier(schema, TIMELESS_TABLE)
    added = 0
    for i in range(0, len(rows), INSERT_BATCH):
        batch = rows[i:i + INSERT_BATCH]
        statement = sql.SQL("INSERT INTO {} (source_uri, digest, reason, first_run, recorded_at) VALUES {} "
                            "ON CONFLICT (source_uri, digest) DO NOTHING").format(
            table, sql.SQL(", ").join(sql.SQL("(%s, %s, %s, %s, %s)") for _ in batch))
        params = [v for digest, reason in batch for v in (source_uri, digest, reason, run_id, now)]

        def insert(s: Any = statement, p: list[Any] = params) -> int:
            with conn.transaction():
                return conn.execute(s, p).rowcount

        added += run_with_retry(insert)
    return added
