"""What a relational source holds, asked of the source itself: each table's columns and types, its primary key.

A `sql_to_dynamodb` job names no table in code: it reads the tables its spec's items name, with the types the
source declares (`information_schema`, the same on PostgreSQL and SQL Server). `spark_type` maps a declared type
to the Spark type the readers give it (`connectors.sql_source.read_table` builds its rows to that schema). psycopg
only (the embedded PostgreSQL stand-in); a real SQL Server is read through Spark's JDBC source, which types the
columns itself, and Glue through its crawled catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TableShape", "all_tables", "foreign_keys", "spark_type", "table_shapes"]

_INTEGERS = {"smallint": "smallint", "integer": "int", "int": "int", "bigint": "bigint", "tinyint": "smallint"}
_TEXT = ("character varying", "varchar", "character", "char", "text", "nvarchar", "nchar", "ntext", "uuid",
         "uniqueidentifier", "json", "jsonb", "xml", "citext", "name")


def spark_type(data_type: str, precision: int | None = None, scale: int | None = None) -> str:
    """A declared column type (information_schema `data_type`, lower case) as a Spark type name (`decimal(10,2)`).

    numeric/decimal keep their precision and scale (unconstrained: decimal(38,10)); text-like types, and any type
    not listed, are read as text (the reader turns the driver's value into its text)."""
    t = data_type.lower().strip()
    if t in _INTEGERS:
        return _INTEGERS[t]
    if t in ("numeric", "decimal", "money", "smallmoney"):
        if precision is None:
            return "decimal(38,10)"
        return f"decimal({min(int(precision), 38)},{int(scale or 0)})"
    if t in ("real", "double precision", "float", "float4", "float8"):
        return "double"
    if t in ("boolean", "bit"):
        return "boolean"
    if t == "date":
        return "date"
    if t.startswith("timestamp") or t in ("datetime", "datetime2", "smalldatetime", "datetimeoffset"):
        return "timestamp"
    if t in ("bytea", "binary", "varbinary", "image"):
        return "binary"
    return "string"


@dataclass(frozen=True)
class TableShape:
    """One source table: its columns in order as (name, Spark type name), and its primary key's columns."""

    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...] = ()

    @property
    def split_column(self) -> str | None:
        """An integer primary-key column to split parallel reads on, if the key starts with one."""
        types = dict(self.columns)
        first = self.primary_key[0] if self.primary_key else None
        return first if first and types.get(first) in ("smallint", "int", "bigint") else None

    def declared(self, types: Mapping[str, str]) -> TableShape:
        """This shape with the types a spec declares for some columns (ValueError for a column it lacks)."""
        names = {n for n, _ in self.columns}
        missing = sorted(set(types) - names)
        if missing:
            raise ValueError(f"column_types names {missing}, which table {self.name} does not have ({sorted(names)})")
        return TableShape(self.name, tuple((n, types.get(n, t)) for n, t in self.columns), self.primary_key)

    def struct(self) -> Any:
        from pyspark.sql.types import StructField, StructType, _parse_datatype_string

        return StructType([StructField(n, _parse_datatype_string(t), True) for n, t in self.columns])


_COLUMNS_SQL = ("SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
                "FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, ordinal_position")
_KEYS_SQL = ("SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
             "JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
             "AND k.table_schema = c.table_schema AND k.table_name = c.table_name "
             "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = %s "
             "ORDER BY k.table_name, k.ordinal_position")


def shapes_from_rows(columns: Iterable[tuple[Any, ...]], keys: Iterable[tuple[Any, ...]]) -> dict[str, TableShape]:
    """`_COLUMNS_SQL` and `_KEYS_SQL` rows as TableShapes by table name."""
    cols: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type, precision, scale in columns:
        cols.setdefault(table, []).append((column, spark_type(data_type, precision, scale)))
    pk: dict[str, list[str]] = {}
    for table, column in keys:
        pk.setdefault(table, []).append(column)
    return {t: TableShape(t, tuple(c), tuple(pk.get(t, ()))) for t, c in cols.items()}


def table_shapes(conninfo: Mapping[str, Any], schema: str, tables: Iterable[str]) -> dict[str, TableShape]:
    """The shapes of `tables` in `schema` (psycopg `conninfo`, password included); ValueError naming any table
    the schema does not hold."""
    shapes = all_tables(conninfo, schema)
    wanted = list(dict.fromkeys(tables))
    missing = [t for t in wanted if t not in shapes]
    if missing:
        raise ValueError(f"source schema {schema} has no table(s) {missing}; it has {sorted(shapes)}")
    return {t: shapes[t] for t in wanted}


# foreign keys column by column, paired with the referenced key's columns (information_schema: PostgreSQL and SQL
# Server alike)
_FOREIGN_KEYS_SQL = (
    "SELECT kcu.constraint_name, kcu.table_name, kcu.column_name, pk.table_name, pk.column_name "
    "FROM information_schema.referential_constraints rc "
    "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name "
    "AND kcu.constraint_schema = rc.constraint_schema "
    "JOIN information_schema.key_column_usage pk ON pk.constraint_name = rc.unique_constraint_name "
    "AND pk.constraint_schema = rc.unique_constraint_schema "
    "AND pk.ordinal_position = kcu.position_in_unique_constraint "
    "WHERE kcu.table_schema = %s ORDER BY kcu.table_name, kcu.constraint_name, kcu.ordinal_position")


def foreign_keys(conninfo: Mapping[str, Any], schema: str) -> list[Any]:
    """The foreign keys of `schema` as `transforms.design_discovery.ForeignKey`s, in table and constraint order."""
    import psycopg

    from transforms.design_discovery import ForeignKey

    with psycopg.connect(**conninfo, application_name="dbmigrate-catalog") as conn:
        conn.read_only = True
        rows = conn.execute(_FOREIGN_KEYS_SQL, (schema,)).fetchall()
    grouped: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for name, table, column, parent, parent_column in rows:
        grouped.setdefault((table, name), []).append((column, parent, parent_column))
    return [ForeignKey(name, table, tuple(c for c, _, _ in cols), cols[0][1], tuple(p for _, _, p in cols))
            for (table, name), cols in grouped.items()]


def all_tables(conninfo: Mapping[str, Any], schema: str) -> dict[str, TableShape]:
    """Every table of `schema` (base tables and views alike), by name."""
    import psycopg

    with psycopg.connect(**conninfo, application_name="dbmigrate-catalog") as conn:
        conn.read_only = True
        return shapes_from_rows(conn.execute(_COLUMNS_SQL, (schema,)).fetchall(),
                                conn.execute(_KEYS_SQL, (schema,)).fetchall())
