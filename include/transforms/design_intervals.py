"""Interval loads of a declared design: which rows of each item type a load of one window writes or deletes.

The incremental table (`incremental.table`, cut by `incremental.field`) is read only up to what the target will
hold (the latest end loaded, this window's included). Item types made from it write the window's rows, and rewrite
the rows outside it whose derived values the window changes (the previous latest row of a group the window adds
to, the later rows of a numbered log it inserts into): they are derived twice, over every row and over the rows
outside the window alone (what the loads before it left), and written where the two differ. Every other item type
names the rows of its `from` table a window touches (`touched_by`, Spark SQL over `{window}` and the source
tables) and writes those items; where a touched row no longer makes an item (a ticket sold: no longer available)
its key is deleted. The first load of a table writes those item types whole (`touched_by` is for later loads), as
does `touched_by: all` on every load. No I/O beyond Spark; pyspark imported lazily.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

from transforms.design_plan import REWRITTEN, SCOPE_KEEP, derive
from transforms.design_spec import ItemType

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["WINDOW_VIEW", "TouchedScope", "WindowScope", "anomaly_counts", "before", "tables_named", "touched_rows"]

WINDOW_VIEW = "src__window"  # the window's rows of the incremental table, `{window}` in `touched_by`
_IN_WINDOW = "_in_window"
_PREVIOUS = "_previous_"


def _at(text: str) -> Column:
    from pyspark.sql import functions as F

    return F.to_timestamp(F.lit(text))


def in_window(column: Column, start: str | None, end: str | None) -> Column:
    """`start <= column < end` (bounds as `intervals.sql_timestamp` text, read in the session's UTC); a NULL
    value is in no window."""
    from pyspark.sql import functions as F

    cond = column.isNotNull()
    if start is not None:
        cond = cond & (column >= _at(start))
    if end is not None:
        cond = cond & (column < _at(end))
    return F.coalesce(cond, F.lit(False))


def before(df: DataFrame, field: str, end: str | None) -> DataFrame:
    """The rows of the incremental table a target holding the source up to `end` reflects (None: all)."""
    from pyspark.sql import functions as F

    return df if end is None else df.where(F.col(f"`{field}`") < _at(end))


@dataclass(frozen=True)
class WindowScope:
    """The rows of an item type made from the incremental table that a load of `[start, end)` writes: the
    window's own, and those outside it whose derived columns the window changes (`REWRITTEN`)."""

    field: str
    start: str | None
    end: str | None

    def mark(self, df: DataFrame, item: ItemType) -> DataFrame:
        from pyspark.sql import functions as F

        df = df.withColumn(_IN_WINDOW, in_window(F.col(f"`{self.field}`"), self.start, self.end))
        changed: Column = F.lit(False)
        if item.derived:
            df = derive(df, item, within=[F.col(_IN_WINDOW)], prefix=_PREVIOUS)
            changed = reduce(lambda a, b: a | b, [~F.col(f"`{d.name}`").eqNullSafe(F.col(_PREVIOUS + d.name))
                                                  for d in item.derived])
        return (df.withColumn(SCOPE_KEEP, F.col(_IN_WINDOW) | changed).withColumn(REWRITTEN, ~F.col(_IN_WINDOW))
                .drop(_IN_WINDOW, *(_PREVIOUS + d.name for d in item.derived)))


@dataclass(frozen=True)
class TouchedScope:
    """The rows of an item type's `from` table whose columns equal a row of `rows` (`touched_rows`)."""

    rows: Any  # DataFrame

    def mark(self, df: DataFrame, item: ItemType) -> DataFrame:
        del item
        return df.join(self.rows, list(self.rows.columns), "left_semi")


def _with_window(sql: str) -> str:
    return sql.replace("{window}", WINDOW_VIEW)


def touched_rows(spark: SparkSession, item: ItemType, columns: Sequence[str]) -> DataFrame:
    """The distinct rows `item.touched_by` returns, each column one of its `from` table's `columns`."""
    assert item.touched_by is not None
    df = spark.sql(_with_window(item.touched_by))
    unknown = sorted(set(df.columns) - set(columns))
    if unknown:
        raise ValueError(f"item type {item.name}: touched_by returns {unknown}, which are no columns of "
                         f"{item.table} ({list(columns)})")
    return df.dropna(how="all").distinct()


def tables_named(sql: str, tables: Iterable[str]) -> list[str]:
    """Of `tables`, those `sql` names (as a word): what a `touched_by` or anomaly query reads."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))
    return [t for t in tables if t in words]


def anomaly_counts(spark: SparkSession, anomalies: Iterable[Any], examples: int) -> Mapping[str, dict[str, Any]]:
    """Per declared anomaly (`spec_dynamodb.Anomaly`): how many rows its query returns, and the first `examples`
    of their `key` (in key order); every anomaly in one Spark job."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    frames = []
    for a in anomalies:
        df = spark.sql(_with_window(a.sql))
        if "key" not in df.columns:
            raise ValueError(f"anomaly {a.name}: its sql must return a `key` column, got {df.columns}")
        frames.append(df.select(F.lit(a.name).alias("name"), F.col("key").cast("string").alias("key")))
    if not frames:
        return {}
    rows = reduce(lambda x, y: x.unionByName(y), frames)
    by_name = Window.partitionBy("name")
    firsts = (rows.withColumn("count", F.count(F.lit(1)).over(by_name))
              .withColumn("n", F.row_number().over(by_name.orderBy(F.col("key").asc_nulls_first())))
              .where(F.col("n") <= examples).collect())
    out: dict[str, dict[str, Any]] = {a.name: {"count": 0, "examples": []} for a in anomalies}
    for r in sorted(firsts, key=lambda r: (r["name"], r["n"])):
        out[r["name"]]["count"] = int(r["count"])
        out[r["name"]]["examples"].append(r["key"])
    return out
