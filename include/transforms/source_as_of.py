"""The source as a target loaded by intervals reflects it: the incremental table cut to a window, in the source's SQL.

An interval load leaves a table holding the incremental table's rows up to the latest end loaded (and the state
tables as they are now). The validators ask the source what the table must hold, so every query they send reads
the incremental table through a common table expression of the same name holding only those rows: the spec's SQL
(`{schema}.table`) and the validators' own (`"schema"."table"`) alike, unchanged otherwise. PostgreSQL and SQL
Server both read it. Pure Python.
"""

from __future__ import annotations

import re
from datetime import datetime

from transforms.identifiers import check_identifier, quoted
from transforms.intervals import sql_timestamp

__all__ = ["cut_sql"]


def cut_sql(sql: str, schema: str, table: str, field: str, start: datetime | None = None,
            end: datetime | None = None) -> str:
    """`sql` (its schema already written in, `design_checks.schema_sql`) reading `schema.table` only where
    `start <= field < end` (a NULL `field` in no cut window); unchanged for no bounds."""
    if start is None and end is None:
        return sql
    check_identifier(field)
    ref = re.compile(re.escape(quoted(schema)) + r"\.(?:" + re.escape(quoted(table)) + "|" + re.escape(table)
                     + r"\b)")
    if not ref.search(sql):
        return sql
    cuts = [f"{field} >= '{sql_timestamp(start)}'"] if start else []
    cuts += [f"{field} < '{sql_timestamp(end)}'"] if end else []
    cte = f"{table} AS (SELECT * FROM {quoted(schema, table)} WHERE {' AND '.join(cuts)})"
    body = ref.sub(table, sql).lstrip()
    if body[:5].upper() == "WITH ":
        return f"WITH {cte}, {body[5:]}"
    return f"WITH {cte} {body}"
