"""End to end: `airflow dags test dms_sample_to_dynamodb` on the embedded stack (local Spark reading PostgreSQL,
moto DynamoDB) on the session's generated source (`dms_run`); and the DAG's tasks in-process pointed with
`source_conn_id`/`source_schema` at another database holding the same tables with hand-written data this project
did not generate (`dms_other_db_run`)."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.fixtures.dag_runs import DagRun, passed
from tests.fixtures.dms_sample_load import Source
from tests.fixtures.session_runs import OtherDbRun

pytestmark = pytest.mark.e2e


def source_counts(uri: str, schema: str) -> dict[str, int]:
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


def assert_passed(report: dict, expected: dict[str, int]) -> None:
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


def test_generated_source_migrates_and_validates(dms_run: DagRun, dms_source: Source) -> None:
    assert_passed(passed(dms_run), source_counts(dms_source.uri, dms_source.schema))
    assert dms_run.report["sample"]["requested"] == 100  # the run's `validation_sample_size`


def test_another_database_with_data_we_did_not_generate(dms_other_db_run: OtherDbRun) -> None:
    assert_passed(dms_other_db_run.report, {
        "ticket_sales.PURCHASED": 3, "ticket_sales.TRANSFERRED": 5, "ticket_sales.AVAILABLE": 2,
        "ticket_sales.HELD": 0, "config.PERSON": 5, "config.TEAM": 3, "config.SPORT_TYPE": 2, "config.LOCATION": 2,
        "config.SPORT_LEAGUE_DIVISION": 3})
    items = dms_other_db_run.ticket_1
    assert sorted(i["ticket_status_owner"]["S"] for i in items) == [
        "Purchased|7001|2024-12-01T10:00:00.125", "Transferred|7001|2024-12-02T11:00:00.000",
        "Transferred|7001|2024-12-04T09:15:00.500", "Transferred|7002|2024-12-03T12:30:00.999"], json.dumps(items)
    owners = [i for i in items if "current_owner_id" in i]
    assert [o["current_owner_id"]["N"] for o in owners] == ["7004"]
