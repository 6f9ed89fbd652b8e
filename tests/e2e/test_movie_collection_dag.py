"""End to end: `airflow dags test movie_collection_to_dsql` on 10,000+ generated documents with every kind of bad
input, on the embedded stack (local Spark, PostgreSQL as DSQL, moto S3); run twice, the second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from generators.movie_collection import write

pytestmark = pytest.mark.e2e
DAG_ID = "movie_collection_to_dsql"
TABLES = {"movies": "movie_id", "actors": "actor_id", "directors": "director_id",
          "movie_actors": "movie_id, actor_id", "movie_directors": "movie_id, director_id"}
LINEAGE = {"migration_run_id", "migrated_at"}


def _run_dag(source: Path, expect_rc: int = 0) -> dict:
    started = time.time()
    proc = subprocess.run(["airflow", "dags", "test", DAG_ID, "-c", json.dumps({"source_uri": f"file://{source}"})],
                          capture_output=True, text=True, timeout=900, env=os.environ.copy())
    reports = [p for p in (Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID).glob("*/report.json")
               if p.stat().st_mtime >= started]
    assert proc.returncode == expect_rc and len(reports) == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert log.count(f"## {DAG_ID} — ") == 1  # the Markdown summary is in the task log, once
    assert "dbmigrate progress" in log or expect_rc != 0  # the Spark job's progress lines reached the task log
    return json.loads(reports[0].read_text())


def _note_of(run_id: str) -> str | None:
    """The DAG run's note in Airflow's metadata DB (the run-notes listener sets it when the run ends)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id).one().note


def _snapshot(uri: str) -> dict[str, list[tuple]]:
    out = {}
    with psycopg.connect(uri) as conn:
        for table, key in TABLES.items():
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'movie_db' "
                "AND table_name = %s ORDER BY ordinal_position", [table]) if r[0] not in LINEAGE]
            out[table] = conn.execute(
                f"SELECT {', '.join(cols)} FROM movie_db.{table} ORDER BY {key}").fetchall()  # noqa: S608
    return out


def test_dag_migrates_exactly_and_reruns_idempotently(tmp_path: Path, dsql_uri: str) -> None:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS movie_db CASCADE")
    source = tmp_path / "movie_collection.json"
    expected = write(source, movies=1300, seed=2024, bad_input=True)
    assert expected["documents"] >= 10_000

    first = _run_dag(source)
    assert first["status"] == "passed" and first["failure"] is None
    note = _note_of(first["run_id"])
    assert note.startswith("**PASSED**") and "| movie |" in note
    for name, e in expected["entities"].items():
        got = first["entities"][name]
        assert (got["source"], got["rejected"], got["duplicates"], got["target"]) == (
            e["documents"], e["rejected"], e["duplicates"], e["unique"]), name
    assert first["rejects"] == expected["rejects"]
    assert first["sample"]["compared"] > 0 and first["sample"]["mismatches"] == []
    # every row reconciled in full (validate.validate_reconcile), not only the sample
    assert {n: (r["passed"], r["rows_actual"]) for n, r in first["reconciliation"].items()} == {
        n: (True, e["unique"]) for n, e in expected["entities"].items()}
    assert {(c["entity"], c["name"]) for c in first["checks"]} >= {
        (n, "every row reconciles (hash per bucket): differing keys") for n in expected["entities"]}
    before = _snapshot(dsql_uri)
    assert {t: len(rows) for t, rows in before.items()} == {
        "movies": expected["entities"]["movie"]["unique"], "actors": expected["entities"]["actor"]["unique"],
        "directors": expected["entities"]["director"]["unique"],
        "movie_actors": expected["entities"]["movie_actor"]["unique"],
        "movie_directors": expected["entities"]["movie_director"]["unique"]}

    second = _run_dag(source)
    assert second["status"] == "passed"
    assert second["entities"] == first["entities"]
    after = _snapshot(dsql_uri)
    assert after == before  # same rows, same UUIDs: upserts, not duplicates


def test_missing_source_fails_fast_and_the_report_names_the_cause(tmp_path: Path) -> None:
    started = time.monotonic()
    report = _run_dag(tmp_path / "nowhere.json", expect_rc=1)
    assert time.monotonic() - started < 60
    assert report["status"] == "failed"
    assert report["failure"]["task_id"] == "prepare.check_source"
    assert "nowhere.json does not exist" in report["failure"]["error"]
    assert report["not_run"] == ["validate.validate_counts: prepare.check_source failed",
                                 "validate.validate_rows: prepare.check_source failed",
                                 "validate.validate_reconcile: prepare.check_source failed"]
    assert "nowhere.json does not exist" in _note_of(report["run_id"])
