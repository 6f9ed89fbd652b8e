"""Reading a DSQL target back in batches (`connectors.dsql_reads`), against the stand-in, with batches of two keys so
that every lookup crosses batch boundaries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import psycopg
import pytest

from connectors import dsql_reads as reads

PARENT = SimpleNamespace(table="parent", key_columns=("id",), columns=[SimpleNamespace(name="doc", type="json")])
CHILD = SimpleNamespace(table="child", key_columns=("parent_id", "pos"), parent_column="parent_id",
                        columns=[SimpleNamespace(name="v", type="text")])
IDS = [str(uuid.UUID(int=i)) for i in range(1, 6)]


@pytest.fixture
def query(dsql_uri: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[reads.Query]:
    monkeypatch.setattr(reads, "BATCH", 2)
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.parent (id uuid PRIMARY KEY, source_id text, doc json, v text)")
        conn.execute(f"CREATE TABLE {pg_schema}.child (parent_id uuid, pos int, v text, PRIMARY KEY (parent_id, pos))")
        for n, i in enumerate(IDS[:4]):  # the fifth id has no row
            conn.execute(f"INSERT INTO {pg_schema}.parent VALUES (%s, %s, %s, %s)", [i, f"s{n}", "26", f"v{n}"])
            for pos in range(n):
                conn.execute(f"INSERT INTO {pg_schema}.child VALUES (%s, %s, %s)", [i, pos, f"c{pos}"])
        yield lambda sql, params=None: conn.execute(sql, params).fetchall()


def test_every_lookup_answers_for_every_key_across_batches(query: reads.Query, pg_schema: str) -> None:
    keys = [(i,) for i in IDS]
    assert reads.count_present(query, pg_schema, PARENT, keys) == 4
    rows = reads.rows_by_key(query, pg_schema, PARENT, ["id", "doc", "v"], keys)
    assert sorted(rows) == [(i,) for i in IDS[:4]] and rows[(IDS[2],)]["doc"] == "26"  # json as the text stored
    children = reads.child_rows(query, pg_schema, CHILD, ["parent_id", "pos", "v"], IDS)
    assert {p: len(rs) for p, rs in children.items()} == {IDS[1]: 1, IDS[2]: 2, IDS[3]: 3}
    assert reads.child_counts(query, pg_schema, CHILD, IDS) == {IDS[1]: 1, IDS[2]: 2, IDS[3]: 3}
    assert reads.existing_source_ids(query, pg_schema, "parent", ["s0", "s3", "s9"]) == {"s0", "s3"}
    assert reads.versions(query, pg_schema, PARENT, "v", IDS) == {i: f"v{n}" for n, i in enumerate(IDS[:4])}
    assert reads.table_count(query, pg_schema, "parent") == 4
    counts = list(reads.by_batches(query, f"SELECT count(*) FROM {pg_schema}.parent WHERE source_id = ANY(%s)",
                                   ["s0", "s1", "s2", "s3", "s9"]))
    assert counts == [(2,), (2,), (0,)]  # one row per batch of two: the counts add up to every id's
