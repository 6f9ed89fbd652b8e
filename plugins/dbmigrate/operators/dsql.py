"""Deploy a folder of DSQL DDL files: lint everything first, then apply one statement per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import conf
from airflow.sdk.bases.operator import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from dbmigrate import paths
from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.triggers.dsql import DsqlIndexJobsTrigger
from transforms.booleans import as_bool
from transforms.ddl_lint import for_postgres, lint_dsql, split_statements


class DsqlDeployDdlOperator(BaseOperator):
    """Apply the `*.sql` files of a folder to Aurora DSQL, in file-name order.

    Every file is linted with `lint_dsql` before anything runs, so a DSQL-incompatible statement fails
    the task (without retries) and leaves the target untouched. Each statement then runs in its own
    autocommit transaction (DSQL allows one DDL per transaction); on the PostgreSQL stand-in
    `CREATE INDEX ASYNC` loses its `ASYNC`. On DSQL the task waits for the async index builds: deferred to the
    triggerer (`DsqlIndexJobsTrigger`) with `deferrable`, else polling in the worker.
    The statements should be idempotent (`IF NOT EXISTS`) so that a retry or a re-run is safe.

    :param sql_dir: Folder of `*.sql` files; relative ones under the package's `sql/`. (templated)
    :param dsql_conn_id: Airflow connection of the DSQL cluster. Default `dsql_default`.
    :param aws_conn_id: AWS connection that signs IAM tokens. Default `aws_default`.
    :param wait_for_index_jobs: Wait until async index jobs complete. Default True.
    :param deferrable: Wait in the triggerer, holding no worker slot. Default: the `[operators]
        default_deferrable` option.
    :param waiter_delay: Seconds between polls of `sys.jobs`. Default 15.
    :param waiter_max_attempts: Polls before the wait fails. Default 120 (30 minutes at the default delay).
    :param lint_only: Lint and stop, applying nothing (a dry run). Default False. (templated)
    :return: The number of statements applied.
    """

    template_fields: Sequence[str] = ("sql_dir", "lint_only")
    ui_color = "#f0e4ff"

    def __init__(self, *, sql_dir: str, dsql_conn_id: str = "dsql_default",
                 aws_conn_id: str | None = "aws_default", wait_for_index_jobs: bool = True,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 waiter_delay: int = 15, waiter_max_attempts: int = 120, lint_only: Any = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql_dir = sql_dir
        self.lint_only = lint_only
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id
        self.wait_for_index_jobs = wait_for_index_jobs
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def _load(self) -> list[tuple[str, int, str]]:
        """(file name, statement no, statement) for every statement; fails on any lint issue."""
        folder = paths.sql_dir(self.sql_dir)
        files = sorted(folder.glob("*.sql"))
        if not files:
            raise AirflowFailException(f"no *.sql files in {folder}")
        statements: list[tuple[str, int, str]] = []
        problems: list[str] = []
        for path in files:
            text = path.read_text(encoding="utf-8")
            try:
                problems += [f"{path.name} statement {i.statement_no} [{i.rule}]: {i.message}"
                             for i in lint_dsql(text)]
                statements += [(path.name, n, s) for n, s in enumerate(split_statements(text), start=1)]
            except ValueError as err:  # an unterminated quote or comment
                problems.append(f"{path.name}: {err}")
        if problems:
            raise AirflowFailException(f"{len(problems)} DSQL incompatibilities in {folder}, nothing applied:\n"
                                       + "\n".join(problems))
        return statements

    def execute(self, context: Any) -> int:
        statements = self._load()
        if as_bool(self.lint_only):
            self.log.info("Lint only: %d statements pass, none applied", len(statements))
            return 0
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        target = hook.get_target()
        self.log.info("Applying %d statements to %s", len(statements), target.redacted())
        for file_name, n, statement in statements:
            sql = statement if target.is_dsql else for_postgres(statement)
            self.log.info("%s #%d: %s", file_name, n, " ".join(sql.split())[:200])
            job_id = hook.execute_ddl(sql)
            if job_id:
                self.log.info("%s #%d started async job %s", file_name, n, job_id)
        if not (target.is_dsql and self.wait_for_index_jobs):
            return len(statements)
        if not self.deferrable:
            hook.wait_for_index_jobs(timeout_s=self.waiter_delay * self.waiter_max_attempts, poll_s=self.waiter_delay)
            return len(statements)
        if hook.pending_index_jobs():
            self.defer(trigger=DsqlIndexJobsTrigger(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id,
                                                    waiter_delay=self.waiter_delay,
                                                    waiter_max_attempts=self.waiter_max_attempts),
                       method_name="execute_complete", kwargs={"statements": len(statements)})
        return len(statements)

    def execute_complete(self, context: Any, event: dict[str, Any], statements: int = 0) -> int:
        """The triggerer's answer: every index job done, else the task fails with what `sys.jobs` said."""
        if event.get("status") != "success":
            raise AirflowException(f"DSQL async index jobs: {event.get('message')}")
        self.log.info("Async index jobs done: %s", event.get("message"))
        return statements
