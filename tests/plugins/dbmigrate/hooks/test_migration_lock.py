"""The target locks against the embedded PostgreSQL (each test in its own schema) and the moto server (each test
with its own lock table): acquire, refusal naming the holder, takeover after the lease, release only by the
holder, and a race of two threads that exactly one wins."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbmigrate.hooks.migration_lock import (
    DsqlLockHook,
    DynamoDbLockHook,
    LockHeld,
    LockHolder,
    LockTableMissing,
)
from transforms.ddl_lint import lint_dsql

LOCK_DDL = Path(__file__).resolve().parents[4] / "include" / "sql" / "movie_db" / "070_dbmigrate_lock.sql"


def race(take: Callable[[str], LockHolder], runs: list[str]) -> tuple[list[LockHolder], list[LockHeld]]:
    """Start `take(run_id)` for every run at the same instant; what each got."""
    barrier = threading.Barrier(len(runs))
    won: list[LockHolder] = []
    lost: list[LockHeld] = []

    def one(run_id: str) -> None:
        barrier.wait()
        try:
            won.append(take(run_id))
        except LockHeld as err:
            lost.append(err)

    threads = [threading.Thread(target=one, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return won, lost


# --- DSQL (the PostgreSQL stand-in) ------------------------------------------------------------------------------

@pytest.fixture
def lock_schema(dsql_uri: str, pg_schema: str) -> str:
    """`pg_schema` with the lock table of include/sql/movie_db/070_dbmigrate_lock.sql (as deploy_ddl makes it)."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(LOCK_DDL.read_text().replace("movie_db.", f"{pg_schema}."))
    return pg_schema


@pytest.fixture
def dsql(lock_schema: str) -> DsqlLockHook:
    return DsqlLockHook(schema=lock_schema, dsql_conn_id="dsql_default")


def stored(dsql_uri: str, schema: str) -> list[tuple]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT lock_name, holder_dag_id, holder_run_id FROM {schema}.dbmigrate_lock "
                            "ORDER BY lock_name").fetchall()


def test_the_lock_ddl_passes_the_dsql_linter() -> None:
    assert lint_dsql(LOCK_DDL.read_text()) == []


class TestDsqlLockHook:
    def test_acquire_then_a_second_run_is_refused_with_the_holder(self, dsql: DsqlLockHook, dsql_uri: str,
                                                                   lock_schema: str) -> None:
        held = dsql.acquire("movie_db", "dag_a", "run_1", lease_s=3600)
        assert (held.lock_name, held.dag_id, held.run_id) == ("movie_db", "dag_a", "run_1")
        assert 3590 < (held.expires_at - held.acquired_at).total_seconds() <= 3600
        with pytest.raises(LockHeld, match=r"held by dag_a run run_1 since .* \(lease until ") as err:
            dsql.acquire("movie_db", "dag_b", "run_2")
        assert err.value.holder == held
        assert stored(dsql_uri, lock_schema) == [("movie_db", "dag_a", "run_1")]
        # the holder itself may take it again (a cleared or retried task); another lock name is independent
        assert dsql.acquire("movie_db", "dag_a", "run_1").run_id == "run_1"
        assert dsql.acquire("other", "dag_b", "run_2").run_id == "run_2"

    def test_a_lease_that_passed_is_taken_over(self, dsql: DsqlLockHook, dsql_uri: str, lock_schema: str) -> None:
        dsql.acquire("movie_db", "dag_a", "crashed", lease_s=3600)
        with psycopg.connect(dsql_uri, autocommit=True) as conn:  # the crashed run's lease runs out
            conn.execute(f"UPDATE {lock_schema}.dbmigrate_lock SET expires_at = now() - interval '1 second'")
        taken = dsql.acquire("movie_db", "dag_a", "next")
        assert taken.run_id == "next"
        assert dsql.release("movie_db", "dag_a", "crashed") is False  # the crashed run cannot free it any more
        assert stored(dsql_uri, lock_schema) == [("movie_db", "dag_a", "next")]

    def test_a_short_lease_expires_by_the_databases_clock(self, dsql: DsqlLockHook) -> None:
        dsql.acquire("movie_db", "dag_a", "run_1", lease_s=0.2)
        with pytest.raises(LockHeld):
            dsql.acquire("movie_db", "dag_a", "run_2")
        time.sleep(0.4)
        assert dsql.acquire("movie_db", "dag_a", "run_2").run_id == "run_2"

    def test_only_the_holder_releases(self, dsql: DsqlLockHook, dsql_uri: str, lock_schema: str) -> None:
        dsql.acquire("movie_db", "dag_a", "run_1")
        assert dsql.release("movie_db", "dag_a", "run_2") is False
        assert dsql.release("movie_db", "dag_b", "run_1") is False
        assert stored(dsql_uri, lock_schema) == [("movie_db", "dag_a", "run_1")]
        assert dsql.release("movie_db", "dag_a", "run_1") is True
        assert stored(dsql_uri, lock_schema) == []
        assert dsql.holder("movie_db") is None
        assert dsql.acquire("movie_db", "dag_b", "run_2").dag_id == "dag_b"

    def test_two_threads_race_and_exactly_one_wins(self, dsql: DsqlLockHook, dsql_uri: str,
                                                    lock_schema: str) -> None:
        for round_no in range(5):
            name = f"race_{round_no}"
            won, lost = race(lambda run_id, name=name: dsql.acquire(name, "dag", run_id), ["run_a", "run_b"])
            assert len(won) == 1 and len(lost) == 1, (won, lost)
            assert lost[0].holder is not None and lost[0].holder.run_id == won[0].run_id
        assert len(stored(dsql_uri, lock_schema)) == 5

    def test_a_serialization_failure_means_held(self, dsql: DsqlLockHook, dsql_uri: str, lock_schema: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """DSQL's OCC conflict (40001), made for real: under REPEATABLE READ PostgreSQL fails an ON CONFLICT
        that meets a row another transaction committed meanwhile, with SQLSTATE 40001."""
        monkeypatch.setenv("PGOPTIONS", "-c default_transaction_isolation=repeatable\\ read")
        outcome: list[Any] = []
        with psycopg.connect(dsql_uri) as other:
            other.execute(f"INSERT INTO {lock_schema}.dbmigrate_lock VALUES ('movie_db', 'dag_a', 'run_1', now(), "
                          "now() + interval '1 hour')")  # not committed yet
            thread = threading.Thread(target=lambda: outcome.append(_attempt(dsql)))
            thread.start()
            _wait_until_blocked(dsql_uri, lock_schema)  # the hook's INSERT waits on the uncommitted row
            other.commit()
            thread.join(timeout=30)
        (err,) = outcome
        assert isinstance(err, LockHeld) and err.holder is not None and err.holder.run_id == "run_1"
        assert isinstance(err.__cause__, psycopg.errors.SerializationFailure)

    def test_a_missing_lock_table_is_a_clear_error_and_holds_nothing(self, pg_schema: str) -> None:
        hook = DsqlLockHook(schema=pg_schema, dsql_conn_id="dsql_default")
        with pytest.raises(LockTableMissing, match=rf"lock table {pg_schema}\.dbmigrate_lock does not exist"):
            hook.acquire("movie_db", "dag_a", "run_1")
        assert hook.release("movie_db", "dag_a", "run_1") is False


def _wait_until_blocked(dsql_uri: str, schema: str, timeout_s: float = 20) -> None:
    """Until a session's statement on `schema`'s lock table waits for a lock."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND query LIKE %s", [f'%{schema}%dbmigrate_lock%']).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the hook's INSERT never waited on the uncommitted lock row")


def _attempt(hook: DsqlLockHook) -> Any:
    try:
        return hook.acquire("movie_db", "dag_b", "run_2")
    except LockHeld as err:
        return err


# --- DynamoDB (moto) -----------------------------------------------------------------------------------------------

@pytest.fixture
def ddb(lock_table: str) -> DynamoDbLockHook:
    return DynamoDbLockHook(aws_conn_id="aws_default", lock_table=lock_table)


class TestDynamoDbLockHook:
    def test_the_lock_table_is_created_on_first_use(self, ddb: DynamoDbLockHook, lock_table: str) -> None:
        assert ddb.describe(lock_table) is None
        ddb.acquire("table/ticket_sales", "dag_a", "run_1")
        table = ddb.describe(lock_table)
        assert table is not None and table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["KeySchema"] == [{"AttributeName": "lock_key", "KeyType": "HASH"}]
        ddb.ensure_lock_table()  # already there: nothing to do

    def test_acquire_then_a_second_run_is_refused_with_the_holder(self, ddb: DynamoDbLockHook) -> None:
        held = ddb.acquire("table/config", "dag_a", "run_1", lease_s=600, now=1_000_000.0)
        with pytest.raises(LockHeld, match=r"held by dag_a run run_1 since 1970-01-12T13:46:40\+00:00 "
                                           r"\(lease until 1970-01-12T13:56:40\+00:00\)") as err:
            ddb.acquire("table/config", "dag_b", "run_2", now=1_000_100.0)
        assert err.value.holder == held == ddb.holder("table/config")
        assert ddb.acquire("table/config", "dag_a", "run_1", now=1_000_200.0).run_id == "run_1"  # re-entrant

    def test_a_lease_that_passed_is_taken_over(self, ddb: DynamoDbLockHook) -> None:
        ddb.acquire("table/config", "dag_a", "crashed", lease_s=600, now=1_000_000.0)
        with pytest.raises(LockHeld):
            ddb.acquire("table/config", "dag_a", "next", now=1_000_599.0)
        assert ddb.acquire("table/config", "dag_a", "next", now=1_000_601.0).run_id == "next"
        assert ddb.release("table/config", "dag_a", "crashed") is False
        holder = ddb.holder("table/config")
        assert holder is not None and holder.run_id == "next"

    def test_only_the_holder_releases(self, ddb: DynamoDbLockHook) -> None:
        assert ddb.release("table/config", "dag_a", "run_1") is False  # no lock table yet: nothing held
        ddb.acquire("table/config", "dag_a", "run_1")
        assert ddb.release("table/config", "dag_a", "run_2") is False
        assert ddb.release("table/config", "dag_b", "run_1") is False
        assert ddb.holder("table/config") is not None
        assert ddb.release("table/config", "dag_a", "run_1") is True
        assert ddb.holder("table/config") is None
        assert ddb.acquire("table/config", "dag_b", "run_2").dag_id == "dag_b"

    def test_two_threads_race_and_exactly_one_wins(self, ddb: DynamoDbLockHook) -> None:
        ddb.ensure_lock_table()
        for round_no in range(5):
            key = f"table/race_{round_no}"
            won, lost = race(lambda run_id, key=key: ddb.acquire(key, "dag", run_id), ["run_a", "run_b"])
            assert len(won) == 1 and len(lost) == 1, (won, lost)
            holder = ddb.holder(key)
            assert holder is not None and holder.run_id == won[0].run_id == lost[0].holder.run_id
