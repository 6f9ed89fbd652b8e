"""Read a PostgreSQL table into Spark in parallel, with psycopg on the executors (no JDBC driver needed).

The embedded stack has no JDBC driver jar, so `read_table` spreads partition numbers 0..n-1 over the
executors and each one opens its own psycopg connection and streams its share of the rows
(`abs(mod(split_column, n)) = i`) through a server-side cursor; the driver never holds rows. Tables
without an integer split column are read by a single task. A real SQL Server (docker compose) is read by
`read_table_jdbc`, Spark's JDBC source with Microsoft's driver. On AWS, Glue reads the crawled Data Catalog
tables instead. psycopg only (imported on the executors), no Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connectors.storage import read_secret
from transforms.identifiers import quoted
from transforms.source_types import BAD_TYPE_COLUMN, coerce_integral, integer_bound

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["ITERSIZE", "jdbc_options", "read_table", "read_table_jdbc", "source_conninfo"]

ITERSIZE = 5000  # rows per round trip of the server-side cursor
_INTEGRAL = ("ShortType", "IntegerType", "LongType", "ByteType")


def source_conninfo(conninfo: Mapping[str, Any], password_file: str | None) -> dict[str, Any]:
    """psycopg connection keywords: `conninfo` (host, port, user, dbname, ...) plus the password read from
    `password_file` on this (driver) process, if given (`connectors.storage.read_secret`)."""
    out = {k: v for k, v in conninfo.items() if v is not None}
    if "password" in out:
        raise ValueError("conninfo must not carry a password; give the file holding it (password_file)")
    if password_file:
        try:
            out["password"] = read_secret(password_file)
        except OSError as err:
            raise ValueError(f"the source password file cannot be read: {err}") from None
    return out


def _is_integral(data_type: Any) -> bool:
    return type(data_type).__name__ in _INTEGRAL or (
        type(data_type).__name__ == "DecimalType" and data_type.scale == 0)


def _row_converter(struct: StructType) -> Callable[[tuple], tuple]:
    """Each row as `struct` plus `BAD_TYPE_COLUMN`.

    Integer columns (`_is_integral`) take whatever the source declared (`DOUBLE PRECISION`, `NUMERIC`) as the
    exact integer it holds (`coerce_integral`); a non-integral value, or one beyond the column's range, is set to
    None and named in the last column, so the job rejects the row (`bad_type`) instead of failing or rounding.
    Text columns take any other value as its text (a uuid, a json document as JSON).
    Naive timestamps are wall-clock values of a zone-less source column: marked UTC so that Spark (whose session
    time zone is UTC in these jobs) keeps the wall clock whatever the machine's zone is.
    """
    ts = [i for i, f in enumerate(struct.fields) if type(f.dataType).__name__ == "TimestampType"]
    texts = [i for i, f in enumerate(struct.fields) if type(f.dataType).__name__ == "StringType"]
    integers = [(i, f.name, type(f.dataType).__name__ == "DecimalType", integer_bound(f.dataType))
                for i, f in enumerate(struct.fields) if _is_integral(f.dataType)]

    def convert(row: tuple) -> tuple:
        out = list(row)
        for i in ts:
            v = out[i]
            if isinstance(v, datetime) and v.tzinfo is None:
                out[i] = v.replace(tzinfo=UTC)
        for i in texts:  # a type read as text (uuid, json, xml): its text, never a Python repr of a structure
            v = out[i]
            if v is not None and not isinstance(v, str):
                out[i] = json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v)
        bad = []
        for i, name, as_decimal, bound in integers:
            v = out[i]
            if v is None:
                continue
            try:
                n = coerce_integral(v)
                if abs(n) >= bound:
                    raise ValueError(f"{v} is out of range")
            except ValueError:
                bad.append(f"{name}={v}")
                out[i] = None
                continue
            out[i] = Decimal(n) if as_decimal else n
        out.append("; ".join(bad) or None)
        return tuple(out)

    return convert


def _partition_reader(conninfo: dict[str, Any], schema: str, table: str, columns: list[str],
                      split_column: str | None, partitions: int, convert: Callable[[tuple], tuple],
                      itersize: int) -> Callable[[Iterable[int]], Iterator[tuple]]:
    def read(indices: Iterable[int]) -> Iterator[tuple]:
        import psycopg
        from psycopg import sql

        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table))
        for i in indices:
            params: tuple[Any, ...] = ()
            if split_column is not None and partitions > 1:
                col = sql.Identifier(split_column)
                # floor(numeric): an id declared DOUBLE PRECISION or NUMERIC splits too, a non-integral one as well
                split = sql.SQL("abs(mod(floor(CAST({} AS numeric)), %s))").format(col)
                if i == 0:  # the rest goes to the first partition: NULL, NaN (which no `= i` matches)
                    where = sql.SQL(" WHERE ({} IS NULL OR NOT ({} BETWEEN 1 AND %s))").format(col, split)
                    query_i, params = query + where, (partitions, partitions - 1)
                else:
                    query_i, params = query + sql.SQL(" WHERE {} = %s").format(split), (partitions, i)
            else:
                query_i = query
            with psycopg.connect(**conninfo, application_name=f"dbmigrate-read-{table}-{i}") as conn:
                conn.read_only = True
                with conn.cursor(name=f"dbmigrate_read_{i}") as cur:
                    cur.itersize = itersize
                    cur.execute(query_i, params)
                    for row in cur:
                        yield convert(row)

    return read


def read_table(spark: SparkSession, *, conninfo: Mapping[str, Any], password_file: str | None, schema: str,
               table: str, struct: StructType, partitions: int, split_column: str | None,
               itersize: int = ITERSIZE) -> DataFrame:
    """`schema.table` as a DataFrame of `struct` (its field names are the columns read, in order) plus
    `BAD_TYPE_COLUMN` (`_row_converter`: integer columns are read from any numeric source type).

    The rows are read by `partitions` Spark tasks, task i reading `abs(mod(split_column, partitions)) = i`
    (plus NULL split values for i = 0), each over its own psycopg connection and server-side cursor; with
    `split_column` None (or `partitions` 1) one task reads the whole table. Lazy: nothing is read until an
    action runs, and every action reads again (cache the result to read once).

    :param conninfo: psycopg connection keywords without the password (host, port, user, dbname, ...).
    :param password_file: file holding the password, read here on the driver (the executors get it with the
        partition reader, never through their environment); None for no password.
    :param struct: Spark schema; values must fit it (numeric → Decimal, timestamp → datetime, date → date).
    :param split_column: an integer column of `struct` to split on, or None.
    """
    from pyspark.sql.types import StringType, StructField, StructType

    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    columns = [f.name for f in struct.fields]
    if split_column is not None:
        fields = {f.name: f.dataType for f in struct.fields}
        if split_column not in fields:
            raise ValueError(f"split column {split_column!r} is not a column of {table} ({columns})")
        if not _is_integral(fields[split_column]):
            raise ValueError(f"split column {table}.{split_column} must be an integer column, "
                             f"got {fields[split_column].simpleString()}")
    else:
        partitions = 1
    reader = _partition_reader(source_conninfo(conninfo, password_file), schema, table, columns, split_column,
                               partitions, _row_converter(struct), itersize)
    rdd = spark.sparkContext.parallelize(range(partitions), partitions).mapPartitions(reader)
    return spark.createDataFrame(rdd, StructType([*struct.fields, StructField(BAD_TYPE_COLUMN, StringType(), True)]))


def jdbc_options(source: Mapping[str, Any], password_file: str | None) -> dict[str, str]:
    """Spark JDBC options for `source` (`jdbc_url`, `driver`, `user`), the password read from `password_file`.

    `preferTimestampNTZ`: columns without a time zone (SQL Server `datetime2`, PostgreSQL `timestamp`) are
    read as wall-clock values, not through the JVM's default zone; `conform` then casts them in the session
    zone (UTC in these jobs), as `read_table` marks naive timestamps UTC.
    """
    missing = [k for k in ("jdbc_url", "driver") if not source.get(k)]
    if missing:
        raise ValueError(f"a JDBC source needs {missing}; got keys {sorted(source)}")
    if "password" in source:
        raise ValueError("the source JSON must not carry a password; give the file holding it")
    return {"url": source["jdbc_url"], "driver": source["driver"], "user": source.get("user") or "",
            "password": source_conninfo({}, password_file).get("password", ""), "fetchsize": str(ITERSIZE),
            "preferTimestampNTZ": "true"}


def read_table_jdbc(spark: SparkSession, *, source: Mapping[str, Any], password_file: str | None, schema: str,
                    table: str, partitions: int, split_column: str | None) -> DataFrame:
    """`schema.table` through Spark's JDBC source (a real SQL Server, or any database with a JDBC driver).

    `source` holds `jdbc_url`, `driver` and `user`; the password from `password_file`.
    With an integer `split_column` and `partitions` > 1, Spark runs `partitions` queries, each reading one
    stride of the column between its min and max (rows outside the bounds and NULLs go to the first and last
    partition, so none is lost); otherwise one query reads the table. Lazy like `read_table`.
    The columns come with the driver's types: the job makes them the spec's (`transforms.source_types.
    conform_struct`). The driver's jar must be on Spark's classpath (`--packages` or `--jars`).
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    options = jdbc_options(source, password_file)
    name = quoted(schema, table)  # as `read_table` quotes it: case kept (transforms.identifiers)
    if split_column and partitions > 1:
        bounds = (spark.read.format("jdbc").options(**options)
                  .option("query", f"SELECT min({split_column}) AS lo, max({split_column}) AS hi FROM {name}")
                  .load().first())
        if bounds is not None and bounds["lo"] is not None:
            options.update(partitionColumn=split_column, lowerBound=str(bounds["lo"]),
                           upperBound=str(bounds["hi"]), numPartitions=str(partitions))
    return spark.read.format("jdbc").options(**options).option("dbtable", name).load()
