"""Every class of bad input through the real job (local Spark, the DSQL stand-in) and the validators' reading.

One clean 100-movie export is loaded into one schema; the same export with every line-level case of
`tests.fixtures.bad_input` in it (and a byte order mark and CRLF line ends over the whole file) into another, in
one job. Then, case by case: the quarantine records at the byte offsets of the case's lines hold exactly the
case's reasons, each with its text and where it was; and the whole load: its reasons are the corpus's, the
target equals the clean export's load row for row, and the counts the validators take from the source
(`connectors.documents`, independent of the mapping) reconcile with the job. A JSON-array export of the clean
file loads exactly as the clean file does; a dry run of the corpus into a schema without tables writes nothing.
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
from tests.fixtures.bad_input import BOM, CASES, LINE_CASES, Case, Corpus, corpus
from transforms.ddl_lint import split_statements
from transforms.validation import count_checks

pytestmark = pytest.mark.spark
SQL_DIR = ROOT / "include" / "sql" / "movie_db"
TABLES = {"movies": "movie_id", "actors": "actor_id", "directors": "director_id",
          "movie_actors": "movie_id, actor_id", "movie_directors": "movie_id, director_id"}
LINEAGE = {"migration_run_id", "migrated_at"}
FILE = "movie_collection.json"


def deploy(dsql_uri: str, schema: str) -> None:
    """The spec's tables, its pending area, load log and record of lines with no time (not the async indexes, nor
    the lock) in `schema`."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for path in sorted([*SQL_DIR.glob("0[0-5]*.sql"), *SQL_DIR.glob("0[89]*.sql"), *SQL_DIR.glob("1*.sql")]):
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


def _fresh(dsql_uri: str, schema: str) -> None:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _load(spark: Any, tmp: Path, dsql_uri: str, schema: str, data: bytes, *extra: str) -> dict[str, Any]:
    """`data` as the export, loaded by the job into a fresh `schema` (or classified only: `--dry-run`); the
    report, the quarantine's records, the source and the rows the schema holds (dropped afterwards)."""
    source = tmp / FILE
    source.write_bytes(data)
    _fresh(dsql_uri, schema)
    if "--dry-run" not in extra:
        deploy(dsql_uri, schema)
    report = run_job(spark, tmp, dsql_uri, schema, source, *extra)
    rows = None if "--dry-run" in extra else snapshot(dsql_uri, schema)
    with psycopg.connect(dsql_uri) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                              [schema]).fetchone()[0]
    _fresh(dsql_uri, schema)
    return {"report": report, "records": quarantine(tmp), "source": source, "rows": rows, "tables": tables}


@pytest.fixture(scope="module")
def clean(spark: Any, tmp_path_factory: pytest.TempPathFactory, dsql_uri: str) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("clean")
    write(tmp / "generated.json", movies=100, seed=5)
    data = (tmp / "generated.json").read_bytes()
    loaded = _load(spark, tmp, dsql_uri, "corpus_clean", data)
    assert sum(loaded["report"]["rejects"].values()) == 0 and loaded["records"] == []
    return {**loaded, "bytes": data}


@pytest.fixture(scope="module")
def bad(spark: Any, clean: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, dsql_uri: str
        ) -> dict[str, Any]:
    """The clean export with every line-level case in it, loaded by one job."""
    whole = corpus(clean["bytes"])
    loaded = _load(spark, tmp_path_factory.mktemp("corpus"), dsql_uri, "corpus_bad", whole.data)
    by_offset = {}
    for record in loaded["records"]:
        name, _, offset = record["source"].rpartition(" byte ")
        assert name == FILE, record["source"]  # where a person finds it
        by_offset[int(offset)] = record
    return {**loaded, "corpus": whole, "by_offset": by_offset}


@pytest.mark.parametrize("case", LINE_CASES, ids=[c.name for c in LINE_CASES])
def test_each_bad_line_is_quarantined_with_its_reason_text_and_place(case: Case, bad: dict[str, Any]) -> None:
    whole: Corpus = bad["corpus"]
    records = [bad["by_offset"].get(at) for at in whole.offsets(case.name)]
    assert Counter(r["reason"] for r in records if r) == Counter(case.reasons), records
    assert len(records) == len(case.reasons)  # every added document once, blank lines none
    for record in records:
        assert record["detail"] and record["document"] is not None


def test_the_corpus_quarantines_exactly_its_reasons_and_nothing_else(bad: dict[str, Any]) -> None:
    assert {r: n for r, n in bad["report"]["rejects"].items() if n} == dict(bad["corpus"].reasons)
    assert Counter(r["reason"] for r in bad["records"]) == bad["corpus"].reasons
    assert set(bad["by_offset"]) == set(bad["corpus"].case_at)  # no record of a clean document


@pytest.mark.parametrize("case", [c for c in CASES if c.file_change is not None and c.name != "json_array_export"],
                         ids=lambda c: c.name)
def test_a_bom_and_crlf_over_the_file_load_exactly_like_the_clean_export(case: Case, bad: dict[str, Any],
                                                                         clean: dict[str, Any]) -> None:
    data = bad["corpus"].data
    assert data.startswith(BOM) if case.name == "utf8_bom" else data.count(b"\r\n") == data.count(b"\n")
    assert bad["rows"] == clean["rows"]


def test_everything_else_lands_exactly_and_the_validators_counts_reconcile(bad: dict[str, Any],
                                                                           clean: dict[str, Any]) -> None:
    assert bad["rows"] == clean["rows"]
    # What the validators read: the same documents, counted by their own `type` field, reconcile.
    by_type, total = count_by_type(iter_lines(f"file://{bad['source']}"))
    counts = {name: by_type.get(name, 0) for name in bad["report"]["entities"]}
    target = {name: c["unique"] for name, c in bad["report"]["entities"].items()}
    failed = [c for c in count_checks(counts, bad["report"], target, total, len(bad["records"])) if not c.passed]
    assert not failed, failed


def test_each_document_counts_under_the_entity_it_names(bad: dict[str, Any], clean: dict[str, Any]) -> None:
    """A rejected document of a known `type` counts as that entity's document and reject; one without a readable
    type belongs to none (the job's report says `documents` = entities' documents + rejects of none)."""
    added = Counter(c.entity for c in LINE_CASES for _ in c.reasons if c.entity)
    for name, counts in bad["report"]["entities"].items():
        before = clean["report"]["entities"][name]
        assert counts["documents"] - before["documents"] == added[name], name
        assert counts["rejected"] - before["rejected"] == added[name], name
        assert (counts["unique"], counts["duplicates"]) == (before["unique"], before["duplicates"]), name
    assert bad["report"]["documents"] - clean["report"]["documents"] == sum(bad["corpus"].reasons.values())


def test_a_bad_encoding_is_quarantined_byte_for_byte(bad: dict[str, Any]) -> None:
    (at,) = bad["corpus"].offsets("invalid_utf8")
    record = bad["by_offset"][at]
    assert record["reason"] == "bad_encoding"
    assert "Café \\xff\\xfe broken" in record["document"]  # never U+FFFD, never decoded differently
    assert bad["corpus"].data[at:].startswith(b'{"_id"')  # the offset is the line's first byte


def test_a_json_array_export_loads_exactly_like_the_clean_export(spark: Any, clean: dict[str, Any],
                                                                  tmp_path: Path, dsql_uri: str) -> None:
    (case,) = [c for c in CASES if c.name == "json_array_export"]
    loaded = _load(spark, tmp_path, dsql_uri, "corpus_array", case.change(clean["bytes"]))
    assert loaded["records"] == [] and loaded["rows"] == clean["rows"]


def test_dry_run_on_an_empty_target(spark: Any, bad: dict[str, Any], tmp_path: Path, dsql_uri: str) -> None:
    """No tables yet (the DDL was only linted): the dry run classifies and quarantines, and writes nothing."""
    dry = _load(spark, tmp_path, dsql_uri, "corpus_dry", bad["corpus"].data, "--dry-run")
    assert dry["report"]["dry_run"] is True and dry["tables"] == 0
    assert Counter(r["reason"] for r in dry["records"]) == bad["corpus"].reasons

    def counts(entities: dict[str, Any]) -> dict[str, Any]:
        return {n: {k: v for k, v in c.items() if k != "written"} for n, c in entities.items()}

    assert counts(dry["report"]["entities"]) == counts(bad["report"]["entities"])
    assert all(c["written"] == 0 for c in dry["report"]["entities"].values())
