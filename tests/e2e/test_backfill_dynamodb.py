"""Backfill the SQL Server → DynamoDB migration through a running scheduler: a backfill (made through the REST API, as
the UI's dialog makes it) over the first two daily intervals, one run at a time, of a generated ticketing database
whose purchase history falls in three days (the session's `ui_backfills`, on the test UI's copy of the DAG, whose
tables are `ui_ticket_sales` and `ui_config`). The first run makes the snapshot, the second is an interval on top of
it: each writes its day's history items, keeps the derived attributes right and passes its validations (counts,
sampled items, every access pattern and the full reconciliation, against the source up to its day's end). Afterwards
the tables equal, item for item, one load of the same source up to the second day's end into two other tables, and
the access patterns answer the same on both. (Rerunning a day, and loading days in any order, are the job's:
test_dynamodb_intervals.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import sql

from tests.fixtures.airflow_ui import TABLES
from tests.fixtures.backfills import Backfills, Scenario
from tests.fixtures.dms_sample_load import drop_tables, make_tables
from tests.include.jobs.test_dynamodb_intervals import DAY, START, items, load

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


@pytest.fixture(scope="module")
def dms(ui_backfills: Backfills) -> Scenario:
    return ui_backfills.completed()["dms_sample"]


@pytest.fixture(scope="module")
def full(dms: Scenario, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The same source up to the second day's end in one load by the jobs, into two tables of its own."""
    ddb = boto3.client("dynamodb")
    tables = make_tables(ddb, f"full_{uuid.uuid4().hex[:6]}")
    try:
        load(spark, dms.source, tables, tmp_path_factory.mktemp("full"), (None, START + 2 * DAY))
        yield tables
    finally:
        drop_tables(ddb, tables)


def owners(client: Any, table: str, persons: list[int]) -> dict[int, list[str]]:
    """The `tickets owned` access pattern (owner_index) for each person: ticket ids, sorted."""
    out = {}
    for p in persons:
        pages = client.get_paginator("query").paginate(
            TableName=table, IndexName="owner_index", KeyConditionExpression="current_owner_id = :p",
            ExpressionAttributeValues={":p": {"N": str(p)}})
        out[p] = sorted(i["sporting_event_ticket_id"]["N"] for page in pages for i in page["Items"])
    return out


def test_each_run_loaded_its_day_and_passed_every_check(dms: Scenario) -> None:
    runs = dms.days.wait()
    assert [(r["data_interval_start"][:10], r["data_interval_end"][:10]) for r in runs] == [
        ("2024-01-01", "2024-01-02"), ("2024-01-02", "2024-01-03")]
    for r in runs:
        assert r["state"] == "success", dms.world.diagnostics(dms.dag_id, r["dag_run_id"])
    reports = dms.days.reports()
    held = [r["entities"]["ticket_sales.HELD"]["target"] for r in reports]
    assert held[0] > 0 and held[1] < held[0], held  # the second run, an interval, deleted the Held items it sold
    for r, report in zip(runs, reports, strict=True):
        assert report["status"] == "passed" and report["window"]["source"] == "data_interval"
        assert report["window"]["start"][:10] == r["data_interval_start"][:10]
        names = {c["name"] for c in report["checks"] if c["passed"]}
        assert "source rows of the interval - rejected = items written for it" in names
        assert any(n.startswith("access pattern") for n in names)
        assert {t: r["passed"] for t, r in report["reconciliation"].items()} == {"ticket_sales": True, "config": True}


def test_a_backfill_equals_a_full_load(dms: Scenario, full: dict[str, str]) -> None:
    ddb = boto3.client("dynamodb")
    assert dms.after_days == items(ddb, full)
    loads = dms.days.reports()[-1]["loads"]  # the last run's report: the tables equal the source up to its end
    assert loads["equal"] is True and loads["up_to_text"] == "2024-01-03" and loads["gaps"] == [], loads
    assert loads["summary"] == "loaded: [2024-01-01, 2024-01-03); nothing missing"
    with psycopg.connect(dms.source.uri) as conn:
        persons = [r[0] for r in conn.execute(sql.SQL(
            "SELECT DISTINCT purchased_by_id FROM {}.ticket_purchase_hist ORDER BY 1 LIMIT 25").format(
            sql.Identifier(dms.source.schema))).fetchall()]
    owned = owners(ddb, TABLES["ticket_sales"], persons)
    assert owned == owners(ddb, full["ticket_sales"], persons) and any(owned.values())

