"""Source column types as the relational jobs read them: integers kept exact whatever type a source declares them
with (a DOUBLE PRECISION or NUMERIC id), a non-integral value never rounded but marked (`BAD_TYPE_COLUMN`) so its
row is a `bad_type` reject, and a DataFrame conformed to the types a job expects (`conform_struct`). Pure: only
pyspark, imported lazily."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

__all__ = ["BAD_TYPE_COLUMN", "INTEGER_TYPES", "SPARK_TYPE", "coerce_integral", "conform_struct", "declared_integers",
           "integer_bound", "integral_source_type"]

# The column both readers add: None for a good row, else which integer column(s) held a non-integral value.
BAD_TYPE_COLUMN = "_bad_type"
INTEGER_TYPES = ("smallint", "int", "bigint")
# the Spark types a spec may declare a source column as (`column_types`)
SPARK_TYPE = r"^(smallint|int|bigint|double|boolean|date|timestamp|string|decimal\(\d{1,2},\d{1,2}\))$"
# Declared type names (PostgreSQL, SQL Server, Glue Data Catalog; lower case, without precision) whose values
# can be read as integers when each value is integral.
_INTEGRAL_SOURCE_TYPES = frozenset({
    "smallint", "integer", "int", "bigint", "int2", "int4", "int8", "tinyint", "serial", "bigserial",
    "numeric", "decimal", "double precision", "float8", "float4", "real", "float", "double", "number", "long",
    "short", "byte",
})


def declared_integers(types: Mapping[str, str]) -> list[str]:
    """The columns of `types` (column → Spark type name, as a spec's `column_types` gives them) that hold integers."""
    return [c for c, t in types.items() if t in INTEGER_TYPES or (t.startswith("decimal(") and t.endswith(",0)"))]


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


def conform_struct(df: DataFrame, struct: StructType, integers: Iterable[str]) -> DataFrame:
    """`df` (e.g. a crawled Data Catalog table) as `struct` plus `BAD_TYPE_COLUMN`, columns cast; `integers` are
    the columns that hold integers whatever the source declares.

    Column names are matched case-insensitively (the crawler lower-cases them); a missing column raises
    ValueError naming it. SQL Server `bit` (boolean in the catalog) casts to 0/1 for `sold_out`. An integer
    column read as a floating or decimal type keeps integral values exactly; a non-integral value (or NaN,
    an infinity) is set to null and named in `BAD_TYPE_COLUMN` (`column=value`), so the job rejects the row
    instead of a cast truncating it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    by_lower = {c.lower(): c for c in df.columns}
    missing = [f.name for f in struct.fields if f.name not in by_lower]
    if missing:
        raise ValueError(f"the source table has no column(s) {missing}; it has {df.columns}")
    source_types = {f.name: f.dataType for f in df.schema.fields}
    integers = set(integers)
    columns, bad = [], []
    for f in struct.fields:
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
