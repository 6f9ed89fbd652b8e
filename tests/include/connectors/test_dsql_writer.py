"""connectors.dsql_writer.upsert_tables: several tables from one stream, multi-row statements, on the embedded
PostgreSQL (the transaction limits and faults are in test_dsql_faults.py)."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from connectors.dsql import DsqlTarget
from connectors.dsql_writer import MAX_STATEMENT_ROWS, TableWrite, upsert_statement, upsert_tables
from tests.include.connectors.test_dsql_faults import schema, stored, transactions  # noqa: F401 - fixtures
from transforms.batching import CHILDREN

ITEMS = TableWrite("items", ("id", "name", "price"), ("id",))
TAGS = TableWrite("tags", ("item_id", "tag"), ("item_id", "tag"))


def _table(dsql_uri: str, in_schema: str, name: str, columns: str) -> None:
    """A table of `columns` plus the writer's lineage columns."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {in_schema}.{name} ({columns}, migration_run_id text NOT NULL, "
                     "migrated_at timestamptz NOT NULL)")


def _tags_table(dsql_uri: str, in_schema: str) -> None:
    _table(dsql_uri, in_schema, "tags", "item_id int, tag text, PRIMARY KEY (item_id, tag)")


def test_rows_of_several_tables_are_routed_and_batched_per_table(target: DsqlTarget, schema: str,  # noqa: F811
                                                                 dsql_uri: str) -> None:
    _tags_table(dsql_uri, schema)
    stream = []
    for i in range(25):
        stream.append(("item", {"id": i, "name": f"item {i}", "price": Decimal(i) / 4}))
        stream += [("tag", {"item_id": i, "tag": t}) for t in ("a", "b")]
    commits: list[tuple[str, int]] = []
    written = upsert_tables(iter(stream), tables={"item": ITEMS, "tag": TAGS}, target=target, schema=schema,
                            run_id="r1", batch_rows=10, batch_bytes=1 << 20,
                            on_commit=lambda name, n: commits.append((name, n)))
    assert written == {"item": 25, "tag": 50}
    assert sorted(commits) == sorted([("item", 10), ("item", 10), ("item", 5), *[("tag", 10)] * 5])
    assert stored(dsql_uri, schema) == [(i, f"item {i}", Decimal(i) / 4, "r1") for i in range(25)]
    # each table's batch is its own transaction: 10, 10 and 5 items
    assert [len(ids) for ids in transactions(dsql_uri, schema)] == [10, 10, 5]
    with psycopg.connect(dsql_uri) as conn:
        assert conn.execute(f"SELECT count(*), count(DISTINCT item_id) FROM {schema}.tags").fetchone() == (50, 25)


def test_a_key_twice_in_one_batch_keeps_the_last_row(target: DsqlTarget, schema: str,  # noqa: F811
                                                     dsql_uri: str) -> None:
    # one INSERT ... ON CONFLICT cannot update a row twice: the writer keeps the last, as row-by-row upserts would
    rows = [("item", {"id": 1, "name": "first", "price": None}), ("item", {"id": 2, "name": "x", "price": None}),
            ("item", {"id": 1, "name": "last", "price": Decimal("1.5")})]
    assert upsert_tables(rows, tables={"item": ITEMS}, target=target, schema=schema, run_id="r1",
                         batch_rows=100, batch_bytes=1 << 20) == {"item": 3}
    assert stored(dsql_uri, schema) == [(1, "last", Decimal("1.50"), "r1"), (2, "x", None, "r1")]


def test_a_row_may_come_as_the_tuple_of_its_values_in_column_order(target: DsqlTarget, schema: str,  # noqa: F811
                                                                   dsql_uri: str) -> None:
    # what the job carries (transforms.row_tuples), beside dicts in one stream; the last row of a key still wins
    rows = [("item", (1, "tuple", Decimal("2.25"))), ("item", {"id": 2, "name": "dict", "price": None}),
            ("item", (2, "last", None))]
    assert upsert_tables(rows, tables={"item": ITEMS}, target=target, schema=schema, run_id="r1",
                         batch_rows=100, batch_bytes=1 << 20) == {"item": 3}
    assert stored(dsql_uri, schema) == [(1, "tuple", Decimal("2.25"), "r1"), (2, "last", None, "r1")]


def test_a_batch_over_the_statement_size_is_split_into_statements(
        target: DsqlTarget, schema: str, dsql_uri: str) -> None:  # noqa: F811
    per_statement = MAX_STATEMENT_ROWS
    n = per_statement + 7
    rows = (("item", {"id": i, "name": str(i), "price": None}) for i in range(n))
    assert upsert_tables(rows, tables={"item": ITEMS}, target=target, schema=schema, run_id="r1",
                         batch_rows=n, batch_bytes=1 << 30) == {"item": n}
    assert transactions(dsql_uri, schema) == [list(range(n))]  # still one transaction


def test_the_statement_is_one_insert_of_n_rows() -> None:
    text = upsert_statement("s", "items", ITEMS.columns, ITEMS.key_columns, 3)
    # the lineage columns name the same two parameters in every row, after the rows' own values
    assert "VALUES ($1, $2, $3, $10, $11), ($4, $5, $6, $10, $11), ($7, $8, $9, $10, $11) ON CONFLICT" in text
    assert text.endswith('ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price", '
                         '"migration_run_id" = EXCLUDED."migration_run_id", "migrated_at" = EXCLUDED."migrated_at"')


def test_a_table_of_one_column_is_written(target: DsqlTarget, schema: str, dsql_uri: str) -> None:  # noqa: F811
    _table(dsql_uri, schema, "seen", "id int PRIMARY KEY")
    rows = [("seen", {"id": i, "ignored": "not a column"}) for i in (3, 1, 2, 1)]
    assert upsert_tables(rows, tables={"seen": TableWrite("seen", ("id",), ("id",))}, target=target, schema=schema,
                         run_id="r2", batch_rows=100, batch_bytes=1 << 20) == {"seen": 4}
    with psycopg.connect(dsql_uri) as conn:
        assert conn.execute(f"SELECT id, migration_run_id FROM {schema}.seen ORDER BY id").fetchall() == [
            (1, "r2"), (2, "r2"), (3, "r2")]


def test_a_statement_without_shared_lineage_gives_every_value_its_own_parameter() -> None:
    text = upsert_statement("s", "items", (*ITEMS.columns, "migration_run_id", "migrated_at"), ITEMS.key_columns, 2,
                            lineage=False)
    assert 'AS t ("id", "name", "price", "migration_run_id", "migrated_at") VALUES ($1, $2, $3, $4, $5), ' \
           '($6, $7, $8, $9, $10) ON CONFLICT' in text


def _orders_tables(dsql_uri: str, in_schema: str) -> None:
    lineage = "source_version text, migration_run_id text NOT NULL, migrated_at timestamptz NOT NULL"
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {in_schema}.orders (order_id uuid PRIMARY KEY, note text, {lineage})")
        conn.execute(f"CREATE TABLE {in_schema}.order_items (order_id uuid, position int, sku text, {lineage}, "
                     "PRIMARY KEY (order_id, position))")


ORDERS = TableWrite("orders", ("order_id", "note", "source_version"), ("order_id",), "source_version",
                    (("items", TableWrite("order_items", ("order_id", "position", "sku", "source_version"),
                                          ("order_id", "position"), "source_version")),))
ORDER = "6f1c1a52-8d4e-5b8e-9a57-2f1d8c0e4b31"


def _order(version: str, skus: list[str], note: str = "") -> tuple[str, dict]:
    items = [{"order_id": ORDER, "position": i, "sku": s, "source_version": version} for i, s in enumerate(skus)]
    return "order", {"order_id": ORDER, "note": note, "source_version": version, CHILDREN: {"items": items}}


def _items(dsql_uri: str, in_schema: str) -> list[tuple]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT position, sku, source_version FROM {in_schema}.order_items ORDER BY 1").fetchall()


def test_child_rows_are_written_with_their_parent_and_replaced_by_its_next_version(
        target: DsqlTarget, schema: str, dsql_uri: str) -> None:  # noqa: F811
    _orders_tables(dsql_uri, schema)

    def write(*rows: tuple[str, dict], run: str = "r1", batch_rows: int = 100) -> dict[str, int]:
        return upsert_tables(list(rows), tables={"order": ORDERS}, target=target, schema=schema, run_id=run,
                             batch_rows=batch_rows, batch_bytes=1 << 20)

    assert write(_order("v2", ["a", "b", "c"])) == {"order": 1, "items": 3}
    assert _items(dsql_uri, schema) == [(0, "a", "v2"), (1, "b", "v2"), (2, "c", "v2")]
    # the same version re-exported with one element fewer (a plain collection's `_id` does not change)
    write(_order("v2", ["a", "z"]), run="r2")
    assert _items(dsql_uri, schema) == [(0, "a", "v2"), (1, "z", "v2")]
    # an older document read after it changes neither the parent nor its elements, not even at new positions
    write(_order("v1", ["old"] * 5, note="old"), run="r3")
    assert _items(dsql_uri, schema) == [(0, "a", "v2"), (1, "z", "v2")]
    with psycopg.connect(dsql_uri) as conn:
        assert conn.execute(f"SELECT note, migration_run_id FROM {schema}.orders").fetchone() == ("", "r2")
    # a newer one with no elements leaves none
    write(_order("v3", []), run="r4")
    assert _items(dsql_uri, schema) == []
    # a parent and its rows are never cut apart: 3 + 3 rows do not fit a transaction of 5
    other = dict(_order("v4", ["p", "q"])[1], order_id="1f1c1a52-8d4e-5b8e-9a57-2f1d8c0e4b31")
    other[CHILDREN] = {"items": [dict(r, order_id=other["order_id"]) for r in other[CHILDREN]["items"]]}
    assert write(_order("v4", ["x", "y"]), ("order", other), batch_rows=5) == {"order": 2, "items": 4}
    with psycopg.connect(dsql_uri) as conn:
        xmins = conn.execute(f"SELECT o.xmin::text, array_agg(i.xmin::text) FROM {schema}.orders o "
                             f"JOIN {schema}.order_items i USING (order_id) GROUP BY 1").fetchall()
    assert len(xmins) == 2 and all(set(items) == {parent} for parent, items in xmins)


def _pids_table(dsql_uri: str, in_schema: str) -> None:
    """A table whose rows record which server backend (connection) inserted them."""
    _table(dsql_uri, in_schema, "pids", "id int PRIMARY KEY, who int NOT NULL DEFAULT pg_backend_pid()")


def test_batches_go_out_over_several_connections_at_once(target: DsqlTarget, schema: str,  # noqa: F811
                                                         dsql_uri: str) -> None:
    """`connections`: each batch committed on whichever connection is free, as AWS's DSQL loader sends its
    statements; every row lands once, every batch its own transaction, and more than one connection wrote."""
    _pids_table(dsql_uri, schema)
    pids = TableWrite("pids", ("id",), ("id",))
    commits: list[int] = []
    rows = (("p", {"id": i}) for i in range(4000))
    assert upsert_tables(rows, tables={"p": pids}, target=target, schema=schema, run_id="r1", batch_rows=50,
                         batch_bytes=1 << 20, on_commit=lambda _, n: commits.append(n), connections=4) == {"p": 4000}
    assert commits == [50] * 80
    with psycopg.connect(dsql_uri) as conn:
        count, ids, who, txns = conn.execute(
            f"SELECT count(*), count(DISTINCT id), count(DISTINCT who), count(DISTINCT xmin::text) "
            f"FROM {schema}.pids").fetchone()
    assert (count, ids, txns) == (4000, 4000, 80)
    assert 1 < who <= 4


def test_a_failing_batch_on_one_of_several_connections_raises(target: DsqlTarget, schema: str,  # noqa: F811
                                                              dsql_uri: str) -> None:
    _pids_table(dsql_uri, schema)
    pids = TableWrite("pids", ("id",), ("id",))
    rows = [("p", {"id": i}) for i in range(500)] + [("p", {"id": "not a number"})]
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        upsert_tables(iter(rows), tables={"p": pids}, target=target, schema=schema, run_id="r1", batch_rows=50,
                      batch_bytes=1 << 20, connections=4)
