"""Interval loads of the movie collection through the real job (local Spark, the DSQL stand-in).

A generated export whose ObjectId times are spread over three days, plus one link per day to an actor that no
document holds, is loaded once whole into one schema and day by day into others. The links that arrive before
their movie or actor are parked and land in the run that brings their parent; the daily loads, in order and in
reverse order (older documents arriving last must not overwrite newer rows), end equal to the full load row for
row, with the same pending set; rerunning one day changes nothing; and each run's counts reconcile with the
source records of its window, counted apart from the job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.documents import count_by_type, iter_lines
from connectors.load_log import loaded_windows
from generators.movie_collection import write
from tests.include.jobs.test_bad_input_corpus import deploy, run_job, snapshot
from transforms.adjacency import DocumentMapper
from transforms.intervals import Window, covered, objectid_at
from transforms.spec import load_spec
from transforms.validation import count_checks

pytestmark = pytest.mark.spark
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = [(START + timedelta(days=d), START + timedelta(days=d + 1)) for d in range(3)]
SPEC = load_spec(Path(__file__).parents[3] / "include" / "specs" / "movie_collection_to_dsql.yaml")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("intervals") / "movie_collection.json"
    write(path, movies=120, seed=11, spread=(START, timedelta(days=3)))
    movie = next(json.loads(line)["PK"] for line in path.read_text().splitlines() if '"type":"movie"' in line)
    with path.open("a", encoding="utf-8") as f:
        for day, (start, _) in enumerate(DAYS):  # a link to an actor that exists nowhere, one per day
            oid = objectid_at(start + timedelta(hours=12))[:-6] + f"{day:06x}"
            f.write(json.dumps({"_id": {"$oid": oid}, "PK": movie, "SK": f"ACTOR#nm_nowhere{day}",
                                "type": "movie_actor", "character_name": "Ghost", "billing_order": 99}) + "\n")
    return path


def fresh(dsql_uri: str, name: str) -> str:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    deploy(dsql_uri, name)
    return name


def pending(dsql_uri: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT entity, source_key, source_version, missing_key, document "  # noqa: S608
                            f"FROM {schema}.dbmigrate_pending ORDER BY 1, 2").fetchall()


def load(spark: Any, tmp: Path, dsql_uri: str, schema: str, source: Path, window: Window | None, run: str
         ) -> dict[str, Any]:
    bounds = [] if window is None else ["--window-start", window.start.isoformat(),
                                        "--window-end", window.end.isoformat()]
    tmp.mkdir(parents=True, exist_ok=True)
    return run_job(spark, tmp, dsql_uri, schema, source, *bounds, "--run-id", run)


def source_counts(source: Path, window: Window) -> tuple[dict[str, int], int]:
    """The window's documents per entity, as the validators count them (the mapper's window, not the job)."""
    mapper = DocumentMapper.for_spec(SPEC, window)
    by_type, total = count_by_type(line for line in iter_lines(f"file://{source}")
                                   if not mapper.outside_window(line))
    return {e.name: by_type.get(e.doc_type, 0) for e in SPEC.entities}, total


@pytest.fixture(scope="module")
def full(spark: Any, export: Path, dsql_uri: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    schema = fresh(dsql_uri, "t_interval_full")
    report = load(spark, tmp_path_factory.mktemp("full"), dsql_uri, schema, export, None, "full")
    yield {"schema": schema, "report": report, "rows": snapshot(dsql_uri, schema),
           "pending": pending(dsql_uri, schema)}
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_full_load_parks_only_the_true_orphans(full: dict[str, Any]) -> None:
    assert [(e, k.split("|")[1], missing) for e, k, _, missing, _ in full["pending"]] == [
        ("movie_actor", f"ACTOR#nm_nowhere{d}", f"ACTOR#nm_nowhere{d}") for d in range(3)]
    assert full["report"]["pending"] == {"retried": 0, "parked": 3, "released": 0}
    assert full["report"]["rejects"]["orphan_reference"] == 3
    assert "no_interval_time" not in full["report"]["rejects"]  # only runs with a window reject for it


def load_days(spark: Any, tmp: Path, dsql_uri: str, export: Path, order: str) -> tuple[str, list[dict[str, Any]]]:
    """The three days loaded one run each into a fresh schema, oldest first (`forward`) or newest first; each run's
    counts checked against the source records of its window, counted apart from the job. The schema, the reports."""
    schema = fresh(dsql_uri, f"t_interval_{order}")
    days = DAYS if order == "forward" else DAYS[::-1]
    reports = []
    for i, (start, end) in enumerate(days):
        window = Window(start, end)
        report = load(spark, tmp / str(i), dsql_uri, schema, export, window, f"{order}-{i}")
        reports.append(report)
        assert report["window"] == window.as_dict()
        source, total = source_counts(export, window)
        checks = count_checks(source, report, {}, total, None)
        assert all(c.passed for c in checks), [c.as_dict() for c in checks if not c.passed]
        assert sum(source.values()) > 0
    return schema, reports


@pytest.fixture(scope="module")
def forward(spark: Any, export: Path, dsql_uri: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The days loaded oldest first (as a backfill runs them) into a schema the tests below share."""
    schema, reports = load_days(spark, tmp_path_factory.mktemp("forward"), dsql_uri, export, "forward")
    yield schema, reports
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_daily_loads_equal_the_full_load(order: str, spark: Any, export: Path, dsql_uri: str, full: dict[str, Any],
                                         forward: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    schema, reports = forward if order == "forward" else load_days(spark, tmp_path, dsql_uri, export, order)
    try:
        # links before their parents: parked by one run, retried and landed by a later one
        assert reports[0]["pending"]["parked"] > 3
        assert sum(r["pending"]["released"] for r in reports) > 0
        assert sum(c.get("landed", 0) for r in reports for c in r["entities"].values()) > 0
        assert snapshot(dsql_uri, schema) == full["rows"]
        assert pending(dsql_uri, schema) == full["pending"]
        with psycopg.connect(dsql_uri) as conn:
            ends = [w.end for w in loaded_windows(conn, schema, f"file://{export}")]
            assert covered(ends) == Window(None, DAYS[-1][1])
    finally:
        if order != "forward":
            with psycopg.connect(dsql_uri, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_rerunning_one_day_changes_nothing(spark: Any, export: Path, dsql_uri: str, full: dict[str, Any],
                                           forward: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """Each day again after the last (the middle one, the first, the last), into the days loaded oldest first."""
    schema, _ = forward
    before = snapshot(dsql_uri, schema), pending(dsql_uri, schema)
    assert before[0] == full["rows"]
    for i in (1, 0, 2):
        again = load(spark, tmp_path / f"again{i}", dsql_uri, schema, export, Window(*DAYS[i]), f"again-{i}")
        assert (snapshot(dsql_uri, schema), pending(dsql_uri, schema)) == before
        assert again["pending"]["retried"] == 3 and again["pending"]["released"] == 0


def test_an_older_document_never_overwrites_a_newer_row(spark: Any, export: Path, dsql_uri: str,
                                                        pg_schema: str, tmp_path: Path) -> None:
    """The same movie twice, in the last day and (older `_id`) in the first: whichever loads last, the newer stays."""
    movie = {"PK": "MOVIE#tt_twice", "SK": "METADATA", "type": "movie"}
    old, new = objectid_at(DAYS[0][0] + timedelta(hours=1)), objectid_at(DAYS[2][0] + timedelta(hours=1))
    source = tmp_path / "twice.json"
    source.write_text(json.dumps({"_id": {"$oid": old}, **movie, "title": "Old"}) + "\n"
                      + json.dumps({"_id": {"$oid": new}, **movie, "title": "New"}) + "\n")
    deploy(dsql_uri, pg_schema)
    load(spark, tmp_path / "a", dsql_uri, pg_schema, source, Window(*DAYS[2]), "new-first")
    load(spark, tmp_path / "b", dsql_uri, pg_schema, source, Window(*DAYS[0]), "old-second")
    with psycopg.connect(dsql_uri) as conn:
        rows = conn.execute(f"SELECT title, source_doc_id FROM {pg_schema}.movies").fetchall()  # noqa: S608
    assert rows == [("New", new)]
