"""Discover → run: `bin/dbmigrate discover` on a generated movie collection writes a spec and DDL; dropped into a
copy of the project's include folder, they make a new DAG that `airflow dags test` runs to a passed report. Also
for the same collection written without a type field and with `pk`/`sk` keys: the spec says so
(`source.discriminator: null`, `source.key_fields`), and the job and the count validation go by the key shapes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from cli.discover import run as discover

from generators.movie_collection import write

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
REPO = Path(__file__).resolve().parents[2]
DAG_ID = "discovered_movies_to_dsql"


def _untyped(line: str) -> str:
    doc = json.loads(line)
    return json.dumps({{"PK": "pk", "SK": "sk"}.get(k, k): v for k, v in doc.items() if k != "type"})


def _run_discovered(tmp_path: Path, out: Path, source: Path, dag_id: str) -> dict:
    """Drop discover's output into a copy of the include folder, run the new DAG with `airflow dags test`, and
    return its report, checked to be the run's only one and passed."""
    include = tmp_path / "include"
    shutil.copytree(REPO / "include", include, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(out / "include", include, dirs_exist_ok=True)
    env = {**os.environ, "DBMIGRATE_INCLUDE_DIR": str(include)}
    started = time.time()
    proc = subprocess.run(["airflow", "dags", "test", dag_id, "-c", json.dumps({"source_uri": f"file://{source}"})],
                          capture_output=True, text=True, timeout=900, env=env)
    reports = [p for p in (Path(os.environ["LOCAL_REPORTS_DIR"]) / dag_id).glob("*/report.json")
               if p.stat().st_mtime >= started]
    assert proc.returncode == 0 and len(reports) == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(reports[0].read_text())
    assert report["status"] == "passed", json.dumps(report, indent=1)[:4000]
    return report


@pytest.mark.parametrize("shape", ["type-PK-SK", "no-type-pk-sk"])
def test_a_discovered_spec_migrates_the_collection(tmp_path: Path, dsql_uri: str, shape: str) -> None:
    source = Path(os.environ["LOCAL_DATA_DIR"]) / "discovery" / f"movies-{shape}.json"
    write(source, movies=60, seed=11)
    if shape == "no-type-pk-sk":
        source.write_text("".join(_untyped(line) + "\n" for line in source.read_text().splitlines() if line.strip()))
    out = tmp_path / "out"
    assert discover([str(source), "--name", DAG_ID, "--out", str(out), "--sample", "5000"]) == 0
    assert (out / "docs" / "discovery" / f"{DAG_ID}.md").read_text().count("relationship") >= 2
    spec_text = (out / "include" / "specs" / f"{DAG_ID}.yaml").read_text()
    assert ("discriminator: null" in spec_text and "- pk" in spec_text) == (shape == "no-type-pk-sk"), spec_text
    try:
        report = _run_discovered(tmp_path, out, source, DAG_ID)
        assert set(report["entities"]) == {"movie", "actor", "director", "movie_actor", "movie_director"}
        with psycopg.connect(dsql_uri) as conn:
            movies = conn.execute("SELECT count(*) FROM discovered_movies.movies").fetchone()[0]
        assert movies == 60
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS discovered_movies CASCADE")


def test_a_discovered_collection_of_one_type_migrates(tmp_path: Path, dsql_uri: str) -> None:
    """A plain collection of one type keyed by `_id` (no discriminator, no key prefixes): discover → DAG → a passed
    report, every readable document a row keyed by the uuid of its `_id` (an age written as a word kept as json),
    the unreadable line rejected and counted."""
    dag_id = "discovered_users_to_dsql"
    source = Path(os.environ["LOCAL_DATA_DIR"]) / "discovery" / "users.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    docs = [{"_id": {"$oid": f"{i:024x}"}, "email": f"u{i}@example.com", "age": 20 + i % 50 if i != 7 else "forty",
             "address": {"city": f"City {i % 7}"}, "roles": ["reader"]} for i in range(400)]
    source.write_text("".join(json.dumps(d) + "\n" for d in docs) + '{"_id": {"$oid": "ffffffffffffffffffffffff"}, \n')
    out = tmp_path / "out"
    assert discover([str(source), "--name", dag_id, "--out", str(out)]) == 0
    try:
        report = _run_discovered(tmp_path, out, source, dag_id)
        assert '"malformed_json"' in json.dumps(report)
        with psycopg.connect(dsql_uri) as conn:
            rows = conn.execute("SELECT count(*), count(DISTINCT user_id), min(source_id) FROM discovered_users.users"
                                ).fetchone()
            word = conn.execute("SELECT age::text FROM discovered_users.users WHERE source_id = %s", [f"{7:024x}"]
                                ).fetchone()
        assert rows == (400, 400, f"{0:024x}") and word == ('"forty"',)
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS discovered_users CASCADE")
