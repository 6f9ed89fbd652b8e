"""End to end: two `airflow dags test movie_collection_to_dsql` processes started at the same moment on the same
target never both write, neither fails falsely, and the target holds exactly the expected rows.

Each process has its own Airflow metadata database (a copy of a sqlite file migrated once), as two deployments
would: `max_active_runs=1`
cannot see the other run, only the target lock can. The target is a schema of this test (the spec and DDL are
copied with the schema renamed), deployed before the runs start: on an empty PostgreSQL two concurrent first
`CREATE … IF NOT EXISTS` can collide in the catalog (DSQL reports that as an OCC conflict the deployer retries),
which is not what this test is about.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from generators.movie_collection import write
from transforms.ddl_lint import for_postgres, split_statements

pytestmark = pytest.mark.e2e
DAG_ID = "movie_collection_to_dsql"
ROOT = Path(__file__).resolve().parents[2]
TABLES = {"movie": "movies", "actor": "actors", "director": "directors", "movie_actor": "movie_actors",
          "movie_director": "movie_directors"}


@pytest.fixture
def target(tmp_path: Path, dsql_uri: str) -> Iterator[tuple[Path, str]]:
    """An include folder whose movie spec targets a schema of this test, with that schema's DDL deployed."""
    schema = f"t_conc_{uuid.uuid4().hex[:8]}"
    include = tmp_path / "include"
    shutil.copytree(ROOT / "include" / "specs", include / "specs")
    shutil.copytree(ROOT / "include" / "jobs", include / "jobs")
    spec = include / "specs" / f"{DAG_ID}.yaml"
    spec.write_text(spec.read_text().replace("schema: movie_db", f"schema: {schema}"))
    sql = include / "sql" / "movie_db"
    sql.mkdir(parents=True)
    for path in sorted((ROOT / "include" / "sql" / "movie_db").glob("*.sql")):
        (sql / path.name).write_text(path.read_text().replace("movie_db", schema))
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for path in sorted(sql.glob("*.sql")):
            for statement in split_statements(path.read_text()):
                conn.execute(for_postgres(statement))
    yield include, schema
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="module")
def metadata_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty Airflow metadata database (sqlite, `airflow db migrate`d) that each process gets a copy of."""
    db = tmp_path_factory.mktemp("airflow_db") / "airflow.db"
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    return db


def _metadata_db(template: Path, tmp_path: Path, name: str) -> Path:
    """A private metadata database for one process: a single `airflow dags test` is all that writes it."""
    copy = tmp_path / f"airflow_{name}.db"
    shutil.copy(template, copy)
    return copy


def _run_of(db: Path) -> tuple[str, dict[str, tuple[str, str | None, str | None]]]:
    """The run a process made, and task_id → (state, start, end) of its tasks, from its metadata database."""
    with sqlite3.connect(db) as conn:
        (run_id,) = [r[0] for r in conn.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (DAG_ID,))]
        return run_id, {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            "SELECT task_id, state, start_date, end_date FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (DAG_ID, run_id))}


def test_two_simultaneous_runs_never_both_write(tmp_path: Path, dsql_uri: str, target: tuple[Path, str],
                                                metadata_template: Path) -> None:
    include, schema = target
    source = tmp_path / "data" / "movie_collection.json"
    expected = write(source, movies=150, seed=7)
    reports = tmp_path / "reports"
    procs, dbs = [], []
    for name in ("a", "b"):
        db = _metadata_db(metadata_template, tmp_path, name)
        env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
               "DBMIGRATE_INCLUDE_DIR": str(include), "LOCAL_REPORTS_DIR": str(reports),
               "DBMIGRATE_QUARANTINE_URI": f"file://{tmp_path / 'quarantine'}"}
        dbs.append(db)
        procs.append(subprocess.Popen(
            ["airflow", "dags", "test", DAG_ID, "-c", json.dumps({"source_uri": f"file://{source}"})],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    logs = [p.communicate(timeout=900)[0] for p in procs]
    found = sorted(reports.glob(f"{DAG_ID}/*/report.json"))
    assert len(found) == 2, "\n\n".join(log[-4000:] for log in logs)
    by_run = {r["run_id"]: r for r in (json.loads(p.read_text()) for p in found)}
    runs = []
    for proc, db, log in zip(procs, dbs, logs, strict=True):
        run_id, states = _run_of(db)
        runs.append({"rc": proc.returncode, "report": by_run[run_id], "states": states, "log": log})

    passed = [r for r in runs if r["report"]["status"] == "passed"]
    assert passed, "\n\n".join(r["log"][-6000:] for r in runs)
    first = min(passed, key=lambda r: r["states"]["prepare.acquire_lock"][1])
    (other,) = [r for r in runs if r is not first]
    winner_id = first["report"]["run_id"]
    assert first["rc"] == 0 and first["report"]["failure"] is None
    assert first["states"]["load.run_spark_job"][0] == "success"

    if other["report"]["status"] == "passed":
        # both loaded: only one after the other, the second taking the lock after the first gave it back
        assert other["states"]["prepare.acquire_lock"][1] > first["states"]["validate.release_lock"][2]
        last_writer = other["report"]["run_id"]
    else:
        # the loser failed at the lock, named the winner, and never reached the load
        failure = other["report"]["failure"]
        assert other["rc"] != 0 and failure["task_id"] == "prepare.acquire_lock", other["log"][-6000:]
        assert f"is held by {DAG_ID} run {winner_id} since " in failure["error"]
        assert other["states"]["prepare.stage_job"][0] == "upstream_failed"
        assert other["states"]["load.run_spark_job"][0] == "upstream_failed"
        assert other["states"]["validate.release_lock"][0] == "success"  # ran, and freed nothing of the winner's
        assert other["report"]["not_run"] == ["validate.validate_counts: prepare.acquire_lock failed",
                                              "validate.validate_rows: prepare.acquire_lock failed",
                                              "validate.validate_reconcile: prepare.acquire_lock failed"]
        last_writer = winner_id
    print(f"concurrent runs: {winner_id} loaded; {other['report']['run_id']} {other['report']['status']}"
          f" ({(other['report']['failure'] or {}).get('error', 'after the first released')[:300]})")
    for r in runs:  # no count check failed anywhere: the loser ran none, the winner's all reconcile
        assert all(c["passed"] for c in r["report"]["checks"]), r["report"]["checks"]
    assert first["report"]["checks"]

    with psycopg.connect(dsql_uri) as conn:
        for entity, table in TABLES.items():
            count, writers = conn.execute(
                f"SELECT count(*), array_agg(DISTINCT migration_run_id) FROM {schema}.{table}").fetchone()
            assert count == expected["entities"][entity]["unique"], table
            assert writers == [last_writer], table  # every row written by one run, not a mix
        assert conn.execute(f"SELECT count(*) FROM {schema}.dbmigrate_lock").fetchone() == (0,)  # released
