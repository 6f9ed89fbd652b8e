"""Backfill one collection through a running scheduler, as a user would: `airflow backfill create` over three daily
intervals of a movie export whose links often come before their movie or actor, at Airflow's default of up to 10
runs at once (the session's `ui_backfills`, on the test UI's `movie_backfill_to_dsql`: the movie spec under a DAG
id and schema of its own). The runs start together and take the target lock in interval order; each loaded only
its interval and passed its validations; afterwards the target equals, row for row and pending link for pending
link, a full load of the same export by the job into another schema; rerunning the middle interval changes
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.fixtures.backfills import Backfills, Scenario
from tests.include.jobs.test_bad_input_corpus import deploy, run_job, snapshot
from tests.include.jobs.test_interval_loads import pending

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


@pytest.fixture(scope="module")
def movie(ui_backfills: Backfills) -> Scenario:
    return ui_backfills.completed()["movie"]


def test_each_run_loaded_its_day_and_passed(movie: Scenario) -> None:
    runs = movie.days.wait()
    assert [(r["data_interval_start"][:10], r["data_interval_end"][:10]) for r in runs] == [
        ("2024-01-01", "2024-01-02"), ("2024-01-02", "2024-01-03"), ("2024-01-03", "2024-01-04")]
    for r in runs:
        assert r["state"] == "success", f"{r['dag_run_id']} {r['state']}\n" + movie.world.diagnostics(
            movie.dag_id, r["dag_run_id"])
    for r, report in zip(runs, movie.days.reports(), strict=True):
        assert report["status"] == "passed" and report["window"]["source"] == "data_interval"
        assert report["window"]["start"][:10] == r["data_interval_start"][:10]


def test_the_runs_started_together_and_took_the_lock_in_interval_order(movie: Scenario) -> None:
    """Without `--max-active-runs` the three runs start together; each waits (deferred) for the target lock the one
    before it holds, in interval order whatever order the scheduler started them in (each run's cumulative check
    needs the intervals before it loaded)."""
    runs = movie.days.wait()
    ran = sorted((r["start_date"], r["end_date"]) for r in runs)
    assert len(ran) == 3 and ran[1][0] < ran[0][1] and ran[2][0] < ran[0][1], ran  # they started together
    took = movie.days.lock_taken
    assert None not in took and took == sorted(took), took  # ... and took the lock in interval order


def test_links_before_their_parents_are_parked_and_land_later(movie: Scenario) -> None:
    reports = movie.days.reports()
    assert reports[0]["pending"]["parked"] > 3  # links older than their parents, parked ...
    assert sum(report["pending"]["released"] for report in reports) > 0  # ... and landed by a later run


def test_a_backfill_equals_a_full_load(movie: Scenario, spark: Any, dsql_uri: str, pg_schema: str,
                                       tmp_path: Path) -> None:
    deploy(dsql_uri, pg_schema)
    export = Path(urlparse(movie.conf["source_uri"]).path)
    full = run_job(spark, tmp_path, dsql_uri, pg_schema, export, "--run-id", "full")
    assert full["pending"]["parked"] == 3  # the nowhere actor's links, one a day
    assert movie.after_days == (snapshot(dsql_uri, pg_schema), pending(dsql_uri, pg_schema))


def test_rerunning_the_middle_interval_changes_nothing(movie: Scenario) -> None:
    (again,) = movie.rerun.wait()
    assert again["data_interval_start"][:10] == "2024-01-02"  # the middle day
    assert again["state"] == "success", movie.world.diagnostics(movie.dag_id, again["dag_run_id"])
    assert movie.after_rerun == movie.after_days
