"""End to end, `airflow dags test movie_collection_to_dsql` on the embedded stack (local Spark, PostgreSQL as DSQL,
moto S3), as the session's shared movie runs (`tests.fixtures.session_runs`) made them:

- a dry run on an empty target (the DAG's tasks in-process): it classifies and quarantines, and writes nothing;
- the run, from the MWAA layout: the bundle's DAG, plugins and staged job run without the repository or pyspark on
  the path; a generated export with its own bad documents plus every line-level case of the bad-input corpus, a
  BOM and CRLF line ends; secret canaries in the worker's environment and every Spark process it spawns watched;
- the same export run again, twice at the same moment, each process with its own metadata DB as two deployments
  would: never both writing, neither failing falsely, the target unchanged (idempotent).

A run whose source does not exist is the UI's (tests/e2e/test_missing_source.py).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import pytest
from psycopg.conninfo import conninfo_to_dict

from connectors.storage import safe_segment
from tests.fixtures.bad_input import LINE_CASES
from tests.fixtures.dag_runs import passed
from tests.fixtures.mapping_reference import check, outcome, quarantine_records
from tests.fixtures.session_runs import CANARY, MOVIE_DAG, DryRun, MovieExport, MovieRun, Rerun

pytestmark = pytest.mark.e2e
TABLES = {"movie": "movies", "actor": "actors", "director": "directors", "movie_actor": "movie_actors",
          "movie_director": "movie_directors"}
NOT_RUN = ["validate.validate_counts: {} failed", "validate.validate_rows: {} failed",
           "validate.validate_reconcile: {} failed", "validate.validate_values: {} failed"]


def expected_entities(export: MovieExport) -> dict[str, tuple[int, int, int, int]]:
    """Per entity (source documents, rejected, duplicates, target rows): the generator's outcome plus each corpus
    document of the entity it names (rejected, so no row)."""
    added = Counter(c.entity for c in LINE_CASES for _ in c.reasons if c.entity)
    return {name: (e["documents"] + added[name], e["rejected"] + added[name], e["duplicates"], e["unique"])
            for name, e in export.expected["entities"].items()}


def secrets() -> dict[str, str]:
    return {"canary": CANARY, "target password": conninfo_to_dict(os.environ["LOCAL_DSQL_URI"])["password"]}


# --- the dry run -------------------------------------------------------------------------------------------------

def test_a_dry_run_passes_and_counts_every_document(movie_dry_run: DryRun, movie_export: MovieExport) -> None:
    report = movie_dry_run.report
    assert report["status"] == "passed" and report["dry_run"] is True, report
    for name, (source, rejected, duplicates, _) in expected_entities(movie_export).items():
        got = report["entities"][name]
        assert (got["source"], got["rejected"], got["duplicates"]) == (source, rejected, duplicates), name
    assert {r: n for r, n in report["rejects"].items() if n} == dict(
        Counter(movie_export.expected["rejects"]) + movie_export.corpus.reasons)


def test_a_dry_run_on_an_empty_target_writes_nothing(movie_dry_run: DryRun) -> None:
    assert movie_dry_run.movies_table is None  # the DDL was linted, never deployed; no row written anywhere
    assert all(not e.get("target") for e in movie_dry_run.report["entities"].values())


# --- the run -----------------------------------------------------------------------------------------------------

def test_the_run_passes_and_its_summary_is_in_the_log_once(movie_run: MovieRun) -> None:
    report = passed(movie_run.run)
    assert report["failure"] is None
    assert movie_run.run.output.count(f"## {MOVIE_DAG} — ") == 1  # the Markdown summary, in the task log
    assert "dbmigrate progress" in movie_run.run.output  # the Spark job's progress lines reached the task log


def test_the_mwaa_run_took_the_dag_plugins_and_job_from_the_bundle(movie_run: MovieRun) -> None:
    output = movie_run.run.output
    assert "blocked by the layout test" not in output  # nothing the DAG side imports needed pyspark
    assert str(movie_run.home / "dags" / "dbmigrate_include") in output  # the staged spec and job's origin
    assert "dbmigrate progress" in output  # the staged job ran


def test_the_runs_note_holds_the_summary(movie_run: MovieRun) -> None:
    assert movie_run.note and movie_run.note.startswith("**PASSED**") and "| movie |" in movie_run.note


def test_every_entity_is_counted_exactly(movie_run: MovieRun, movie_export: MovieExport) -> None:
    report = movie_run.run.report
    for name, expected in expected_entities(movie_export).items():
        got = report["entities"][name]
        assert (got["source"], got["rejected"], got["duplicates"], got["target"]) == expected, name
    assert {name: len(rows) for name, rows in movie_run.rows.items()} == {
        TABLES[n]: e["unique"] for n, e in movie_export.expected["entities"].items()}


def test_every_kind_of_bad_document_is_quarantined_and_the_run_passes(movie_run: MovieRun,
                                                                      movie_export: MovieExport) -> None:
    expected = Counter(movie_export.expected["rejects"]) + movie_export.corpus.reasons
    assert {r: n for r, n in movie_run.run.report["rejects"].items() if n} == dict(expected)
    assert all(c["passed"] for c in movie_run.run.report["checks"])


def test_the_quarantine_holds_every_rejected_document_owner_only(movie_run: MovieRun) -> None:
    """Rejected documents as they were, one JSON line each, readable by the owner alone."""
    run = movie_run.run
    quarantine = Path(urlparse(os.environ["DBMIGRATE_QUARANTINE_URI"]).path) / MOVIE_DAG / safe_segment(run.run_id)
    parts = sorted(quarantine.glob("part-*"))
    lines = [json.loads(x) for f in parts for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert Counter(x["reason"] for x in lines) == Counter({r: n for r, n in run.report["rejects"].items() if n})
    assert {oct(p.stat().st_mode & 0o777) for p in [quarantine, *quarantine.rglob("*")]} <= {"0o600", "0o700"}
    assert oct(quarantine.stat().st_mode & 0o777) == "0o700"


def test_the_rows_and_rejects_are_those_the_engine_wrote_before_issue_26(movie_run: MovieRun) -> None:
    """Every row of every table, every quarantined document and every count, as the frozen reference holds them
    (tests.fixtures.mapping_reference): generated movies, the generator's bad documents and the bad-input corpus."""
    run = movie_run.run
    quarantine = Path(urlparse(os.environ["DBMIGRATE_QUARANTINE_URI"]).path) / MOVIE_DAG / safe_segment(run.run_id)
    check("movie_run", outcome(movie_run.tables, quarantine_records(quarantine), run.report))


def test_sampled_rows_match_and_every_row_reconciles(movie_run: MovieRun, movie_export: MovieExport) -> None:
    report = movie_run.run.report
    assert report["sample"]["compared"] > 0 and report["sample"]["mismatches"] == []
    # every row reconciled in full (validate.validate_reconcile), not only the sample
    assert {n: (r["passed"], r["rows_actual"]) for n, r in report["reconciliation"].items()} == {
        n: (True, e["unique"]) for n, e in movie_export.expected["entities"].items()}
    assert {(c["entity"], c["name"]) for c in report["checks"]} >= {
        (n, "every row reconciles (hash per bucket): differing keys") for n in movie_export.expected["entities"]}


def test_no_secret_reaches_a_spark_process(movie_run: MovieRun) -> None:
    """The worker's environment held the canaries and the target's password; no Spark process it spawned was
    started with either, in its environment or on its command line."""
    seen = movie_run.run.spark
    assert any("SparkSubmit" in cmd for cmd, _ in seen.values()), [c for c, _ in seen.values()]
    assert any("mongo_to_dsql.py" in cmd for cmd, _ in seen.values())  # the job's Python driver
    for pid, (cmdline, environ) in seen.items():
        for name, secret in secrets().items():
            assert secret not in cmdline and secret.encode() not in environ, (name, pid, cmdline)


def test_no_secret_reaches_the_output_logs_reports_or_quarantine(movie_run: MovieRun) -> None:
    run = movie_run.run
    # `airflow dags test` prints the task logs (it writes no log files): the output is the run's task log.
    assert "spark-submit" in run.output and "dbmigrate progress" in run.output
    logs = [p for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*")
            if p.is_file() and p.stat().st_mtime >= run.started]
    quarantine = Path(urlparse(os.environ["DBMIGRATE_QUARANTINE_URI"]).path) / MOVIE_DAG / safe_segment(run.run_id)
    run_dirs = [Path(os.environ["LOCAL_REPORTS_DIR"]) / MOVIE_DAG / run.run_id, quarantine]
    for root in run_dirs:
        assert any(p.is_file() for p in root.rglob("*")), root  # the run wrote there
    for path in [*logs, *(p for root in run_dirs for p in root.rglob("*") if p.is_file())]:
        data = path.read_bytes()
        for name, secret in secrets().items():
            assert secret.encode() not in data, (name, path)
    for name, secret in secrets().items():
        assert secret not in run.output, name


# --- the same export again, twice at once ------------------------------------------------------------------------

def _first_and_other(rerun: Rerun) -> tuple[int, int]:
    """Which of the two took the lock first (it passed: the other failed at the lock or ran after it)."""
    passing = [i for i, r in enumerate(rerun.runs) if r.report and r.report["status"] == "passed"]
    assert passing, "\n\n".join(r.tail() for r in rerun.runs)
    first = min(passing, key=lambda i: rerun.states[i]["prepare.acquire_lock"][1])
    return first, 1 - first


def test_two_simultaneous_runs_never_both_write(movie_rerun: Rerun) -> None:
    first, other = _first_and_other(movie_rerun)
    winner, loser = movie_rerun.runs[first], movie_rerun.runs[other]
    assert winner.rc == 0 and winner.report["failure"] is None
    assert movie_rerun.states[first]["load.run_spark_job"][0] == "success"
    states = movie_rerun.states[other]
    if loser.report["status"] == "passed":
        # both loaded: only one after the other, the second taking the lock after the first gave it back
        assert states["prepare.acquire_lock"][1] > movie_rerun.states[first]["validate.release_lock"][2]
    else:
        # the loser failed at the lock, named the winner, and never reached the load
        failure = loser.report["failure"]
        assert loser.rc != 0 and failure["task_id"] == "prepare.acquire_lock", loser.tail()
        assert f"is held by {MOVIE_DAG} run {winner.run_id} since " in failure["error"]
        assert states["prepare.stage_job"][0] == "upstream_failed"
        assert states["load.run_spark_job"][0] == "upstream_failed"
        assert states["validate.release_lock"][0] == "success"  # ran, and freed nothing of the winner's
        assert loser.report["not_run"] == [n.format("prepare.acquire_lock") for n in NOT_RUN]
    for run in movie_rerun.runs:  # no count check failed anywhere: the loser ran none, the winner's all reconcile
        assert all(c["passed"] for c in run.report["checks"]), run.report["checks"]
    assert winner.report["checks"]


def test_every_row_is_one_runs_and_the_lock_is_released(movie_rerun: Rerun) -> None:
    first, other = _first_and_other(movie_rerun)
    runs = movie_rerun.runs
    last_writer = runs[other].run_id if runs[other].report["status"] == "passed" else runs[first].run_id
    assert movie_rerun.writers == {t: [last_writer] for t in TABLES.values()}  # written by one run, not a mix
    assert movie_rerun.locks_left == 0


def test_running_the_same_export_again_changes_nothing(movie_rerun: Rerun, movie_run: MovieRun) -> None:
    assert movie_rerun.rows == movie_run.rows  # same rows, same UUIDs: upserts, not duplicates
    first, _ = _first_and_other(movie_rerun)
    assert movie_rerun.runs[first].report["entities"] == movie_run.run.report["entities"]
