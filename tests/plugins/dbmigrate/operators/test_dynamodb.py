"""DynamoDBTableReadyOperator and DynamoDBImportOperator against the moto server, with uniquely named tables
deleted afterwards."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from connectors.dynamodb_load_log import read_loads
from dbmigrate.operators.dynamodb import DynamoDBImportOperator, DynamoDBTableReadyOperator, import_token
from dbmigrate.triggers.dynamodb import DynamoDBImportTrigger, DynamoDBTablesReadyTrigger
from tests.fixtures.design_tables import CONFIG, TICKET_SALES
from transforms.dynamodb_tables import TableSpec, create_table_kwargs


@pytest.fixture
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture
def named(client: Any) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Copy a table spec dict under a unique name; every such table is deleted afterwards."""
    names: list[str] = []

    def make(d: dict[str, Any]) -> dict[str, Any]:
        names.append(f"{d['name']}_{uuid.uuid4().hex[:10]}")
        return {**copy.deepcopy(d), "name": names[-1]}

    yield make
    for name in names:
        try:
            client.delete_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            pass


def operator(table: dict[str, Any], **kwargs: Any) -> DynamoDBTableReadyOperator:
    return DynamoDBTableReadyOperator(task_id="table_ready", table=table, waiter_delay=1, waiter_max_attempts=5,
                                      **kwargs)


class TestDynamoDBTableReadyOperator:
    def test_template_fields(self) -> None:
        assert DynamoDBTableReadyOperator.template_fields == ("aws_conn_id", "region_name", "table", "verify")
        assert DynamoDBTableReadyOperator.template_fields_renderers == {"table": "json"}

    @pytest.mark.parametrize("design", [TICKET_SALES, CONFIG], ids=["ticket_sales", "config"])
    def test_creates_table_then_accepts_it_unchanged(self, client: Any, named: Any, design: dict[str, Any]) -> None:
        table = named(design)
        arn = operator(table).execute(context={})
        described = client.describe_table(TableName=table["name"])["Table"]
        assert arn == described["TableArn"]
        assert described["TableStatus"] == "ACTIVE"
        assert {g["IndexName"]: g["IndexStatus"] for g in described.get("GlobalSecondaryIndexes", [])} == {
            g["name"]: "ACTIVE" for g in design["gsis"]}
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        # a second run (a retry, the next DAG run) finds the table as specified and succeeds
        assert operator(table).execute(context={}) == arn

    def test_without_waiting(self, named: Any) -> None:
        table = named(CONFIG)
        assert operator(table, wait_for_completion=False).execute(context={}).endswith(f"table/{table['name']}")

    def test_different_sort_key_fails_and_leaves_table_alone(self, client: Any, named: Any) -> None:
        table = named(TICKET_SALES)
        existing = TableSpec.from_dict({**table, "sort_key": {"name": "status", "type": "S"}})
        client.create_table(**create_table_kwargs(existing))
        with pytest.raises(AirflowFailException) as err:
            operator(table).execute(context={})
        message = str(err.value)
        assert f"DynamoDB table {table['name']} exists but differs from its spec in 1 way(s)" in message
        assert "table key: sort key is 'status' (S), spec wants 'ticket_status_owner' (S)" in message
        key_schema = client.describe_table(TableName=table["name"])["Table"]["KeySchema"]
        assert key_schema[1] == {"AttributeName": "status", "KeyType": "RANGE"}

    def test_missing_gsi_and_billing_mode_are_listed(self, client: Any, named: Any) -> None:
        table = named(TICKET_SALES)
        kwargs = create_table_kwargs(TableSpec.from_dict({**table, "gsis": table["gsis"][:3]}))
        kwargs.update(BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5,
                                                                        "WriteCapacityUnits": 5})
        for gsi in kwargs["GlobalSecondaryIndexes"]:
            gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        client.create_table(**kwargs)
        with pytest.raises(AirflowFailException) as err:
            operator(table).execute(context={})
        message = str(err.value)
        assert "differs from its spec in 2 way(s)" in message
        assert "- GSI 'transferred_to_index' is missing" in message
        assert "- billing mode is PROVISIONED, spec wants PAY_PER_REQUEST" in message
        assert "transferred_to_index" not in {
            g["IndexName"] for g in client.describe_table(TableName=table["name"])["Table"]["GlobalSecondaryIndexes"]}

    def test_invalid_spec_fails_without_retry(self) -> None:
        with pytest.raises(AirflowFailException, match="invalid DynamoDB table spec: table 'bad_table': missing"):
            operator({"name": "bad_table"}).execute(context={})

    def test_deferrable_defers_to_trigger_after_creating(self, client: Any, named: Any) -> None:
        table = named(TICKET_SALES)
        op = operator(table, deferrable=True, aws_conn_id="aws_default", region_name="us-east-1")
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context={})
        trigger = deferred.value.trigger
        assert isinstance(trigger, DynamoDBTablesReadyTrigger)
        assert deferred.value.method_name == "execute_complete"
        assert trigger.waiter_args == {"TableName": table["name"]}
        assert trigger.waiter_name == "table_and_indexes_active"
        assert (trigger.waiter_delay, trigger.attempts) == (1, 5)
        assert (trigger.aws_conn_id, trigger.region_name) == ("aws_default", "us-east-1")
        assert client.describe_table(TableName=table["name"])["Table"]["TableStatus"] == "ACTIVE"

        arn = op.execute_complete(context={}, event={"status": "success", "table_name": table["name"]})
        assert arn == client.describe_table(TableName=table["name"])["Table"]["TableArn"]

    def test_deferrable_returns_at_once_for_a_ready_existing_table(self, named: Any) -> None:
        table = named(CONFIG)
        arn = operator(table).execute(context={})
        assert operator(table, deferrable=True).execute(context={}) == arn

    @pytest.mark.parametrize("event", [None, {"status": "error", "message": "boom", "table_name": "t_x"}])
    def test_execute_complete_raises_unless_success(self, event: dict[str, Any] | None) -> None:
        with pytest.raises(AirflowException):
            operator(CONFIG).execute_complete(context={}, event=event)


class TestLeaveNewForImport:
    def test_a_missing_table_is_left_for_the_import_and_an_existing_one_checked(self, client: Any,
                                                                              named: Any) -> None:
        table = named(CONFIG)
        assert operator(table, leave_new=True).execute(context={}) is None
        assert table["name"] not in client.list_tables()["TableNames"]
        arn = operator(table).execute(context={})
        assert operator(table, leave_new=True).execute(context={}) == arn  # it exists: as without the flag


def _imported(client: Any, table: dict[str, Any], tmp_path: Path, items: list[dict], *, built: int | None = None,
              window: dict[str, Any] | None = None) -> tuple[DynamoDBImportOperator, dict[str, Any]]:
    """An import operator on a job report of `items` put under a fresh S3 prefix (the report says `built`)."""
    from connectors.dynamodb_import import import_writer

    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"imp-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/runs/r/import/config"
    dict(import_writer(uri=uri, region="us-east-1")(iter((i, "x") for i in items)))
    n = len(items) if built is None else built
    report = {"run_id": "manual__r", "items": n, "source": "db schema s",
              "import": {"uri": uri, "items": n, "log_table": LOG, "window": window or {"start": None, "end": None}}}
    (tmp_path / "job_report_config.json").write_text(json.dumps(report))
    op = DynamoDBImportOperator(task_id="import_config", table=table, item_set="config",
                                job_report_uris={"config": str(tmp_path / "job_report_config.json")},
                                waiter_delay=1, waiter_max_attempts=30)
    return op, report


LOG = "dbmigrate_import_test_log"


class TestDynamoDBImportOperator:
    def test_template_fields(self) -> None:
        assert DynamoDBImportOperator.template_fields == ("aws_conn_id", "job_report_uris", "region_name", "table",
                                                          "verify")

    def test_a_job_that_wrote_the_table_leaves_nothing_to_import(self, named: Any, tmp_path: Path) -> None:
        (tmp_path / "r.json").write_text(json.dumps({"run_id": "r", "items": 3}))
        op = DynamoDBImportOperator(task_id="i", table=named(CONFIG), item_set="config",
                                    job_report_uris={"config": str(tmp_path / "r.json")})
        assert op.execute(context={}) is None

    def test_imports_every_item_into_the_table_the_spec_describes_and_records_the_load(
            self, client: Any, named: Any, tmp_path: Path) -> None:
        table = named(CONFIG)
        items = [{"data_type": {"S": f"CONFIG#{i}"}, "data_id": {"S": "O'Neil \"q\""}, "n": {"N": str(i)}}
                 for i in range(25)]
        op, _ = _imported(client, table, tmp_path, items)
        out = op.execute(context={})
        assert out["items"] == 25 and ":table/" + table["name"] + "/import/" in out["import_arn"]
        got = client.scan(TableName=table["name"], ConsistentRead=True)["Items"]
        assert sorted(got, key=lambda i: i["data_type"]["S"]) == sorted(items, key=lambda i: i["data_type"]["S"])
        assert operator(table).execute(context={})  # as its spec says: no drift
        loads = read_loads(client, table["name"], LOG)
        assert (loads.loads, loads.full, loads.source) == (1, True, "db schema s")

    def test_an_import_that_misses_items_fails_without_retry(self, client: Any, named: Any, tmp_path: Path) -> None:
        table = named(CONFIG)
        items = [{"data_type": {"S": f"CONFIG#{i}"}, "data_id": {"S": "V"}} for i in range(5)]
        op, _ = _imported(client, table, tmp_path, items, built=6)
        with pytest.raises(AirflowFailException, match=r"COMPLETED, 5 of the 6 items the job built imported, 0 err"):
            op.execute(context={})
        assert read_loads(client, table["name"], LOG).loads == 0  # not recorded

    def test_a_failed_import_says_why_with_its_counts(self, client: Any, named: Any, tmp_path: Path) -> None:
        table = named(CONFIG)
        items = [{"data_type": {"S": "A"}, "data_id": {"S": "1"}}, {"data_type": {"S": "no sort key"}}]
        op, _ = _imported(client, table, tmp_path, items)
        with pytest.raises(AirflowFailException, match=r"FAILED, 1 of the 2 items the job built imported, 1 errors "
                                                       r"\(.*Missing the key data_id"):
            op.execute(context={})

    def test_a_load_of_nothing_makes_the_table_empty(self, client: Any, named: Any, tmp_path: Path) -> None:
        table = named(CONFIG)
        op, _ = _imported(client, table, tmp_path, [], window={"start": "2024-06-01T00:00:00+00:00",
                                                               "end": "2024-06-02T00:00:00+00:00"})
        assert op.execute(context={}) == {"import_arn": None, "items": 0}
        assert client.scan(TableName=table["name"])["Count"] == 0
        loads = read_loads(client, table["name"], LOG)
        assert (loads.loads, loads.full, str(loads.until)) == (1, False, "2024-06-02 00:00:00+00:00")

    def test_deferrable_defers_to_the_import_trigger(self, client: Any, named: Any, tmp_path: Path) -> None:
        table = named(CONFIG)
        op, _ = _imported(client, table, tmp_path, [{"data_type": {"S": "A"}, "data_id": {"S": "B"}}])
        op.deferrable = True
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context={})
        trigger = deferred.value.trigger
        assert isinstance(trigger, DynamoDBImportTrigger) and deferred.value.method_name == "execute_complete"
        assert trigger.waiter_name == "import_completed" and trigger.waiter_args["ImportArn"].startswith("arn:")
        for _ in range(50):  # the trigger's own run is tested with the trigger
            if client.describe_import(ImportArn=trigger.waiter_args["ImportArn"])["ImportTableDescription"][
                    "ImportStatus"] != "IN_PROGRESS":
                break
            time.sleep(0.1)
        out = op.execute_complete(context={}, event={"status": "success",
                                                     "import_arn": trigger.waiter_args["ImportArn"]})
        assert out["items"] == 1
        with pytest.raises(AirflowException):
            op.execute_complete(context={}, event={"status": "error", "message": "boom"})

    def test_the_token_is_one_per_run_and_table(self) -> None:
        assert import_token("r1", "t") == import_token("r1", "t") != import_token("r2", "t")
        assert len(import_token("r1", "t")) == 36
