"""connectors.sql_source.read_table: parallel psycopg reads of the dms_sample PostgreSQL copy on the executors."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pyspark.sql import functions as F
from pyspark.sql import types as T

from connectors.sql_source import _partition_reader, _row_converter, read_table, source_conninfo
from generators import dms_sample
from tests.fixtures.dms_sample_types import BAD_TYPE_COLUMN, SPLIT_COLUMNS, conform, read_schema, struct_of

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


# The per-row converter and the partition reader run in Spark's Python workers, which coverage does not trace:
# called here directly, in the test process.

CONVERT_STRUCT = T.StructType([
    T.StructField("id", T.IntegerType()), T.StructField("at", T.TimestampType()),
    T.StructField("big", T.LongType()), T.StructField("qty", T.DecimalType(4, 0)),
    T.StructField("price", T.DecimalType(6, 2)), T.StructField("name", T.StringType())])


def test_converter_marks_naive_timestamps_utc_and_keeps_aware_ones() -> None:
    """Naive wall-clock timestamps become UTC so Spark keeps the wall clock; aware ones are left alone."""
    convert = _row_converter(CONVERT_STRUCT)
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    got = convert((1, naive, 2, Decimal(3), Decimal("1.50"), "a"))
    assert got == (1, naive.replace(tzinfo=UTC), 2, Decimal(3), Decimal("1.50"), "a", None)
    assert got[1].tzinfo is UTC and got[1].hour == 7
    aware = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert convert((1, aware, 2, 3, None, "a"))[1] is aware


def test_converter_coerces_integral_values_to_the_column_type() -> None:
    """Ids declared DOUBLE PRECISION or NUMERIC arrive as floats or Decimals: integral ones become exact ints
    (Decimal for a decimal(p,0) column); a non-integer column is never touched."""
    convert = _row_converter(CONVERT_STRUCT)
    got = convert((3.0, None, Decimal(3000000001), 7.0, Decimal("2.50"), "x"))
    assert got == (3, None, 3000000001, Decimal(7), Decimal("2.50"), "x", None)
    assert type(got[0]) is int and type(got[2]) is int and type(got[3]) is Decimal
    assert convert((2**31 - 1, None, -(2**62), Decimal(9999), None, None)) == (
        2**31 - 1, None, -(2**62), Decimal(9999), None, None, None)


def test_converter_nulls_and_names_out_of_range_and_non_integral_values() -> None:
    """A value that does not fit, or is not an integer, is never wrapped or rounded: None, named in the last
    column so the job rejects the row."""
    convert = _row_converter(CONVERT_STRUCT)
    assert convert((2**40, None, 1, 1, None, "a")) == (None, None, 1, Decimal(1), None, "a", "id=1099511627776")
    assert convert((2.5, None, 1, 1, None, "a"))[::6] == (None, "id=2.5")
    got = convert((float("nan"), None, 2**63, Decimal("10000"), Decimal("1.5"), "a"))
    assert got[:5] == (None, None, None, None, Decimal("1.5"))
    assert got[-1] == f"id=nan; big={2**63}; qty=10000"
    assert convert((True, None, None, None, None, None))[::6] == (None, "id=True")  # a boolean is not an id


def test_converter_passes_nulls_through() -> None:
    convert = _row_converter(CONVERT_STRUCT)
    assert convert((None,) * 6) == (None,) * 7


@pytest.fixture
def split_table(dsql_uri: str) -> Iterator[tuple[str, str]]:
    """`(schema, table)`: rows whose double precision id splits 3 ways, with a NULL, a NaN, negative and
    fractional ids, and naive timestamps; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        try:
            conn.execute(sql.SQL("CREATE TABLE {} (id double precision, name text, at timestamp)").format(
                sql.Identifier(name, "items")))
            with conn.cursor() as cur:
                cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(sql.Identifier(name, "items")),
                                [(v, n, datetime(2024, 1, 1, 12) + timedelta(minutes=i)) for i, (v, n) in
                                 enumerate(SPLIT_ROWS.items())])
        except BaseException:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
            raise
    try:
        yield name, "items"
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


# id → name; the partition of 3 each lands in: abs(mod(floor(id), 3)), NULL and NaN in the first
SPLIT_ROWS: dict[float | None, str] = {1: "p1a", 2: "p2a", 3: "p0a", 4: "p1b", 5: "p2b", 6: "p0b", -4: "p1c",
                                       -5: "p2c", 4.5: "p1d", float("nan"): "p0c", None: "p0d"}
SPLIT_STRUCT = T.StructType([T.StructField("id", T.IntegerType()), T.StructField("name", T.StringType()),
                             T.StructField("at", T.TimestampType())])


def _reader(dsql_uri: str, table: tuple[str, str], split_column: str | None, partitions: int,
            itersize: int = 100) -> Any:
    return _partition_reader(psycopg.conninfo.conninfo_to_dict(dsql_uri), table[0], table[1],
                             ["id", "name", "at"], split_column, partitions, _row_converter(SPLIT_STRUCT), itersize)


def test_partition_reader_reads_each_row_in_exactly_one_partition(dsql_uri: str,
                                                                  split_table: tuple[str, str]) -> None:
    """The split covers every row once, negative ids and fractions included; NULL and NaN go to partition 0."""
    read = _reader(dsql_uri, split_table, "id", 3)
    parts = [sorted(r[1] for r in read([i])) for i in range(3)]
    assert parts == [["p0a", "p0b", "p0c", "p0d"], ["p1a", "p1b", "p1c", "p1d"], ["p2a", "p2b", "p2c"]]
    assert sorted(r[1] for r in read([2, 0, 1])) == sorted(SPLIT_ROWS.values())  # several indices, one task


def test_partition_reader_applies_the_converter(dsql_uri: str, split_table: tuple[str, str]) -> None:
    """Rows come out as the struct plus the bad-type column: timestamps UTC, ids exact or flagged."""
    rows = {r[1]: r for r in _reader(dsql_uri, split_table, "id", 3)([0, 1, 2])}
    assert rows["p1a"] == (1, "p1a", datetime(2024, 1, 1, 12, tzinfo=UTC), None)
    assert rows["p1c"][0] == -4 and type(rows["p1c"][0]) is int
    assert rows["p1d"][::3] == (None, "id=4.5")
    assert rows["p0c"][::3] == (None, "id=nan")
    assert rows["p0d"][::3] == (None, None)
    assert all(r[2].tzinfo is UTC for r in rows.values())


@pytest.mark.parametrize(("split_column", "partitions"), [(None, 3), ("id", 1)])
def test_partition_reader_without_a_split_reads_everything(dsql_uri: str, split_table: tuple[str, str],
                                                           split_column: str | None, partitions: int) -> None:
    """No split column, or one partition: the one read returns the whole table."""
    read = _reader(dsql_uri, split_table, split_column, partitions)
    assert sorted(r[1] for r in read([0])) == sorted(SPLIT_ROWS.values())


def test_partition_reader_fetches_past_the_cursor_itersize(dsql_uri: str, split_table: tuple[str, str]) -> None:
    """The server-side cursor fetches `itersize` rows a round trip; all of them still arrive."""
    whole = _reader(dsql_uri, split_table, None, 1, itersize=2)([0])
    assert sorted(r[1] for r in whole) == sorted(SPLIT_ROWS.values())
    assert sorted(r[1] for r in _reader(dsql_uri, split_table, "id", 3, itersize=1)([0])) == [
        "p0a", "p0b", "p0c", "p0d"]
