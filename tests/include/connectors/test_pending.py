"""connectors.pending against the embedded PostgreSQL: the pending table's check, parking, reading back and release.

Parking (`pending_row` through `upsert_tables`) runs in Spark's Python workers, which coverage does not trace:
called here directly, in the test process.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from connectors import pending
from connectors.dsql import DsqlTarget
from connectors.dsql_writer import upsert_tables
from connectors.pending import PARKED, PENDING_TABLE, PENDING_WRITE, has_table, pending_row, read_parked, release
from transforms.mongo_to_dsql import PARKED_WHERE

DDL = Path(__file__).resolve().parents[3] / "include" / "sql" / "movie_db" / "080_dbmigrate_pending.sql"


@pytest.fixture
def schema(dsql_uri: str, pg_schema: str) -> str:
    """`pg_schema` (unique, dropped afterwards) with the pending table as its DDL file makes it."""
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(DDL.read_text().replace("movie_db.", f"{pg_schema}."))
    return pg_schema


def parked(dsql_uri: str, schema: str) -> list[tuple[str, ...]]:
    """`(entity, source key, version, missing key, document, where, run id)` of every row, in key order."""
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT entity, source_key, source_version, missing_key, document, source_where, "
                            f"migration_run_id FROM {schema}.{PENDING_TABLE} ORDER BY 1, 2").fetchall()


def write(rows: list[tuple[str, str, str, str, str, str | None]], target: DsqlTarget, schema: str,
          run_id: str = "r1") -> int:
    """Park `rows` as the job's write pass does (`pending_row` through `upsert_tables`, two rows a transaction)."""
    written = upsert_tables((pending_row(PARKED, r) for r in rows), tables={PARKED: PENDING_WRITE}, target=target,
                            schema=schema, run_id=run_id, batch_rows=2, batch_bytes=1 << 20)
    return written[PARKED]


def test_a_schema_without_the_pending_table_has_nothing_parked(target: DsqlTarget, pg_schema: str) -> None:
    """A target deployed before the 080 DDL has no pending table: no error, nothing to retry."""
    assert has_table(target, pg_schema) is False
    assert read_parked(target, pg_schema) == []


def test_parked_documents_are_read_back_in_key_order(target: DsqlTarget, schema: str, dsql_uri: str) -> None:
    """What is parked comes back as (entity, key, document, where) with the where marked as a retry."""
    assert has_table(target, schema) is True
    assert read_parked(target, schema) == []
    rows = [("movie_actor", "M2|A1", "0002", "actor|A1", '{"_id": 2}', "f.json:20"),
            ("movie_actor", "M1|A9", "0001", "actor|A9", '{"_id": 1}', "f.json:10"),
            ("movie_director", "M1|D1", "0003", "director|D1", '{"_id": 3}', "f.json:30")]
    assert write(rows, target, schema) == 3  # two batches of two rows at most
    assert read_parked(target, schema) == [
        ("movie_actor", "M1|A9", '{"_id": 1}', f"{PARKED_WHERE}f.json:10)"),
        ("movie_actor", "M2|A1", '{"_id": 2}', f"{PARKED_WHERE}f.json:20)"),
        ("movie_director", "M1|D1", '{"_id": 3}', f"{PARKED_WHERE}f.json:30)")]
    assert {r[-1] for r in parked(dsql_uri, schema)} == {"r1"}


def test_a_parked_document_with_a_greater_version_is_kept(target: DsqlTarget, schema: str, dsql_uri: str) -> None:
    """A later run parking an older version of a key must not replace the newer document; a newer one does."""
    write([("movie_actor", "M1|A1", "0005", "actor|A1", "v5", "f.json:5")], target, schema, run_id="r1")
    assert write([("movie_actor", "M1|A1", "0004", "actor|A2", "v4", "f.json:4")], target, schema, run_id="r2") == 1
    assert parked(dsql_uri, schema) == [("movie_actor", "M1|A1", "0005", "actor|A1", "v5", "f.json:5", "r1")]
    write([("movie_actor", "M1|A1", "0005", "actor|A3", "v5 again", "f.json:6")], target, schema, run_id="r3")
    write([("movie_actor", "M1|A1", "0006", "actor|A1", "v6", None)], target, schema, run_id="r4")
    assert parked(dsql_uri, schema) == [("movie_actor", "M1|A1", "0006", "actor|A1", "v6", None, "r4")]


def test_release_deletes_the_given_keys_in_batches(target: DsqlTarget, schema: str, dsql_uri: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Released documents leave the table, several transactions' worth; unknown and repeated keys count once."""
    monkeypatch.setattr(pending, "DELETE_BATCH", 2)
    write([("e", f"k{i}", "0001", "x", f"doc {i}", None) for i in range(5)], target, schema)
    assert release([], target=target, schema=schema) == 0
    keys = [("e", "k0"), ("e", "k3"), ("e", "k4"), ("e", "k0"), ("e", "nope"), ("other", "k1")]
    assert release(keys, target=target, schema=schema) == 3
    assert [r[1] for r in parked(dsql_uri, schema)] == ["k1", "k2"]
    assert release([("e", "k0")], target=target, schema=schema) == 0
