"""The lock tasks against the embedded PostgreSQL (own schema) and moto (own lock table): a refused run fails with
the holder in the error, a release frees only this run's lock and never fails, a dry run takes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import TriggerRule
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from dbmigrate.hooks.migration_lock import DynamoDbLockHook
from dbmigrate.operators.lock import (
    AcquireDsqlLockOperator,
    AcquireDynamoDbLockOperator,
    ReleaseDsqlLockOperator,
    ReleaseDynamoDbLockOperator,
    dynamodb_lock_keys,
    lock_poll_seconds,
)

LOCK_DDL = Path(__file__).resolve().parents[4] / "include" / "sql" / "movie_db" / "070_dbmigrate_lock.sql"


class PreviousRuns:
    """The Task SDK's view of the run before this one (`ti.get_previous_ti`, `ti.get_dagrun_state`): a stand-in,
    as those calls go through a task supervisor that a bare `execute` does not have (the e2e backfill tests run
    them for real)."""

    def __init__(self, ti_state: str | None = None, run_state: str = "running", *, exists: bool = True) -> None:
        self.ti_state, self.run_state, self.exists = ti_state, run_state, exists

    def get_previous_ti(self) -> Any:
        return SimpleNamespace(dag_id="d", run_id="backfill__day_1", state=self.ti_state) if self.exists else None

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str:
        assert (dag_id, run_id) == ("d", "backfill__day_1")
        return self.run_state


def ctx(run_id: str, dag_id: str = "movie_collection_to_dsql", run_type: str = "manual",
        ti: PreviousRuns | None = None) -> dict[str, Any]:
    return {"dag": SimpleNamespace(dag_id=dag_id), "run_id": run_id, "dag_run": SimpleNamespace(run_type=run_type),
            "ti": ti or PreviousRuns(exists=False)}


def waits_then_takes(acquire: Any, context: dict[str, Any], holder_releases: Any) -> dict[str, Any]:
    """A backfill or scheduled run that finds the lock held defers (a timer trigger, the next try in `poll_s`),
    defers again while the holder keeps it, and takes the lock on the try after the holder let go. Its result."""
    with pytest.raises(TaskDeferred) as first:
        acquire.execute(context)
    deferred = first.value
    assert deferred.method_name == "execute_after_wait" and isinstance(deferred.trigger, TimeDeltaTrigger)
    poll_s = acquire.poll_s if acquire.poll_s is not None else lock_poll_seconds()
    assert deferred.trigger.moment - datetime.now(UTC) <= timedelta(seconds=poll_s)
    since = deferred.kwargs["waiting_since"]
    with pytest.raises(TaskDeferred) as again:
        acquire.execute_after_wait(context, None, **deferred.kwargs)
    assert again.value.kwargs["waiting_since"] == since  # one wait, however many tries
    holder_releases()
    return acquire.execute_after_wait(context, None, **again.value.kwargs)


@pytest.fixture
def schema(dsql_uri: str, pg_schema: str) -> str:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(LOCK_DDL.read_text().replace("movie_db.", f"{pg_schema}."))
    return pg_schema


def rows(dsql_uri: str, schema: str) -> list[tuple]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT lock_name, holder_dag_id, holder_run_id FROM {schema}.dbmigrate_lock").fetchall()


def test_template_fields_and_release_defaults() -> None:
    assert AcquireDsqlLockOperator.template_fields == ("dry_run", "schema", "lock_name")
    assert ReleaseDsqlLockOperator.template_fields == ("dry_run", "schema", "lock_name")
    assert AcquireDynamoDbLockOperator.template_fields == ("dry_run", "table_names")
    release = ReleaseDsqlLockOperator(task_id="release_lock", schema="s")
    assert release.trigger_rule == TriggerRule.ALL_DONE and release.retries == 0
    release = ReleaseDynamoDbLockOperator(task_id="release_lock", table_names=["t"])
    assert release.trigger_rule == TriggerRule.ALL_DONE and release.retries == 0


def test_the_poll_interval_is_the_deployments_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting runs try the lock again every 30 s, or as often as `[dbmigrate] lock_poll_seconds` says (the test
    stack's scheduler polls every second); an operator's own `poll_s` wins."""
    monkeypatch.delenv("AIRFLOW__DBMIGRATE__LOCK_POLL_SECONDS", raising=False)
    assert lock_poll_seconds() == 30
    monkeypatch.setenv("AIRFLOW__DBMIGRATE__LOCK_POLL_SECONDS", "1.5")
    assert lock_poll_seconds() == 1.5


class TestDsqlLockOperators:
    def test_a_second_run_fails_naming_the_holder_and_its_release_frees_nothing(self, schema: str,
                                                                                 dsql_uri: str) -> None:
        acquire = AcquireDsqlLockOperator(task_id="acquire_lock", schema=schema, dry_run=False)
        release = ReleaseDsqlLockOperator(task_id="release_lock", schema=schema, dry_run=False)
        got = acquire.execute(ctx("run_1"))
        assert got["acquired"] and got["locks"][0]["holder_run_id"] == "run_1"
        with pytest.raises(AirflowFailException, match=rf"target lock '{schema}' \({schema}\.dbmigrate_lock\) is "
                                                      r"held by movie_collection_to_dsql run run_1 since "):
            acquire.execute(ctx("run_2"))
        assert release.execute(ctx("run_2")) == {"released": []}  # the refused run's release
        assert rows(dsql_uri, schema) == [(schema, "movie_collection_to_dsql", "run_1")]
        assert release.execute(ctx("run_1")) == {"released": [schema]}
        assert rows(dsql_uri, schema) == []
        assert acquire.execute(ctx("run_2"))["acquired"]

    @pytest.mark.parametrize("run_type", ["backfill", "scheduled"])
    def test_a_backfill_or_scheduled_run_waits_deferred_until_the_holder_releases(self, schema: str, dsql_uri: str,
                                                                                 run_type: str) -> None:
        acquire = AcquireDsqlLockOperator(task_id="acquire_lock", schema=schema, dry_run=False, poll_s=5)
        release = ReleaseDsqlLockOperator(task_id="release_lock", schema=schema, dry_run=False)
        acquire.execute(ctx("run_1"))
        got = waits_then_takes(acquire, ctx("run_2", run_type=run_type), lambda: release.execute(ctx("run_1")))
        assert got["acquired"] and rows(dsql_uri, schema) == [(schema, "movie_collection_to_dsql", "run_2")]

    def test_a_backfill_run_takes_its_turn_after_the_previous_intervals_run(self, schema: str, dsql_uri: str) -> None:
        """The lock is free, but the run of the interval before is running and has yet to take it: this run
        waits; once that acquire has ended it takes the lock. A manual run, or a previous run only queued, does
        not wait."""
        acquire = AcquireDsqlLockOperator(task_id="acquire_lock", schema=schema, dry_run=False, poll_s=5)
        release = ReleaseDsqlLockOperator(task_id="release_lock", schema=schema, dry_run=False)
        previous = PreviousRuns(ti_state="scheduled")
        got = waits_then_takes(acquire, ctx("run_2", run_type="backfill", ti=previous),
                               lambda: setattr(previous, "ti_state", "success"))
        assert got["acquired"] and rows(dsql_uri, schema) == [(schema, "movie_collection_to_dsql", "run_2")]
        release.execute(ctx("run_2"))
        for context in (ctx("run_3", ti=PreviousRuns(ti_state="deferred")),
                        ctx("run_3", run_type="backfill", ti=PreviousRuns(ti_state=None, run_state="queued")),
                        ctx("run_3", run_type="backfill", ti=PreviousRuns(ti_state="deferred", run_state="queued"))):
            assert acquire.execute(context)["acquired"]
            release.execute(ctx("run_3"))

    def test_a_run_waiting_its_turn_fails_after_wait_s(self, schema: str) -> None:
        acquire = AcquireDsqlLockOperator(task_id="acquire_lock", schema=schema, dry_run=False, wait_s=60)
        long_ago = (datetime.now(UTC) - timedelta(seconds=61)).isoformat()
        with pytest.raises(AirflowFailException, match=r"The earlier interval's run backfill__day_1 has yet to take "
                                                      r"the target lock\. This scheduled run waited 0:01:0\d"):
            acquire.execute_after_wait(ctx("run_2", run_type="scheduled", ti=PreviousRuns(ti_state="queued")),
                                       None, waiting_since=long_ago)

    def test_a_waiting_run_fails_once_it_waited_wait_s(self, schema: str) -> None:
        acquire = AcquireDsqlLockOperator(task_id="acquire_lock", schema=schema, dry_run=False, wait_s=60)
        acquire.execute(ctx("run_1"))
        long_ago = (datetime.now(UTC) - timedelta(seconds=61)).isoformat()
        with pytest.raises(AirflowFailException, match=r"held by movie_collection_to_dsql run run_1 .* This backfill "
                                                      r"run waited 0:01:0\d.* for it, its limit \(wait_s=60\)"):
            acquire.execute_after_wait(ctx("run_2", run_type="backfill"), None, waiting_since=long_ago)

    def test_a_dry_run_takes_no_lock_even_without_the_lock_table(self, pg_schema: str) -> None:
        for dry_run in (True, "True"):  # a param, or as `{{ params.dry_run }}` renders
            assert AcquireDsqlLockOperator(task_id="a", schema=pg_schema, dry_run=dry_run).execute(ctx("r")) == {
                "acquired": False, "locks": []}
            assert ReleaseDsqlLockOperator(task_id="r", schema=pg_schema, dry_run=dry_run).execute(ctx("r")) == {
                "released": []}

    def test_a_missing_lock_table_fails_with_what_to_do(self, pg_schema: str) -> None:
        with pytest.raises(AirflowFailException, match="does not exist: deploy the DDL first"):
            AcquireDsqlLockOperator(task_id="a", schema=pg_schema).execute(ctx("r"))

    def test_a_run_whose_inputs_never_resolved_releases_nothing(self) -> None:
        """resolve_run failed: the XComArgs render as None, and the release (ALL_DONE) still runs."""
        got = ReleaseDsqlLockOperator(task_id="r", schema=None, dry_run=None).execute(ctx("r"))  # type: ignore[arg-type]
        assert got == {"released": []}
        got = ReleaseDynamoDbLockOperator(task_id="r", table_names=None, dry_run=None).execute(ctx("r"))
        assert got == {"released": []}

    def test_the_release_never_fails(self, schema: str) -> None:
        release = ReleaseDsqlLockOperator(task_id="release_lock", schema=schema, dsql_conn_id="no_such_conn")
        got = release.execute(ctx("run_1"))
        assert got["released"] == [] and "no_such_conn" in got["error"]


class TestDynamoDbLockOperators:
    def test_one_lock_per_table_in_a_fixed_order(self) -> None:
        assert dynamodb_lock_keys({"ticket_sales": "ts_x", "config": "cfg"}) == ["table/cfg", "table/ts_x"]
        assert dynamodb_lock_keys(["b", "a", "b"]) == ["table/a", "table/b"]

    def test_all_or_none(self, lock_table: str) -> None:
        hook = DynamoDbLockHook(aws_conn_id="aws_default", lock_table=lock_table)
        hook.acquire("table/b_tickets", "other_dag", "other_run")
        tables = {"config": "a_config", "ticket_sales": "b_tickets"}
        acquire = AcquireDynamoDbLockOperator(task_id="acquire_lock", table_names=tables, lock_table=lock_table)
        with pytest.raises(AirflowFailException, match="'table/b_tickets' .* held by other_dag run other_run"):
            acquire.execute(ctx("run_1", "dms_sample_to_dynamodb"))
        assert hook.holder("table/a_config") is None  # given back when the second one was refused
        hook.release("table/b_tickets", "other_dag", "other_run")
        got = acquire.execute(ctx("run_1", "dms_sample_to_dynamodb"))
        assert [lock["lock_name"] for lock in got["locks"]] == ["table/a_config", "table/b_tickets"]
        release = ReleaseDynamoDbLockOperator(task_id="release_lock", table_names=tables, lock_table=lock_table)
        assert release.execute(ctx("run_2", "dms_sample_to_dynamodb")) == {"released": []}
        assert release.execute(ctx("run_1", "dms_sample_to_dynamodb")) == {
            "released": ["table/a_config", "table/b_tickets"]}
        assert hook.holder("table/a_config") is None and hook.holder("table/b_tickets") is None

    def test_a_backfill_run_waits_for_every_table_it_needs(self, lock_table: str) -> None:
        hook = DynamoDbLockHook(aws_conn_id="aws_default", lock_table=lock_table)
        hook.acquire("table/b_tickets", "other_dag", "other_run")
        tables = {"config": "a_config", "ticket_sales": "b_tickets"}
        acquire = AcquireDynamoDbLockOperator(task_id="acquire_lock", table_names=tables, lock_table=lock_table)
        context = ctx("run_1", "dms_sample_to_dynamodb", run_type="backfill")
        got = waits_then_takes(acquire, context, lambda: hook.release("table/b_tickets", "other_dag", "other_run"))
        assert [lock["lock_name"] for lock in got["locks"]] == ["table/a_config", "table/b_tickets"]
        assert hook.holder("table/b_tickets").run_id == "run_1"

    def test_a_dry_run_creates_and_takes_nothing(self, lock_table: str) -> None:
        acquire = AcquireDynamoDbLockOperator(task_id="a", table_names=["t"], lock_table=lock_table, dry_run=True)
        assert acquire.execute(ctx("r")) == {"acquired": False, "locks": []}
        assert DynamoDbLockHook(aws_conn_id="aws_default", lock_table=lock_table).describe(lock_table) is None
