"""DsqlDeployDdlOperator deploying include/sql/movie_db to the PostgreSQL stand-in.

Each test deploys into its own throwaway database, so the shared `postgres` database (and the `movie_db`
schema other tests and DAG runs use) is never touched.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate.operators.dsql import DsqlDeployDdlOperator
from dbmigrate.paths import sql_dir

LINEAGE = ["source_doc_id", "source_version", "migration_run_id", "migrated_at"]
EXPECTED_COLUMNS = {
    "movies": ["movie_id", "source_id", "title", "release_year", "release_date", "runtime_minutes", "rating",
               "genres", "budget", "box_office", "language", *LINEAGE],
    "actors": ["actor_id", "source_id", "name", "birth_date", "birth_place", *LINEAGE],
    "directors": ["director_id", "source_id", "name", "birth_date", *LINEAGE],
    "movie_actors": ["movie_id", "actor_id", "character_name", "billing_order", *LINEAGE],
    "movie_directors": ["movie_id", "director_id", *LINEAGE],
}
LOCK_COLUMNS = ["lock_name", "holder_dag_id", "holder_run_id", "acquired_at", "expires_at"]
PENDING_COLUMNS = ["entity", "source_key", "source_version", "missing_key", "document", "source_where",
                   "migration_run_id", "migrated_at"]
LOADS_COLUMNS = ["run_id", "dag_id", "source_uri", "window_start", "window_end", "loaded_at"]
TIMELESS_COLUMNS = ["source_uri", "digest", "reason", "first_run", "recorded_at"]
# schema, five tables, their `_extra`, seven indexes, lock, pending, load log, lines with no time
STATEMENTS = 1 + 5 + 5 + 7 + 1 + 2 + 1


@pytest.fixture
def scratch_db(dsql_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """URI of a throwaway database in the stand-in, also the Airflow connection `dsql_scratch`."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    p = urlsplit(dsql_uri)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    monkeypatch.setenv("AIRFLOW_CONN_DSQL_SCRATCH", json.dumps({
        "conn_type": "postgres", "host": p.hostname, "port": p.port, "login": unquote(p.username or ""),
        "password": unquote(p.password or ""), "schema": name,
        "extra": {"auth": "password", "sslmode": "disable"},
    }))
    yield dsql_uri.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def deploy(sql_dir: str | Path) -> int:
    op = DsqlDeployDdlOperator(task_id="deploy_ddl", sql_dir=str(sql_dir), dsql_conn_id="dsql_scratch")
    return op.execute(context={})


class TestDsqlDeployDdlOperator:
    def test_templated_fields(self) -> None:
        assert DsqlDeployDdlOperator.template_fields == ("sql_dir", "lint_only")

    def test_lint_only_applies_nothing(self, scratch_db: str) -> None:
        op = DsqlDeployDdlOperator(task_id="deploy_ddl", sql_dir="movie_db", dsql_conn_id="dsql_scratch",
                                   lint_only="True")  # as `{{ params.dry_run }}` renders
        assert op.execute(context={}) == 0
        with psycopg.connect(scratch_db) as conn:
            assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'movie_db'").fetchone() == (0,)

    def test_deploys_movie_db_idempotently(self, scratch_db: str) -> None:
        assert deploy("movie_db") == STATEMENTS
        assert deploy(sql_dir("movie_db")) == STATEMENTS  # second run: every statement is IF NOT EXISTS
        with psycopg.connect(scratch_db) as conn:
            rows = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'movie_db' "
                "ORDER BY table_name, ordinal_position").fetchall()
            indexes = {r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'movie_db'").fetchall()}
            rating = conn.execute(
                "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_schema = 'movie_db' AND table_name = 'movies' AND column_name = 'rating'").fetchone()
        columns: dict[str, list[str]] = {}
        for table, column in rows:
            columns.setdefault(table, []).append(column)
        extra = {t: [*cols, "_extra"] for t, cols in EXPECTED_COLUMNS.items()}  # added by 055, after the lineage
        assert columns == {**extra, "dbmigrate_lock": LOCK_COLUMNS, "dbmigrate_pending": PENDING_COLUMNS,
                           "dbmigrate_loads": LOADS_COLUMNS, "dbmigrate_timeless": TIMELESS_COLUMNS}
        assert rating == ("numeric", 3, 1)
        assert {"movie_actors_actor_id_idx", "movie_directors_director_id_idx"} <= indexes
        assert {f"{t}_migration_run_id_idx" for t in EXPECTED_COLUMNS} <= indexes

    def test_lint_failure_applies_nothing(self, scratch_db: str, tmp_path: Path) -> None:
        (tmp_path / "001_schema.sql").write_text("CREATE SCHEMA IF NOT EXISTS should_not_exist;\n")
        (tmp_path / "002_links.sql").write_text(
            "-- no foreign keys on DSQL, so this must be rejected\n"
            "CREATE TABLE IF NOT EXISTS should_not_exist.links (\n"
            "    id uuid PRIMARY KEY,\n    movie_id uuid REFERENCES should_not_exist.movies (movie_id)\n);\n")
        with pytest.raises(AirflowFailException, match=r"002_links\.sql statement 1 \[foreign_key\]"):
            deploy(tmp_path)
        with psycopg.connect(scratch_db) as conn:
            assert conn.execute("SELECT count(*) FROM information_schema.schemata "
                                "WHERE schema_name = 'should_not_exist'").fetchone() == (0,)

    def test_empty_dir_fails(self, scratch_db: str, tmp_path: Path) -> None:
        with pytest.raises(AirflowFailException, match="no \\*.sql files"):
            deploy(tmp_path)


def test_on_dsql_the_index_wait_is_deferred(scratch_db: str, tmp_path: Path) -> None:
    """With `deferrable` the task hands the wait for async index jobs to the triggerer; the stand-in is taken for
    DSQL (the one thing that cannot run here) and holds a `sys.jobs` table with a job still running."""
    from unittest import mock

    from airflow.sdk.exceptions import AirflowException, TaskDeferred

    from connectors.dsql import DsqlTarget
    from dbmigrate.hooks.dsql import DsqlHook
    from dbmigrate.triggers.dsql import DsqlIndexJobsTrigger

    hook = DsqlHook(dsql_conn_id="dsql_scratch")
    hook.execute_ddl("CREATE SCHEMA sys")
    hook.execute_ddl("CREATE TABLE sys.jobs (job_id text, status text, details text)")
    hook.run("INSERT INTO sys.jobs VALUES ('j1', 'processing', NULL)")
    (tmp_path / "010_t.sql").write_text("CREATE TABLE IF NOT EXISTS public.t (id uuid PRIMARY KEY);\n")
    op = DsqlDeployDdlOperator(task_id="deploy_ddl", sql_dir=str(tmp_path), dsql_conn_id="dsql_scratch",
                               deferrable=True, waiter_delay=5, waiter_max_attempts=3)
    with mock.patch.object(DsqlTarget, "is_dsql", new_callable=mock.PropertyMock, return_value=True), \
            pytest.raises(TaskDeferred) as deferred:
        op.execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DsqlIndexJobsTrigger) and (trigger.waiter_delay, trigger.waiter_max_attempts) == (5, 3)
    assert deferred.value.method_name == "execute_complete" and deferred.value.kwargs == {"statements": 1}
    assert op.execute_complete({}, {"status": "success", "message": "no async index job left"}, statements=1) == 1
    with pytest.raises(AirflowException, match="j1 failed: duplicate key"):
        op.execute_complete({}, {"status": "error", "message": "async index job(s) failed: j1 failed: duplicate key"})
    hook.run("UPDATE sys.jobs SET status = 'completed'")  # nothing left to wait for: no deferral
    with mock.patch.object(DsqlTarget, "is_dsql", new_callable=mock.PropertyMock, return_value=True):
        assert op.execute(context={}) == 1
