"""ValidateMongoToDsqlReconcileOperator against the embedded PostgreSQL: a load written by the job's writer
reconciles; a tampered row fails the task, and the result it pushed first names the key for the report."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException
from psycopg.conninfo import conninfo_to_dict

from connectors.dsql import DsqlTarget
from connectors.dsql_writer import TableWrite, upsert_tables
from dbmigrate.operators.reconcile_dsql import ValidateMongoToDsqlReconcileOperator
from dbmigrate.operators.validate_dsql import RESULT_KEY
from generators.movie_collection import write
from tests.fixtures import ROOT
from transforms.adjacency import DocumentMapper, Mapped, target_columns
from transforms.ddl_lint import split_statements
from transforms.spec import load_spec

DAG_ID = "movie_collection_to_dsql"


class FakeTI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def loaded(tmp_path: Path, dsql_uri: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 60-movie export written to `pg_schema` by the job's writer, and an include folder whose spec targets it."""
    include = tmp_path / "include"
    shutil.copytree(ROOT / "include" / "specs", include / "specs")
    spec_path = include / "specs" / f"{DAG_ID}.yaml"
    spec_path.write_text(spec_path.read_text().replace("schema: movie_db", f"schema: {pg_schema}"))
    monkeypatch.setenv("DBMIGRATE_INCLUDE_DIR", str(include))
    spec = load_spec(spec_path)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for path in sorted((ROOT / "include" / "sql" / "movie_db").glob("0[1-5]*.sql")):
            for stmt in split_statements(path.read_text().replace("movie_db", pg_schema)):
                conn.execute(stmt)
    source = tmp_path / "movie_collection.json"
    write(source, movies=60, seed=8)
    mapper = DocumentMapper.for_spec(spec)
    rows = [(m.entity, m.row) for m in map(mapper.map_line, source.read_text().splitlines()) if isinstance(m, Mapped)]
    info = conninfo_to_dict(dsql_uri)
    target = DsqlTarget(host=info["host"], port=int(info["port"]), user=info["user"], database=info["dbname"],
                        auth="password", password=info["password"], sslmode="disable")
    upsert_tables(rows, tables={e.name: TableWrite(e.table, tuple(target_columns(e)), e.key_columns)
                                for e in spec.entities}, target=target, schema=pg_schema, run_id="test",
                  batch_rows=500, batch_bytes=1 << 20)
    yield source


def operator(source: Path, dry_run: bool = False, scope: str = "table") -> ValidateMongoToDsqlReconcileOperator:
    return ValidateMongoToDsqlReconcileOperator(
        task_id="validate_reconcile", spec_dag_id=DAG_ID, scope=scope,
        run={"source_uri": f"file://{source}", "dry_run": dry_run}, dsql_conn_id="dsql_default")


def test_template_fields() -> None:
    assert set(ValidateMongoToDsqlReconcileOperator.template_fields) == {"spec_dag_id", "run", "scope"}


def test_a_faithful_load_reconciles_every_row(loaded: Path) -> None:
    ti = FakeTI()
    operator(loaded).execute({"ti": ti})
    result = ti.pushed[RESULT_KEY]
    assert set(result["reconciliation"]) == {"movie", "actor", "director", "movie_actor", "movie_director"}
    assert all(r["passed"] and r["rows_actual"] > 0 for r in result["reconciliation"].values())
    assert result["checks"] and all(c["passed"] for c in result["checks"])
    assert {c["name"] for c in result["checks"]} == {"target rows (full scan) = expected rows",
                                                     "every row reconciles (hash per bucket): differing keys"}


def test_a_changed_row_fails_the_task_and_is_named(loaded: Path, dsql_uri: str, pg_schema: str) -> None:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        movie_id, title = conn.execute(
            f"UPDATE {pg_schema}.movies SET rating = rating + 0.1 WHERE movie_id = (SELECT movie_id FROM "
            f"{pg_schema}.movies WHERE rating < 9 ORDER BY movie_id LIMIT 1) RETURNING movie_id::text, title"
        ).fetchone()
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match=f"movie 1 differing keys \\(e.g. changed \\['{movie_id}'\\]\\)"):
        operator(loaded).execute({"ti": ti})
    rec = ti.pushed[RESULT_KEY]["reconciliation"]["movie"]
    assert rec["passed"] is False and rec["diff_count"] == 1
    (diff,) = rec["diffs"]
    assert diff["key"] == [movie_id] and diff["kind"] == "changed" and list(diff["columns"]) == ["rating"]
    expected, actual = diff["columns"]["rating"]
    assert round(actual - expected, 6) == 0.1
    assert [c for c in ti.pushed[RESULT_KEY]["checks"] if not c["passed"]] == [
        {"name": "every row reconciles (hash per bucket): differing keys", "expected": 0, "actual": 1,
         "entity": "movie", "passed": False}]


def test_scope_source_counts_rows_of_other_loads_as_a_note(loaded: Path, dsql_uri: str, pg_schema: str) -> None:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {pg_schema}.directors (director_id, source_id, name, source_doc_id, "
                     f"migration_run_id) VALUES (gen_random_uuid(), 'nm0000001', 'Earlier Load', 'x', 'other')")
    with pytest.raises(AirflowFailException, match="director 1 differing keys \\(e.g. extra"):
        operator(loaded).execute({"ti": FakeTI()})
    ti = FakeTI()
    operator(loaded, scope="source").execute({"ti": ti})
    notes = ti.pushed[RESULT_KEY]["notes"]
    assert notes == {"director: target rows outside this source (scope `source`, not compared)":
                     {"count": 1, "examples": []}}


def test_a_dry_run_wrote_nothing_to_reconcile(tmp_path: Path) -> None:
    ti = FakeTI()
    result = operator(tmp_path / "unused.json", dry_run=True).execute({"ti": ti})
    assert result["checks"] == [] and result["reconciliation"] == {} and ti.pushed[RESULT_KEY] == result


def test_an_unknown_scope_fails_before_reading_anything(tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match="scope must be one of"):
        operator(tmp_path / "unused.json", scope="everything").execute({"ti": FakeTI()})


def test_a_failure_names_what_no_load_covered_yet(loaded: Path, dsql_uri: str, pg_schema: str) -> None:
    """Only the third day was logged as loaded (a backwards backfill's first run): the cumulative check fails,
    and says the days before it were never loaded and what to do; the failure stays a failure."""
    from connectors.load_log import record_load
    from transforms.intervals import Window

    day = [datetime(2000, 1, n, tzinfo=UTC) for n in (1, 3, 4)]  # before every ObjectId of the export
    run = {"source_uri": f"file://{loaded}", "run_id": "day3", "dry_run": False,
           "window": Window(day[1], day[2]).as_dict()}
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute((ROOT / "include" / "sql" / "movie_db" / "090_dbmigrate_loads.sql").read_text()
                     .replace("movie_db.", f"{pg_schema}."))
        record_load(conn, pg_schema, run_id="day3", dag_id=DAG_ID, source_uri=run["source_uri"],
                    window=Window(day[1], day[2]))
    check = ValidateMongoToDsqlReconcileOperator(task_id="validate_reconcile", spec_dag_id=DAG_ID, run=run)
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match=r"No load of this source covered \[the beginning, 2000-01-03 "
                                                  r"00:00:00\+00:00\) yet .*load those intervals, then clear this run"):
        check.execute({"ti": ti})
    assert ti.pushed[RESULT_KEY]["unloaded_gaps"] == [Window(None, day[1]).as_dict()]
    loads = ti.pushed[RESULT_KEY]["loads"]  # what the note says: what is loaded, and the target differs
    assert loads["summary"] == "loaded: [2000-01-03, 2000-01-04); nothing missing" and loads["equal"] is False
    with psycopg.connect(dsql_uri, autocommit=True) as conn:  # the days before, loaded since
        record_load(conn, pg_schema, run_id="days1-2", dag_id=DAG_ID, source_uri=run["source_uri"],
                    window=Window(None, day[1]))
    with pytest.raises(AirflowFailException) as failed:  # the rows after the window are still extra ...
        check.execute({"ti": FakeTI()})
    assert "No load" not in str(failed.value)  # ... but nothing is missing a load
