"""jobs.sqlserver_to_dynamodb end to end on the embedded stack: generated dms_sample (PostgreSQL) → moto DynamoDB.

The job's `run` runs in-process with the test SparkSession for both item sets, against uniquely named
tables created from the spec's targets; counts come from COUNT scans and are compared with SQL counts
of the source, and sampled items with `transforms.ticketing.expected_*` re-mapped from the source rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from connectors.dynamodb_writer import count_items
from generators import dms_sample
from jobs.sqlserver_to_dynamodb import parse_args, run
from tests.fixtures import SPEC_DIR
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
SCALE = 0.2


@pytest.fixture(scope="module")
def spec() -> Any:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A generated dms_sample in a throwaway schema; yields its uri, schema, conninfo, password file and edge
    cases."""
    import os

    uri = os.environ["LOCAL_SOURCE_SQL_URI"]
    schema = f"t_{uuid.uuid4().hex[:10]}"
    loaded = dms_sample.load(uri, schema=schema, scale=SCALE)
    info = psycopg.conninfo.conninfo_to_dict(uri)
    password_file = tmp_path_factory.mktemp("secret") / "source_password"
    password_file.write_text(str(info.pop("password", "")))
    yield {"uri": uri, "schema": schema, "conninfo": info, "password_file": str(password_file),
           "edge_cases": loaded.edge_cases, "counts": loaded.counts}
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def job_args(source: dict[str, Any], item_set: str, table: str, report: Path, *extra: str) -> list[str]:
    return ["--spec", str(SPEC_PATH), "--item-set", item_set, "--run-id", "test-run", "--report-uri", str(report),
            "--table", table, "--source-json", json.dumps(source["conninfo"]), "--source-schema", source["schema"],
            "--source-password-file", source["password_file"], "--write-units-per-s", "1000000", "--partitions", "3",
            "--JOB_NAME", "ignored-glue-arg", *extra]


@pytest.fixture(scope="module")
def jobs(spark, spec, source, make_table, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Both item sets written once: {item_set: {"table", "report" (returned), "report_file" (parsed)}}."""
    out = {}
    for item_set in ("ticket_sales", "config"):
        table = make_table(spec.targets[item_set])
        report_path = tmp_path_factory.mktemp("reports") / f"{item_set}.json"
        report = run(parse_args(job_args(source, item_set, table, report_path)), spark)
        out[item_set] = {"table": table, "report": report, "report_file": json.loads(report_path.read_text())}
    return out


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
    want = {"item_set": item_set, "table": job["table"], "run_id": "test-run", "dry_run": False,
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


JDBC_JAR = Path("/usr/share/java/postgresql.jar")


@pytest.mark.skipif(not JDBC_JAR.exists(), reason="no PostgreSQL JDBC driver at /usr/share/java/postgresql.jar "
                                                  "(as root: bin/install-system-deps installs libpostgresql-jdbc-java)")
@pytest.mark.parametrize("item_set", ["ticket_sales", "config"])
def test_a_jdbc_source_builds_the_same_items(source, sql_counts, tmp_path, item_set):
    """The path a real SQL Server takes (Spark's JDBC source, then `conform`), here with PostgreSQL's driver."""
    import os
    import subprocess
    import sys

    from dbmigrate.job_bundle import build_bundle

    info = source["conninfo"]
    jdbc = {"jdbc_url": f"jdbc:postgresql://{info['host']}:{info['port']}/{info['dbname']}",
            "driver": "org.postgresql.Driver", "user": info["user"]}
    report = tmp_path / "report.json"
    script = Path(__file__).resolve().parents[3] / "include" / "jobs" / "sqlserver_to_dynamodb.py"
    args = ["--spec", str(SPEC_PATH), "--item-set", item_set, "--run-id", "jdbc", "--report-uri", str(report),
            "--source-json", json.dumps(jdbc), "--source-schema", source["schema"],
            "--source-password-file", source["password_file"], "--partitions", "3", "--dry-run"]
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]", "--jars", str(JDBC_JAR),
           "--conf", "spark.ui.enabled=false", "--py-files", str(build_bundle(tmp_path)), str(script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads(report.read_text())["by_type"] == sql_counts[item_set]
