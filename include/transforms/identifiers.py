"""SQL identifiers, one rule everywhere: a plain name is checked once, then always quoted, never folded.

The Spark jobs (psycopg `sql.Identifier`, Spark JDBC) and the validators (DB-API hooks of SQL Server and
PostgreSQL) used to disagree on case: one quoted `DMS_SAMPLE`, the other let PostgreSQL fold it to
`dms_sample`. Now a run resolves the schema a user names against the source's own catalog once
(`SCHEMA_LOOKUP_SQL`, `pick_schema`: case-insensitive, as SQL Server compares names and as an unquoted
PostgreSQL name means), and every reader quotes the catalog's spelling. ANSI double quotes are what
psycopg writes and what SQL Server reads (QUOTED_IDENTIFIER is on for its drivers). Pure Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# Both PostgreSQL and SQL Server have INFORMATION_SCHEMA.SCHEMATA; `%s` is the paramstyle of psycopg and pymssql.
SCHEMA_LOOKUP_SQL = "SELECT schema_name FROM information_schema.schemata WHERE lower(schema_name) = lower(%s)"


def check_identifier(name: str) -> str:
    """`name` if it is a plain identifier (letters, digits, `_`; at most 63, PostgreSQL's limit), else ValueError."""
    if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r} (letters, digits and _, not starting with a digit)")
    return name


def quoted(*parts: str) -> str:
    """`"schema"."table"`: each part checked and quoted, so its case is kept exactly (psycopg's `sql.Identifier`
    writes the same text)."""
    return ".".join(f'"{check_identifier(p)}"' for p in parts)


# The catalogs' own schemas: PostgreSQL's and SQL Server's system schemas and fixed database roles. A migration
# never reads them: a run naming one is refused before it takes a lock, ensures a table or starts a job.
SYSTEM_SCHEMAS = frozenset({
    "pg_catalog", "information_schema", "pg_toast", "sys", "guest", "db_owner", "db_accessadmin",
    "db_securityadmin", "db_ddladmin", "db_backupoperator", "db_datareader", "db_datawriter", "db_denydatareader",
    "db_denydatawriter"})


def check_user_schema(name: str) -> str:
    """`name` (`check_identifier`) unless it is a system schema (`SYSTEM_SCHEMAS`, `pg_temp_*`, `pg_toast_*`)."""
    check_identifier(name)
    low = name.lower()
    if low in SYSTEM_SCHEMAS or low.startswith(("pg_temp", "pg_toast")):
        raise ValueError(f"{name!r} is a system schema: a migration reads the tables of a user schema")
    return name


def pick_schema(requested: str, found: Iterable[str]) -> str:
    """The catalog's spelling of `requested`, from the names `SCHEMA_LOOKUP_SQL` found.

    An exact match wins; else exactly one name equal but for case; else a ValueError that says what exists.
    """
    check_identifier(requested)
    names = sorted(set(found))
    if requested in names:
        return requested
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError(f"schema {requested!r} does not exist in the source")
    raise ValueError(f"schema {requested!r} is ambiguous in the source: {names} differ only in case; name one exactly")
