"""The dms_sample source tables as Spark schemas, and which tables each DynamoDB item set reads.

Column names and order are exactly `generators.dms_sample.TABLES` (the DDL order); Spark types follow the
source types: bigint → LongType, int → IntegerType, smallint (bit) → ShortType, numeric(8,2) →
DecimalType(8,2), numeric(1) → DecimalType(1,0), timestamp / datetime2 → TimestampType, date → DateType,
varchar → StringType.

Real sources declare the integer columns in other ways: AWS's PostgreSQL port of dms_sample uses `DOUBLE
PRECISION` and `NUMERIC` ids, SQL Server `int`/`bigint`/`numeric`/`float`, the Glue catalog `int`, `bigint`,
`double` or `decimal`. Whatever the declared type (`integral_source_type`), a value of an integer column is
read as the exact integer it is (`coerce_integral`); a value that is not integral (4.5, NaN) is never rounded:
its row is a `bad_type` reject, marked in `BAD_TYPE_COLUMN` by both readers.

The embedded-stack reader (`connectors.sql_source.read_table`) builds DataFrames
with these schemas; on Glue, `conform` casts a crawled Data Catalog table to the same schema, so the item
building sees identical columns either way. Pure: only pyspark, imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transforms.source_types import (  # noqa: F401 - the names this module has always offered
    BAD_TYPE_COLUMN,
    coerce_integral,
    conform_struct,
    integer_bound,
    integral_source_type,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

__all__ = ["BAD_TYPE_COLUMN", "COLUMN_TYPES", "ITEM_SET_TABLES", "SPLIT_COLUMNS", "TABLES", "coerce_integral",
           "conform", "integer_bound", "integer_columns", "integral_source_type", "read_schema",
           "struct_of"]

# table → ((column, type name), ...) in DDL order; type names are those of `_spark_type`
COLUMN_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "sport_type": (("name", "string"), ("description", "string")),
    "sport_league": (("sport_type_name", "string"), ("short_name", "string"), ("long_name", "string"),
                     ("description", "string")),
    "sport_division": (("sport_type_name", "string"), ("sport_league_short_name", "string"),
                       ("short_name", "string"), ("long_name", "string"), ("description", "string")),
    "seat_type": (("name", "string"), ("description", "string"), ("relative_quality", "int")),
    "sport_location": (("id", "int"), ("name", "string"), ("city", "string"), ("seating_capacity", "int"),
                       ("levels", "int"), ("sections", "int")),
    "seat": (("sport_location_id", "int"), ("seat_level", "decimal(1,0)"), ("seat_section", "string"),
             ("seat_row", "string"), ("seat", "string"), ("seat_type", "string")),
    "sport_team": (("id", "int"), ("name", "string"), ("abbreviated_name", "string"), ("home_field_id", "int"),
                   ("sport_type_name", "string"), ("sport_league_short_name", "string"),
                   ("sport_division_short_name", "string")),
    "player": (("id", "int"), ("sport_team_id", "int"), ("last_name", "string"), ("first_name", "string"),
               ("full_name", "string")),
    "person": (("id", "int"), ("full_name", "string"), ("last_name", "string"), ("first_name", "string")),
    "sporting_event": (("id", "bigint"), ("sport_type_name", "string"), ("home_team_id", "int"),
                       ("away_team_id", "int"), ("location_id", "int"), ("start_date_time", "timestamp"),
                       ("start_date", "date"), ("sold_out", "smallint")),
    "sporting_event_ticket": (("id", "bigint"), ("sporting_event_id", "bigint"), ("sport_location_id", "int"),
                              ("seat_level", "decimal(1,0)"), ("seat_section", "string"), ("seat_row", "string"),
                              ("seat", "string"), ("ticketholder_id", "int"), ("ticket_price", "decimal(8,2)")),
    "ticket_purchase_hist": (("sporting_event_ticket_id", "bigint"), ("purchased_by_id", "int"),
                             ("transaction_date_time", "timestamp"), ("transferred_from_id", "int"),
                             ("purchase_price", "decimal(8,2)")),
}

TABLES: dict[str, tuple[str, ...]] = {t: tuple(c for c, _ in cols) for t, cols in COLUMN_TYPES.items()}

_INTEGER_TYPES = ("int", "bigint", "smallint")


def integer_columns(table: str) -> tuple[str, ...]:
    """The columns of `table` that hold integers (ids, counts, levels): int, bigint, smallint, decimal(p,0)."""
    return tuple(c for c, t in COLUMN_TYPES[table] if t in _INTEGER_TYPES or (t.startswith("decimal(")
                                                                              and t.endswith(",0)")))


# The source tables each item set is built from (the arguments of ticketing.ticket_sales_items / config_items).
ITEM_SET_TABLES: dict[str, tuple[str, ...]] = {
    "ticket_sales": ("ticket_purchase_hist", "sporting_event_ticket", "sporting_event", "sport_team",
                     "sport_location", "person"),
    "config": ("person", "sport_team", "sport_type", "sport_location", "sport_league", "sport_division"),
}

# Integer column to split parallel reads on (`mod(column, n) = i`); tables not listed are read whole.
SPLIT_COLUMNS: dict[str, str] = {
    "ticket_purchase_hist": "sporting_event_ticket_id",
    "sporting_event_ticket": "id",
    "sporting_event": "id",
    "person": "id",
    "seat": "sport_location_id",
    "player": "id",
}


def _spark_type(name: str) -> DataType:
    from pyspark.sql import types as T

    simple = {"string": T.StringType, "int": T.IntegerType, "bigint": T.LongType, "smallint": T.ShortType,
              "timestamp": T.TimestampType, "date": T.DateType}
    if name in simple:
        return simple[name]()
    if name.startswith("decimal("):
        precision, scale = (int(x) for x in name[len("decimal("):-1].split(","))
        return T.DecimalType(precision, scale)
    raise ValueError(f"unknown column type {name!r}")


def struct_of(table: str) -> StructType:
    """The Spark schema of source `table` (every column nullable, as JDBC and the Data Catalog give them)."""
    from pyspark.sql.types import StructField, StructType

    try:
        columns = COLUMN_TYPES[table]
    except KeyError:
        raise ValueError(f"unknown dms_sample table {table!r}; known: {sorted(COLUMN_TYPES)}") from None
    return StructType([StructField(name, _spark_type(type_name), True) for name, type_name in columns])


def read_schema(table: str) -> StructType:
    """What both readers return for `table`: `struct_of(table)` and `BAD_TYPE_COLUMN`."""
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([*struct_of(table).fields, StructField(BAD_TYPE_COLUMN, StringType(), True)])


def conform(df: DataFrame, table: str) -> DataFrame:
    """`df` (e.g. a crawled Data Catalog table) as `struct_of(table)` plus `BAD_TYPE_COLUMN`
    (`transforms.source_types.conform_struct`). SQL Server `bit` (boolean in the catalog) casts to 0/1 for
    `sold_out`."""
    return conform_struct(df, struct_of(table), integer_columns(table))
