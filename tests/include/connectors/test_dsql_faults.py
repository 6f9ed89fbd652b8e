"""connectors.dsql_writer.upsert_rows against the embedded PostgreSQL, with the faults Aurora DSQL has.

- OCC conflicts (SQLSTATE 40001) raised at COMMIT, as DSQL raises them: a test-only DEFERRABLE INITIALLY
  DEFERRED constraint trigger (DSQL itself has no triggers) checks every written row at COMMIT and fails
  the commit on chosen checks. A sequence numbers the checks: `nextval` survives the rollback of the
  failed transaction, so the count of attempts is exact.
- A connection lost mid-load: a second session calls `pg_terminate_backend` on the writer's backend, idle
  between two batches, or in the middle of a batch's transaction.

Batches are observed in the table itself: all rows of one transaction share one `xmin`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from connectors.dsql import APPLICATION_NAME, DsqlTarget
from connectors.dsql_writer import upsert_rows
from tests.include.connectors.conftest import target_from_uri
from transforms.batching import row_size

COLUMNS = ["id", "name", "price"]
WRITER_LOG = "connectors.dsql_writer"


@pytest.fixture
def schema(dsql_uri: str, pg_schema: str) -> str:
    """`pg_schema` with the target table `items` (key `id`, the lineage columns as the DDL declares them)."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2), "
                     "migration_run_id text NOT NULL, migrated_at timestamptz NOT NULL)")
    return pg_schema


def make_rows(n: int, suffix: str = "") -> list[dict[str, Any]]:
    return [{"id": i, "name": f"item {i}{suffix}", "price": Decimal(i) / 4} for i in range(n)]


def expected(n: int, suffix: str = "", run_id: str = "r1") -> list[tuple[Any, ...]]:
    return [(i, f"item {i}{suffix}", Decimal(i) / 4, run_id) for i in range(n)]


def stored(dsql_uri: str, schema: str) -> list[tuple[Any, ...]]:
    """Every row of `items`, in key order (a duplicate key would show up twice: the PK forbids it anyway)."""
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT id, name, price, migration_run_id FROM {schema}.items ORDER BY id").fetchall()


def transactions(dsql_uri: str, schema: str) -> list[list[int]]:
    """The ids of `items` grouped by the transaction that last wrote them, in commit order."""
    with psycopg.connect(dsql_uri) as conn:
        found = conn.execute(f"SELECT xmin::text::bigint, array_agg(id ORDER BY id) FROM {schema}.items "
                             "GROUP BY 1 ORDER BY 1").fetchall()
    return [ids for _, ids in found]


def upsert(target: DsqlTarget, schema: str, rows: Any, run_id: str = "r1", batch_rows: int = 10,
           batch_bytes: int = 1 << 20, **kwargs: Any) -> int:
    return upsert_rows(rows, target=target, schema=schema, table="items", columns=COLUMNS, key_columns=["id"],
                       run_id=run_id, batch_rows=batch_rows, batch_bytes=batch_bytes, base_delay_s=0.01, **kwargs)


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WRITER_LOG and r.levelno == logging.WARNING]


# --- upsert_rows itself ------------------------------------------------------------------------------------------

def test_batches_are_cut_by_rows(target: DsqlTarget, schema: str, dsql_uri: str) -> None:
    assert upsert(target, schema, iter(make_rows(45)), batch_rows=20) == 45
    assert transactions(dsql_uri, schema) == [list(range(0, 20)), list(range(20, 40)), list(range(40, 45))]
    assert stored(dsql_uri, schema) == expected(45)


def test_batches_are_cut_by_bytes(target: DsqlTarget, schema: str, dsql_uri: str) -> None:
    rows = make_rows(40)
    assert upsert(target, schema, rows, batch_rows=1000, batch_bytes=300) == 40
    batches = transactions(dsql_uri, schema)
    assert sorted(i for ids in batches for i in ids) == list(range(40))
    assert len(batches) > 3
    for ids in batches:
        assert sum(row_size(rows[i]) for i in ids) <= 300
    # each batch is full: the first row of the next one would not have fitted
    for ids, following in zip(batches, batches[1:], strict=False):
        assert sum(row_size(rows[i]) for i in [*ids, following[0]]) > 300


def test_a_rerun_updates_rows_and_lineage_instead_of_duplicating(target: DsqlTarget, schema: str,
                                                                dsql_uri: str) -> None:
    before = datetime.now(UTC)
    upsert(target, schema, make_rows(25))
    upsert(target, schema, make_rows(25))  # the same run again: nothing changes but migrated_at
    with psycopg.connect(dsql_uri) as conn:
        first = conn.execute(f"SELECT DISTINCT migrated_at FROM {schema}.items").fetchall()
    assert stored(dsql_uri, schema) == expected(25)
    assert len(first) == 1 and before <= first[0][0] <= datetime.now(UTC)  # one timestamp for the whole call

    assert upsert(target, schema, make_rows(30, " v2"), run_id="r2", batch_rows=7) == 30
    with psycopg.connect(dsql_uri) as conn:
        second = conn.execute(f"SELECT DISTINCT migrated_at FROM {schema}.items").fetchall()
    assert stored(dsql_uri, schema) == expected(30, " v2", "r2")
    assert len(second) == 1 and second[0][0] > first[0][0]


# --- OCC conflicts at COMMIT ---------------------------------------------------------------------------------------

@pytest.fixture
def conflicts(dsql_uri: str, schema: str) -> Callable[..., Callable[[], int]]:
    """`conflicts(first=n, every=k)`: at COMMIT, the first `n` row checks, and every `k`-th, fail with 40001.

    Returns a function giving the number of row checks so far. A failing check aborts the commit, so the
    rows after it are not checked in that attempt.
    """
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE {schema}.checks")
        conn.execute(f"CREATE TABLE {schema}.conflict_plan (first_n bigint NOT NULL, every bigint NOT NULL)")
        conn.execute(f"""
            CREATE FUNCTION {schema}.conflict_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                n bigint := nextval('{schema}.checks');
                p record;
            BEGIN
                SELECT * INTO p FROM {schema}.conflict_plan;
                IF n <= p.first_n OR (p.every > 0 AND n % p.every = 0) THEN
                    RAISE EXCEPTION 'change conflicts with another transaction, please retry: (OC000)'
                        USING ERRCODE = '40001';
                END IF;
                RETURN NULL;
            END $$""")
        conn.execute(f"""
            CREATE CONSTRAINT TRIGGER conflict_at_commit AFTER INSERT OR UPDATE ON {schema}.items
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.conflict_at_commit()""")

    def checks() -> int:
        with psycopg.connect(dsql_uri) as conn:
            value, called = conn.execute(f"SELECT last_value, is_called FROM {schema}.checks").fetchone()
        return int(value) if called else 0

    def plan(first: int = 0, every: int = 0) -> Callable[[], int]:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {schema}.conflict_plan VALUES (%s, %s)", [first, every])
        return checks

    return plan


def test_the_trigger_raises_at_commit_not_at_insert(dsql_uri: str, schema: str, conflicts: Any) -> None:
    conflicts(first=1)
    with psycopg.connect(dsql_uri) as conn:
        conn.execute(f"INSERT INTO {schema}.items VALUES (1, 'a', 1, 'r', now())")  # accepted
        with pytest.raises(psycopg.errors.SerializationFailure) as err:
            conn.commit()
    assert err.value.sqlstate == "40001"


@pytest.mark.parametrize(("first", "every", "failures", "checks"), [
    (3, 0, 3, 3 + 50),  # the first batch's COMMIT fails three times, then everything commits
    (0, 13, 4, 62),  # checks 13, 26, 39, 52 fail: every batch but the first fails once, then commits
])
def test_conflicts_at_commit_replay_the_batch(target: DsqlTarget, schema: str, dsql_uri: str, conflicts: Any,
                                              caplog: pytest.LogCaptureFixture, first: int, every: int,
                                              failures: int, checks: int) -> None:
    count_checks = conflicts(first=first, every=every)
    with caplog.at_level(logging.WARNING, logger=WRITER_LOG):
        assert upsert(target, schema, make_rows(50), batch_rows=10) == 50
    assert stored(dsql_uri, schema) == expected(50)  # every row once, with its values
    assert len(transactions(dsql_uri, schema)) == 5  # one commit per batch, nothing half-committed
    assert count_checks() == checks  # 50 rows checked in the commits that succeeded, plus one per failure
    logged = retries(caplog)
    assert len(logged) == failures
    assert all("SerializationFailure" in m and "OC000" in m and "batch of 10 rows" in m for m in logged)


def test_a_conflict_that_never_ends_raises_after_the_attempts(target: DsqlTarget, schema: str, dsql_uri: str,
                                                              conflicts: Any, caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    count_checks = conflicts(first=10, every=1)  # every check fails
    with caplog.at_level(logging.WARNING, logger=WRITER_LOG), \
            pytest.raises(psycopg.errors.SerializationFailure, match="OC000") as err:
        upsert(target, schema, make_rows(5), attempts=4)
    assert err.value.sqlstate == "40001"
    assert count_checks() == 4  # exactly `attempts` commits were tried
    assert [m.split(" failed on ")[1].split(" (")[0] for m in retries(caplog)] == [
        "attempt 1/4", "attempt 2/4", "attempt 3/4"]
    assert stored(dsql_uri, schema) == []  # nothing half-written


def test_other_errors_are_not_retried(target: DsqlTarget, schema: str, dsql_uri: str,
                                      caplog: pytest.LogCaptureFixture) -> None:
    rows = [*make_rows(3), {"id": 3, "name": None, "price": 1}]  # NOT NULL violation in the only batch
    with caplog.at_level(logging.WARNING, logger=WRITER_LOG), pytest.raises(psycopg.errors.NotNullViolation):
        upsert(target, schema, rows)
    assert retries(caplog) == []
    assert stored(dsql_uri, schema) == []


# --- lost connections ----------------------------------------------------------------------------------------------

@pytest.fixture
def writer(dsql_uri: str, schema: str) -> Iterator[DsqlTarget]:
    """A target logging in as a role of its own, so that its backends are told apart from those of other tests
    running at the same time (all of them have application_name `dbmigrate`)."""
    role, password = f"{schema}_writer", secrets.token_hex(12)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {s} TO {r}; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO {r}")
                     .format(s=sql.Identifier(schema), r=sql.Identifier(role)))
    yield dataclasses.replace(target_from_uri(dsql_uri), user=role, password=password)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
        conn.execute(sql.SQL("DROP OWNED BY {r}; DROP ROLE {r}").format(r=sql.Identifier(role)))


def writer_backends(admin: psycopg.Connection[Any], writer: DsqlTarget, where: str = "true") -> list[int]:
    """Backend pids of `writer`'s connections (its own role, and application_name `dbmigrate`)."""
    return [r[0] for r in admin.execute(
        f"SELECT pid FROM pg_stat_activity WHERE usename = %s AND application_name = %s AND {where}",
        [writer.user, APPLICATION_NAME]).fetchall()]


def terminate(admin: psycopg.Connection[Any], pid: int) -> None:
    assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]  # waits until it is gone


def test_a_connection_dropped_between_batches_is_replaced(writer: DsqlTarget, schema: str, dsql_uri: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    killed: list[int] = []

    def rows() -> Iterator[dict[str, Any]]:
        for row in make_rows(100):
            if row["id"] in (25, 55):  # batches 1-2 (then 3-5) are committed; the writer's connection is idle
                with psycopg.connect(dsql_uri, autocommit=True) as admin:
                    pids = writer_backends(admin, writer)
                    assert len(pids) == 1, pids
                    terminate(admin, pids[0])
                    killed.append(pids[0])
            yield row

    with caplog.at_level(logging.WARNING, logger=WRITER_LOG):
        assert upsert(writer, schema, rows(), batch_rows=10) == 100
    assert len(set(killed)) == 2  # the second kill found a new backend: the writer reconnected
    with psycopg.connect(dsql_uri, autocommit=True) as admin:
        assert writer_backends(admin, writer) == []  # and closed its last connection
    assert stored(dsql_uri, schema) == expected(100)  # every row once
    logged = retries(caplog)
    assert len(logged) == 2 and all("AdminShutdown" in m for m in logged), logged  # 57P01


@pytest.fixture
def slow_row(dsql_uri: str, schema: str) -> int:
    """Writing row 42 sleeps 30 s the first time only (a sequence remembers it across the rollback)."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE {schema}.slow")
        conn.execute(f"GRANT USAGE ON SEQUENCE {schema}.slow TO PUBLIC")  # the writer's role calls nextval
        conn.execute(f"""
            CREATE FUNCTION {schema}.slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id = 42 AND nextval('{schema}.slow') = 1 THEN
                    PERFORM pg_sleep(30);
                END IF;
                RETURN NEW;
            END $$""")
        conn.execute(f"CREATE TRIGGER slow_once BEFORE INSERT ON {schema}.items "
                     f"FOR EACH ROW EXECUTE FUNCTION {schema}.slow_once()")
    return 42


def test_a_connection_dropped_mid_transaction_replays_the_batch(writer: DsqlTarget, schema: str, dsql_uri: str,
                                                               slow_row: int, caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    killed: list[int] = []
    failed: list[BaseException] = []

    def kill_when_stuck() -> None:
        try:
            with psycopg.connect(dsql_uri, autocommit=True) as admin:
                deadline = time.monotonic() + 20
                while not killed and time.monotonic() < deadline:
                    # asleep in row 42's trigger, after rows 40 and 41 of this batch were inserted, uncommitted
                    found = writer_backends(admin, writer, "wait_event = 'PgSleep' AND backend_xid IS NOT NULL")
                    if found:
                        pid, = found
                        terminate(admin, pid)
                        killed.append(pid)
                    time.sleep(0.02)
        except BaseException as exc:  # surfaced by the test thread
            failed.append(exc)

    killer = threading.Thread(target=kill_when_stuck, daemon=True)
    killer.start()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=WRITER_LOG):
        assert upsert(writer, schema, make_rows(100), batch_rows=10) == 100
    killer.join(5)
    assert not failed, failed
    assert len(killed) == 1 and time.monotonic() - started < 20  # killed mid-sleep, not waited out
    assert stored(dsql_uri, schema) == expected(100)
    assert [len(ids) for ids in transactions(dsql_uri, schema)] == [10] * 10  # batch 5 replayed whole
    logged = retries(caplog)
    assert len(logged) == 1 and "attempt 1/6" in logged[0], logged
    # libpq reports the kill as the server's 57P01, or (the statement being pipelined) as a closed connection
    assert "AdminShutdown" in logged[0] or "server closed the connection" in logged[0], logged


def test_a_connection_that_cannot_be_reopened_raises_after_the_attempts(schema: str,
                                                                        caplog: pytest.LogCaptureFixture
                                                                        ) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = DsqlTarget(host="127.0.0.1", port=port, user="u", auth="password", password="p", sslmode="disable",
                      connect_timeout_s=2)
    with caplog.at_level(logging.WARNING, logger=WRITER_LOG), pytest.raises(psycopg.OperationalError):
        upsert(down, schema, make_rows(3), attempts=3)
    assert Counter("OperationalError" in m for m in retries(caplog)) == {True: 2}
