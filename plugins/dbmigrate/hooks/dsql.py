"""Airflow hook for Amazon Aurora DSQL: IAM-token connections, OCC retries and async index jobs.

The connection logic lives in `connectors.dsql` (shared with the Spark executors); this hook only turns an
Airflow connection into a `DsqlTarget` and uses the AWS connection's credentials (the MWAA execution
role, or `aws_default`) to sign IAM tokens. It keeps config, never per-run state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import psycopg
from airflow.sdk.bases.hook import BaseHook

import dbmigrate  # noqa: F401 - puts include/ on sys.path for `connectors`
from connectors.dsql import DsqlTarget, auth_token, connect, run_with_retry

if TYPE_CHECKING:
    import boto3

# sys.jobs states that end a job; anything else is still running.
JOB_DONE = "completed"
JOB_FAILED = ("failed", "cancelled")


class DsqlIndexJobError(RuntimeError):
    """An async index job failed, or did not finish in time."""


def index_jobs_state(pending: list[dict[str, Any]]) -> tuple[str, str]:
    """`done`, `failed` or `running`, and what to say, for the jobs `DsqlHook.pending_index_jobs` returned: the one
    reading of `sys.jobs` the hook's wait and the trigger share."""
    failed = [j for j in pending if str(j["status"]).lower() in JOB_FAILED]
    if failed:
        return "failed", "async index job(s) failed: " + "; ".join(
            f"{j['job_id']} {j['status']}: {j['details']}" for j in failed)
    if not pending:
        return "done", "no async index job left"
    return "running", f"{len(pending)} async index job(s): " + ", ".join(
        f"{j['job_id']} ({j['status']})" for j in pending)


class DsqlHook(BaseHook):
    """Connect to Aurora DSQL (or the PostgreSQL stand-in) described by an Airflow connection.

    Connection fields: host (cluster endpoint), port (5432), login (role, default `admin`), schema
    (database, default `postgres`); extra: `auth` (`iam` default, or `password` for the stand-in),
    `region_name`, `sslmode` (default `verify-full`). The password is only used with `auth=password`.

    :param dsql_conn_id: Airflow connection of the cluster. Default `dsql_default`.
    :param aws_conn_id: AWS connection whose credentials sign IAM tokens. Default `aws_default`.
    """

    conn_name_attr = "dsql_conn_id"
    default_conn_name = "dsql_default"
    conn_type = "aurora_dsql"
    hook_name = "Amazon Aurora DSQL"

    def __init__(self, *, dsql_conn_id: str = default_conn_name, aws_conn_id: str | None = "aws_default") -> None:
        super().__init__()
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id

    def get_target(self) -> DsqlTarget:
        """The `DsqlTarget` of the Airflow connection; raises `ValueError` if it is unusable. Read once per hook: a
        task's queries each open a connection, and each lookup of the Airflow connection is a request to the API
        server (64 of a 400-document run's validator queries spent ~1 s on them)."""
        return self._target

    @cached_property
    def _target(self) -> DsqlTarget:
        conn = self.get_connection(self.dsql_conn_id)
        extra = conn.extra_dejson
        auth = str(extra.get("auth", "iam"))
        region = extra.get("region_name")
        if auth == "iam" and not region:
            region = self._aws_hook.region_name  # fall back to the AWS connection's region
        return DsqlTarget(
            host=conn.host or "", port=int(conn.port or 5432), user=conn.login or "admin",
            database=conn.schema or "postgres", region=region, auth=auth,
            password=conn.password if auth == "password" else None,
            sslmode=str(extra.get("sslmode", "verify-full")),
            **{k: extra[k] for k in ("token_expires_s", "max_connection_age_s", "connect_timeout_s",
                                     "sslrootcert") if k in extra},
        )

    @cached_property
    def _aws_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dsql")

    def get_session(self, target: DsqlTarget) -> boto3.session.Session | None:
        """The boto3 session that signs IAM tokens (None for password auth, which needs none)."""
        return self._aws_hook.get_session(region_name=target.region) if target.is_dsql else None

    def get_auth_token(self) -> str:
        """Generate an IAM auth token for the connection's role.

        .. seealso::
            - :external+boto3:py:meth:`DSQL.Client.generate_db_connect_admin_auth_token` (role `admin`)
            - :external+boto3:py:meth:`DSQL.Client.generate_db_connect_auth_token` (other roles)
        """
        target = self.get_target()
        return auth_token(target, self.get_session(target))

    def get_conn(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """Open a new psycopg connection (wraps `connectors.dsql.connect`, with a fresh IAM token)."""
        target = self.get_target()
        return connect(target, autocommit=autocommit, session=self.get_session(target))

    def _retry(self, fn: Callable[[], Any]) -> Any:
        def log_retry(attempt: int, exc: BaseException, delay: float) -> None:
            self.log.warning("OCC conflict or lost connection on attempt %d, retrying in %.2fs: %s", attempt, delay,
                             exc)

        return run_with_retry(fn, on_retry=log_retry)

    def run(self, sql: str | Sequence[str], parameters: Sequence[Any] | dict[str, Any] | None = None,
            autocommit: bool = False) -> None:
        """Run one or more statements as one transaction, replayed whole on OCC conflicts and lost connections.

        Wraps `psycopg.Cursor.execute` inside `connectors.dsql.run_with_retry`; every attempt opens its
        own connection and transaction. `parameters` apply to every statement.
        """
        statements = [sql] if isinstance(sql, str) else list(sql)

        def attempt() -> None:
            with self.get_conn(autocommit=autocommit) as conn, conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement, parameters)

        self._retry(attempt)

    def get_records(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Return all rows of a query (wraps `psycopg.Cursor.execute` + `fetchall`, with OCC retry)."""

        def attempt() -> list[tuple]:
            with self.get_conn() as conn, conn.cursor() as cur:
                cur.execute(sql, parameters)
                return cur.fetchall()

        return self._retry(attempt)

    def execute_ddl(self, statement: str) -> str | None:
        """Run one DDL statement in its own autocommit transaction, retried on OCC (OC001) conflicts.

        DSQL allows one DDL statement per transaction. Wraps `psycopg.Cursor.execute`; returns the
        `job_id` that `CREATE INDEX ASYNC` reports, else None.
        """

        def attempt() -> str | None:
            with self.get_conn(autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(statement)
                row = cur.fetchone() if cur.description else None
                names = [d.name for d in cur.description or ()]
                return str(row[names.index("job_id")]) if row and "job_id" in names else None

        return self._retry(attempt)

    def pending_index_jobs(self, job_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Async jobs in `sys.jobs` not yet completed (failed ones included), optionally only `job_ids`.

        Wraps a query on DSQL's `sys.jobs` view. The PostgreSQL stand-in has no such view and builds its
        indexes synchronously, so there it returns [].
        """
        try:
            rows = self.get_records(f"SELECT job_id, status, details FROM sys.jobs WHERE status <> '{JOB_DONE}'")
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            return []
        wanted = None if job_ids is None else {str(j) for j in job_ids}
        return [{"job_id": str(job_id), "status": status, "details": details}
                for job_id, status, details in rows if wanted is None or str(job_id) in wanted]

    def wait_for_index_jobs(self, timeout_s: float = 1800, poll_s: float = 10,
                            job_ids: Iterable[str] | None = None) -> None:
        """Poll `pending_index_jobs` until none is left; raise `DsqlIndexJobError` on failure or timeout. (Held in
        a worker: `DsqlDeployDdlOperator` with `deferrable` waits in the triggerer instead.)"""
        wanted = None if job_ids is None else list(job_ids)
        deadline = time.monotonic() + timeout_s
        while True:
            state, message = index_jobs_state(self.pending_index_jobs(wanted))
            if state == "failed":
                raise DsqlIndexJobError(message)
            if state == "done":
                return
            if time.monotonic() >= deadline:
                raise DsqlIndexJobError(f"{message}, not done after {timeout_s}s")
            self.log.info("Waiting for %s", message)
            time.sleep(poll_s)
