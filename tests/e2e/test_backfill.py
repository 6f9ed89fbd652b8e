"""Backfill one collection through a running scheduler, as an operator would: unpause the DAG (`@daily`) and at once
`airflow backfill create` over the last three days, at Airflow's default of up to 10 runs at once (the session's
`ui_backfills`, on the test UI's `movie_backfill_to_dsql`: the movie spec under a DAG id and schema of its own). The
export's links often come before their movie or actor, its middle day is quiet, and four of its lines carry no time.

Unpausing starts no run; the three runs start together and take the target lock in interval order; each loaded only
its day and passed its validations, the quiet one with zero counts; each line with no time was quarantined by the
first run only; afterwards the target equals, row for row and pending link for pending link, one load of the three
days by the job into another schema, and the last run's report says so; rerunning the middle day changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import psycopg
import pytest

from tests.fixtures.airflow_ui import SCHEMAS
from tests.fixtures.backfills import Backfills, Scenario
from tests.include.jobs.test_bad_input_corpus import deploy, run_job, snapshot
from tests.include.jobs.test_interval_loads import pending

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
TIMELESS = ("malformed_json", "bad_encoding", "no_interval_time")


@pytest.fixture(scope="module")
def movie(ui_backfills: Backfills) -> Scenario:
    return ui_backfills.completed()["movie"]


def test_unpausing_started_no_run_and_each_run_loaded_its_day(movie: Scenario) -> None:
    """No scheduled run came of the unpause (`dbmigrate.timetables`): the backfill's three runs are the DAG's only
    runs of those days, none skipped as already run."""
    runs = movie.days.wait()
    days = movie.source
    assert [(r["data_interval_start"][:10], r["data_interval_end"][:10]) for r in runs] == [
        (days.day(i).start.date().isoformat(), days.day(i).end.date().isoformat()) for i in range(3)]
    every = movie.world.api("GET", f"/dags/{movie.dag_id}/dagRuns?limit=100")["dag_runs"]
    assert not [r for r in every if r["run_type"] == "scheduled"
                and r["logical_date"] and r["logical_date"][:10] <= days.today.date().isoformat()], every
    for r in runs:
        assert r["state"] == "success", f"{r['dag_run_id']} {r['state']}\n" + movie.world.diagnostics(
            movie.dag_id, r["dag_run_id"])
    for r, report in zip(runs, movie.days.reports(), strict=True):
        assert report["status"] == "passed" and report["window"]["source"] == "data_interval"
        assert report["window"]["start"][:10] == r["data_interval_start"][:10]
        assert report["source"] == movie.conf["source_uri"]


def test_the_runs_started_together_and_took_the_lock_in_interval_order(movie: Scenario) -> None:
    """Without `--max-active-runs` the three runs start together; each waits (deferred) for the target lock the one
    before it holds, in interval order whatever order the scheduler started them in (each run's cumulative check
    needs the intervals before it loaded)."""
    runs = movie.days.wait()
    ran = sorted((r["start_date"], r["end_date"]) for r in runs)
    assert len(ran) == 3 and ran[1][0] < ran[0][1] and ran[2][0] < ran[0][1], ran  # they started together
    took = movie.days.lock_taken
    assert None not in took and took == sorted(took), took  # ... and took the lock in interval order


def test_a_quiet_day_passes_and_each_line_with_no_time_is_quarantined_once(movie: Scenario, dsql_uri: str) -> None:
    first, quiet, last = movie.days.reports()
    assert first["timeless"] == {"quarantined": 4, "met_again": 0}
    assert sum(first["rejects"][r] for r in TIMELESS) == 4
    assert all(e["source"] == 0 and e["rejected"] == 0 for e in quiet["entities"].values()), quiet["entities"]
    for later in (quiet, last):
        assert later["timeless"] == {"quarantined": 0, "met_again": 4}
        assert not any(later["rejects"][r] for r in TIMELESS)
    quarantined = {run["dag_run_id"]: [json.loads(line)["reason"] for line in _quarantine(movie, run)]
                   for run in movie.days.wait()}
    assert [sum(reason in TIMELESS for reason in reasons) for reasons in quarantined.values()] == [4, 0, 0], quarantined
    with psycopg.connect(dsql_uri) as conn:
        recorded = conn.execute(f"SELECT first_run FROM {SCHEMAS[movie.dag_id]}.dbmigrate_timeless").fetchall()  # noqa: S608
    assert recorded == [(movie.days.wait()[0]["dag_run_id"],)] * 3  # the broken line twice: one content


def _quarantine(movie: Scenario, run: dict[str, Any]) -> list[str]:
    """The run's quarantine records, where its first task resolved them."""
    uri = movie.world.api("GET", f"/dags/{movie.dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}/taskInstances/"
                                 "prepare.resolve_run/xcomEntries/quarantine_uri")["value"]
    folder = Path(urlparse(uri).path)
    return [line for f in sorted(folder.glob("part-*")) for line in f.read_text().splitlines() if line.strip()]


def test_links_before_their_parents_are_parked_and_land_later(movie: Scenario) -> None:
    reports = movie.days.reports()
    assert reports[0]["pending"]["parked"] > 3  # links older than their parents, parked ...
    assert sum(report["pending"]["released"] for report in reports) > 0  # ... and landed by a later run


def test_the_backfill_equals_one_load_of_its_days(movie: Scenario, spark: Any, dsql_uri: str, pg_schema: str,
                                                  tmp_path: Path) -> None:
    deploy(dsql_uri, pg_schema)
    export = Path(urlparse(movie.conf["source_uri"]).path)
    days = movie.source
    once = run_job(spark, tmp_path, dsql_uri, pg_schema, export, "--run-id", "once", "--window-start",
                   days.day(0).start.isoformat(), "--window-end", days.day(2).end.isoformat())
    assert once["pending"]["parked"] >= 2  # the nowhere actor's links, and those whose movie was on the quiet day
    assert movie.after_days == (snapshot(dsql_uri, pg_schema), pending(dsql_uri, pg_schema))
    loads = movie.days.reports()[-1]["loads"]  # ... and the last run's report says the target equals the source
    assert loads["equal"] is True and loads["up_to_text"] == days.today.date().isoformat()
    assert loads["gaps"] == [] and loads["before_complete"] is True, loads


def test_rerunning_the_middle_interval_changes_nothing(movie: Scenario) -> None:
    (again,) = movie.rerun.wait()
    assert again["data_interval_start"][:10] == movie.source.day(1).start.date().isoformat()  # the quiet day
    assert again["state"] == "success", movie.world.diagnostics(movie.dag_id, again["dag_run_id"])
    assert movie.after_rerun == movie.after_days
    (report,) = movie.rerun.reports()
    assert report["timeless"] == {"quarantined": 0, "met_again": 4}
    assert report["loads"]["after"] == [movie.source.day(2).as_dict()]  # the day after it is loaded
