"""Which windows of the source the target holds: one row per finished load in `<schema>.dbmigrate_loads`.

Interval loads only ever add records up to their window's end, and the target keeps the newest version of each
row whichever order they ran in, so the target reflects the source up to the latest end any load reached (no end:
a full load, everything). The validators compare against exactly that (`loaded_windows`). No Airflow imports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from connectors.dsql import table_exists
from transforms.intervals import Window

LOADS_TABLE = "dbmigrate_loads"


def record_load(conn: Any, schema: str, *, run_id: str, dag_id: str, source_uri: str, window: Window) -> bool:
    """Note that `run_id` loaded `window` of `source_uri` (a rerun of a run id replaces its row); False when the
    schema has no load log (its DDL predates it)."""
    if not table_exists(conn, schema, LOADS_TABLE):
        return False
    statement = sql.SQL(
        "INSERT INTO {} (run_id, dag_id, source_uri, window_start, window_end, loaded_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET source_uri = EXCLUDED.source_uri, "
        "window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end, loaded_at = EXCLUDED.loaded_at"
    ).format(sql.Identifier(schema, LOADS_TABLE))
    with conn.transaction():
        conn.execute(statement, [run_id, dag_id, source_uri, window.start, window.end, datetime.now(UTC)])
    return True


def loaded_windows(conn: Any, schema: str, source_uri: str) -> list[Window]:
    """Every window of `source_uri` a finished load logged (none when the schema has no load log). What the
    target holds is `intervals.covered` of their ends, what it lacks `intervals.gaps` of them."""
    if not table_exists(conn, schema, LOADS_TABLE):
        return []
    rows = conn.execute(sql.SQL("SELECT window_start, window_end FROM {} WHERE source_uri = %s").format(
        sql.Identifier(schema, LOADS_TABLE)), [source_uri]).fetchall()
    return [Window(start, end) for start, end in rows]


def last_source(conn: Any, schema: str, dag_id: str) -> tuple[str, str] | None:
    """`(source_uri, run_id)` of the latest finished load of `dag_id` into `schema`; None before the first (or
    without a load log). Interval loads of one target must read one source: their windows add up to it."""
    if not table_exists(conn, schema, LOADS_TABLE):
        return None
    row = conn.execute(sql.SQL("SELECT source_uri, run_id FROM {} WHERE dag_id = %s ORDER BY loaded_at DESC LIMIT 1"
                               ).format(sql.Identifier(schema, LOADS_TABLE)), [dag_id]).fetchone()
    return None if row is None else (row[0], row[1])
