"""DsqlHook against the embedded PostgreSQL stand-in, with Airflow connections from AIRFLOW_CONN_* variables.

IAM tokens are signed by boto3 with the credentials of an AWS connection pointed at moto. `sys.jobs` only
exists on DSQL, so the index-job tests fake it as a table in a throwaway database.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from dbmigrate.hooks.dsql import DsqlHook, DsqlIndexJobError

DSQL_HOST = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"


def conn_json(uri: str, database: str | None = None) -> str:
    """A password-auth JSON connection (like the local dsql_default) to the stand-in."""
    p = urlsplit(uri)
    return json.dumps({
        "conn_type": "postgres", "host": p.hostname, "port": p.port, "login": unquote(p.username or ""),
        "password": unquote(p.password or ""), "schema": database or p.path.lstrip("/"),
        "extra": {"auth": "password", "sslmode": "disable"},
    })


@pytest.fixture
def aws_conn(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DSQL_TEST", json.dumps({
        "conn_type": "aws", "login": "AKIDFROMCONN", "password": "secret",
        "extra": {"region_name": "eu-west-1", "endpoint_url": moto_endpoint},
    }))
    return "aws_dsql_test"


@pytest.fixture
def scratch_db(dsql_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throwaway database in the stand-in, exposed as the Airflow connection `dsql_scratch`."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    monkeypatch.setenv("AIRFLOW_CONN_DSQL_SCRATCH", conn_json(dsql_uri, name))
    yield name
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class TestDsqlHook:
    def test_local_connection_is_password_target(self) -> None:
        target = DsqlHook().get_target()
        assert (target.auth, target.sslmode, target.database) == ("password", "disable", "postgres")
        assert target.password and not target.is_dsql

    def test_iam_connection_defaults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_DSQL_PROD", json.dumps({
            "conn_type": "aurora_dsql", "host": DSQL_HOST, "password": "ignored-for-iam",
            "extra": {"region_name": "us-east-1"},
        }))
        target = DsqlHook(dsql_conn_id="dsql_prod").get_target()
        assert (target.host, target.port, target.user, target.database) == (DSQL_HOST, 5432, "admin", "postgres")
        assert (target.auth, target.region, target.sslmode, target.password) == ("iam", "us-east-1", "verify-full",
                                                                                 None)
        assert target.is_dsql

    def test_iam_region_falls_back_to_aws_connection(self, monkeypatch: pytest.MonkeyPatch, aws_conn: str) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_DSQL_PROD", json.dumps({"conn_type": "aurora_dsql", "host": DSQL_HOST}))
        assert DsqlHook(dsql_conn_id="dsql_prod", aws_conn_id=aws_conn).get_target().region == "eu-west-1"

    def test_iam_token_signed_with_aws_connection(self, monkeypatch: pytest.MonkeyPatch, aws_conn: str) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_DSQL_PROD", json.dumps({
            "conn_type": "aurora_dsql", "host": DSQL_HOST, "extra": {"region_name": "us-east-1"}}))
        monkeypatch.setenv("AIRFLOW_CONN_DSQL_READER", json.dumps({
            "conn_type": "aurora_dsql", "host": DSQL_HOST, "login": "reader",
            "extra": {"region_name": "us-east-1", "token_expires_s": 600}}))
        admin = DsqlHook(dsql_conn_id="dsql_prod", aws_conn_id=aws_conn).get_auth_token()
        reader = DsqlHook(dsql_conn_id="dsql_reader", aws_conn_id=aws_conn).get_auth_token()
        assert admin.startswith(f"{DSQL_HOST}/?Action=DbConnectAdmin&") and "X-Amz-Expires=900" in admin
        assert reader.startswith(f"{DSQL_HOST}/?Action=DbConnect&") and "X-Amz-Expires=600" in reader
        assert "X-Amz-Credential=AKIDFROMCONN%2F" in admin  # the AWS connection's keys, not the environment's
        assert os.environ["AWS_ACCESS_KEY_ID"] != "AKIDFROMCONN"

    def test_password_connection_needs_password(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_DSQL_BROKEN", json.dumps({
            "conn_type": "aurora_dsql", "host": "localhost", "extra": {"auth": "password", "sslmode": "disable"}}))
        with pytest.raises(ValueError, match="needs `password`"):
            DsqlHook(dsql_conn_id="dsql_broken").get_target()

    def test_execute_ddl_run_and_get_records(self, pg_schema: str) -> None:
        hook = DsqlHook()
        assert hook.execute_ddl(f"CREATE TABLE IF NOT EXISTS {pg_schema}.t (id int PRIMARY KEY, name text)") is None
        hook.execute_ddl(f"CREATE INDEX IF NOT EXISTS t_name_idx ON {pg_schema}.t (name)")
        hook.run(f"INSERT INTO {pg_schema}.t VALUES (%s, %s)", (1, "a"))
        hook.run([f"INSERT INTO {pg_schema}.t VALUES (%(id)s, %(name)s)",
                  f"UPDATE {pg_schema}.t SET name = upper(name) WHERE id <> %(id)s"], {"id": 2, "name": "b"})
        assert hook.get_records(f"SELECT id, name FROM {pg_schema}.t ORDER BY id") == [(1, "A"), (2, "b")]
        assert hook.get_records("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                                (pg_schema, "t_name_idx")) == [("t_name_idx",)]

    def test_a_hook_reads_its_airflow_connection_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each query opens its own database connection, but the Airflow connection (a request to the API server in
        a task) is read once per hook."""
        reads: list[str] = []
        read = DsqlHook.get_connection

        def counted(conn_id: str) -> object:
            reads.append(conn_id)
            return read(conn_id)

        monkeypatch.setattr(DsqlHook, "get_connection", staticmethod(counted))
        hook = DsqlHook()
        assert [hook.get_records("SELECT %s::int", (i,)) for i in range(3)] == [[(0,)], [(1,)], [(2,)]]
        hook.run("SELECT 1")
        assert reads == ["dsql_default"]
        assert DsqlHook().get_target() == hook.get_target() and reads == ["dsql_default"] * 2

    def test_run_is_one_transaction(self, pg_schema: str) -> None:
        hook = DsqlHook()
        hook.execute_ddl(f"CREATE TABLE {pg_schema}.t (id int PRIMARY KEY)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            hook.run([f"INSERT INTO {pg_schema}.t VALUES (1)", "SELECT 1 / 0"])
        assert hook.get_records(f"SELECT count(*) FROM {pg_schema}.t") == [(0,)]

    def test_run_replays_transaction_on_occ_conflict(self, pg_schema: str) -> None:
        hook = DsqlHook()
        hook.execute_ddl(f"CREATE TABLE {pg_schema}.t (id int PRIMARY KEY)")
        hook.execute_ddl(f"CREATE SEQUENCE {pg_schema}.calls")
        hook.execute_ddl(f"""
            CREATE FUNCTION {pg_schema}.conflict_first(n int) RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('{pg_schema}.calls') <= n THEN
                    RAISE EXCEPTION 'OC000: data conflict' USING ERRCODE = '40001';
                END IF;
                RETURN 0;
            END $$""")
        hook.run([f"INSERT INTO {pg_schema}.t VALUES (1)", f"SELECT {pg_schema}.conflict_first(2)"])
        assert hook.get_records(f"SELECT count(*) FROM {pg_schema}.t") == [(1,)]
        assert hook.get_records(f"SELECT last_value FROM {pg_schema}.calls") == [(3,)]

    def test_no_index_jobs_on_postgres(self) -> None:
        hook = DsqlHook()
        assert hook.pending_index_jobs() == []
        hook.wait_for_index_jobs(timeout_s=0, poll_s=0)  # returns at once


class TestIndexJobs:
    """`sys.jobs` faked as a table in a throwaway database, so the real query and polling run."""

    @pytest.fixture
    def jobs(self, scratch_db: str) -> DsqlHook:
        hook = DsqlHook(dsql_conn_id="dsql_scratch")
        hook.execute_ddl("CREATE SCHEMA sys")
        hook.execute_ddl("CREATE TABLE sys.jobs (job_id text, status text, details text)")
        hook.run("INSERT INTO sys.jobs VALUES ('done1', 'completed', NULL), ('run1', 'processing', NULL)")
        return hook

    def test_pending_jobs(self, jobs: DsqlHook) -> None:
        assert jobs.pending_index_jobs() == [{"job_id": "run1", "status": "processing", "details": None}]
        assert jobs.pending_index_jobs(["done1"]) == []

    def test_timeout(self, jobs: DsqlHook) -> None:
        with pytest.raises(DsqlIndexJobError, match=r"1 async index job\(s\): run1 \(processing\), not done after 0s"):
            jobs.wait_for_index_jobs(timeout_s=0, poll_s=0)

    def test_failed_job(self, jobs: DsqlHook) -> None:
        jobs.run("UPDATE sys.jobs SET status = 'failed', details = 'duplicate key' WHERE job_id = 'run1'")
        with pytest.raises(DsqlIndexJobError, match="run1 failed: duplicate key"):
            jobs.wait_for_index_jobs(timeout_s=60, poll_s=0)

    def test_completes(self, jobs: DsqlHook) -> None:
        jobs.run("UPDATE sys.jobs SET status = 'completed'")
        jobs.wait_for_index_jobs(timeout_s=0, poll_s=0)
