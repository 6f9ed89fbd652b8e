"""connectors.sql_source.read_table: parallel psycopg reads of the dms_sample PostgreSQL copy on the executors."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pyspark.sql import functions as F
from pyspark.sql import types as T

from connectors.sql_source import read_table, source_conninfo
from generators import dms_sample
from transforms.dms_sample_schema import BAD_TYPE_COLUMN, SPLIT_COLUMNS, conform, read_schema, struct_of

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def source_uri() -> str:
    return os.environ["LOCAL_SOURCE_SQL_URI"]


@pytest.fixture(scope="module")
def schema(source_uri: str) -> Iterator[str]:
    """A small generated dms_sample in a throwaway schema, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    dms_sample.load(source_uri, schema=name, scale=0.2)
    yield name
    with psycopg.connect(source_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def conninfo(source_uri: str) -> dict[str, Any]:
    """Connection keywords without the password (the password file is `password_file`)."""
    info = psycopg.conninfo.conninfo_to_dict(source_uri)
    info.pop("password", None)
    return info


@pytest.fixture(scope="module")
def password_file(source_uri: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("secret") / "source_password"
    path.write_text(str(psycopg.conninfo.conninfo_to_dict(source_uri).get("password", "")) + "\n")
    return str(path)


def source_rows(source_uri: str, schema: str, table: str) -> list[tuple]:
    cols = [f.name for f in struct_of(table).fields]
    with psycopg.connect(source_uri) as conn:
        return conn.execute(sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(schema, table))).fetchall()


def spark_rows(df: Any) -> list[tuple]:
    """Collected rows, timestamps rendered in the session zone (UTC) so the machine's zone cannot matter."""
    cols = [F.date_format(f.name, "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(f.name)
            if isinstance(f.dataType, T.TimestampType) else F.col(f.name) for f in df.schema.fields]
    return [tuple(r) for r in df.select(*cols).collect()]


def pg_comparable(row: tuple) -> tuple:
    return tuple(f"{v:%Y-%m-%d %H:%M:%S.%f}" if isinstance(v, datetime) else v for v in row)


@pytest.mark.parametrize("table", ["ticket_purchase_hist", "sporting_event_ticket", "sporting_event", "person"])
def test_parallel_read_returns_every_row_once(spark, source_uri, schema, conninfo, password_file, table):
    df = read_table(spark, conninfo=conninfo, password_file=password_file, schema=schema, table=table,
                    struct=struct_of(table), partitions=3, split_column=SPLIT_COLUMNS[table])
    assert df.rdd.getNumPartitions() == 3
    assert df.schema == read_schema(table)
    assert df.where(F.col(BAD_TYPE_COLUMN).isNotNull()).count() == 0
    got = Counter(spark_rows(df.drop(BAD_TYPE_COLUMN)))
    want = Counter(pg_comparable(r) for r in source_rows(source_uri, schema, table))
    assert sum(want.values()) > 0
    assert got == want
    assert max(got.values()) == 1  # every row exactly once (they have primary keys)
    sizes = df.rdd.glom().map(len).collect()
    assert len(sizes) == 3 and all(s > 0 for s in sizes), sizes


def test_values_have_the_struct_types(spark, schema, conninfo, source_uri, password_file):
    df = read_table(spark, conninfo=conninfo, password_file=password_file, schema=schema,
                    table="sporting_event_ticket", struct=struct_of("sporting_event_ticket"), partitions=2,
                    split_column="id")
    row = df.where(F.col("id") > 2**31).orderBy("id").first()
    assert isinstance(row["id"], int) and row["id"] > 2**31  # bigint ids stay exact
    assert isinstance(row["ticket_price"], Decimal) and row["ticket_price"].as_tuple().exponent == -2
    assert isinstance(row["seat_level"], Decimal)
    assert isinstance(row["seat"], str)
    ev = read_table(spark, conninfo=conninfo, password_file=password_file, schema=schema, table="sporting_event",
                    struct=struct_of("sporting_event"), partitions=2, split_column="id")
    first = ev.orderBy("id").first()
    assert isinstance(first["start_date"], date) and isinstance(first["start_date_time"], datetime)
    assert isinstance(first["sold_out"], int)
    # the wall clock survives (session time zone UTC)
    with psycopg.connect(source_uri) as conn:
        want = conn.execute(sql.SQL("SELECT start_date_time FROM {} WHERE id = %s").format(
            sql.Identifier(schema, "sporting_event")), (first["id"],)).fetchone()[0]
    got = ev.where(F.col("id") == first["id"]).select(
        F.date_format("start_date_time", "yyyy-MM-dd HH:mm:ss").alias("t")).first()["t"]
    assert got == f"{want:%Y-%m-%d %H:%M:%S}"


def test_table_without_split_column_is_one_partition(spark, source_uri, schema, conninfo, password_file):
    df = read_table(spark, conninfo=conninfo, password_file=password_file, schema=schema, table="sport_division",
                    struct=struct_of("sport_division"), partitions=4, split_column=None)
    assert df.rdd.getNumPartitions() == 1
    assert sorted(spark_rows(df.drop(BAD_TYPE_COLUMN))) == sorted(source_rows(source_uri, schema, "sport_division"))


def test_null_split_values_are_read(spark, source_uri, schema, conninfo, password_file):
    """Rows whose split column is NULL land in partition 0 instead of being lost."""
    with psycopg.connect(source_uri) as conn:
        want = conn.execute(sql.SQL("SELECT count(*), count(transferred_from_id) FROM {}").format(
            sql.Identifier(schema, "ticket_purchase_hist"))).fetchone()
    assert want[0] > want[1] > 0
    df = read_table(spark, conninfo=conninfo, password_file=password_file, schema=schema,
                    table="ticket_purchase_hist",
                    struct=T.StructType([T.StructField("transferred_from_id", T.IntegerType())]),
                    partitions=3, split_column="transferred_from_id")
    assert df.count() == want[0]
    assert df.where(F.col("transferred_from_id").isNotNull()).count() == want[1]


def test_bad_arguments(spark, schema, conninfo, password_file):
    kwargs = dict(conninfo=conninfo, password_file=password_file, schema=schema, table="person",
                  struct=struct_of("person"), partitions=2)
    with pytest.raises(ValueError, match="must be an integer column"):
        read_table(spark, split_column="full_name", **kwargs)
    with pytest.raises(ValueError, match="not a column"):
        read_table(spark, split_column="nope", **kwargs)
    with pytest.raises(ValueError, match="partitions must be >= 1"):
        read_table(spark, split_column="id", **{**kwargs, "partitions": 0})
    with pytest.raises(ValueError, match="password file cannot be read"):
        source_conninfo({"host": "x"}, "/nonexistent/password")
    assert source_conninfo({"host": "x"}, password_file)["password"] == \
        psycopg.conninfo.conninfo_to_dict(os.environ["LOCAL_SOURCE_SQL_URI"]).get("password")  # no trailing newline
    with pytest.raises(ValueError, match="must not carry a password"):
        source_conninfo({"host": "x", "password": "p"}, None)


def test_ids_declared_double_or_numeric_read_as_exact_integers_and_a_fraction_is_flagged(
        spark, source_uri, conninfo, password_file):
    """AWS's PostgreSQL port declares ids DOUBLE PRECISION or NUMERIC: both readers give the exact integers, and a
    non-integral value is never rounded: None, named in `BAD_TYPE_COLUMN` for the job to reject the row."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(source_uri, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        conn.execute(f"CREATE TABLE {name}.person (id double precision, full_name varchar, last_name varchar, "
                     "first_name varchar)")
        conn.execute(f"INSERT INTO {name}.person VALUES (1, 'A', 'A', 'A'), (3000000001, 'B', 'B', 'B'), "
                     "(4.5, 'C', 'C', 'C'), ('NaN', 'D', 'D', 'D'), (NULL, 'E', 'E', 'E')")
    try:
        df = read_table(spark, conninfo=conninfo, password_file=password_file, schema=name, table="person",
                        struct=struct_of("person"), partitions=3, split_column="id")
        got = sorted((r["full_name"], r["id"], r[BAD_TYPE_COLUMN]) for r in df.collect())
        # person.id is an int: 3000000001 does not fit it, a reject too (never wrapped, never a crash)
        assert got == [("A", 1, None), ("B", None, "id=3000000001.0"), ("C", None, "id=4.5"), ("D", None, "id=nan"),
                       ("E", None, None)]
        # the Glue and JDBC path: conform on what a catalog or driver gives (double), the same answer
        raw = spark.createDataFrame([(1.0, "A"), (3000000001.0, "B"), (4.5, "C"), (float("nan"), "D"), (None, "E")],
                                    "id DOUBLE, full_name STRING").withColumn("last_name", F.col("full_name")) \
            .withColumn("first_name", F.col("full_name"))
        conformed = conform(raw, "person")
        assert conformed.schema == read_schema("person")
        assert sorted((r["full_name"], r["id"], r[BAD_TYPE_COLUMN]) for r in conformed.collect()) == [
            ("A", 1, None), ("B", None, "id=3.000000001E9"), ("C", None, "id=4.5"), ("D", None, "id=NaN"),
            ("E", None, None)]
    finally:
        with psycopg.connect(source_uri, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")
