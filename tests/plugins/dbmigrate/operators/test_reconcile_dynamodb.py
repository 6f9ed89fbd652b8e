"""ValidateDesignReconcileOperator on the embedded stack: the session's generated dms_sample loaded into moto by
the real job (`dms_loaded`), read through an Airflow connection (PostgresHook) and `DynamoDBTablesHook`; it passes
on the load, fails naming the key once an item is gone (put back afterwards), and compares nothing on a dry run."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import MagicMock

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate.operators.reconcile_dynamodb import ValidateDesignReconcileOperator
from dbmigrate.operators.validate_dsql import RESULT_KEY
from tests.fixtures.dms_sample_load import Loaded

pytestmark = pytest.mark.spark
DAG_ID = "dms_sample_to_dynamodb"


@pytest.fixture(scope="module")
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def loaded(dms_loaded: Loaded) -> Loaded:
    return dms_loaded


def execute(conn_id: str, loaded: Loaded, **kwargs: Any) -> tuple[dict[str, Any] | None, Any]:
    """Run the operator; (what it pushed under `result`, what execute returned or the exception it raised)."""
    ti = MagicMock()
    op = ValidateDesignReconcileOperator(
        task_id="validate_reconcile", spec_dag_id=DAG_ID, source_conn_id=conn_id, source_schema=loaded.schema,
        table_names=loaded.tables, aws_conn_id="aws_default", **kwargs)
    try:
        outcome: Any = op.execute(context={"ti": ti, "run_id": "manual__test"})
    except AirflowFailException as err:
        outcome = err
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in ti.xcom_push.call_args_list}
    return pushed.get(RESULT_KEY), outcome


def test_template_fields() -> None:
    assert ValidateDesignReconcileOperator.template_fields == (
        "spec_dag_id", "source_conn_id", "source_schema", "dry_run", "table_names", "window", "spec_uri")


def test_passes_on_a_real_load(conn_id: str, loaded: Loaded) -> None:
    result, outcome = execute(conn_id, loaded)
    assert not isinstance(outcome, Exception), outcome
    assert set(result["reconciliation"]) == {"ticket_sales", "config"}
    for name, rec in result["reconciliation"].items():
        assert rec["passed"] and rec["rows_expected"] == rec["rows_actual"] == loaded.reports[name]["items"]
    assert {(c["entity"], c["passed"]) for c in result["checks"]} == {("ticket_sales", True), ("config", True)}
    assert len(result["checks"]) == 4
    assert set(result["seconds"]) == {"ticket_sales", "config"}
    json.dumps(result)  # an XCom


def test_dry_run_compares_nothing(conn_id: str, loaded: Loaded) -> None:
    result, outcome = execute(conn_id, loaded, dry_run="true")
    assert result == outcome == {"checks": [], "reconciliation": {}, "dry_run": True,
                                 "skipped": "dry run: nothing was written"}


def test_bad_schema_fails_before_any_sql(conn_id: str, loaded: Loaded) -> None:
    with pytest.raises(AirflowFailException, match="not a plain SQL identifier"):
        ValidateDesignReconcileOperator(
            task_id="t", spec_dag_id=DAG_ID, source_conn_id=conn_id, source_schema="x; DROP TABLE person",
            table_names=loaded.tables).execute(context={"ti": MagicMock()})


def test_a_missing_item_fails_naming_its_key(conn_id: str, loaded: Loaded, client: Any) -> None:
    table = loaded.tables["config"]
    key = {"data_type": {"S": "SPORT_TYPE"}, "data_id": {"S": "baseball"}}
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    client.delete_item(TableName=table, Key=key)
    try:
        result, outcome = execute(conn_id, loaded)
    finally:
        client.put_item(TableName=table, Item=item)
    assert isinstance(outcome, AirflowFailException)
    assert str(outcome) == "items do not reconcile: config 1 differing keys (e.g. missing ['SPORT_TYPE', 'baseball'])"
    rec = result["reconciliation"]["config"]
    assert not rec["passed"] and rec["rows_actual"] == rec["rows_expected"] - 1
    (diff,) = rec["diffs"]
    assert diff["kind"] == "missing" and diff["key"] == ["SPORT_TYPE", "baseball"]
    assert diff["columns"]["descriptive_name"] == [f"S:{item['descriptive_name']['S']}", None]
    assert result["reconciliation"]["ticket_sales"]["passed"]
    failed = [(c["entity"], c["name"]) for c in result["checks"] if not c["passed"]]
    assert failed == [("config", "target rows (full scan) = expected rows"),
                      ("config", "every row reconciles (hash per bucket): differing keys")]
