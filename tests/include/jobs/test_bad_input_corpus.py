"""Every class of bad input, each through the real job (local Spark, the DSQL stand-in) and the validators' reading.

For each case of `tests.fixtures.bad_input` the clean 100-movie export is changed, loaded into a fresh
schema, and checked: the job's report and the quarantine hold exactly the case's reasons (each record with
its text and where it was), the target equals the clean export's load row for row, and the counts the
validators take from the source (`connectors.documents`, independent of the mapping) reconcile with the job.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from connectors.documents import count_by_type, iter_lines
from generators.movie_collection import write
from jobs import mongo_to_dsql as job
from tests.fixtures import ROOT, SPEC_DIR
from tests.fixtures.bad_input import CASES, Case
from transforms.ddl_lint import split_statements
from transforms.validation import count_checks

SQL_DIR = ROOT / "include" / "sql" / "movie_db"
TABLES = {"movies": "movie_id", "actors": "actor_id", "directors": "director_id",
          "movie_actors": "movie_id, actor_id", "movie_directors": "movie_id, director_id"}
LINEAGE = {"migration_run_id", "migrated_at"}


def deploy(dsql_uri: str, schema: str) -> None:
    """The spec's tables, its pending area and load log (not the async indexes, nor the lock) in `schema`."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for path in sorted([*SQL_DIR.glob("0[0-5]*.sql"), *SQL_DIR.glob("0[89]*.sql")]):
            for stmt in split_statements(path.read_text().replace("movie_db", schema)):
                conn.execute(stmt)


def snapshot(dsql_uri: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with psycopg.connect(dsql_uri) as conn:
        for table, key in TABLES.items():
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", [schema, table]) if r[0] not in LINEAGE]
            out[table] = conn.execute(
                f"SELECT {', '.join(cols)} FROM {schema}.{table} ORDER BY {key}").fetchall()  # noqa: S608
    return out


def run_job(spark: Any, tmp: Path, dsql_uri: str, schema: str, source: Path, *extra: str) -> dict[str, Any]:
    spec = tmp / "movie_collection_to_dsql.yaml"
    spec.write_text((SPEC_DIR / "movie_collection_to_dsql.yaml").read_text().replace(
        "schema: movie_db", f"schema: {schema}"))
    info = conninfo_to_dict(dsql_uri)
    target = {"host": info["host"], "port": int(info["port"]), "user": info["user"], "database": info["dbname"],
              "auth": "password", "password": info["password"], "sslmode": "disable"}
    report = tmp / "job_report.json"
    job.run(job.parse_args([
        "--spec", str(spec), "--source-uri", f"file://{source}", "--target-json", json.dumps(target),
        "--run-id", f"corpus-{schema}", "--report-uri", str(report), "--quarantine-uri", f"file://{tmp}/quarantine",
        "--partitions", "2", *extra]), spark)
    return json.loads(report.read_text())


def quarantine(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted((tmp / "quarantine").glob("part-*"))
            for line in f.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def clean(spark: Any, tmp_path_factory: pytest.TempPathFactory, dsql_uri: str) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("clean")
    export = tmp / "movie_collection.json"
    write(export, movies=100, seed=5)
    schema = "corpus_clean"
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    deploy(dsql_uri, schema)
    report = run_job(spark, tmp, dsql_uri, schema, export)
    assert sum(report["rejects"].values()) == 0
    rows = snapshot(dsql_uri, schema)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return {"bytes": export.read_bytes(), "rows": rows, "report": report}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_quarantined_and_everything_else_lands_exactly(
        case: Case, clean: dict[str, Any], spark: Any, tmp_path: Path, dsql_uri: str, pg_schema: str) -> None:
    source = tmp_path / "movie_collection.json"
    source.write_bytes(case.change(clean["bytes"]))
    deploy(dsql_uri, pg_schema)

    report = run_job(spark, tmp_path, dsql_uri, pg_schema, source)

    expected = Counter(case.reasons)
    assert {r: n for r, n in report["rejects"].items() if n} == dict(expected)
    records = quarantine(tmp_path)
    assert Counter(r["reason"] for r in records) == expected
    for record in records:
        assert record["detail"] and record["document"] is not None
        assert record["source"].startswith("movie_collection.json ")  # where a person finds it
    assert snapshot(dsql_uri, pg_schema) == clean["rows"]

    # What the validators read: the same documents, counted by their own `type` field, reconcile.
    by_type, total = count_by_type(iter_lines(f"file://{source}"))
    spec_types = {"movie": "movie", "actor": "actor", "director": "director", "movie_actor": "movie_actor",
                  "movie_director": "movie_director"}
    counts = {name: by_type.get(t, 0) for name, t in spec_types.items()}
    target = {name: c["unique"] for name, c in report["entities"].items()}
    failed = [c for c in count_checks(counts, report, target, total, len(records)) if not c.passed]
    assert not failed, failed


def test_a_bad_encoding_is_quarantined_byte_for_byte(clean: dict[str, Any], spark: Any, tmp_path: Path,
                                                     dsql_uri: str, pg_schema: str) -> None:
    source = tmp_path / "movie_collection.json"
    source.write_bytes(clean["bytes"] + b'{"_id": 1, "PK": "MOVIE#tt1", "SK": "METADATA", "type": "movie", '
                                        b'"title": "Caf\xc3\xa9 \xff\xfe broken"}\n')
    deploy(dsql_uri, pg_schema)
    run_job(spark, tmp_path, dsql_uri, pg_schema, source)
    (record,) = quarantine(tmp_path)
    assert record["reason"] == "bad_encoding"
    assert "Café \\xff\\xfe broken" in record["document"]  # never U+FFFD, never decoded differently
    assert record["source"] == f"movie_collection.json byte {len(clean['bytes'])}"


def test_dry_run_on_an_empty_target(clean: dict[str, Any], spark: Any, tmp_path: Path, dsql_uri: str,
                                    pg_schema: str) -> None:
    """No tables yet (the DDL was only linted): the dry run classifies and quarantines, and writes nothing."""
    source = tmp_path / "movie_collection.json"
    source.write_bytes(CASES[-1].change(clean["bytes"]))
    report = run_job(spark, tmp_path, dsql_uri, pg_schema, source, "--dry-run")
    assert report["dry_run"] is True
    assert report["rejects"]["malformed_json"] == 1 and len(quarantine(tmp_path)) == 1
    def counts(entities: dict[str, Any]) -> dict[str, Any]:
        return {n: {k: v for k, v in c.items() if k != "written"} for n, c in entities.items()}

    assert counts(report["entities"]) == counts(clean["report"]["entities"])
    assert all(c["written"] == 0 for c in report["entities"].values())
    with psycopg.connect(dsql_uri) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                            [pg_schema]).fetchone()[0] == 0
