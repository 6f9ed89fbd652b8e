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

from decimal import Decimal
from typing import TYPE_CHECKING, Any

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

# The column both readers add: None for a good row, else which integer column(s) held a non-integral value.
BAD_TYPE_COLUMN = "_bad_type"
_INTEGER_TYPES = ("int", "bigint", "smallint")


def integer_columns(table: str) -> tuple[str, ...]:
    """The columns of `table` that hold integers (ids, counts, levels): int, bigint, smallint, decimal(p,0)."""
    return tuple(c for c, t in COLUMN_TYPES[table] if t in _INTEGER_TYPES or (t.startswith("decimal(")
                                                                              and t.endswith(",0)")))


# Declared type names (PostgreSQL, SQL Server, Glue Data Catalog; lower case, without precision) whose values
# can be read as integers when each value is integral.
_INTEGRAL_SOURCE_TYPES = frozenset({
    "smallint", "integer", "int", "bigint", "int2", "int4", "int8", "tinyint", "serial", "bigserial",
    "numeric", "decimal", "double precision", "float8", "float4", "real", "float", "double", "number", "long",
    "short", "byte",
})


def integral_source_type(type_name: str) -> bool:
    """Whether a column declared `type_name` may hold an integer id or count (`NUMERIC(10,0)`, `float`, ...).

    Decimal types with a scale other than 0 qualify too: their values are checked one by one
    (`coerce_integral`), as every declared type is.
    """
    base = type_name.strip().lower().split("(", 1)[0].strip()
    return base in _INTEGRAL_SOURCE_TYPES


def integer_bound(data_type: Any) -> int:
    """A Spark integer type's values are below this in absolute value (decimal(p,0): 10**p)."""
    name = type(data_type).__name__
    if name == "DecimalType":
        return 10 ** data_type.precision
    return {"ByteType": 2**7, "ShortType": 2**15, "IntegerType": 2**31}.get(name, 2**63)


def coerce_integral(value: Any) -> int:
    """The exact integer `value` holds (an int, an integral float or Decimal); ValueError for anything else.

    Never rounds: 4.5, NaN and infinities raise. A float is converted exactly (1e18 → 10**18).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        raise ValueError(f"{value} is not an integer")
    raise ValueError(f"{value!r} ({type(value).__name__}) is not an integer")

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
    """`df` (e.g. a crawled Data Catalog table) as `struct_of(table)` plus `BAD_TYPE_COLUMN`, columns cast.

    Column names are matched case-insensitively (the crawler lower-cases them); a missing column raises
    ValueError naming it. SQL Server `bit` (boolean in the catalog) casts to 0/1 for `sold_out`. An integer
    column read as a floating or decimal type keeps integral values exactly; a non-integral value (or NaN,
    an infinity) is set to null and named in `BAD_TYPE_COLUMN` (`column=value`), so the job rejects the row
    instead of a cast truncating it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    by_lower = {c.lower(): c for c in df.columns}
    missing = [f.name for f in struct_of(table).fields if f.name not in by_lower]
    if missing:
        raise ValueError(f"source table {table} has no column(s) {missing}; it has {df.columns}")
    source_types = {f.name: f.dataType for f in df.schema.fields}
    integers = set(integer_columns(table))
    columns, bad = [], []
    for f in struct_of(table).fields:
        c = F.col(by_lower[f.name])
        source_type = source_types[by_lower[f.name]]
        exact = isinstance(source_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)) or (
            isinstance(source_type, T.DecimalType) and source_type.scale == 0)
        if f.name not in integers or exact:
            columns.append(c.cast(f.dataType).alias(f.name))
            continue
        if isinstance(source_type, (T.DoubleType, T.FloatType)):
            d = c.cast("double")
            not_integral = F.isnan(d) | (F.abs(d) == float("inf")) | (d != F.floor(d))
        else:
            d = c.cast(T.DecimalType(38, 10))
            not_integral = d.isNull() | (d != F.floor(d))
        bound = float(integer_bound(f.dataType))
        is_bad = c.isNotNull() & (not_integral | (F.abs(d.cast("double")) >= bound))  # or beyond the type's range
        columns.append(F.when(is_bad, F.lit(None)).otherwise(d.cast(f.dataType)).cast(f.dataType).alias(f.name))
        bad.append(F.when(is_bad, F.concat(F.lit(f"{f.name}="), c.cast("string"))))
    text = F.concat_ws("; ", *bad) if bad else F.lit("")
    return df.select(*columns, F.when(text == "", F.lit(None)).otherwise(text).cast("string").alias(BAD_TYPE_COLUMN))
