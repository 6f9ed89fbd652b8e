"""jobs.sqlserver_to_dynamodb end to end on the embedded stack: generated dms_sample (PostgreSQL) → moto DynamoDB.

The job's `run` ran in-process with the session's SparkSession for both item sets of the session's source, into
uniquely named tables created from the spec's targets (`dms_loaded`); counts come from COUNT scans and are
compared with SQL counts of the source, and sampled items with `transforms.ticketing.expected_*` re-mapped from
the source rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from connectors.dynamodb_writer import count_items
from jobs.sqlserver_to_dynamodb import parse_args, run
from tests.fixtures import SPEC_DIR
from tests.fixtures.dms_sample_load import RUN_ID, Loaded, Source
from transforms.dynamo_items import from_item
from transforms.spec import load_spec
from transforms.ticketing import (
    ANOMALIES,
    expected_available_item,
    expected_config_item,
    expected_ticket_sales_item,
    history_order_key,
    ticket_status_owner,
)

pytestmark = pytest.mark.spark
SPEC_PATH = SPEC_DIR / "dms_sample_to_dynamodb.yaml"


@pytest.fixture(scope="module")
def spec() -> Any:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def source(dms_source: Source) -> dict[str, Any]:
    """The session's generated dms_sample (read-only): its uri, schema, conninfo, password file and edge cases."""
    return {"uri": dms_source.uri, "schema": dms_source.schema, "conninfo": dms_source.info,
            "password_file": str(dms_source.password_file), "edge_cases": dms_source.edge_cases,
            "counts": dms_source.counts}


def job_args(source: dict[str, Any], item_set: str, table: str, report: Path, *extra: str) -> list[str]:
    return ["--spec", str(SPEC_PATH), "--item-set", item_set, "--run-id", "test-run", "--report-uri", str(report),
            "--table", table, "--source-json", json.dumps(source["conninfo"]), "--source-schema", source["schema"],
            "--source-password-file", source["password_file"], "--write-units-per-s", "1000000", "--partitions", "3",
            "--JOB_NAME", "ignored-glue-arg", *extra]


@pytest.fixture(scope="module")
def jobs(dms_loaded: Loaded) -> dict[str, dict[str, Any]]:
    """Both item sets as the shared load wrote them: {item_set: {"table", "report" (returned), "report_file"}}."""
    return {item_set: {"table": table, "report": dms_loaded.reports[item_set],
                       "report_file": json.loads((dms_loaded.workdir / f"{item_set}.json").read_text())}
            for item_set, table in dms_loaded.tables.items()}


def query(source: dict[str, Any], text: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(source["uri"], row_factory=dict_row) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(source["schema"])))
        return conn.execute(text, params).fetchall()


def scalar(source: dict[str, Any], text: str, *params: Any) -> Any:
    return next(iter(query(source, text, *params)[0].values()))


@pytest.fixture(scope="module")
def sql_counts(source) -> dict[str, dict[str, int]]:
    return {
        "ticket_sales": {
            "PURCHASED": scalar(source, "SELECT count(*) FROM ticket_purchase_hist WHERE transferred_from_id IS NULL"),
            "TRANSFERRED": scalar(source, "SELECT count(*) FROM ticket_purchase_hist "
                                          "WHERE transferred_from_id IS NOT NULL"),
            "AVAILABLE": scalar(source, "SELECT count(*) FROM sporting_event_ticket WHERE ticketholder_id IS NULL"),
        },
        "config": {
            "PERSON": scalar(source, "SELECT count(*) FROM person"),
            "TEAM": scalar(source, "SELECT count(*) FROM sport_team"),
            "SPORT_TYPE": scalar(source, "SELECT count(*) FROM sport_type"),
            "LOCATION": scalar(source, "SELECT count(*) FROM sport_location"),
            "SPORT_LEAGUE_DIVISION": scalar(source, "SELECT count(*) FROM sport_division"),
        },
    }


TYPE_ATTRIBUTE = {"ticket_sales": "item_type", "config": "data_type"}


@pytest.mark.parametrize("item_set", ["ticket_sales", "config"])
def test_counts_by_type_match_the_source(jobs, sql_counts, ddb, item_set):
    table, want = jobs[item_set]["table"], sql_counts[item_set]
    assert all(n > 0 for n in want.values()), want
    attr = TYPE_ATTRIBUTE[item_set]
    got = {t: count_items(table, client=ddb, filter_expression="#t = :t", expression_names={"#t": attr},
                          expression_values={":t": {"S": t}}) for t in want}
    assert got == want
    assert count_items(table, client=ddb) == sum(want.values())


@pytest.mark.parametrize("item_set", ["ticket_sales", "config"])
def test_report(jobs, sql_counts, item_set):
    job = jobs[item_set]
    want = {"item_set": item_set, "table": job["table"], "run_id": RUN_ID, "dry_run": False,
            "items": sum(sql_counts[item_set].values()), "by_type": sql_counts[item_set],
            "rejects": {}, "rejected_rows": {}, "rejected_examples": [],
            # generated histories chain: every anomaly the job looks for is absent
            "anomalies": {name: {"count": 0, "examples": []} for name in ANOMALIES} if item_set == "ticket_sales"
            else {}}
    assert job["report"] == want
    assert job["report_file"] == want


def get(ddb: Any, table: str, key: dict[str, dict]) -> dict[str, dict]:
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    assert item is not None, f"no item {key} in {table}"
    return item


def assert_same_item(got: dict[str, dict], want: dict[str, dict]) -> None:
    """Same attributes, same types, same values (numbers compared as numbers: DynamoDB may drop trailing zeros)."""
    assert {k: next(iter(v)) for k, v in got.items()} == {k: next(iter(v)) for k, v in want.items()}
    assert from_item(got) == from_item(want)


def one(source: dict[str, Any], table: str, column: str, value: Any) -> dict[str, Any] | None:
    rows = query(source, f"SELECT * FROM {table} WHERE {column} = %s", value)  # test constants only
    return rows[0] if rows else None


def sample_ticket_ids(source: dict[str, Any]) -> list[int]:
    edge = source["edge_cases"]
    ids = [edge["chain_ticket_id"], edge["rebuy_ticket_id"], *edge["big_ticket_ids"]]
    ids += [r["sporting_event_ticket_id"] for r in query(
        source, "SELECT DISTINCT sporting_event_ticket_id FROM ticket_purchase_hist h JOIN sporting_event_ticket t "
                "ON t.id = h.sporting_event_ticket_id WHERE t.seat LIKE '0%%' ORDER BY 1 LIMIT 2")]
    ids += [r["id"] for r in query(source, "SELECT id FROM sporting_event_ticket WHERE ticketholder_id IS NULL "
                                           "ORDER BY id DESC LIMIT 3")]
    return list(dict.fromkeys(ids))


def test_ticket_sales_items_equal_the_expected(jobs, source, ddb):
    table = jobs["ticket_sales"]["table"]
    checked = 0
    for ticket_id in sample_ticket_ids(source):
        ticket = one(source, "sporting_event_ticket", "id", ticket_id)
        assert ticket is not None
        event = one(source, "sporting_event", "id", ticket["sporting_event_id"])
        history = query(source, "SELECT * FROM ticket_purchase_hist WHERE sporting_event_ticket_id = %s", ticket_id)
        latest = max(history, key=history_order_key) if history else None
        for hist in history:
            want = expected_ticket_sales_item(
                hist, ticket, event, one(source, "sport_team", "id", event["home_team_id"]),
                one(source, "sport_team", "id", event["away_team_id"]),
                one(source, "sport_location", "id", event["location_id"]),
                one(source, "person", "id", hist["purchased_by_id"]),
                one(source, "person", "id", hist["transferred_from_id"]) if hist["transferred_from_id"] else None,
                is_latest=hist is latest)
            key = {"sporting_event_ticket_id": {"N": str(ticket_id)}, "ticket_status_owner": {
                "S": ticket_status_owner(hist["transferred_from_id"], hist["purchased_by_id"],
                                         hist["transaction_date_time"])}}
            assert_same_item(get(ddb, table, key), want)
            checked += 1
        available_key = {"sporting_event_ticket_id": {"N": str(ticket_id)}, "ticket_status_owner": {"S": "Available"}}
        if ticket["ticketholder_id"] is None:
            assert_same_item(get(ddb, table, available_key), expected_available_item(ticket, event))
            checked += 1
        else:
            assert "Item" not in ddb.get_item(TableName=table, Key=available_key, ConsistentRead=True)
    assert checked >= 12, checked


def test_ticket_sales_edge_cases(jobs, source, ddb):
    """The A→B→A→C chain: two Transferred|A items, current_owner_id on the last only."""
    table, edge = jobs["ticket_sales"]["table"], source["edge_cases"]
    items = ddb.query(TableName=table, KeyConditionExpression="sporting_event_ticket_id = :t",
                      ExpressionAttributeValues={":t": {"N": str(edge["chain_ticket_id"])}},
                      ConsistentRead=True)["Items"]
    a, b, _, c = edge["chain_owner_ids"]
    assert sorted(i["ticket_status_owner"]["S"].split("|")[0] for i in items) == [
        "Purchased", "Transferred", "Transferred", "Transferred"]
    assert [i["current_owner_id"]["N"] for i in items if "current_owner_id" in i] == [str(c)]
    assert sum(i["ticket_status_owner"]["S"].startswith(f"Transferred|{a}|") for i in items) == 2
    assert sum(i["ticket_status_owner"]["S"].startswith(f"Transferred|{b}|") for i in items) == 1


def test_config_items_equal_the_expected(jobs, source, ddb):
    table = jobs["config"]["table"]

    def check(data_type: str, row: dict[str, Any], data_id: str, **kw: Any) -> None:
        key = {"data_type": {"S": data_type}, "data_id": {"S": data_id}}
        assert_same_item(get(ddb, table, key), expected_config_item(data_type, row, **kw))

    for person_id in source["edge_cases"]["null_first_name_person_ids"][:2]:
        check("PERSON", one(source, "person", "id", person_id), str(person_id))
    for row in query(source, "SELECT * FROM person ORDER BY id LIMIT 2"):
        check("PERSON", row, str(row["id"]))
    for row in query(source, "SELECT * FROM sport_team ORDER BY id LIMIT 3"):
        check("TEAM", row, str(row["id"]))
    for row in query(source, "SELECT * FROM sport_type"):
        check("SPORT_TYPE", row, row["name"])
    check("LOCATION", one(source, "sport_location", "id", source["edge_cases"]["null_levels_location_id"]),
          str(source["edge_cases"]["null_levels_location_id"]))
    for row in query(source, "SELECT * FROM sport_division ORDER BY short_name LIMIT 3"):
        league = one(source, "sport_league", "short_name", row["sport_league_short_name"])
        check("SPORT_LEAGUE_DIVISION", row, f"{row['sport_league_short_name']}|{row['short_name']}", league=league)


@pytest.mark.parametrize("item_set", ["ticket_sales", "config"])
def test_dry_run_writes_nothing(spark, spec, source, make_table, ddb, tmp_path, sql_counts, item_set):
    table = make_table(spec.targets[item_set])
    report_path = tmp_path / "report.json"
    report = run(parse_args(job_args(source, item_set, table, report_path, "--dry-run")), spark)
    assert report["dry_run"] is True
    assert report["by_type"] == sql_counts[item_set]
    assert json.loads(report_path.read_text()) == report
    assert count_items(table, client=ddb) == 0


def test_parse_args():
    base = ["--spec", "s3://b/spec.yaml", "--item-set", "config", "--run-id", "r", "--report-uri", "s3://b/r.json"]
    glue = parse_args([*base, "--catalog-database", "dms_sample", "--catalog-table-prefix", "dms_sample_dbo_",
                       "--JOB_NAME", "j", "--job-bookmark-option", "job-bookmark-disable", "--dry-run", "true"])
    assert (glue.catalog_database, glue.catalog_table_prefix, glue.dry_run) == ("dms_sample", "dms_sample_dbo_", True)
    assert glue.table is None and glue.partitions is None
    assert parse_args([*base, "--catalog-database", "d", "--dry-run", "false"]).dry_run is False
    assert parse_args([*base, "--source-json", "{}", "--source-schema", "s", "--dry-run"]).dry_run is True
    with pytest.raises(SystemExit):
        parse_args(base)  # neither source
    with pytest.raises(SystemExit):
        parse_args([*base, "--source-json", "{}"])  # no schema
