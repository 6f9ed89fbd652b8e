"""Backfill one collection through a running scheduler, as a user would: `airflow backfill create` over three daily
intervals of a movie export whose links often come before their movie or actor. Afterwards `movie_db` equals, row
for row and pending link for pending link, a full load of the same export by the job into another schema; each
run loaded only its interval and passed its validations; rerunning the middle interval changes nothing.

The UI stack (api-server, scheduler, dag-processor, triggerer: `devstack.ui`) runs for this module only, unless
it was already running.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from generators.movie_collection import write
from tests.fixtures.airflow_ui import Api, diagnostics, running_ui
from tests.include.jobs.test_bad_input_corpus import deploy, run_job, snapshot
from transforms.intervals import objectid_at

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
DAG_ID = "movie_collection_to_dsql"
START = datetime(2024, 1, 1, tzinfo=UTC)
RUN_TIMEOUT_S = 15 * 60


@pytest.fixture(scope="module")
def export() -> Path:
    """Three days of documents (ObjectId times spread in file order), plus one link a day to a nowhere actor."""
    path = Path(os.environ["LOCAL_DATA_DIR"]) / "backfill" / "movie_collection.json"
    write(path, movies=150, seed=23, spread=(START, timedelta(days=3)))
    movie = next(json.loads(line)["PK"] for line in path.read_text().splitlines() if '"type":"movie"' in line)
    with path.open("a", encoding="utf-8") as f:
        for day in range(3):
            oid = objectid_at(START + timedelta(days=day, hours=12))[:-6] + f"{day:06x}"
            f.write(json.dumps({"_id": {"$oid": oid}, "PK": movie, "SK": f"ACTOR#nm_nowhere{day}",
                                "type": "movie_actor", "character_name": "Ghost", "billing_order": 99}) + "\n")
    return path


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Any, Api]]:
    with running_ui(DAG_ID) as running:
        yield running


def pending(dsql_uri: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT entity, source_key, source_version, missing_key, document "  # noqa: S608
                            f"FROM {schema}.dbmigrate_pending ORDER BY 1, 2").fetchall()


def backfill(api: Api, dag_id: str, conf: dict[str, Any], first: str, last: str, *extra: str,
             max_active_runs: int | None = 1) -> list[dict[str, Any]]:
    """`airflow backfill create` from `first` to `last` (logical dates; `max_active_runs` None: Airflow's
    default, 10), then its runs once all have ended."""
    started = datetime.now(UTC)
    limit = [] if max_active_runs is None else ["--max-active-runs", str(max_active_runs)]
    proc = subprocess.run(
        ["airflow", "backfill", "create", "--dag-id", dag_id, "--from-date", first, "--to-date", last,
         *limit, "--dag-run-conf", json.dumps(conf), *extra],
        capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        backfills = api("GET", f"/backfills?dag_id={dag_id}&limit=100")["backfills"]
        mine = [b for b in backfills if datetime.fromisoformat(b["created_at"]) >= started - timedelta(seconds=5)]
        if mine and mine[-1].get("completed_at"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"backfill not done after {RUN_TIMEOUT_S}s: {mine}\n{diagnostics()}")
        time.sleep(5)
    runs = api("GET", f"/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]
    return [r for r in runs if r["run_type"] == "backfill" and r.get("end_date")  # rerun runs keep their id
            and datetime.fromisoformat(r["end_date"]) >= started]


def three_days(api: Api, dag_id: str, conf: dict[str, Any], max_active_runs: int | None = 1
               ) -> list[dict[str, Any]]:
    """Backfill 2024-01-01 .. 2024-01-04 (logical dates: each run after its day); each run succeeded, its report
    passed and covers its day. `completed`: again if an earlier session of the metadata DB ran them. Reports."""
    runs = backfill(api, dag_id, conf, "2024-01-02", "2024-01-04", "--reprocess-behavior", "completed",
                    max_active_runs=max_active_runs)
    assert [(r["data_interval_start"][:10], r["data_interval_end"][:10]) for r in runs] == [
        ("2024-01-01", "2024-01-02"), ("2024-01-02", "2024-01-03"), ("2024-01-03", "2024-01-04")]
    for r in runs:
        assert r["state"] == "success", f"{r['dag_run_id']} {r['state']}\n{diagnostics(api, dag_id, r['dag_run_id'])}"
    reports = [json.loads((Path(os.environ["LOCAL_REPORTS_DIR"]) / dag_id / r["dag_run_id"] / "report.json"
                           ).read_text()) for r in runs]
    for r, report in zip(runs, reports, strict=True):
        assert report["status"] == "passed" and report["window"]["source"] == "data_interval"
        assert report["window"]["start"][:10] == r["data_interval_start"][:10]
    return reports


@pytest.mark.usefixtures("empty_movie_db")
def test_a_backfill_equals_a_full_load(stack: tuple[Any, Api], export: Path, spark: Any, dsql_uri: str,
                                       pg_schema: str, tmp_path: Path) -> None:
    _, api = stack
    conf = {"source_uri": f"file://{export}"}
    reports = three_days(api, DAG_ID, conf)
    assert reports[0]["pending"]["parked"] > 3  # links older than their parents, parked ...
    assert sum(report["pending"]["released"] for report in reports) > 0  # ... and landed by a later run

    deploy(dsql_uri, pg_schema)
    full = run_job(spark, tmp_path, dsql_uri, pg_schema, export, "--run-id", "full")
    assert full["pending"]["parked"] == 3
    assert snapshot(dsql_uri, "movie_db") == snapshot(dsql_uri, pg_schema)
    assert pending(dsql_uri, "movie_db") == pending(dsql_uri, pg_schema)

    before = snapshot(dsql_uri, "movie_db"), pending(dsql_uri, "movie_db")
    (again,) = backfill(api, DAG_ID, conf, "2024-01-03", "2024-01-03", "--reprocess-behavior", "completed")
    assert again["data_interval_start"][:10] == "2024-01-02"  # the middle day
    assert again["state"] == "success", diagnostics(api, DAG_ID, again["dag_run_id"])
    assert (snapshot(dsql_uri, "movie_db"), pending(dsql_uri, "movie_db")) == before


@pytest.mark.usefixtures("empty_movie_db")
def test_a_backfill_at_airflows_default_of_10_runs_at_once_queues_on_the_lock(
        stack: tuple[Any, Api], export: Path, spark: Any, dsql_uri: str, pg_schema: str, tmp_path: Path) -> None:
    """Without `--max-active-runs 1` the three runs start together; each waits (deferred) for the target lock
    the one before it holds, in interval order whatever order the scheduler started them in (each run's
    cumulative check needs the intervals before it loaded), and the target still ends equal to a full load, row
    for row and pending link for pending link."""
    _, api = stack
    conf = {"source_uri": f"file://{export}"}
    reports = three_days(api, DAG_ID, conf, max_active_runs=None)
    runs = api("GET", f"/dags/{DAG_ID}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]
    ran = sorted((r["start_date"], r["end_date"]) for r in runs if r["run_type"] == "backfill" and
                 r["dag_run_id"] in {report["run_id"] for report in reports})
    assert len(ran) == 3 and ran[1][0] < ran[0][1] and ran[2][0] < ran[0][1], ran  # they started together
    took = [api("GET", f"/dags/{DAG_ID}/dagRuns/{quote(report['run_id'])}/taskInstances/prepare.acquire_lock"
                ).get("end_date") for report in reports]
    assert took == sorted(took), took  # ... and took the lock in interval order

    deploy(dsql_uri, pg_schema)
    run_job(spark, tmp_path, dsql_uri, pg_schema, export, "--run-id", "full")
    assert snapshot(dsql_uri, "movie_db") == snapshot(dsql_uri, pg_schema)
    assert pending(dsql_uri, "movie_db") == pending(dsql_uri, pg_schema)
