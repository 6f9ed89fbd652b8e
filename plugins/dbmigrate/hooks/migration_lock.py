"""Per-target leases, so two runs of a migration never write to the same target at the same time.

`max_active_runs=1` only serializes the runs one Airflow deployment schedules (not a backfill's runs): two
`airflow dags test` processes, a UI run beside a test run, or two deployments sharing a target all get past
it. The lock lives in the target itself, so every run that can write there sees it, however it was started.

A lock is a lease: the holder (dag id and run id of the Airflow run), when it took it and until when it holds
it. The same run may take it again (a cleared or retried task); another run is refused until the holder
releases it or its lease has passed (a crashed run that never released). Release is conditional on the holder:
a run never frees a lock another run holds.

- `DsqlLockHook`: a row of `<schema>.dbmigrate_lock` (include/sql/<ddl_dir>/070_dbmigrate_lock.sql), taken with
  INSERT … ON CONFLICT … DO UPDATE … WHERE the lease passed. The database's clock decides expiry, so workers'
  clocks do not matter. DSQL reports a concurrent taker as an OCC conflict (SQLSTATE 40001) at COMMIT: that
  is "held by someone else", never retried.
- `DynamoDbLockHook`: an item of a lock table (default `dbmigrate_locks`, PAY_PER_REQUEST, created if missing),
  never of the target tables, whose item counts are validated. The execution role may not PutItem or
  DeleteItem on DynamoDB at all (deploy/mwaa/execution-role-policy.json: no writes to target items but the
  Glue jobs'), so both acquire and release are conditional UpdateItems on the lock table only: acquire SETs
  the holder if `attribute_not_exists(expires_at) OR expires_at < :now` (or it is this run), release REMOVEs
  the holder if it is this run. Expiry uses the worker's clock; a lease of hours dwarfs any clock skew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from botocore.exceptions import ClientError
from psycopg import sql

from connectors.dynamodb_load_log import LOG_TABLE, ensure_log_table
from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook

LOCK_TABLE = "dbmigrate_lock"  # the DSQL lock table, in the target schema
DYNAMODB_LOCK_TABLE = LOG_TABLE  # the load log of each table lives there too
# Long enough for a whole run: the EMR step wait gives up after 4 h (240 polls of 60 s), local and Glue loads
# of the specs take minutes to an hour or two, and validation rereads the source once or twice. Short enough
# that a run which died without releasing (a killed worker) blocks the target for a few hours, not for days.
DEFAULT_LEASE_S = 6 * 3600


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, since when and until when (UTC)."""

    lock_name: str
    dag_id: str
    run_id: str
    acquired_at: datetime
    expires_at: datetime

    def as_dict(self) -> dict[str, str]:
        return {"lock_name": self.lock_name, "holder_dag_id": self.dag_id, "holder_run_id": self.run_id,
                "acquired_at": self.acquired_at.isoformat(), "expires_at": self.expires_at.isoformat()}

    def is_run(self, dag_id: str, run_id: str) -> bool:
        return (self.dag_id, self.run_id) == (dag_id, run_id)


class LockHeld(RuntimeError):
    """Another run holds the lock (or took it at the same moment, `holder` then None if it is already gone)."""

    def __init__(self, lock_name: str, where: str, holder: LockHolder | None) -> None:
        self.lock_name, self.where, self.holder = lock_name, where, holder
        if holder is None:
            who = "another run, which took it at the same moment"
        else:
            who = (f"{holder.dag_id} run {holder.run_id} since {holder.acquired_at.isoformat()} "
                   f"(lease until {holder.expires_at.isoformat()})")
        self.held_by = f"target lock {lock_name!r} ({where}) is held by {who}"
        super().__init__(f"{self.held_by}; this run wrote nothing. "
                         "Trigger it again when that run has ended (or, if it died, once its lease has passed).")


class LockTableMissing(RuntimeError):
    """The lock table is not there (and cannot be created by this hook)."""


class DsqlLockHook(DsqlHook):
    """Leases in `<schema>.dbmigrate_lock` of Aurora DSQL (or its PostgreSQL stand-in).

    :param schema: the target schema holding the lock table
    Other arguments as for `DsqlHook`.
    """

    def __init__(self, *, schema: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, LOCK_TABLE)

    @property
    def where(self) -> str:
        return f"{self.schema}.{LOCK_TABLE}"

    def _missing(self) -> LockTableMissing:
        return LockTableMissing(f"the lock table {self.where} does not exist: deploy the DDL first "
                                f"(include/sql/<ddl_dir>/070_dbmigrate_lock.sql creates it)")

    def acquire(self, lock_name: str, dag_id: str, run_id: str, lease_s: float = DEFAULT_LEASE_S) -> LockHolder:
        """Take `lock_name` for (dag_id, run_id) for `lease_s` seconds; raise `LockHeld` if another run has it.

        One INSERT … ON CONFLICT DO UPDATE … WHERE (expired or this run) … RETURNING: no row back means the
        lock is held. A serialization failure (40001: DSQL's OCC conflict, another run committed first) is
        the same answer, not a reason to retry. Runs in its own transaction.
        """
        statement = sql.SQL(
            "INSERT INTO {t} AS l (lock_name, holder_dag_id, holder_run_id, acquired_at, expires_at) "
            "VALUES (%(name)s, %(dag)s, %(run)s, now(), now() + %(lease)s * interval '1 second') "
            "ON CONFLICT (lock_name) DO UPDATE SET holder_dag_id = EXCLUDED.holder_dag_id, "
            "holder_run_id = EXCLUDED.holder_run_id, acquired_at = EXCLUDED.acquired_at, "
            "expires_at = EXCLUDED.expires_at "
            "WHERE l.expires_at < now() OR (l.holder_dag_id = EXCLUDED.holder_dag_id "
            "AND l.holder_run_id = EXCLUDED.holder_run_id) "
            "RETURNING lock_name, holder_dag_id, holder_run_id, acquired_at, expires_at").format(t=self.table)
        params = {"name": lock_name, "dag": dag_id, "run": run_id, "lease": float(lease_s)}
        try:
            with self.get_conn() as conn, conn.cursor() as cur:
                cur.execute(statement, params)
                row = cur.fetchone()
        except psycopg.errors.UndefinedTable:
            raise self._missing() from None
        except psycopg.errors.SerializationFailure as err:  # another run committed its take first
            raise LockHeld(lock_name, self.where, self.holder(lock_name)) from err
        if row is None:
            raise LockHeld(lock_name, self.where, self.holder(lock_name))
        return LockHolder(*row)

    def release(self, lock_name: str, dag_id: str, run_id: str) -> bool:
        """Delete the lock if (dag_id, run_id) holds it; True if it did. A missing lock table holds nothing."""
        statement = sql.SQL("DELETE FROM {t} WHERE lock_name = %s AND holder_dag_id = %s AND holder_run_id = %s "
                            "RETURNING lock_name").format(t=self.table)
        try:
            return bool(self._retry(lambda: self._fetch(statement, [lock_name, dag_id, run_id])))
        except psycopg.errors.UndefinedTable:
            return False

    def holder(self, lock_name: str) -> LockHolder | None:
        """Who holds `lock_name` now (an expired lease included), or None."""
        statement = sql.SQL("SELECT lock_name, holder_dag_id, holder_run_id, acquired_at, expires_at FROM {t} "
                            "WHERE lock_name = %s").format(t=self.table)
        try:
            rows = self._retry(lambda: self._fetch(statement, [lock_name]))
        except psycopg.errors.UndefinedTable:
            raise self._missing() from None
        return LockHolder(*rows[0]) if rows else None

    def _fetch(self, statement: sql.Composable, params: list[Any]) -> list[tuple]:
        with self.get_conn() as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


class DynamoDbLockHook(DynamoDBTablesHook):
    """Leases as items of a DynamoDB lock table (partition key `lock_key`), created on first use if missing.

    :param lock_table: the lock table's name. Default `dbmigrate_locks`.
    Other arguments (``aws_conn_id``, ``region_name``) as for `DynamoDBTablesHook`.
    """

    def __init__(self, *args: Any, lock_table: str = DYNAMODB_LOCK_TABLE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock_table = lock_table

    def ensure_lock_table(self) -> None:
        """Create the lock table (PAY_PER_REQUEST) if it does not exist, and wait until it does.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.create_table`
        """
        try:
            ensure_log_table(self.conn, self.lock_table)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "AccessDeniedException":
                raise LockTableMissing(
                    f"the DynamoDB lock table {self.lock_table} does not exist and this role may not create it: "
                    "create it (PAY_PER_REQUEST, partition key lock_key of type S)") from err
            raise

    def _update(self, **kwargs: Any) -> dict[str, Any]:
        """UpdateItem on the lock table, creating the table once if it is missing."""
        request = {"TableName": self.lock_table, **kwargs}
        try:
            return self.conn.update_item(**request)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        self.ensure_lock_table()
        return self.conn.update_item(**request)

    def acquire(self, lock_key: str, dag_id: str, run_id: str, lease_s: float = DEFAULT_LEASE_S,
                now: float | None = None) -> LockHolder:
        """Take `lock_key` for (dag_id, run_id); raise `LockHeld`, naming the holder, if another run has it.

        A conditional UpdateItem (upserts the item): succeeds if nobody holds it, its lease passed, or this run
        holds it; else DynamoDB returns the holder's item (`ReturnValuesOnConditionCheckFailure`).

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.update_item`
        """
        now = time.time() if now is None else now
        try:
            self._update(
                Key={"lock_key": {"S": lock_key}},
                UpdateExpression="SET holder_dag_id = :dag, holder_run_id = :run, acquired_at = :now, "
                                 "expires_at = :expires",
                ConditionExpression="attribute_not_exists(expires_at) OR expires_at < :now "
                                    "OR (holder_dag_id = :dag AND holder_run_id = :run)",
                ExpressionAttributeValues={":dag": {"S": dag_id}, ":run": {"S": run_id}, ":now": {"N": repr(now)},
                                           ":expires": {"N": repr(now + float(lease_s))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise LockHeld(lock_key, f"DynamoDB table {self.lock_table}", _holder(err.response.get("Item"))) \
                from None
        return LockHolder(lock_key, dag_id, run_id, _utc(now), _utc(now + float(lease_s)))

    def release(self, lock_key: str, dag_id: str, run_id: str) -> bool:
        """Clear the lock if (dag_id, run_id) holds it; True if it did. A missing lock table holds nothing.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.update_item`
        """
        try:
            self.conn.update_item(
                TableName=self.lock_table, Key={"lock_key": {"S": lock_key}},
                UpdateExpression="REMOVE holder_dag_id, holder_run_id, acquired_at, expires_at",
                ConditionExpression="holder_dag_id = :dag AND holder_run_id = :run",
                ExpressionAttributeValues={":dag": {"S": dag_id}, ":run": {"S": run_id}})
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("ConditionalCheckFailedException",
                                                              "ResourceNotFoundException"):
                return False
            raise
        return True

    def holder(self, lock_key: str) -> LockHolder | None:
        """Who holds `lock_key` (an expired lease included), or None. Strongly consistent.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.get_item`
        """
        try:
            item = self.conn.get_item(TableName=self.lock_table, Key={"lock_key": {"S": lock_key}},
                                      ConsistentRead=True).get("Item")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        return _holder(item)


def _holder(item: dict[str, Any] | None) -> LockHolder | None:
    """The holder an item of the lock table names, None for a free (released) one."""
    if not item or "expires_at" not in item:
        return None
    return LockHolder(item["lock_key"]["S"], item["holder_dag_id"]["S"], item["holder_run_id"]["S"],
                      _utc(float(item["acquired_at"]["N"])), _utc(float(item["expires_at"]["N"])))
