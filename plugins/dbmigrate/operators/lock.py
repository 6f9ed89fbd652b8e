"""Take the target's lock before a run writes, and give it back when the run ends (`hooks.migration_lock`).

`Acquire…` runs once the target is ready (DDL deployed, tables ACTIVE) and before anything is written. A manual
run that finds the lock held fails at once, naming the holding DAG and run and since when, and writes nothing:
whoever triggered it learns at once that another load is writing. A backfill or scheduled run waits instead:
the runs of one backfill start together (`airflow backfill create` runs up to 10 at a time whatever the DAG's
`max_active_runs`), and an interval should queue behind its neighbours, not fail. It waits deferred (no worker
slot held), trying again every `poll_s`, for at most `wait_s` (one lease by default: a holder that neither
ends nor releases has lost the lock by then). Waiting runs take the lock in interval order: while the run of
the interval before this one is running and has yet to get past its own acquire, this one waits too, so each
run's cumulative check (the source up to its interval's end) sees every earlier interval loaded. A run whose
predecessor is only queued (`--run-backwards` with one run at a time) does not wait for it. A dry run writes
nothing, so it neither takes nor checks the lock (its target may not even have the lock table yet).

`Release…` runs when the run ends whatever happened (trigger rule ALL_DONE) and frees the lock only if this
run holds it: a run refused the lock frees nothing. It never fails, so it cannot change the run's outcome or
hide its first real failure from the report; if the target cannot be reached it logs the error, and the lease
ends the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate.hooks.migration_lock import (
    DEFAULT_LEASE_S,
    DYNAMODB_LOCK_TABLE,
    DsqlLockHook,
    DynamoDbLockHook,
    LockHeld,
    LockHolder,
    LockTableMissing,
)
from transforms.booleans import as_bool

WAITING_RUN_TYPES = frozenset({"backfill", "scheduled"})  # runs that queue for the lock; manual runs fail at once
FINISHED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


DEFAULT_POLL_S = 30.0


def lock_poll_seconds() -> float:
    """How often a waiting run tries the lock again: `[dbmigrate] lock_poll_seconds` of Airflow's configuration (a
    deployment's setting: the test stack polls every second), else every 30 s."""
    from airflow.providers.common.compat.sdk import conf

    return conf.getfloat("dbmigrate", "lock_poll_seconds", fallback=DEFAULT_POLL_S)


def _holder_of(context: Any) -> tuple[str, str]:
    """The Airflow run that takes a lock: its dag id and run id."""
    return context["dag"].dag_id, context["run_id"]


def _run_type(context: Any) -> str:
    """`manual`, `scheduled`, `backfill`, … (`manual` when the context has no DAG run, as in a bare execute)."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type) or "manual")


def _earlier_interval_first(context: Any) -> str | None:
    """The run id of the previous interval's run when it is running and its acquire has not ended yet: this
    run's turn comes after it. None otherwise (no earlier run, it got past the lock, or it is not running)."""
    ti = context["ti"]
    previous = ti.get_previous_ti()  # the same task in the run of the latest earlier logical date
    if previous is None or previous.state in FINISHED_TI_STATES:
        return None
    if ti.get_dagrun_state(previous.dag_id, previous.run_id) != "running":
        return None
    return previous.run_id


class _LockOperator(BaseOperator):
    """What every lock task shares: taking and giving back the target's lock(s), in the backend's `_take` and
    `_give_back`.

    :param dry_run: a dry run takes no lock (templated)
    :param lease_s: how long the lock holds without being released (seconds)
    :param wait_s: how long a backfill or scheduled run waits for a held lock before failing (seconds)
    :param poll_s: how often a waiting run tries again (seconds); default the `[dbmigrate] lock_poll_seconds`
        option of Airflow's configuration (`AIRFLOW__DBMIGRATE__LOCK_POLL_SECONDS`), else 30
    """

    template_fields: Sequence[str] = ("dry_run",)
    ui_color = "#fde2e4"

    def __init__(self, *, dry_run: Any = False, lease_s: float = DEFAULT_LEASE_S, wait_s: float | None = None,
                 poll_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.lease_s = lease_s
        self.wait_s = lease_s if wait_s is None else wait_s
        self.poll_s = poll_s

    def _target(self) -> Any:
        """What is locked (None when the run's inputs were never resolved)."""
        raise NotImplementedError

    def _take(self, dag_id: str, run_id: str) -> list[LockHolder]:
        raise NotImplementedError

    def _give_back(self, dag_id: str, run_id: str) -> list[str]:
        raise NotImplementedError

    def _acquire(self, context: Any, waiting_since: str | None = None) -> dict[str, Any]:
        if as_bool(self.dry_run):
            self.log.info("Dry run: nothing is written, so no target lock is taken")
            return {"acquired": False, "locks": []}
        dag_id, run_id = _holder_of(context)
        run_type = _run_type(context)
        earlier = _earlier_interval_first(context) if run_type in WAITING_RUN_TYPES else None
        if earlier is not None:
            self._wait(run_type, f"The earlier interval's run {earlier} has yet to take the target lock",
                       waiting_since)
        try:
            held = self._take(dag_id, run_id)
        except LockTableMissing as err:
            raise AirflowFailException(str(err)) from err
        except LockHeld as err:
            if run_type not in WAITING_RUN_TYPES:
                raise AirflowFailException(str(err)) from err
            self._wait(run_type, err.held_by, waiting_since, str(err))
        for h in held:
            self.log.info("Target lock %r taken by %s run %s until %s", h.lock_name, h.dag_id, h.run_id,
                          h.expires_at.isoformat())
        return {"acquired": True, "locks": [h.as_dict() for h in held]}

    def _wait(self, run_type: str, reason: str, waiting_since: str | None, error: str | None = None
              ) -> NoReturn:
        """Defer until the next try while this run has time left of `wait_s`; fail with `error` (default
        `reason`) once it has waited that long."""
        now = datetime.now(UTC)
        since = datetime.fromisoformat(waiting_since) if waiting_since else now
        if (now - since).total_seconds() >= self.wait_s:
            raise AirflowFailException(f"{error or reason + '.'} This {run_type} run waited {now - since} for it, "
                                       f"its limit (wait_s={self.wait_s:g}).")
        poll_s = self.poll_s if self.poll_s is not None else lock_poll_seconds()
        self.log.info("%s; this %s run waits for it, writing nothing meanwhile: next try in %gs (waiting since %s, "
                      "for at most %gs).", reason, run_type, poll_s, since.isoformat(), self.wait_s)
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=poll_s)), method_name="execute_after_wait",
                   kwargs={"waiting_since": since.isoformat()})

    def execute_after_wait(self, context: Any, event: Any = None, waiting_since: str | None = None
                           ) -> dict[str, Any]:
        """Try the lock again after a deferred wait."""
        return self._acquire(context, waiting_since)

    def _release(self, context: Any) -> dict[str, Any]:
        if as_bool(self.dry_run):
            self.log.info("Dry run: no target lock was taken, none to release")
            return {"released": []}
        if self._target() is None:  # resolve_run failed: the XComArgs rendered as None, nothing was locked
            self.log.info("The run's inputs were never resolved, so it took no target lock")
            return {"released": []}
        dag_id, run_id = _holder_of(context)
        try:
            released = self._give_back(dag_id, run_id)
        except Exception as err:  # noqa: BLE001 - releasing must not change the run's outcome; the lease ends it
            self.log.exception("Could not release the target lock of %s run %s; it ends with its lease (%ss "
                               "after it was taken)", dag_id, run_id, self.lease_s)
            return {"released": [], "error": f"{type(err).__name__}: {err}"}
        self.log.info("Target lock(s) released: %s", released or "none held by this run")
        return {"released": released}


def _release_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A release runs however the run went, once."""
    kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
    kwargs.setdefault("retries", 0)
    return kwargs


class _DsqlLock(_LockOperator):
    """The lock row `lock_name` of `<schema>.dbmigrate_lock` in the DSQL target.

    :param schema: the target schema (templated)
    :param lock_name: the lock's name; default the schema, one writer per schema (templated)
    :param dsql_conn_id: Airflow connection of the DSQL cluster
    :param aws_conn_id: AWS connection that signs IAM tokens
    """

    template_fields: Sequence[str] = (*_LockOperator.template_fields, "schema", "lock_name")

    def __init__(self, *, schema: str, lock_name: str | None = None, dsql_conn_id: str = "dsql_default",
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema
        self.lock_name = lock_name
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id

    def _hook(self) -> DsqlLockHook:
        return DsqlLockHook(schema=self.schema, dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)

    def _target(self) -> Any:
        return self.schema

    def _take(self, dag_id: str, run_id: str) -> list[LockHolder]:
        return [self._hook().acquire(self.lock_name or self.schema, dag_id, run_id, self.lease_s)]

    def _give_back(self, dag_id: str, run_id: str) -> list[str]:
        name = self.lock_name or self.schema
        return [name] if self._hook().release(name, dag_id, run_id) else []


class AcquireDsqlLockOperator(_DsqlLock):
    """Take this run's lock row in the DSQL target; if another run has it, fail naming the holder (manual runs)
    or wait deferred (backfill and scheduled runs)."""

    def execute(self, context: Any) -> dict[str, Any]:
        return self._acquire(context)


class ReleaseDsqlLockOperator(_DsqlLock):
    """Delete this run's lock row (if it holds it). Trigger rule ALL_DONE; never fails."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_release_defaults(kwargs))

    def execute(self, context: Any) -> dict[str, Any]:
        return self._release(context)


def dynamodb_lock_keys(table_names: Any) -> list[str]:
    """One lock per target table (`table/<name>`), sorted so that every run takes them in the same order."""
    names = table_names.values() if isinstance(table_names, dict) else table_names
    return sorted({f"table/{name}" for name in names})


class _DynamoDbLock(_LockOperator):
    """One lock item per target table in the DynamoDB lock table (all or none).

    :param table_names: the run's target tables (a list, or physical name by spec target) (templated)
    :param lock_table: the DynamoDB lock table, created if missing. Default `dbmigrate_locks`.
    :param aws_conn_id: AWS connection for DynamoDB
    """

    template_fields: Sequence[str] = (*_LockOperator.template_fields, "table_names")

    def __init__(self, *, table_names: Any, lock_table: str = DYNAMODB_LOCK_TABLE,
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table_names = table_names
        self.lock_table = lock_table
        self.aws_conn_id = aws_conn_id

    def _hook(self) -> DynamoDbLockHook:
        return DynamoDbLockHook(aws_conn_id=self.aws_conn_id, lock_table=self.lock_table)

    def _target(self) -> Any:
        return self.table_names

    def _take(self, dag_id: str, run_id: str) -> list[LockHolder]:
        hook, held = self._hook(), []
        try:
            for key in dynamodb_lock_keys(self.table_names):
                held.append(hook.acquire(key, dag_id, run_id, self.lease_s))
        except BaseException:
            for h in held:  # all or none: give back what this run took before the refusal
                hook.release(h.lock_name, dag_id, run_id)
            raise
        return held

    def _give_back(self, dag_id: str, run_id: str) -> list[str]:
        hook = self._hook()
        return [key for key in dynamodb_lock_keys(self.table_names) if hook.release(key, dag_id, run_id)]


class AcquireDynamoDbLockOperator(_DynamoDbLock):
    """Take this run's locks of the target tables; if another run has one, fail naming the holder (manual runs)
    or wait deferred (backfill and scheduled runs)."""

    def execute(self, context: Any) -> dict[str, Any]:
        return self._acquire(context)


class ReleaseDynamoDbLockOperator(_DynamoDbLock):
    """Clear this run's locks of the target tables (those it holds). Trigger rule ALL_DONE; never fails."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_release_defaults(kwargs))

    def execute(self, context: Any) -> dict[str, Any]:
        return self._release(context)
