"""Interval loads of dms_sample → DynamoDB by the Glue job itself (local Spark, moto server, embedded PostgreSQL).

A generated source whose purchase history falls in three days is loaded day by day into one pair of tables. After
each day the tables reconcile, item for item, with the source up to that day's end (the reconciliation's own SQL
re-mapping, not the job's Spark code); after the third they equal what a full load of the source writes (the
frozen reference `test_dms_sample_reference.py` holds the full load to), whichever order the days came in.
Rerunning the middle day changes nothing. Then the source moves on as a live one does (two new customers: one buys
an unsold ticket, the other is handed the ticket that changed hands last) and the fourth day's load deletes the sold
ticket's Available item, moves `current_owner_id` to the new latest item and upserts the touched config items: the
tables again reconcile, item for item, with the changed source.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from connectors.dynamodb_load_log import read_loads
from connectors.dynamodb_reconcile import reconcile_dynamodb
from connectors.dynamodb_scan import scan_items
from tests.fixtures.dms_sample_load import SPEC_PATH, Source, reference, three_day_source
from transforms.intervals import Window, coverage
from transforms.spec import load_spec

pytestmark = pytest.mark.spark
START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """A generated dms_sample whose history falls in 2024-01-01 .. 2024-01-04. The last test of this module
    moves it on (a fourth day)."""
    with three_day_source(tmp_path_factory.mktemp("source"), "iv", START) as src:
        yield src


def full(targets: Iterable[str]) -> dict[str, list[str]]:
    """A full load of the first three days, as sorted canonical JSON: what the ticketing job wrote from this source,
    which the engine's full load writes item for item (`test_dms_sample_reference.py` loads it and says so)."""
    return {t: reference("three_days_seed4", t) for t in targets}


def load(spark: Any, src: dict[str, Any], tables: dict[str, str], workdir: Path, window: tuple[Any, Any] | None = None
         ) -> dict[str, dict[str, Any]]:
    """Both jobs, as the DAG runs them, for one window (None: a full load)."""
    from jobs.sql_to_dynamodb import parse_args, run

    bounds = [] if window is None else [x for name, at in zip(("--window-start", "--window-end"), window,
                                                               strict=True) if at for x in (name, at.isoformat())]
    return {target: run(parse_args([
        "--spec", str(SPEC_PATH), "--item-set", target, "--run-id", f"iv-{uuid.uuid4().hex[:6]}", "--table", name,
        "--report-uri", str(workdir / f"{target}.json"), "--source-json", json.dumps(src["info"]),
        "--source-schema", src["schema"], "--source-password-file", str(src["password_file"]),
        "--write-units-per-s", "1000000", "--partitions", "2", *bounds]), spark)
        for target, name in tables.items()}


def items(ddb: Any, tables: dict[str, str]) -> dict[str, list[str]]:
    """Every item of each table, as sorted canonical JSON."""
    return {target: sorted(json.dumps(i, sort_keys=True) for i in scan_items(name, client=ddb))
            for target, name in tables.items()}


def reconciles(src: dict[str, Any], ddb: Any, tables: dict[str, str], as_of: datetime | None) -> dict[str, Any]:
    """Every item against the source up to `as_of`, rendered by the declared design in Python (the full
    reconciliation's own code, not the job's Spark columns): the tables that differ."""
    with psycopg.connect(src["uri"]) as conn:
        recs = reconcile_dynamodb(conn, src["schema"], ddb, load_spec(SPEC_PATH), tables,
                                  as_of=dict.fromkeys(tables, as_of))
    return {name: rec.as_dict() for name, rec in recs.items() if not rec.passed}


def test_intervals_loaded_newest_first_equal_a_full_load(spark: Any, ddb: Any, make_table: Any,
                                                         source: dict[str, Any], tmp_path: Path) -> None:
    """`airflow backfill create --run-backwards`, or runs of one backfill taking the lock in any order: the
    third day first (the table's first load), then the second, then the first. Each later run builds its
    items as of the latest end loaded, so the table ends as a full load leaves it. (The history's table: the
    config items are state, written from the source as it is whichever day a load covers; the next test loads
    them day by day.)"""
    spec = load_spec(SPEC_PATH)
    days = {"ticket_sales": make_table(spec.targets["ticket_sales"])}
    for day in (2, 1, 0):
        load(spark, source, days, tmp_path, (START + day * DAY, START + (day + 1) * DAY))
        assert read_loads(ddb, days["ticket_sales"]).holds().end == START + 3 * DAY
    assert reconciles(source, ddb, days, START + 3 * DAY) == {}
    assert items(ddb, days) == full(days)
    log = read_loads(ddb, days["ticket_sales"])  # what each run's reconciliation reports around its window
    assert log.windows == tuple(Window(START + d * DAY, START + (d + 1) * DAY) for d in range(3))
    assert coverage(list(log.windows), log.windows[0])["after"] == [Window(START + DAY, START + 3 * DAY).as_dict()]
    assert log.source and log.source.endswith(f"schema {source['schema']}")
    # an interval of another source into these tables: refused before it reads or writes anything
    with pytest.raises(SystemExit, match=r"refused \(nothing was written\).*schema elsewhere"):
        other = {"info": source["info"], "schema": "elsewhere", "password_file": source["password_file"]}
        load(spark, other, days, tmp_path, (START + 3 * DAY, START + 4 * DAY))
    assert items(ddb, days) == full(days)


def validated(source: dict[str, Any], tables: dict[str, str], workdir: Path, window: tuple[datetime, datetime]
              ) -> dict[str, Any]:
    """The declared design's validators on an interval run of `window` whose job reports are in `workdir`: passed
    (counts, the interval's own rows, sampled items and every access pattern, all as of the tables' latest end)."""
    from dbmigrate.operators.run_inputs import resolve
    from tests.fixtures.in_process import validate_design

    run = resolve("dms_sample_to_dynamodb", {"source_schema": source["schema"], "window_start": window[0].isoformat(),
                                             "window_end": window[1].isoformat()}, f"manual__iv_{uuid.uuid4().hex[:6]}")
    run.update(spec_uri=str(SPEC_PATH), tables=tables, job_report_uris={t: str(workdir / f"{t}.json") for t in tables})
    report = validate_design("dms_sample_to_dynamodb", run)
    assert report["status"] == "passed", [c for c in report["checks"] if not c["passed"]][:5]
    assert any(c["name"].startswith("source rows of the interval") for c in report["checks"])
    assert report["sample"]["compared"] > 0
    return report


def test_interval_loads_add_up_to_a_full_load(spark: Any, ddb: Any, make_table: Any, source: dict[str, Any],
                                              tmp_path: Path) -> None:
    spec = load_spec(SPEC_PATH)
    days = {t: make_table(d) for t, d in spec.targets.items()}

    reports = []
    for day in range(3):
        window = (START + day * DAY, START + (day + 1) * DAY)
        reports.append(load(spark, source, days, tmp_path, window))
        assert read_loads(ddb, days["ticket_sales"]).holds().end == window[1]
        assert reconciles(source, ddb, days, window[1]) == {}, f"day {day + 1} does not reconcile"
        if day == 1:  # an interval on top of the first load, the source holding a day more than the tables
            own = {c["entity"]: c for c in validated(source, days, tmp_path, window)["checks"]
                   if c["name"].startswith("source rows of the interval")}
            assert own["ticket_sales.PURCHASED"]["actual"] == reports[-1]["ticket_sales"]["by_type"]["PURCHASED"] > 0
    first, later = reports[0]["ticket_sales"], reports[1]["ticket_sales"]
    assert first["interval"]["snapshot"] and not later["interval"]["snapshot"]
    assert first["by_type"].get("AVAILABLE") and "AVAILABLE" not in later["by_type"]  # written once, at first
    assert later["interval"]["rewritten"] > 0  # tickets passed on: current_owner_id moved
    assert later["interval"]["delete_requests"].get("HELD", 0) > 0
    assert 0 < reports[1]["config"]["items"] < reports[0]["config"]["items"]  # touched config items only
    with psycopg.connect(source["uri"]) as conn:
        hist = conn.execute(sql.SQL("SELECT count(*) FROM {}.ticket_purchase_hist").format(
            sql.Identifier(source["schema"]))).fetchone()[0]
    assert sum(r["ticket_sales"]["by_type"].get(t, 0) for r in reports for t in ("PURCHASED", "TRANSFERRED")) == hist

    assert items(ddb, days) == full(days)

    # the middle day again, after the last: no change (a day loaded after a later one is the newest-first test's)
    before = items(ddb, days)
    load(spark, source, {"ticket_sales": days["ticket_sales"]}, tmp_path, (START + DAY, START + 2 * DAY))
    assert items(ddb, days) == before, "rerunning day 2 changed the table"
    assert read_loads(ddb, days["ticket_sales"]).holds().end == START + 3 * DAY

    a_live_source_moves_on(spark, ddb, source, days, tmp_path)


def a_live_source_moves_on(spark: Any, ddb: Any, source: dict[str, Any], days: dict[str, str],
                           tmp_path: Path) -> None:
    """Day 4 of a live source: two new customers; one buys an Available ticket, the other is handed the ticket
    sold or passed on last. (It changes the module's source: the last thing this module does.)"""
    s = sql.Identifier(source["schema"])
    day4 = START.replace(tzinfo=None) + 3 * DAY + timedelta(hours=5)
    with psycopg.connect(source["uri"]) as conn:
        unsold = conn.execute(sql.SQL("SELECT id, ticket_price FROM {}.sporting_event_ticket "
                                      "WHERE ticketholder_id IS NULL ORDER BY id LIMIT 1").format(s)).fetchone()
        held = conn.execute(sql.SQL("SELECT h.sporting_event_ticket_id, t.ticketholder_id FROM "
                                    "{}.ticket_purchase_hist h JOIN {}.sporting_event_ticket t "
                                    "ON t.id = h.sporting_event_ticket_id ORDER BY h.transaction_date_time DESC, 1 "
                                    "LIMIT 1").format(s, s)).fetchone()
        buyer = conn.execute(sql.SQL("SELECT max(id) + 1 FROM {}.person").format(s)).fetchone()[0]
        other = buyer + 1
        conn.execute(sql.SQL("INSERT INTO {}.person VALUES (%s, 'Ada Newcomer', 'Newcomer', 'Ada'), "
                             "(%s, 'Bo Later', 'Later', 'Bo')").format(s), [buyer, other])
        conn.execute(sql.SQL("INSERT INTO {}.ticket_purchase_hist VALUES (%s, %s, %s, NULL, %s), "
                             "(%s, %s, %s, %s, 55.00)").format(s),
                     [unsold[0], buyer, day4, unsold[1], held[0], other, day4, held[1]])
        for holder, ticket in ((buyer, unsold[0]), (other, held[0])):
            conn.execute(sql.SQL("UPDATE {}.sporting_event_ticket SET ticketholder_id = %s WHERE id = %s").format(s),
                         [holder, ticket])
    report = load(spark, source, days, tmp_path, (START + 3 * DAY, START + 4 * DAY))
    ts = report["ticket_sales"]
    assert ts["by_type"] == {"PURCHASED": 1, "TRANSFERRED": 1}
    assert ts["interval"]["rewritten"] == 1
    after = {k: [json.loads(i) for i in v] for k, v in items(ddb, days).items()}
    sold = [i for i in after["ticket_sales"] if i["sporting_event_ticket_id"]["N"] == str(unsold[0])]
    assert [i["ticket_status_owner"]["S"].split("|")[0] for i in sold] == ["Purchased"]  # Available deleted
    carriers = [i for i in after["ticket_sales"] if i["sporting_event_ticket_id"]["N"] == str(held[0])
                and "current_owner_id" in i]
    assert [(c["ticket_status_owner"]["S"].split("|")[0], c["current_owner_id"]["N"]) for c in carriers] == \
        [("Transferred", str(other))]
    persons = {i["data_id"]["S"]: i for i in after["config"] if i["data_type"]["S"] == "PERSON"}
    assert persons[str(buyer)]["first_name"]["S"] == "Ada" and str(other) in persons
    # every item, as the reconciliation's own SQL re-maps the changed source (not the job's Spark code)
    assert reconciles(source, ddb, days, START + 4 * DAY) == {}
