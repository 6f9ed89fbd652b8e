"""End to end: `airflow dags test dms_sample_to_dynamodb` on the embedded stack (local Spark reading PostgreSQL,
moto DynamoDB): on generated data, and pointed with `source_conn_id`/`source_schema` at another database holding
the same tables with hand-written data this project did not generate."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import psycopg
import pytest

from generators.dms_sample import load

pytestmark = pytest.mark.e2e
DAG_ID = "dms_sample_to_dynamodb"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "other_ticketing.sql"


@pytest.fixture(autouse=True)
def _leave_no_tables() -> Iterator[None]:
    """Whatever a test wrote is gone afterwards: `make demo` after `make test` starts from empty tables too."""
    yield
    _fresh_tables()


def _fresh_tables() -> None:
    """moto keeps tables between runs; start from none so counts prove this run alone."""
    ddb = boto3.client("dynamodb")
    for name in ("ticket_sales", "config"):
        try:
            ddb.delete_table(TableName=name)
        except ddb.exceptions.ResourceNotFoundException:
            pass


def _run_dag(conf: dict) -> dict:
    started = time.time()
    proc = subprocess.run(["airflow", "dags", "test", DAG_ID, "-c", json.dumps(conf)],
                          capture_output=True, text=True, timeout=1200, env=os.environ.copy())
    reports = [p for p in (Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID).glob("*/report.json")
               if p.stat().st_mtime >= started]
    assert proc.returncode == 0 and len(reports) == 1, proc.stdout[-6000:] + proc.stderr[-4000:]
    return json.loads(reports[0].read_text())


def _source_counts(uri: str, schema: str) -> dict[str, int]:
    queries = {
        "ticket_sales.PURCHASED": "ticket_purchase_hist WHERE transferred_from_id IS NULL",
        "ticket_sales.TRANSFERRED": "ticket_purchase_hist WHERE transferred_from_id IS NOT NULL",
        "ticket_sales.AVAILABLE": "sporting_event_ticket WHERE ticketholder_id IS NULL",
        "ticket_sales.HELD": "sporting_event_ticket t WHERE ticketholder_id IS NOT NULL AND NOT EXISTS "
                             f"(SELECT 1 FROM {schema}.ticket_purchase_hist h WHERE h.sporting_event_ticket_id = t.id)",
        "config.PERSON": "person", "config.TEAM": "sport_team", "config.SPORT_TYPE": "sport_type",
        "config.LOCATION": "sport_location", "config.SPORT_LEAGUE_DIVISION": "sport_division",
    }
    with psycopg.connect(uri) as conn:
        return {k: conn.execute(f"SELECT count(*) FROM {schema}.{q}").fetchone()[0] for k, q in queries.items()}


def _assert_passed(report: dict, expected: dict[str, int]) -> None:
    assert report["status"] == "passed", json.dumps(report, indent=1)[:4000]
    assert {k: (v["source"], v["target"]) for k, v in report["entities"].items()} == {
        k: (n, n) for k, n in expected.items()}
    assert report["sample"]["compared"] > 0 and report["sample"]["mismatches"] == []
    assert any(c["name"].startswith("access pattern") for c in report["checks"])
    # every item reconciled in full (validate.validate_reconcile), not only the sample
    items = {t: sum(n for k, n in expected.items() if k.startswith(f"{t}.")) for t in ("ticket_sales", "config")}
    assert {t: (r["passed"], r["rows_expected"], r["rows_actual"]) for t, r in report["reconciliation"].items()} == {
        t: (True, n, n) for t, n in items.items()}
    assert {(c["entity"], c["passed"]) for c in report["checks"] if c["name"].startswith("every row reconciles")} == {
        ("ticket_sales", True), ("config", True)}


def test_generated_source_migrates_and_validates() -> None:
    uri = os.environ["LOCAL_SOURCE_SQL_URI"]
    schema = f"e2e_{uuid.uuid4().hex[:8]}"
    load(uri, schema=schema, seed=11, scale=0.3)
    try:
        _fresh_tables()
        report = _run_dag({"source_schema": schema, "validation_sample_size": 100})
        _assert_passed(report, _source_counts(uri, schema))
    finally:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def database_with(sql_file: Path, prefix: str) -> Iterator[str]:
    """A fresh database of the embedded PostgreSQL loaded with `sql_file`; its name. Dropped afterwards."""
    base = os.environ["LOCAL_SOURCE_SQL_URI"].rsplit("/", 1)[0]
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    try:
        with psycopg.connect(f"{base}/{db}", autocommit=True) as conn:
            conn.execute(sql_file.read_text())
        yield db
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def test_another_database_with_data_we_did_not_generate(monkeypatch: pytest.MonkeyPatch) -> None:
    with database_with(FIXTURE, "other_ticketing") as db:
        conn_json = json.loads(os.environ["AIRFLOW_CONN_DMS_SAMPLE_SOURCE"])
        monkeypatch.setenv("AIRFLOW_CONN_OTHER_TICKETING", json.dumps({**conn_json, "schema": db}))
        _fresh_tables()
        report = _run_dag({"source_conn_id": "other_ticketing", "source_schema": "ticketing"})
        _assert_passed(report, {
            "ticket_sales.PURCHASED": 3, "ticket_sales.TRANSFERRED": 5, "ticket_sales.AVAILABLE": 2,
            "ticket_sales.HELD": 0, "config.PERSON": 5, "config.TEAM": 3, "config.SPORT_TYPE": 2, "config.LOCATION": 2,
            "config.SPORT_LEAGUE_DIVISION": 3})
        items = boto3.client("dynamodb").query(
            TableName="ticket_sales", KeyConditionExpression="sporting_event_ticket_id = :t",
            ExpressionAttributeValues={":t": {"N": "1"}})["Items"]
        assert sorted(i["ticket_status_owner"]["S"] for i in items) == [
            "Purchased|7001|2024-12-01T10:00:00.125", "Transferred|7001|2024-12-02T11:00:00.000",
            "Transferred|7001|2024-12-04T09:15:00.500", "Transferred|7002|2024-12-03T12:30:00.999"]
        owners = [i for i in items if "current_owner_id" in i]
        assert [o["current_owner_id"]["N"] for o in owners] == ["7004"]

