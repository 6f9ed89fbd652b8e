"""Discover → run, relational: `bin/dbmigrate discover postgresql://…` on a schema it has never seen (the retail
generator's, loaded under another name) writes a `sql_to_dynamodb` spec; dropped into a copy of the include folder
it makes a DAG whose tasks (in this process, `tests.fixtures.in_process`) migrate the schema to a passed report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cli.discover import run as discover

from dbmigrate.dag_factory import build_dags
from generators.retail_database import load
from tests.fixtures.in_process import migrate_dynamodb

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
REPO = Path(__file__).resolve().parents[2]
SCHEMA, DAG_ID = "discover_retail", "discover_retail_to_dynamodb"


@pytest.fixture(scope="module")
def discovered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uri = os.environ["LOCAL_SOURCE_SQL_URI"]
    load(uri, SCHEMA, seed=5, customers=40)
    out = tmp_path_factory.mktemp("discovered")
    assert discover([uri, "--schema", SCHEMA, "--name", DAG_ID, "--out", str(out), "--conn-id", "retail_source"]) == 0
    return out


def test_the_spec_puts_each_table_in_its_parents_collection_and_numbers_a_table_without_key(discovered: Path) -> None:
    spec = yaml.safe_load((discovered / "include" / "specs" / f"{DAG_ID}.yaml").read_text())
    items = spec["items"]
    assert set(items) == {"customers", "products", "orders", "order_lines", "shipments", "shipment_events"}
    assert items["customers"]["keys"]["PK"] == "CUSTOMERS#${id}"
    assert items["orders"]["keys"]["PK"] == "CUSTOMERS#${customer_id}"  # under its customer
    assert items["order_lines"]["keys"]["SK"] == "ORDER_LINES#${order_id}#${sku}"  # a composite key
    assert "row_number" in items["shipment_events"]["derive"]  # no primary key: numbered in its shipment
    gsis = [g["name"] for g in spec["targets"]["discover_retail"]["gsis"]]
    assert gsis == ["by_key", "by_order_lines_sku"]  # every item by its key; the second foreign key of order_lines
    report = (discovered / "docs" / "discovery" / f"{DAG_ID}.md").read_text()
    assert "shipment_events: no primary key" in report and "order_lines: under orders" in report
    assert "password" not in (discovered / "include" / "specs" / f"{DAG_ID}.yaml").read_text()


def test_the_discovered_spec_migrates_the_schema(discovered: Path, tmp_path: Path, spark: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    include = tmp_path / "include"
    shutil.copytree(REPO / "include", include, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(discovered / "include", include, dirs_exist_ok=True)
    monkeypatch.setenv("DBMIGRATE_INCLUDE_DIR", str(include))
    dag = build_dags(include / "specs")[DAG_ID]
    assert {"prepare.resolve_run", "load.run_discover_retail", "validate.validate_access_patterns"} <= set(
        dag.task_dict), sorted(dag.task_dict)
    client = boto3.client("dynamodb")
    try:
        client.delete_table(TableName="discover_retail")
    except client.exceptions.ResourceNotFoundException:
        pass
    report = migrate_dynamodb(spark, DAG_ID, {"source_schema": SCHEMA, "validation_sample_size": 20}, tmp_path / "run")
    assert report["status"] == "passed", [c for c in report["checks"] if not c["passed"]][:10]
    assert {e: v["target"] for e, v in report["entities"].items()}["discover_retail.SHIPMENT_EVENTS"] > 0
    assert sum(1 for c in report["checks"] if c["name"].startswith("access pattern ") and "{" in c["name"]) >= 20
