"""The MongoDB → DSQL validators against the embedded PostgreSQL, apart from the Spark job.

`ValidateMongoToDsqlCountsOperator` (source documents = job's accounting = target rows of this run's keys =
quarantine; child-table counts; dangling references as notes) and `ValidateMongoToDsqlRowsOperator` (a sample
re-mapped and compared column by column, orphans and superseded rows skipped, child rows named). Until these
tests only whole DAG runs reached them, so a validator that passed everything (or failed for the wrong reason)
went unnoticed unless the job also misbehaved.

Each test writes a handful of hand-written mongoexport lines, inserts the rows a faithful load would leave with
plain SQL INSERT statements (not the job, not `connectors.dsql_writer`), writes the job report and quarantine
files itself, then tampers with exactly one thing, so every expected number can be read off the source text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate.operators.validate_dsql import (
    RESULT_KEY,
    ValidateMongoToDsqlCountsOperator,
    ValidateMongoToDsqlRowsOperator,
)
from tests.fixtures import ROOT
from transforms.adjacency import MIGRATION_NAMESPACE, DocumentMapper, Mapped
from transforms.batching import CHILDREN
from transforms.ddl_lint import split_statements
from transforms.spec import load_spec

MOVIES = "movie_collection_to_dsql"
LIBRARY = "library_to_dsql"
RUN_ID = "manual__test"
NEWER = "7:ffffffffffffffffffffffff"  # the version text of an ObjectId greater than any below

# Nine documents: two movies (one of them twice: the greater `_id`, "Heat", wins), a movie without its required
# title (missing_field), an actor, a director, their links, and a link naming an actor that exists nowhere
# (orphan_reference: the job writes no row for it).
MOVIE_LINES = [
    '{"_id": {"$oid": "65a000000000000000000001"}, "PK": "MOVIE#tt0111161", "SK": "METADATA", "type": "movie", '
    '"title": "The Shawshank Redemption", "year": 1994, "rating": 9.3, "genres": ["Drama"], '
    '"details": {"language": "English"}}',
    '{"_id": {"$oid": "65a000000000000000000002"}, "PK": "MOVIE#tt0113277", "SK": "METADATA", "type": "movie", '
    '"title": "Heat (working title)", "year": 1995}',
    '{"_id": {"$oid": "65a000000000000000000003"}, "PK": "MOVIE#tt0099999", "SK": "METADATA", "type": "movie", '
    '"year": 1990}',
    '{"_id": {"$oid": "65a000000000000000000004"}, "PK": "ACTOR#nm0000151", "SK": "METADATA", "type": "actor", '
    '"name": "Morgan Freeman", "birth_date": "1937-06-01"}',
    '{"_id": {"$oid": "65a000000000000000000005"}, "PK": "DIRECTOR#nm0001104", "SK": "METADATA", '
    '"type": "director", "name": "Frank Darabont"}',
    '{"_id": {"$oid": "65a000000000000000000006"}, "PK": "MOVIE#tt0111161", "SK": "ACTOR#nm0000151", '
    '"type": "movie_actor", "character_name": "Ellis Boyd \'Red\' Redding", "billing_order": 2}',
    '{"_id": {"$oid": "65a000000000000000000007"}, "PK": "MOVIE#tt0111161", "SK": "DIRECTOR#nm0001104", '
    '"type": "movie_director"}',
    '{"_id": {"$oid": "65a000000000000000000008"}, "PK": "MOVIE#tt0113277", "SK": "METADATA", "type": "movie", '
    '"title": "Heat", "year": 1995, "rating": 8.3}',
    '{"_id": {"$oid": "65a000000000000000000009"}, "PK": "MOVIE#tt0111161", "SK": "ACTOR#nm9999999", '
    '"type": "movie_actor", "character_name": "Nobody"}',
]
# What a faithful job reports for MOVIE_LINES, counted by hand from the lines above.
MOVIE_JOB: dict[str, Any] = {
    "documents": 9,
    "entities": {
        "movie": {"documents": 4, "unique": 2, "duplicates": 1, "rejected": 1, "written": 2},
        "actor": {"documents": 1, "unique": 1, "duplicates": 0, "rejected": 0, "written": 1},
        "director": {"documents": 1, "unique": 1, "duplicates": 0, "rejected": 0, "written": 1},
        "movie_actor": {"documents": 2, "unique": 1, "duplicates": 0, "rejected": 1, "written": 1},
        "movie_director": {"documents": 1, "unique": 1, "duplicates": 0, "rejected": 0, "written": 1},
    },
    "rejects": {"missing_field": 1, "bad_type": 0, "unknown_entity": 0, "bad_key": 0, "orphan_reference": 1,
                "malformed_json": 0, "bad_encoding": 0, "too_large": 0, "unmappable": 0},
    "pending": {"retried": 0, "parked": 0, "released": 0},
}
MOVIE_REJECTS = [
    {"reason": "missing_field", "entity": "movie", "detail": "_id 65a000000000000000000003: `title` is required",
     "document": MOVIE_LINES[2], "source": "movie_collection.json line 3"},
    {"reason": "orphan_reference", "entity": "movie_actor", "detail": "ACTOR#nm9999999 exists nowhere",
     "document": MOVIE_LINES[8], "source": "movie_collection.json line 9"},
]

# Books naming their author by a field, their genres by an array of ids (a junction) and their editions by an
# array of objects. b1: genres g1, g2, g1 (2 distinct), 2 editions; b2: author a404 and genre g404 exist nowhere,
# genres g2, g404 (2), 1 edition. So book_genres holds 4 rows and book_editions 3.
LIBRARY_LINES = [
    '{"_id": "a1", "type": "author", "name": "Ursula K. Le Guin"}',
    '{"_id": "g1", "type": "genre", "name": "Fantasy"}',
    '{"_id": "g2", "type": "genre", "name": "Science fiction"}',
    '{"_id": "b1", "type": "book", "title": "A Wizard of Earthsea", "author_id": "a1", "genre_ids": ["g1", "g2", '
    '"g1"], "meta": {"editions": [{"year": 1968, "isbn": "0-395-27653-8"}, {"year": 2012}]}}',
    '{"_id": "b2", "type": "book", "title": "The Dispossessed", "author_id": "a404", "genre_ids": ["g2", "g404"], '
    '"meta": {"editions": [{"year": 1974}]}}',
]
LIBRARY_JOB: dict[str, Any] = {
    "documents": 5,
    "entities": {
        "author": {"documents": 1, "unique": 1, "duplicates": 0, "rejected": 0, "written": 1},
        "genre": {"documents": 2, "unique": 2, "duplicates": 0, "rejected": 0, "written": 2},
        "book": {"documents": 2, "unique": 2, "duplicates": 0, "rejected": 0, "written": 2,
                 "children": {"genres": 4, "editions": 3}},
    },
    "rejects": {"missing_field": 0, "orphan_reference": 0},
}
LIBRARY_ENTITIES: dict[str, Any] = {
    "author": {"table": "authors", "id_field": "_id", "id_column": "author_id",
               "columns": {"name": {"from": "name", "type": "text", "required": True}}},
    "genre": {"table": "genres", "id_field": "_id", "id_column": "genre_id",
              "columns": {"name": {"from": "name", "type": "text"}}},
    "book": {"table": "books", "id_field": "_id", "id_column": "book_id",
             "columns": {"title": {"from": "title", "type": "text", "required": True}},
             "references": {"author_id": {"entity": "author", "from": "author_id"}},
             "children": {
                 "genres": {"table": "book_genres", "from": "genre_ids", "parent_column": "book_id",
                            "element": {"column": "genre_id", "entity": "genre"}},
                 "editions": {"table": "book_editions", "from": "meta.editions", "parent_column": "book_id",
                              "columns": {"year": {"from": "year", "type": "int", "required": True},
                                          "isbn": {"from": "isbn", "type": "text"}}}}},
}
LINEAGE = "source_doc_id text, source_version text, migration_run_id text, migrated_at timestamptz"
LIBRARY_DDL = [
    f"CREATE TABLE {{s}}.authors (author_id uuid PRIMARY KEY, source_id text NOT NULL, name text NOT NULL, "
    f"_extra json, {LINEAGE})",
    f"CREATE TABLE {{s}}.genres (genre_id uuid PRIMARY KEY, source_id text NOT NULL, name text, _extra json, "
    f"{LINEAGE})",
    f"CREATE TABLE {{s}}.books (book_id uuid PRIMARY KEY, source_id text NOT NULL, author_id uuid, "
    f"title text NOT NULL, _extra json, {LINEAGE})",
    f"CREATE TABLE {{s}}.book_genres (book_id uuid, genre_id uuid, {LINEAGE}, PRIMARY KEY (book_id, genre_id))",
    f"CREATE TABLE {{s}}.book_editions (book_id uuid, position int, year int NOT NULL, isbn text, _extra json, "
    f"{LINEAGE}, PRIMARY KEY (book_id, position))",
]


def uid(source_key: str) -> str:
    """The uuid the target holds for a source key, from the standard library (not the mapper's own code)."""
    return str(uuid.uuid5(MIGRATION_NAMESPACE, source_key))


class FakeTI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@dataclass
class Load:
    """One hand-made run: its source export, job report and quarantine files, and the target schema."""

    dag_id: str
    schema: str
    uri: str
    source: Path
    job_report: Path
    quarantine: Path

    def run(self, **overrides: Any) -> dict[str, Any]:
        return {"source_uri": f"file://{self.source}", "dry_run": False, "sample_size": 50,
                "job_report_uri": f"file://{self.job_report}", "quarantine_uri": f"file://{self.quarantine}",
                **overrides}

    def sql(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement on the target (`{s}` is the schema); its rows, if it returns any."""
        with psycopg.connect(self.uri, autocommit=True) as conn:
            cur = conn.execute(statement.format(s=self.schema), params)
            return cur.fetchall() if cur.description else []

    def write_job(self, job: dict[str, Any]) -> None:
        self.job_report.write_text(json.dumps(job))

    def write_quarantine(self, records: list[dict[str, Any]]) -> None:
        """The quarantine as Spark leaves it: one part file of JSON lines (empty when nothing was rejected)."""
        for old in self.quarantine.glob("part-*"):
            old.unlink()
        self.quarantine.mkdir(parents=True, exist_ok=True)
        (self.quarantine / "part-00000-test.json").write_text("".join(json.dumps(r) + "\n" for r in records))

    def counts(self, **overrides: Any) -> ValidateMongoToDsqlCountsOperator:
        return ValidateMongoToDsqlCountsOperator(task_id="validate_counts", spec_dag_id=self.dag_id,
                                                 run=self.run(**overrides))

    def rows(self, **overrides: Any) -> ValidateMongoToDsqlRowsOperator:
        return ValidateMongoToDsqlRowsOperator(task_id="validate_rows", spec_dag_id=self.dag_id,
                                               run=self.run(**overrides))


def write_spec(include: Path, dag_id: str, schema: str, entities: dict[str, Any] | None = None) -> Any:
    """The movie spec (or, with `entities`, one of other entities) targeting `schema`, in `include/specs`."""
    raw = yaml.safe_load((ROOT / "include" / "specs" / f"{MOVIES}.yaml").read_text())
    raw["dag_id"] = dag_id
    raw["target"]["schema"] = schema
    if entities is not None:
        raw["entities"] = entities
    path = include / "specs" / f"{dag_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_spec(path)


def insert_rows(uri: str, spec: Any, schema: str, lines: list[str]) -> None:
    """What a faithful load leaves, written with plain INSERTs: per key the row of the greatest `_id`, with its
    child rows; no row for a link whose ends are not in the load (the job quarantines those as orphans)."""
    mapper = DocumentMapper.for_spec(spec)
    winners: dict[tuple[str, str], Mapped] = {}
    for m in map(mapper.map_line, lines):
        if isinstance(m, Mapped) and ((m.entity, m.key) not in winners or m.order > winners[m.entity, m.key].order):
            winners[m.entity, m.key] = m
    loaded = {m.pk for m in winners.values() if not spec.entity(m.entity).is_relationship}
    with psycopg.connect(uri, autocommit=True) as conn:
        for m in winners.values():
            if any(key not in loaded for _, key in m.refs):
                continue
            entity = spec.entity(m.entity)
            insert(conn, schema, entity.table, {k: v for k, v in m.row.items() if k != CHILDREN})
            for child in entity.children:
                for row in m.row[CHILDREN][child.name]:
                    insert(conn, schema, child.table, row)


def insert(conn: psycopg.Connection, schema: str, table: str, row: dict[str, Any]) -> None:
    columns = [*row, "migration_run_id", "migrated_at"]
    conn.execute(f"INSERT INTO {schema}.{table} ({', '.join(columns)}) "
                 f"VALUES ({', '.join(['%s'] * len(row))}, %s, now())", [*row.values(), RUN_ID])


def make_load(tmp_path: Path, uri: str, schema: str, dag_id: str, lines: list[str], job: dict[str, Any],
              rejects: list[dict[str, Any]]) -> Load:
    source = tmp_path / "export.json"
    source.write_text("".join(line + "\n" for line in lines))
    load = Load(dag_id, schema, uri, source, tmp_path / "job_report.json", tmp_path / "quarantine")
    load.write_job(job)
    load.write_quarantine(rejects)
    return load


@pytest.fixture
def movie_include(tmp_path: Path, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An include folder whose movie spec targets `pg_schema` (no tables in it yet)."""
    monkeypatch.setenv("DBMIGRATE_INCLUDE_DIR", str(tmp_path / "include"))
    return write_spec(tmp_path / "include", MOVIES, pg_schema)


@pytest.fixture
def movies(tmp_path: Path, dsql_uri: str, pg_schema: str, movie_include: Any) -> Iterator[Load]:
    """MOVIE_LINES faithfully loaded into the project's movie DDL, with the job report and quarantine to match."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for path in sorted((ROOT / "include" / "sql" / "movie_db").glob("0[1-5]*.sql")):
            for stmt in split_statements(path.read_text().replace("movie_db", pg_schema)):
                conn.execute(stmt)
    insert_rows(dsql_uri, movie_include, pg_schema, MOVIE_LINES)
    yield make_load(tmp_path, dsql_uri, pg_schema, MOVIES, MOVIE_LINES, MOVIE_JOB, MOVIE_REJECTS)


@pytest.fixture
def library(tmp_path: Path, dsql_uri: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """LIBRARY_LINES faithfully loaded into books with a reference, a junction child and an element child."""
    monkeypatch.setenv("DBMIGRATE_INCLUDE_DIR", str(tmp_path / "include"))
    spec = write_spec(tmp_path / "include", LIBRARY, pg_schema, LIBRARY_ENTITIES)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for stmt in LIBRARY_DDL:
            conn.execute(stmt.format(s=pg_schema))
    insert_rows(dsql_uri, spec, pg_schema, LIBRARY_LINES)
    yield make_load(tmp_path, dsql_uri, pg_schema, LIBRARY, LIBRARY_LINES, LIBRARY_JOB, [])


def failed_checks(result: dict[str, Any]) -> list[tuple[str | None, str, Any, Any]]:
    return [(c["entity"], c["name"], c["expected"], c["actual"]) for c in result["checks"] if not c["passed"]]


# ---------------------------------------------------------------------------------------------- counts


def test_both_validators_template_the_spec_and_the_run() -> None:
    for operator in (ValidateMongoToDsqlCountsOperator, ValidateMongoToDsqlRowsOperator):
        assert set(operator.template_fields) == {"spec_dag_id", "run"}


def test_the_inserted_rows_are_what_the_source_lines_say(movies: Load) -> None:
    """Hand-derived, not the mapper compared with itself: the winner of MOVIE#tt0113277 is the greater `_id`."""
    assert movies.sql("SELECT title, rating::text, genres::text FROM {s}.movies WHERE movie_id = %s",
                      [uid("MOVIE#tt0111161")]) == [("The Shawshank Redemption", "9.3", '["Drama"]')]
    assert movies.sql("SELECT title, source_doc_id FROM {s}.movies WHERE movie_id = %s",
                      [uid("MOVIE#tt0113277")]) == [("Heat", "65a000000000000000000008")]
    assert movies.sql("SELECT count(*) FROM {s}.movie_actors") == [(1,)]


def test_a_faithful_load_passes_every_count_check_and_pushes_its_result(movies: Load) -> None:
    ti = FakeTI()
    result = movies.counts().execute({"ti": ti})
    assert ti.pushed[RESULT_KEY] == result
    assert failed_checks(result) == []
    assert result["documents"] == 9
    assert result["entities"] == {
        "movie": {"source": 4, "target": 2, "target_total": 2, "rejected": 1, "duplicates": 1, "unique": 2},
        "actor": {"source": 1, "target": 1, "target_total": 1, "rejected": 0, "duplicates": 0, "unique": 1},
        "director": {"source": 1, "target": 1, "target_total": 1, "rejected": 0, "duplicates": 0, "unique": 1},
        "movie_actor": {"source": 2, "target": 1, "target_total": 1, "rejected": 1, "duplicates": 0, "unique": 1},
        "movie_director": {"source": 1, "target": 1, "target_total": 1, "rejected": 0, "duplicates": 0,
                           "unique": 1},
    }
    checks = {(c["entity"], c["name"]) for c in result["checks"]}
    assert (None, "quarantined documents = rejects") in checks
    assert ("movie_actor", "target rows with this run's keys = unique documents") in checks
    assert len(result["checks"]) == 1 + 5 * 3 + 1  # total, 3 per entity, quarantine
    assert result["rejects"]["orphan_reference"] == 1 and result["pending"] == MOVIE_JOB["pending"]
    assert result["children"] == {} and result["notes"] == {}


def test_a_missing_target_row_fails_naming_the_entity_after_pushing_the_result(movies: Load) -> None:
    movies.sql("DELETE FROM {s}.movies WHERE movie_id = %s", [uid("MOVIE#tt0113277")])
    ti = FakeTI()
    with pytest.raises(AirflowFailException,
                       match=r"^1 count check\(s\) do not reconcile: movie target rows with this run's keys"):
        movies.counts().execute({"ti": ti})
    result = ti.pushed[RESULT_KEY]
    assert failed_checks(result) == [("movie", "target rows with this run's keys = unique documents", 2, 1)]
    assert result["entities"]["movie"]["target"] == 1 and result["entities"]["movie"]["target_total"] == 1


def test_rows_of_keys_outside_this_source_count_in_the_total_only(movies: Load) -> None:
    """Another load's movie is in the table: not a key of this source, so the checks still pass."""
    movies.sql("INSERT INTO {s}.movies (movie_id, source_id, title, migration_run_id) VALUES (%s, 'tt0000001', "
               "'Other Load', 'other')", [uid("MOVIE#tt0000001")])
    result = movies.counts().execute({"ti": FakeTI()})
    assert failed_checks(result) == []
    assert (result["entities"]["movie"]["target"], result["entities"]["movie"]["target_total"]) == (2, 3)


def test_a_job_report_whose_counts_differ_from_the_source_fails(movies: Load) -> None:
    """The job claims a movie document more than the export holds (booked as a duplicate, so its own sums add
    up): the source, counted independently, says otherwise."""
    job = json.loads(json.dumps(MOVIE_JOB))
    job["documents"] = 10
    job["entities"]["movie"].update(documents=5, duplicates=2)
    movies.write_job(job)
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match=r"^2 count check\(s\) do not reconcile: all source documents = "
                                                   r"job documents; movie source documents = job documents$"):
        movies.counts().execute({"ti": ti})
    assert failed_checks(ti.pushed[RESULT_KEY]) == [(None, "source documents = job documents", 9, 10),
                                                    ("movie", "source documents = job documents", 4, 5)]


def test_a_job_report_that_does_not_add_up_fails(movies: Load) -> None:
    job = json.loads(json.dumps(MOVIE_JOB))
    job["entities"]["actor"]["duplicates"] = 1
    movies.write_job(job)
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="actor documents = unique \\+ duplicates \\+ rejected"):
        movies.counts().execute({"ti": ti})
    assert failed_checks(ti.pushed[RESULT_KEY]) == [("actor", "documents = unique + duplicates + rejected", 1, 2)]


def test_a_quarantine_one_record_short_of_the_rejects_fails(movies: Load) -> None:
    movies.write_quarantine(MOVIE_REJECTS[:1])
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match=r"^1 count check\(s\) do not reconcile: all quarantined "
                                                   r"documents = rejects$"):
        movies.counts().execute({"ti": ti})
    assert failed_checks(ti.pushed[RESULT_KEY]) == [(None, "quarantined documents = rejects", 2, 1)]


def test_a_dry_run_counts_the_source_and_quarantine_and_reads_no_target(tmp_path: Path, dsql_uri: str,
                                                                        pg_schema: str, movie_include: Any) -> None:
    """No table exists in the schema: any query of the target would raise."""
    job = json.loads(json.dumps(MOVIE_JOB))
    for counts in job["entities"].values():
        counts["written"] = 0
    load = make_load(tmp_path, dsql_uri, pg_schema, MOVIES, MOVIE_LINES, job, MOVIE_REJECTS)
    ti = FakeTI()
    result = load.counts(dry_run=True).execute({"ti": ti})
    assert ti.pushed[RESULT_KEY] == result and failed_checks(result) == []
    assert not any("target" in c["name"] for c in result["checks"])
    assert result["entities"]["movie"] == {"source": 4, "target": None, "target_total": None, "rejected": 1,
                                           "duplicates": 1, "unique": 2}
    assert result["notes"] == {} and result["children"] == {}
    assert load.sql("SELECT count(*) FROM pg_tables WHERE schemaname = %s", [pg_schema]) == [(0,)]
    load.write_quarantine([])
    with pytest.raises(AirflowFailException, match="quarantined documents = rejects"):
        load.counts(dry_run=True).execute({"ti": FakeTI()})


def test_child_tables_of_a_faithful_load_reconcile_and_dangling_references_are_notes(library: Load) -> None:
    ti = FakeTI()
    result = library.counts().execute({"ti": ti})
    assert failed_checks(result) == []
    assert result["children"] == {
        "genres": {"source": 4, "target": 4, "written": 4, "ambiguous_parents": 0, "superseded_parents": 0},
        "editions": {"source": 3, "target": 3, "written": 3, "ambiguous_parents": 0, "superseded_parents": 0},
    }
    assert {(c["entity"], c["name"]) for c in result["checks"] if c["entity"] in ("genres", "editions")} == {
        (child, name) for child in ("genres", "editions")
        for name in ("target rows of this run's parents = source array elements",
                     "job rows written = source array elements")}
    # b2 names author a404 and genre g404, which exist nowhere: kept as written, reported, never failed
    assert result["notes"] == {
        "books.author_id: names no author (kept: no foreign keys)": {"count": 1, "examples": ["b2"]},
        "book_genres.genre_id: names no genre (kept: no foreign keys)": {"count": 1, "examples": ["b2"]},
    }
    assert library.sql("SELECT b.title, a.name FROM {s}.books b JOIN {s}.authors a USING (author_id)") == [
        ("A Wizard of Earthsea", "Ursula K. Le Guin")]


def test_a_reference_that_lands_later_is_no_longer_a_note(library: Load) -> None:
    library.sql("INSERT INTO {s}.authors (author_id, source_id, name) VALUES (%s, 'a404', 'Late Author')",
                [uid("author#a404")])
    notes = library.counts().execute({"ti": FakeTI()})["notes"]
    assert list(notes) == ["book_genres.genre_id: names no genre (kept: no foreign keys)"]


def test_a_missing_child_row_fails_the_child_count(library: Load) -> None:
    library.sql("DELETE FROM {s}.book_editions WHERE book_id = %s AND position = 1", [uid("book#b1")])
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match=r"^1 count check\(s\) do not reconcile: editions target rows "
                                                   r"of this run's parents = source array elements$"):
        library.counts().execute({"ti": ti})
    result = ti.pushed[RESULT_KEY]
    assert failed_checks(result) == [("editions", "target rows of this run's parents = source array elements", 3, 2)]
    assert result["children"]["editions"]["target"] == 2 and result["children"]["editions"]["written"] == 3


def test_a_job_that_wrote_fewer_child_rows_than_the_arrays_hold_fails(library: Load) -> None:
    job = json.loads(json.dumps(LIBRARY_JOB))
    job["entities"]["book"]["children"]["genres"] = 3
    library.write_job(job)
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="genres job rows written = source array elements"):
        library.counts().execute({"ti": ti})
    assert failed_checks(ti.pushed[RESULT_KEY]) == [("genres", "job rows written = source array elements", 4, 3)]


def test_a_parent_a_newer_document_holds_is_counted_as_superseded(library: Load) -> None:
    """b1's row now belongs to a newer document (greater `_id`) with one edition: its child rows are that
    document's, not this source's, so b1 is left out of the target check and counted; b2 is still checked."""
    library.sql("UPDATE {s}.books SET source_version = '2:b9' WHERE book_id = %s", [uid("book#b1")])
    library.sql("DELETE FROM {s}.book_editions WHERE book_id = %s AND position = 1", [uid("book#b1")])
    result = library.counts().execute({"ti": FakeTI()})
    assert failed_checks(result) == []
    assert result["children"]["editions"] == {"source": 3, "target": 1, "written": 3, "ambiguous_parents": 0,
                                              "superseded_parents": 1}
    assert result["children"]["genres"]["superseded_parents"] == 1
    # ... but the parent still checked is: one of b2's genre rows gone fails
    library.sql("DELETE FROM {s}.book_genres WHERE book_id = %s AND genre_id = %s",
                [uid("book#b2"), uid("genre#g2")])
    with pytest.raises(AirflowFailException, match="genres target rows of this run's parents"):
        library.counts().execute({"ti": FakeTI()})


# ------------------------------------------------------------------------------------------------ rows


def test_a_faithful_sample_compares_every_row_without_mismatches(movies: Load) -> None:
    """7 keys map; the link to nm9999999 has no row and neither has its actor: an orphan, skipped."""
    ti = FakeTI()
    result = movies.rows().execute({"ti": ti})
    assert ti.pushed[RESULT_KEY] == result
    assert result == {"requested": 50, "compared": 6, "orphans_skipped": 1, "mismatches": [],
                      "superseded_skipped": 0}


def test_the_sample_size_bounds_the_rows_compared(movies: Load) -> None:
    result = movies.rows(sample_size=3).execute({"ti": FakeTI()})
    assert result["requested"] == 3 and result["compared"] + result["orphans_skipped"] == 3
    assert result["mismatches"] == []


def test_a_changed_column_fails_naming_the_key_and_the_column(movies: Load) -> None:
    movies.sql("UPDATE {s}.movies SET title = 'The Shawshank Redemptio' WHERE movie_id = %s",
               [uid("MOVIE#tt0111161")])
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="^1 of 6 sampled rows differ from the source$"):
        movies.rows().execute({"ti": ti})
    assert ti.pushed[RESULT_KEY]["mismatches"] == [
        {"entity": "movie", "key": "MOVIE#tt0111161|METADATA",
         "diffs": ["title: expected 'The Shawshank Redemption', found 'The Shawshank Redemptio'"]}]


def test_a_target_holding_the_older_duplicate_differs_from_the_greater_id(movies: Load) -> None:
    """Of the two MOVIE#tt0113277 documents the sample compares the greater `_id` ("Heat", rating 8.3)."""
    movies.sql("UPDATE {s}.movies SET title = 'Heat (working title)', rating = NULL, source_doc_id = "
               "'65a000000000000000000002', source_version = '7:65a000000000000000000002' WHERE movie_id = %s",
               [uid("MOVIE#tt0113277")])
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="1 of 6 sampled rows differ"):
        movies.rows().execute({"ti": ti})
    (mismatch,) = ti.pushed[RESULT_KEY]["mismatches"]
    assert mismatch["key"] == "MOVIE#tt0113277|METADATA"
    assert [d.split(":")[0] for d in mismatch["diffs"]] == ["title", "rating", "source_doc_id", "source_version"]
    assert mismatch["diffs"][0] == "title: expected 'Heat', found 'Heat (working title)'"


def test_a_missing_link_whose_ends_exist_is_a_mismatch(movies: Load) -> None:
    movies.sql("DELETE FROM {s}.movie_directors")
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="1 of 6 sampled rows differ"):
        movies.rows().execute({"ti": ti})
    assert ti.pushed[RESULT_KEY]["mismatches"] == [
        {"entity": "movie_director", "key": "MOVIE#tt0111161|DIRECTOR#nm0001104",
         "diffs": ["row is missing from the target"]}]
    assert ti.pushed[RESULT_KEY]["orphans_skipped"] == 1


def test_a_missing_link_whose_end_exists_nowhere_is_an_orphan_not_a_mismatch(movies: Load) -> None:
    """With the director row gone too, the missing link names an end that exists nowhere: the job would have
    quarantined it, so it is skipped as an orphan (and the director itself is the one mismatch)."""
    movies.sql("DELETE FROM {s}.movie_directors")
    movies.sql("DELETE FROM {s}.directors WHERE director_id = %s", [uid("DIRECTOR#nm0001104")])
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="1 of 5 sampled rows differ"):
        movies.rows().execute({"ti": ti})
    result = ti.pushed[RESULT_KEY]
    assert result["orphans_skipped"] == 2 and result["compared"] == 5
    assert [(m["entity"], m["key"]) for m in result["mismatches"]] == [("director", "DIRECTOR#nm0001104|METADATA")]


def test_a_row_a_newer_document_holds_is_superseded_not_compared(movies: Load) -> None:
    """A later interval's document replaced the movie (another title, a greater `source_version`): rerunning
    this source must not call that a mismatch."""
    movies.sql("UPDATE {s}.movies SET title = 'The Shawshank Redemption (Director''s Cut)', source_version = %s "
               "WHERE movie_id = %s", [NEWER, uid("MOVIE#tt0111161")])
    result = movies.rows().execute({"ti": FakeTI()})
    assert result == {"requested": 50, "compared": 5, "orphans_skipped": 1, "mismatches": [],
                      "superseded_skipped": 1}
    # an older stored version is no excuse: that row is compared, and differs
    movies.sql("UPDATE {s}.movies SET source_version = '7:000000000000000000000000' WHERE movie_id = %s",
               [uid("MOVIE#tt0111161")])
    with pytest.raises(AirflowFailException, match="1 of 6 sampled rows differ"):
        movies.rows().execute({"ti": FakeTI()})


def test_a_dry_run_samples_nothing(tmp_path: Path, dsql_uri: str, pg_schema: str, movie_include: Any) -> None:
    load = make_load(tmp_path, dsql_uri, pg_schema, MOVIES, MOVIE_LINES, MOVIE_JOB, MOVIE_REJECTS)
    ti = FakeTI()
    result = load.rows(dry_run=True).execute({"ti": ti})
    assert result == ti.pushed[RESULT_KEY] == {"requested": 0, "compared": 0, "orphans_skipped": 0,
                                               "mismatches": [], "superseded_skipped": 0}


def test_a_faithful_sample_with_child_rows_has_no_mismatches(library: Load) -> None:
    result = library.rows().execute({"ti": FakeTI()})
    assert result == {"requested": 50, "compared": 5, "orphans_skipped": 0, "mismatches": [],
                      "superseded_skipped": 0}


def test_child_rows_missing_extra_or_changed_are_named(library: Load) -> None:
    b1 = uid("book#b1")
    library.sql("DELETE FROM {s}.book_editions WHERE book_id = %s AND position = 1", [b1])
    library.sql("UPDATE {s}.book_editions SET isbn = '0-000-00000-0' WHERE book_id = %s AND position = 0", [b1])
    library.sql("INSERT INTO {s}.book_genres (book_id, genre_id) VALUES (%s, %s)", [b1, uid("genre#g3")])
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="^2 of 5 sampled rows differ from the source$"):
        library.rows().execute({"ti": ti})
    mismatches = {m["entity"]: m for m in ti.pushed[RESULT_KEY]["mismatches"]}
    assert set(mismatches) == {"genres", "editions"}
    assert mismatches["editions"]["key"] == mismatches["genres"]["key"] == "book#b1|"
    assert mismatches["editions"]["diffs"] == [
        "book_editions 0: isbn: expected '0-395-27653-8', found '0-000-00000-0'",
        "book_editions 1: row is missing from the target"]
    assert mismatches["genres"]["diffs"] == [
        f"book_genres {uid('genre#g3')}: in the target, not in the source's array"]


def test_a_superseded_parent_skips_its_child_rows_too(library: Load) -> None:
    b1 = uid("book#b1")
    library.sql("UPDATE {s}.books SET source_version = '2:b9' WHERE book_id = %s", [b1])
    library.sql("DELETE FROM {s}.book_editions WHERE book_id = %s", [b1])
    result = library.rows().execute({"ti": FakeTI()})
    assert (result["compared"], result["superseded_skipped"], result["mismatches"]) == (4, 1, [])
