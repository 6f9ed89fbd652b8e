"""Which intervals of the source a DynamoDB target table holds: one item per table in the lock table.

The DSQL target keeps its load log as a table of its schema (`connectors.load_log`); a DynamoDB target cannot,
since every item of a target table is counted and reconciled. So the log is an item of the lock
table (`dbmigrate_locks`, partition key `lock_key`), `loads#<table>`: whether a full load ran, the latest
window end an interval load reached, how many loads there were and the last one. Interval loads only ever add
rows of the incremental table up to their end, so the table reflects the source up to that end
(`transforms.intervals.covered`): the jobs build the derived attributes for that point and the validators compare
against it.

Plain boto3 (no Airflow): the Glue jobs record their load, the validators and `DynamoDbLockHook` read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from transforms.intervals import Window, covered

LOG_TABLE = "dbmigrate_locks"  # shared with the run locks (`dbmigrate.hooks.migration_lock`)
KEY = "lock_key"


def log_key(table: str) -> dict[str, dict[str, str]]:
    return {KEY: {"S": f"loads#{table}"}}


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code"))


def ensure_log_table(client: Any, name: str = LOG_TABLE) -> None:
    """Create the lock/log table (PAY_PER_REQUEST, partition key `lock_key` S) unless it exists; wait for it."""
    try:
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}])
    except ClientError as err:
        if _code(err) != "ResourceInUseException":  # it exists, or another run is creating it right now
            raise
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})


@dataclass(frozen=True)
class Loads:
    """What the log says about one table. `loads == 0`: nothing was ever loaded into it."""

    loads: int = 0
    full: bool = False
    until: datetime | None = None  # the latest end an interval load reached
    windows: tuple[Window, ...] = ()  # every window loaded (a load without a window: `FULL`)
    source: str | None = None  # what the latest load read (`source` of `record_load`)

    def holds(self, at_least: Window | None = None) -> Window:
        """Everything the table holds, counting `at_least` (the current run's window) as loaded."""
        ends: list[datetime | None] = [] if at_least is None else [at_least.end]
        if self.full:
            ends.append(None)
        elif self.until is not None:
            ends.append(self.until)
        return covered(ends)


def table_identity(client: Any, table: str) -> str | None:
    """Which incarnation of `table` this is (its TableId, else its creation time); None when it does not exist.
    A table deleted and created again is empty: the log of the old one must not speak for it."""
    try:
        desc = client.describe_table(TableName=table)["Table"]
    except ClientError as err:
        if _code(err) == "ResourceNotFoundException":
            return None
        raise
    created = desc.get("CreationDateTime")
    return str(desc.get("TableId") or (created.timestamp() if isinstance(created, datetime) else created))


def read_loads(client: Any, table: str, log_table: str = LOG_TABLE) -> Loads:
    """The log item of `table` (strongly consistent); no log table, no item, or an item of an earlier table of
    that name: nothing loaded."""
    try:
        item = client.get_item(TableName=log_table, Key=log_key(table), ConsistentRead=True).get("Item")
    except ClientError as err:
        if _code(err) == "ResourceNotFoundException":
            return Loads()
        raise
    if not item or item.get("table_id", {}).get("S") != table_identity(client, table):
        return Loads()
    until = item.get("until", {}).get("S")
    return Loads(loads=int(item.get("loads", {}).get("N", "0")), full=bool(item.get("full", {}).get("BOOL")),
                 until=datetime.fromisoformat(until) if until else None,
                 windows=tuple(sorted((_window_of(w) for w in item.get("windows", {}).get("SS", [])),
                                      key=lambda w: (w.start is not None, w.start))),
                 source=_source_of(item.get("source", {}).get("S")))


def _source_of(text: str | None) -> str | None:
    return None if text in (None, "-") else text


def _window_text(window: Window) -> str:
    return f"{window.as_dict()['start'] or '-'}|{window.as_dict()['end'] or '-'}"


def _window_of(text: str) -> Window:
    start, end = text.split("|")
    return Window.parse(None if start == "-" else start, None if end == "-" else end)


def record_load(client: Any, table: str, window: Window, run_id: str, log_table: str = LOG_TABLE,
                source: str | None = None) -> None:
    """Note that `run_id` loaded `window` of `source` into `table`: `until` only ever grows (a conditional update),
    a load without a window sets `full`, every window joins the set `windows`. A log item of an earlier table of
    that name starts over. Creates the log table if it is missing."""
    identity = table_identity(client, table)
    if identity is None:
        raise ValueError(f"DynamoDB table {table} does not exist: no load to record")
    now = datetime.now(UTC).isoformat()
    names = {"#loads": "loads", "#last": "last_run_id", "#w": "last_window", "#at": "last_loaded_at",
             "#id": "table_id", "#ws": "windows", "#src": "source"}
    values: dict[str, Any] = {":one": {"N": "1"}, ":run": {"S": run_id}, ":at": {"S": now}, ":id": {"S": identity},
                              ":w": {"S": f"{window.as_dict()['start'] or '-'} .. {window.as_dict()['end'] or '-'}"},
                              ":ws": {"SS": [_window_text(window)]}, ":src": {"S": source or "-"}}
    updates = [dict(UpdateExpression="REMOVE #loads, #full, #until, #ws SET #id = :id",
                    ConditionExpression="attribute_exists(#id) AND #id <> :id",
                    ExpressionAttributeNames={"#loads": "loads", "#full": "full", "#until": "until", "#id": "table_id",
                                              "#ws": "windows"},
                    ExpressionAttributeValues={":id": {"S": identity}}),
               dict(UpdateExpression="ADD #loads :one, #ws :ws SET #last = :run, #w = :w, #at = :at, #id = :id, "
                                     "#src = :src",
                    ExpressionAttributeNames=names, ExpressionAttributeValues=values)]
    if window.end is None:
        updates.append(dict(UpdateExpression="SET #full = :true", ExpressionAttributeNames={"#full": "full"},
                            ExpressionAttributeValues={":true": {"BOOL": True}}))
    else:
        end = window.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")  # fixed width: compares as time
        updates.append(dict(UpdateExpression="SET #until = :end",
                            ConditionExpression="attribute_not_exists(#until) OR #until < :end",
                            ExpressionAttributeNames={"#until": "until"},
                            ExpressionAttributeValues={":end": {"S": end}}))
    for update in updates:
        request = {"TableName": log_table, "Key": log_key(table), **update}
        try:
            try:
                client.update_item(**request)
            except ClientError as err:
                if _code(err) != "ResourceNotFoundException":
                    raise
                ensure_log_table(client, log_table)
                client.update_item(**request)
        except ClientError as err:
            if _code(err) != "ConditionalCheckFailedException":  # an earlier load reached further: keep it
                raise
