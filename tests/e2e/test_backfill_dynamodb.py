"""Backfill the SQL Server → DynamoDB migration through a running scheduler: `airflow backfill create` over three
daily intervals of a generated ticketing database whose purchase history falls in those three days. Each run
writes its day's history items, keeps the derived attributes right and passes its validations (counts, sampled
items, every access pattern and the full reconciliation, against the source up to its day's end). Afterwards
`ticket_sales` and `config` equal, item for item, a full load of the same source into two other tables, and the
access patterns answer the same on both; rerunning the middle interval changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import sql

from tests.e2e.test_backfill import backfill, three_days
from tests.fixtures.airflow_ui import Api, diagnostics, running_ui
from tests.fixtures.dms_sample_load import SPEC_PATH, three_day_source
from tests.include.jobs.test_dynamodb_intervals import START, items, load
from transforms.dynamodb_tables import TableSpec, create_table_kwargs
from transforms.spec import load_spec

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
DAG_ID = "dms_sample_to_dynamodb"
TABLES = {"ticket_sales": "ticket_sales", "config": "config"}  # the spec's targets, as the DAG writes them


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Any, Api]]:
    with running_ui(DAG_ID) as running:
        yield running


@pytest.fixture
def source(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A generated dms_sample (scale 0.3) whose history falls in 2024-01-01 .. 2024-01-04."""
    with three_day_source(tmp_path, "bf", START) as src:
        yield src


@pytest.fixture
def ddb() -> Iterator[Any]:
    """The DAG's tables deleted before (the ensure tasks create them empty, with a fresh load log) and after."""
    client = boto3.client("dynamodb")

    def drop() -> None:
        for name in TABLES.values():
            try:
                client.delete_table(TableName=name)
            except client.exceptions.ResourceNotFoundException:
                pass

    drop()
    yield client
    drop()


def owners(client: Any, table: str, persons: list[int]) -> dict[int, list[str]]:
    """The `tickets owned` access pattern (owner_index) for each person: ticket ids, sorted."""
    out = {}
    for p in persons:
        pages = client.get_paginator("query").paginate(
            TableName=table, IndexName="owner_index", KeyConditionExpression="current_owner_id = :p",
            ExpressionAttributeValues={":p": {"N": str(p)}})
        out[p] = sorted(i["sporting_event_ticket_id"]["N"] for page in pages for i in page["Items"])
    return out


def test_a_backfill_equals_a_full_load(stack: tuple[Any, Api], source: dict[str, Any], ddb: Any, spark: Any,
                                       tmp_path: Path) -> None:
    _, api = stack
    conf = {"source_schema": source["schema"]}
    for report in three_days(api, DAG_ID, conf):
        names = {c["name"] for c in report["checks"] if c["passed"]}
        assert "source history rows of the interval = history items written for it" in names
        assert any(n.startswith("access pattern") for n in names)
        assert {t: r["passed"] for t, r in report["reconciliation"].items()} == {"ticket_sales": True, "config": True}

    spec = load_spec(SPEC_PATH)
    full = {t: f"{d['name']}_full_{uuid.uuid4().hex[:6]}" for t, d in spec.targets.items()}
    for t, name in full.items():
        ddb.create_table(**create_table_kwargs(TableSpec.from_dict({**spec.targets[t], "name": name})))
        ddb.get_waiter("table_exists").wait(TableName=name)
    try:
        load(spark, source, full, tmp_path)
        compare_with_full_load(ddb, source, full)
    finally:
        for name in full.values():
            ddb.delete_table(TableName=name)

    before = items(ddb, TABLES)
    (again,) = backfill(api, DAG_ID, conf, "2024-01-03", "2024-01-03", "--reprocess-behavior", "completed")
    assert again["data_interval_start"][:10] == "2024-01-02"  # the middle day
    assert again["state"] == "success", diagnostics(api, DAG_ID, again["dag_run_id"])
    assert items(ddb, TABLES) == before


def compare_with_full_load(ddb: Any, source: dict[str, Any], full: dict[str, str]) -> None:
    assert items(ddb, TABLES) == items(ddb, full)
    with psycopg.connect(source["uri"]) as conn:
        persons = [r[0] for r in conn.execute(sql.SQL(
            "SELECT DISTINCT purchased_by_id FROM {}.ticket_purchase_hist ORDER BY 1 LIMIT 25").format(
            sql.Identifier(source["schema"]))).fetchall()]
    owned = owners(ddb, TABLES["ticket_sales"], persons)
    assert owned == owners(ddb, full["ticket_sales"], persons) and any(owned.values())

