"""Full reconciliation of a real load: generated documents loaded by the Spark job into the embedded PostgreSQL,
then one value changed, one row deleted and one row inserted behind the job's back; every one is caught and named
by key. And a load with duplicates, rejects and orphans reconciles: the expected side follows the job's rules.

The load is small (about 5,000 rows); each table is read in round trips of `ITERSIZE` rows, so every scan crosses
batch boundaries as a large table's 20,000-row round trips would. The 1M-row reconciliation is measured by
`make bench`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.documents import iter_lines
from connectors.reconcile_dsql import reconcile_dsql, reconcile_dsql_tables
from generators.movie_collection import write
from tests.fixtures import SPEC_DIR
from tests.include.jobs.test_bad_input_corpus import deploy as deploy_tables
from tests.include.jobs.test_bad_input_corpus import run_job
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
SCHEMA = "reconcile_rows"
ITERSIZE = 250  # rows per round trip of each table's server-side cursor: many per table


def deploy(dsql_uri: str, schema: str) -> None:
    """The spec's tables in a fresh `schema` (the module fixture reuses its name across runs)."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    deploy_tables(dsql_uri, schema)


def load(spark: Any, tmp: Path, dsql_uri: str, schema: str, source: Path) -> dict[str, Any]:
    """The real job (jobs.mongo_to_dsql) loads `source` into `schema`; its report."""
    return run_job(spark, tmp, dsql_uri, schema, source, "--partitions", "4")


@pytest.fixture(scope="module")
def loaded(spark: Any, tmp_path_factory: pytest.TempPathFactory, dsql_uri: str) -> Any:
    tmp = tmp_path_factory.mktemp("reconcile")
    source = tmp / "movie_collection.json"
    expected = write(source, movies=600, seed=11)
    deploy(dsql_uri, SCHEMA)
    report = load(spark, tmp, dsql_uri, SCHEMA, source)
    yield source, expected, report
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def test_a_clean_load_reconciles_in_one_pass(loaded: Any, dsql_uri: str) -> None:
    source, expected, report = loaded
    calls = 0

    def lines() -> Any:
        nonlocal calls
        calls += 1
        return iter_lines(f"file://{source}")

    with psycopg.connect(dsql_uri) as conn:
        out = reconcile_dsql_tables(lines, SPEC, conn, SCHEMA, itersize=ITERSIZE)
    assert sum(r.rows_actual for r in out.tables.values()) >= 4_000
    assert max(r.rows_actual for r in out.tables.values()) > 8 * ITERSIZE
    for name, rec in out.tables.items():
        assert rec.passed, (name, rec)
        assert rec.rows_expected == rec.rows_actual == report["entities"][name]["unique"]
    assert calls == 1  # nothing differs: no second pass over the source
    print(f"reconciled {sum(r.rows_actual for r in out.tables.values())} rows: "
          f"{ {k: round(v, 2) for k, v in out.seconds.items()} }")


def test_one_changed_value_one_missing_and_one_extra_row_are_named(loaded: Any, dsql_uri: str) -> None:
    source, _, _ = loaded
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        changed = conn.execute(f"SELECT movie_id::text, actor_id::text, character_name FROM {SCHEMA}.movie_actors "
                               f"WHERE character_name IS NOT NULL ORDER BY movie_id, actor_id OFFSET 2000 LIMIT 1"
                               ).fetchone()
        conn.execute(f"UPDATE {SCHEMA}.movie_actors SET character_name = 'Tampered' WHERE movie_id = %s "
                     f"AND actor_id = %s", changed[:2])
        gone = conn.execute(f"DELETE FROM {SCHEMA}.movies WHERE movie_id = (SELECT movie_id FROM {SCHEMA}.movies "
                            f"ORDER BY source_id OFFSET 350 LIMIT 1) RETURNING movie_id::text, title").fetchone()
        extra = conn.execute(f"INSERT INTO {SCHEMA}.actors (actor_id, source_id, name, source_doc_id, "
                             f"migration_run_id) VALUES (gen_random_uuid(), 'nm0000000', 'Nobody', 'x', 'manual') "
                             f"RETURNING actor_id::text").fetchone()
    original = changed[2]  # what the job wrote, which the clean reconciliation above proved is the source's

    started = time.monotonic()
    with psycopg.connect(dsql_uri) as conn:
        recs = reconcile_dsql(lambda: iter_lines(f"file://{source}"), SPEC, conn, SCHEMA, itersize=ITERSIZE)
    elapsed = time.monotonic() - started

    found = {(name, d.kind, d.key) for name, rec in recs.items() for d in rec.diffs}
    assert found == {("movie_actor", "changed", (changed[0], changed[1])), ("movie", "missing", (gone[0],)),
                     ("actor", "extra", (extra[0],))}
    (diff,) = recs["movie_actor"].diffs
    assert diff.columns == {"character_name": (original, "Tampered")}
    assert recs["movie"].diffs[0].columns["title"] == (gone[1], None)
    assert recs["actor"].diffs[0].columns["name"] == (None, "Nobody")
    assert {n for n, r in recs.items() if not r.passed} == {"movie_actor", "movie", "actor"}
    assert all(r.diff_count == 1 and not r.truncated for n, r in recs.items() if not r.passed)
    print(f"tampered target reconciled and drilled down in {elapsed:.1f}s")

    # A partial load into a shared target (scope `source`): the row no source document holds is counted, not
    # failed; the changed and the missing rows still are.
    with psycopg.connect(dsql_uri) as conn:
        out = reconcile_dsql_tables(lambda: iter_lines(f"file://{source}"), SPEC, conn, SCHEMA, scope="source",
                                    itersize=ITERSIZE)
    assert out.tables["actor"].passed and out.outside_source["actor"] == 1
    assert {n for n, r in out.tables.items() if not r.passed} == {"movie_actor", "movie"}


def test_duplicates_rejects_and_orphans_follow_the_jobs_rules(spark: Any, tmp_path: Path, dsql_uri: str,
                                                              pg_schema: str) -> None:
    source = tmp_path / "movie_collection.json"
    expected = write(source, movies=300, seed=4, bad_input=True)
    assert expected["rejects"]["orphan_reference"] and any(e["duplicates"] for e in expected["entities"].values())
    deploy(dsql_uri, pg_schema)
    load(spark, tmp_path, dsql_uri, pg_schema, source)
    with psycopg.connect(dsql_uri) as conn:
        out = reconcile_dsql_tables(lambda: iter_lines(f"file://{source}"), SPEC, conn, pg_schema)
    assert all(r.passed for r in out.tables.values()), out.tables
    for name, e in expected["entities"].items():
        assert out.tables[name].rows_actual == e["unique"], name
    assert sum(out.orphans.values()) == expected["rejects"]["orphan_reference"]
