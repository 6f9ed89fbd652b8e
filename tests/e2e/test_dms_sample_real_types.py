"""End to end on AWS's own PostgreSQL port of dms_sample (GitHub issue 8): ids declared DOUBLE PRECISION and
NUMERIC, and history that does not chain like our generator's (rows sharing a time, transfers from someone who
was not the previous buyer, a holder who is not the last buyer, a sold ticket without history, one id 4.5).

`tests/fixtures/dms_sample_real_types.sql` is loaded into a fresh database and the tasks of
`dms_sample_to_dynamodb` are run in-process (`tests.fixtures.in_process`) pointed at it with `source_conn_id` /
`source_schema` (the session's `dms_real_types_run`, which also keeps what the tables answered). Every expected
fact is re-derived with plain SQL (`fixtures.dms_sample_real_types`) and cross-checked with the hand-written
numbers first, so a failure names the migration, not the fixture.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import psycopg
import pytest

from connectors.storage import safe_segment
from tests.fixtures import dms_sample_real_types as fx
from tests.fixtures.session_runs import DMS_DAG, RealTypesRun

pytestmark = pytest.mark.e2e
HISTORY_TYPES = ("PURCHASED", "TRANSFERRED")


def _uri(db: str) -> str:
    return f"{os.environ['LOCAL_SOURCE_SQL_URI'].rsplit('/', 1)[0]}/{db}"


def _facts(db: str) -> dict:
    """The fixture's facts by plain SQL, asserted equal to the hand-written ones of `fx`."""
    with psycopg.connect(_uri(db)) as conn:
        def rows(sql: str, params: tuple = ()) -> list[tuple]:
            return conn.execute(sql, params or None).fetchall()

        anomalies = {name: rows(sql)[0][0] for name, sql in fx.fact_sql().items()}
        with_bad = {name: rows(sql)[0][0] for name, sql in fx.fact_sql(include_bad=True).items()}
        persons = [p for (p,) in rows(fx.persons_sql())]
        holdings: dict[int, list[int]] = {p: [] for p in persons}
        for person, ticket in rows(fx.holdings_sql()):
            holdings[person].append(ticket)
        unsold = [t for (t,) in rows(fx.unsold_sql())]
        by_ticket = {t: (n, p, x) for t, n, p, x in rows(fx.history_by_ticket_sql())}
        bad = rows(fx.bad_rows_sql())
        history = rows(f"SELECT count(*) FROM {fx.SCHEMA}.ticket_purchase_hist")[0][0]
        # every integer-valued numeric column of every table (prices have a scale): only the one bad value
        columns = rows("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
                       " AND (data_type IN ('double precision', 'real')"
                       " OR (data_type = 'numeric' AND coalesce(numeric_scale, 0) = 0))", (fx.SCHEMA,))
        non_integral = sum(rows(f"SELECT count(*) FROM {fx.SCHEMA}.{t} WHERE {c} <> floor({c})")[0][0]
                           for t, c in columns)

    assert anomalies == fx.ANOMALIES
    assert with_bad == fx.ANOMALIES, "the fixture's anomaly counts must not depend on the bad row"
    assert persons == list(fx.PERSONS)
    assert {p: frozenset(ts) for p, ts in holdings.items()} == fx.HOLDINGS
    assert sum(map(len, holdings.values())) + len(unsold) == fx.TICKETS
    assert frozenset(unsold) == fx.UNSOLD
    assert history == fx.HISTORY_ROWS
    assert {t: n for t, (n, _, _) in by_ticket.items()} == fx.HISTORY_BY_TICKET
    assert sum(p for _, p, _ in by_ticket.values()) == fx.GOOD_PURCHASES
    assert sum(x for _, _, x in by_ticket.values()) == fx.GOOD_TRANSFERS
    assert fx.GOOD_PURCHASES + fx.GOOD_TRANSFERS == fx.HISTORY_ROWS - fx.BAD_TYPE_REJECTS
    assert [(int(t), b, ts, f) for t, b, ts, f in bad] == [tuple(fx.BAD_ROW.values())]
    assert non_integral == fx.BAD_TYPE_REJECTS
    return {"anomalies": anomalies, "holdings": holdings, "unsold": unsold, "by_ticket": by_ticket}


def test_fixture_loads_and_its_facts_hold_in_sql(dms_real_types_run: RealTypesRun) -> None:
    """The fixture alone: it loads with AWS's types and plain SQL agrees with the hand-written facts."""
    with psycopg.connect(_uri(dms_real_types_run.db)) as conn:
        types = dict(conn.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s", (fx.SCHEMA,)).fetchall())
    assert types["person.id"] == types["sporting_event_ticket.id"] == "double precision"
    assert types["ticket_purchase_hist.purchased_by_id"] == types["sport_team.id"] == "double precision"
    assert types["sport_location.id"] == types["sport_location.seating_capacity"] == "numeric"
    assert types["sporting_event_ticket.seat_level"] == "numeric"
    _facts(dms_real_types_run.db)


def _job_report(run_id: str) -> dict:
    return json.loads((Path(os.environ["LOCAL_REPORTS_DIR"]) / DMS_DAG / run_id / "job_report_ticket_sales.json"
                       ).read_text())


def test_real_types_migrate_with_anomalies_reported(dms_real_types_run: RealTypesRun) -> None:
    facts = _facts(dms_real_types_run.db)
    report = dms_real_types_run.report
    assert report["status"] == "passed", json.dumps(report, indent=1)[:4000]

    # the run passes; the one row with purchased_by_id 4.5 is rejected, never rounded
    assert report["rejects"] == {"bad_type": fx.BAD_TYPE_REJECTS}
    entities = {k: (v["source"], v["target"]) for k, v in report["entities"].items()}
    assert entities["ticket_sales.PURCHASED"] == (fx.GOOD_PURCHASES, fx.GOOD_PURCHASES)
    assert entities["ticket_sales.TRANSFERRED"] == (fx.GOOD_TRANSFERS, fx.GOOD_TRANSFERS)
    assert entities["ticket_sales.AVAILABLE"] == (len(fx.UNSOLD), len(fx.UNSOLD))
    assert entities["config.PERSON"] == (len(fx.PERSONS), len(fx.PERSONS))
    assert entities["ticket_sales.HELD"] == (1, 1)  # ticket 5: sold, no history; its item carries the holder
    # the run's report lists the source's anomalies as notes (reported, never failed)
    assert {name: n["count"] for name, n in report["notes"].items()} == {
        f"ticket_sales: {name.replace('_', ' ')}": count for name, count in fx.ANOMALIES.items()}

    # the ticket_sales job reports the rejects and the source's anomalies, counted as plain SQL counts them
    job = _job_report(report["run_id"])
    assert job["rejects"] == {"bad_type": fx.BAD_TYPE_REJECTS}
    assert set(job["anomalies"]) == set(fx.ANOMALIES)
    assert {name: found["count"] for name, found in job["anomalies"].items()} == facts["anomalies"]
    for name, found in job["anomalies"].items():
        assert isinstance(found["examples"], list), name
        assert 0 < len(found["examples"]) <= found["count"], (name, found)
    # the rejected row is in the run's quarantine, whole, with the column that made it bad
    quarantine = Path(os.environ["DBMIGRATE_QUARANTINE_URI"].removeprefix("file://")) / DMS_DAG / safe_segment(
        report["run_id"]) / "ticket_sales" / "bad_type.jsonl"
    (rejected,) = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert rejected["table"] == "ticket_purchase_hist" and rejected["reason"] == "bad_type"
    assert rejected["detail"] == "purchased_by_id=4.5" and rejected["row"]["purchased_by_id"] is None


def test_tickets_i_own_follow_the_ticketholder(dms_real_types_run: RealTypesRun) -> None:
    """"tickets I own" follows sporting_event_ticket.ticketholder_id, for every person, each ticket once."""
    facts = _facts(dms_real_types_run.db)
    assert dms_real_types_run.owned == {p: sorted(tickets) for p, tickets in facts["holdings"].items()}


def test_the_available_index_holds_exactly_the_unsold_tickets(dms_real_types_run: RealTypesRun) -> None:
    assert dms_real_types_run.available == _facts(dms_real_types_run.db)["unsold"]


def test_every_good_history_row_is_one_item_with_a_unique_key(dms_real_types_run: RealTypesRun) -> None:
    facts = _facts(dms_real_types_run.db)
    history = dms_real_types_run.history
    assert len(history) == fx.HISTORY_ROWS - fx.BAD_TYPE_REJECTS
    keys: dict[int, list[str]] = defaultdict(list)
    for item in history:
        keys[int(item["sporting_event_ticket_id"]["N"])].append(item["ticket_status_owner"]["S"])
    assert {t: len(k) for t, k in keys.items()} == {t: n for t, (n, _, _) in facts["by_ticket"].items()}
    duplicated = {t: [k for k, n in Counter(ks).items() if n > 1] for t, ks in keys.items() if len(set(ks)) < len(ks)}
    assert duplicated == {}
    assert len(set(keys[3])) == 3  # 102 transferred ticket 3 to 104 and to 105 at the same second: two items
    assert Counter(i["item_type"]["S"] for i in history) == {"PURCHASED": fx.GOOD_PURCHASES,
                                                            "TRANSFERRED": fx.GOOD_TRANSFERS}
    # nothing of the bad row survives, rounded or truncated: no owner 4, 4.5 or 5 anywhere
    owners = {i["owner_id"]["N"] for i in history if "owner_id" in i}
    assert owners <= {str(p) for p in fx.PERSONS}, owners
