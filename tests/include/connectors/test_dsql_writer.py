"""connectors.dsql_writer.upsert_rows against the embedded PostgreSQL, with the faults DSQL has.

- An OCC conflict (SQLSTATE 40001) raised at COMMIT, as DSQL raises it: a DEFERRABLE INITIALLY DEFERRED
  constraint trigger (test-only; DSQL has no triggers) fails the first N commits. A sequence counts them,
  because a sequence increment survives the rollback of the failed transaction.
- A connection that breaks mid-load: another session terminates the writer's backend between batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from connectors import dsql_writer
from connectors.dsql import APPLICATION_NAME, DsqlTarget, RecyclingConnection
from connectors.dsql_writer import upsert_rows
from tests.include.connectors.test_dsql import target_from_uri
from transforms.batching import row_size

COLUMNS = ["id", "name", "price"]


@pytest.fixture
def target(dsql_uri: str) -> DsqlTarget:
    return target_from_uri(dsql_uri)


@pytest.fixture
def table(dsql_uri: str, pg_schema: str) -> str:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.items (id int PRIMARY KEY, name text, price numeric(6,2), "
                     "migration_run_id text, migrated_at timestamptz)")
    return pg_schema


def rows(n: int, suffix: str = "") -> list[dict[str, Any]]:
    return [{"id": i, "name": f"item {i}{suffix}", "price": Decimal(i) / 4} for i in range(n)]


def stored(dsql_uri: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT id, name, price, migration_run_id FROM {schema}.items ORDER BY id").fetchall()


def upsert(target: DsqlTarget, schema: str, data: Any, run_id: str = "r1", batch_rows: int = 100,
           batch_bytes: int = 1 << 20) -> int:
    return upsert_rows(data, target=target, schema=schema, table="items", columns=COLUMNS, key_columns=["id"],
                       run_id=run_id, batch_rows=batch_rows, batch_bytes=batch_bytes)


def test_upserts_in_batches_and_a_rerun_updates_instead_of_duplicating(target: DsqlTarget, table: str,
                                                                       dsql_uri: str) -> None:
    assert upsert(target, table, rows(250), batch_rows=100) == 250
    assert upsert(target, table, rows(250, " v2"), run_id="r2", batch_rows=7, batch_bytes=300) == 250
    got = stored(dsql_uri, table)
    assert got == [(i, f"item {i} v2", Decimal(i) / 4, "r2") for i in range(250)]


def test_batches_respect_rows_and_bytes(target: DsqlTarget, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    byte_sizes: list[int] = []
    real = dsql_writer.batches

    def spy(*args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        for batch in real(*args, **kwargs):
            sizes.append(len(batch))
            byte_sizes.append(sum(map(row_size, batch)))
            yield batch

    monkeypatch.setattr(dsql_writer, "batches", spy)
    upsert(target, table, rows(50), batch_rows=20, batch_bytes=10_000)
    assert sizes == [20, 20, 10]
    sizes.clear()
    byte_sizes.clear()
    upsert(target, table, rows(50), batch_rows=1000, batch_bytes=400)  # bytes cut first
    assert len(sizes) > 3 and sum(sizes) == 50 and max(byte_sizes) <= 400


@pytest.fixture
def conflicts_at_commit(dsql_uri: str, table: str) -> Iterator[Any]:
    """`set(n)`: the next n commits that wrote to `items` fail at COMMIT with SQLSTATE 40001."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE {table}.commits")
        conn.execute(f"CREATE TABLE {table}.budget (n int)")
        conn.execute(f"INSERT INTO {table}.budget VALUES (0)")
        conn.execute(f"""
            CREATE FUNCTION {table}.fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('{table}.commits') <= (SELECT n FROM {table}.budget) THEN
                    RAISE EXCEPTION 'OC000: change conflicts with another transaction' USING ERRCODE = '40001';
                END IF;
                RETURN NULL;
            END $$""")
        conn.execute(f"""
            CREATE CONSTRAINT TRIGGER conflict_at_commit AFTER INSERT OR UPDATE ON {table}.items
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {table}.fail_commit()""")

    def set_budget(n: int) -> None:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute(f"SELECT setval('{table}.commits', 1, false)")
            conn.execute(f"UPDATE {table}.budget SET n = %s", [n])

    yield set_budget


def test_an_occ_conflict_at_commit_replays_the_batch(target: DsqlTarget, table: str, dsql_uri: str,
                                                    conflicts_at_commit: Any) -> None:
    # the first batch's COMMIT fails three times (the trigger's first row check each time); its fourth attempt
    # and every later batch commit: every row lands exactly once
    conflicts_at_commit(3)
    assert upsert(target, table, rows(30), batch_rows=10) == 30
    assert stored(dsql_uri, table) == [(i, f"item {i}", Decimal(i) / 4, "r1") for i in range(30)]


def test_a_conflict_that_never_ends_fails_after_the_attempts(target: DsqlTarget, table: str, dsql_uri: str,
                                                            conflicts_at_commit: Any) -> None:
    conflicts_at_commit(10_000)
    with pytest.raises(psycopg.errors.SerializationFailure, match="OC000"):
        upsert(target, table, rows(5))
    assert stored(dsql_uri, table) == []  # nothing half-written


def test_a_dropped_connection_is_replayed_on_a_new_one(target: DsqlTarget, table: str, dsql_uri: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[RecyclingConnection] = []
    real_init = RecyclingConnection.__init__

    def spy_init(self: RecyclingConnection, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(RecyclingConnection, "__init__", spy_init)
    killed: list[int] = []

    def source() -> Iterator[dict[str, Any]]:
        for i, row in enumerate(rows(100)):
            if i in (25, 55):  # the writer's connection, idle between its transactions, is killed
                with psycopg.connect(dsql_uri, autocommit=True) as admin:
                    pids = [r[0] for r in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                        [APPLICATION_NAME]).fetchall()]
                    for pid in pids:
                        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                    killed.extend(pids)
            yield row

    assert upsert(target, table, source(), batch_rows=10) == 100
    assert killed, "the writer's connection was never found"
    assert opened[0].connects >= 3  # one connection at first, a new one after each kill
    assert stored(dsql_uri, table) == [(i, f"item {i}", Decimal(i) / 4, "r1") for i in range(100)]
