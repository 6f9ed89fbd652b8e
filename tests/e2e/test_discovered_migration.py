"""Discover → run: `bin/dbmigrate discover` on a collection writes a spec and DDL; dropped into a copy of the
project's include folder, they make a new DAG that runs to a passed report. Shapes: a generated movie collection
(and the same written without a type field and with `pk`/`sk` keys: the spec says so, `source.discriminator:
null`, `source.key_fields`, and the job and the count validation go by the key shapes), a plain collection of one
type, orders with line items (a child table), books naming authors and genres (references, a junction), teams
loaded a day at a time.

Each discovered spec is built into its DAG as the DAG file builds it, and the DAG's tasks run in this process
(`tests.fixtures.in_process`: the operators one after another, the Spark job on the session's SparkSession). The
DAG is the same wiring for every spec: whole `airflow dags test` runs of it are the movie and dms_sample runs
(tests/e2e/test_movie_dag.py, test_dms_sample_dag.py)."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cli.discover import run as discover

from connectors.documents import iter_lines
from connectors.reconcile_dsql import reconcile_dsql
from dbmigrate.dag_factory import build_dags
from generators.movie_collection import write
from tests.fixtures.in_process import migrate
from transforms.intervals import objectid_at
from transforms.spec import load_spec

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
REPO = Path(__file__).resolve().parents[2]
DAG_ID = "discovered_movies_to_dsql"


def _untyped(line: str) -> str:
    doc = json.loads(line)
    return json.dumps({{"PK": "pk", "SK": "sk"}.get(k, k): v for k, v in doc.items() if k != "type"})


@pytest.fixture
def run_discovered(tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict]:
    """`run_discovered(out, source, dag_id, **params)`: discover's output dropped into a copy of the include
    folder, the DAG it makes built as the DAG file builds it, and its tasks run in this process on `source`
    (conf: the source and `params`); the report, checked to be passed."""
    include = tmp_path / "include"
    monkeypatch.setenv("DBMIGRATE_INCLUDE_DIR", str(include))
    runs = 0

    def run(out: Path, source: Path, dag_id: str, **params: str) -> dict:
        nonlocal runs
        runs += 1
        shutil.copytree(REPO / "include", include, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        shutil.copytree(out / "include", include, dirs_exist_ok=True)
        dag = build_dags(include / "specs")[dag_id]  # a spec that does not load makes a DAG of one failing task
        assert {"prepare.check_source", "load.run_spark_job", "validate.report"} <= set(dag.task_dict), dag.task_dict
        report = migrate(spark, dag_id, {"source_uri": f"file://{source}", **params}, tmp_path / f"run{runs}")
        assert report["status"] == "passed", json.dumps(report, indent=1)[:4000]
        return report

    return run


@pytest.mark.parametrize("shape", ["type-PK-SK", "no-type-pk-sk"])
def test_a_discovered_spec_migrates_the_collection(tmp_path: Path, dsql_uri: str, shape: str,
                                                  run_discovered: Callable[..., dict]) -> None:
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
        report = run_discovered(out, source, DAG_ID)
        assert set(report["entities"]) == {"movie", "actor", "director", "movie_actor", "movie_director"}
        with psycopg.connect(dsql_uri) as conn:
            movies = conn.execute("SELECT count(*) FROM discovered_movies.movies").fetchone()[0]
        assert movies == 60
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS discovered_movies CASCADE")


def test_a_discovered_collection_of_one_type_migrates(tmp_path: Path, dsql_uri: str,
                                                     run_discovered: Callable[..., dict]) -> None:
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
        report = run_discovered(out, source, dag_id)
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


def _orders(n: int = 150) -> list[dict]:
    """Orders with embedded line items (0 to 4), a customer object, and one order whose item is unreadable."""
    rng = random.Random(3)
    out = []
    for i in range(n):
        items = [{"sku": f"SKU-{rng.randrange(40)}", "qty": rng.randint(1, 9),
                  "price": {"$numberDecimal": f"{rng.randint(100, 99999) / 100:.2f}"}}
                 for _ in range(rng.randint(0, 4))]
        out.append({"_id": {"$oid": f"{i + 1:024x}"}, "order_no": 5000 + i, "customer": {"email": f"c{i % 30}@x.org"},
                    "placed_at": {"$date": f"2024-03-{1 + i % 28:02d}T09:30:00Z"}, "items": items})
    return out


def _elements(orders: list[dict]) -> list[tuple]:
    """(order id, position, sku, qty, price) of every line item of the source, sorted."""
    return sorted((d["_id"]["$oid"], p, it["sku"], it["qty"], it["price"]["$numberDecimal"])
                  for d in orders for p, it in enumerate(d["items"]))


def test_discovered_child_tables_are_filled_from_the_arrays(tmp_path: Path, dsql_uri: str,
                                                           run_discovered: Callable[..., dict]) -> None:
    """Orders with embedded line items: discover writes a child table keyed by (order, position); the DAG fills it
    with the order in one transaction, and the target holds exactly the source's elements, in array order. An
    order whose item holds a word for a quantity is rejected whole and counted (no order without its items)."""
    dag_id = "discovered_orders_to_dsql"
    orders = _orders()
    source = Path(os.environ["LOCAL_DATA_DIR"]) / "discovery" / "orders.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    bad = {**orders[0], "_id": {"$oid": "f" * 24}, "items": [{"sku": "SKU-1", "qty": "three", "price": "1.00"}]}
    source.write_text("".join(json.dumps(d) + "\n" for d in orders))
    out = tmp_path / "out"
    assert discover([str(source), "--name", dag_id, "--out", str(out)]) == 0
    source.write_text(source.read_text() + json.dumps(bad) + "\n")
    try:
        report = run_discovered(out, source, dag_id)
        assert report["rejects"]["bad_type"] == 1, report["rejects"]
        checks = {c["name"]: c for c in report["checks"] if c["entity"] == "items"}  # the child table's spec name
        elements = sum(len(d["items"]) for d in orders)
        assert checks["target rows of this run's parents = source array elements"]["expected"] == elements
        assert checks["job rows written = source array elements"]["actual"] == elements
        assert report["reconciliation"]["items"]["rows_actual"] == elements
        assert report["children"]["items"] == {"source": elements, "target": elements, "written": elements,
                                               "ambiguous_parents": 0, "superseded_parents": 0}
        with psycopg.connect(dsql_uri) as conn:
            stored = conn.execute(
                "SELECT o.source_id, i.position, i.sku, i.qty, i.price::text FROM discovered_orders.order_items i "
                "JOIN discovered_orders.orders o USING (order_id) ORDER BY 1, 2").fetchall()
            orphans = conn.execute("SELECT count(*) FROM discovered_orders.order_items i WHERE NOT EXISTS "
                                   "(SELECT 1 FROM discovered_orders.orders o WHERE o.order_id = i.order_id)"
                                   ).fetchone()[0]
        assert stored == _elements(orders) and orphans == 0

        # Behind the job's back: one element changed, one deleted, one added. The full reconciliation names each.
        spec = load_spec(out / "include" / "specs" / f"{dag_id}.yaml")
        full = [d for d in orders if len(d["items"]) >= 2]
        changed, emptied = full[0]["_id"]["$oid"], full[1]["_id"]["$oid"]
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            ids = dict(conn.execute("SELECT source_id, order_id FROM discovered_orders.orders").fetchall())
            conn.execute("UPDATE discovered_orders.order_items SET qty = qty + 100 "
                         "WHERE order_id = %s AND position = 0", [ids[changed]])
            conn.execute("DELETE FROM discovered_orders.order_items WHERE order_id = %s AND position = 1",
                         [ids[changed]])
            conn.execute("INSERT INTO discovered_orders.order_items (order_id, position, sku, qty, price) "
                         "VALUES (%s, 99, 'X', 1, 1)", [ids[changed]])
            rec = reconcile_dsql(lambda: iter_lines(f"file://{source}"), spec, conn)["items"]
        assert not rec.passed and sorted(d.kind for d in rec.diffs) == ["changed", "extra", "missing"], rec.diffs

        # The collection exported again: one order now holds no items (same `_id`, so the same version). The next
        # run replaces each parent's rows whole: the tampering is undone and the emptied order's rows are gone.
        for d in orders:
            if d["_id"]["$oid"] == emptied:
                d["items"] = []
        source.write_text("".join(json.dumps(d) + "\n" for d in orders))
        run_discovered(out, source, dag_id)
        with psycopg.connect(dsql_uri) as conn:
            stored = conn.execute(
                "SELECT o.source_id, i.position, i.sku, i.qty, i.price::text FROM discovered_orders.order_items i "
                "JOIN discovered_orders.orders o USING (order_id) ORDER BY 1, 2").fetchall()
        assert stored == _elements(orders)
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS discovered_orders CASCADE")


def test_discovered_references_and_junctions_resolve_to_the_named_rows(tmp_path: Path, dsql_uri: str,
                                                                      run_discovered: Callable[..., dict]) -> None:
    """Books naming their author by `_id` and their genres by an array of `_id`s: `books.author_id` is the uuid of
    the author row whose source id the book names, and `book_genres` holds one row per distinct (book, genre) the
    arrays name, a genre named twice once; a genre that exists nowhere is kept as the source names it."""
    dag_id = "discovered_library_to_dsql"
    docs: list[dict] = [{"_id": f"a{i}", "type": "author", "name": f"Author {i}"} for i in range(12)]
    docs += [{"_id": f"g{i}", "type": "genre", "name": f"Genre {i}"} for i in range(5)]
    docs += [{"_id": f"b{i}", "type": "book", "title": f"Book {i}", "author_id": f"a{i % 12}",
              "genre_ids": [f"g{i % 5}", f"g{(i * 3) % 5}"], "pages": 90 + i} for i in range(80)]
    source = Path(os.environ["LOCAL_DATA_DIR"]) / "discovery" / "library.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    assert discover([str(source), "--name", dag_id, "--out", str(out)]) == 0
    docs.append({"_id": "b999", "type": "book", "title": "Lost", "author_id": "a1", "genre_ids": ["g404"], "pages": 1})
    source.write_text(source.read_text() + json.dumps(docs[-1]) + "\n")
    try:
        report = run_discovered(out, source, dag_id)
        assert report["notes"] == {"book_genres.genre_id: names no genre (kept: no foreign keys)":
                                   {"count": 1, "examples": ["b999"]}}, report["notes"]
        with psycopg.connect(dsql_uri) as conn:
            authors = dict(conn.execute("SELECT b.source_id, a.source_id FROM discovered_library.books b "
                                        "LEFT JOIN discovered_library.authors a USING (author_id)").fetchall())
            pairs = conn.execute("SELECT b.source_id, g.source_id FROM discovered_library.book_genres bg "
                                 "JOIN discovered_library.books b USING (book_id) "
                                 "LEFT JOIN discovered_library.genres g USING (genre_id)").fetchall()
        books = [d for d in docs if d["type"] == "book"]
        assert authors == {d["_id"]: d["author_id"] for d in books}
        expected = {(d["_id"], g) for d in books for g in d["genre_ids"] if g != "g404"} | {("b999", None)}
        assert sorted(pairs, key=str) == sorted(expected, key=str)
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS discovered_library CASCADE")


def _teams(day: int, ids: range, players: dict[int, int]) -> list[dict]:
    """An adjacency list of teams (with an array of players each), leagues and team-league links, every `_id`
    created on 2024-01-0<day + 1>; `players[i]`: how many players team i has (default i % 3 + 1)."""
    at = objectid_at(datetime(2024, 1, 1, 6, tzinfo=UTC) + timedelta(days=day))[:8]
    docs: list[dict] = []
    for i in ids:
        docs.append({"_id": {"$oid": f"{at}a{day}{i:014x}"}, "PK": f"TEAM#{i}", "SK": f"TEAM#{i}", "type": "team",
                     "name": f"Team {i}", "players": [{"name": f"P{i}-{j}", "number": j}
                                                      for j in range(players.get(i, i % 3 + 1))]})
        docs.append({"_id": {"$oid": f"{at}b{day}{i:014x}"}, "PK": f"TEAM#{i}", "SK": f"LEAGUE#{i % 2}",
                     "type": "team_league", "since": 2000 + i})
    if day == 0:
        docs += [{"_id": {"$oid": f"{at}c{day}{n:014x}"}, "PK": f"LEAGUE#{n}", "SK": f"LEAGUE#{n}",
                  "type": "league", "title": f"League {n}"} for n in range(2)]
    return docs


def test_an_old_interval_run_again_keeps_the_newer_documents_child_rows(tmp_path: Path, dsql_uri: str,
                                                                       run_discovered: Callable[..., dict]) -> None:
    """Teams whose players are a child table, loaded a day at a time; the second day brings newer documents of
    two teams (more players; none). Rerunning the first day afterwards changes no row, and its report passes:
    the two teams' rows belong to the newer documents (counted as superseded), not to the first day's arrays."""
    dag_id = "discovered_teams_to_dsql"
    newer = {3: 5, 4: 0}
    docs = _teams(0, range(20), {}) + _teams(1, range(3, 5), newer)
    source = Path(os.environ["LOCAL_DATA_DIR"]) / "discovery" / "teams.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    assert discover([str(source), "--name", dag_id, "--out", str(out)]) == 0
    day = [{"window_start": f"2024-01-0{d + 1}T00:00:00+00:00", "window_end": f"2024-01-0{d + 2}T00:00:00+00:00"}
           for d in range(2)]

    def players() -> list[tuple]:
        with psycopg.connect(dsql_uri) as conn:
            return conn.execute("SELECT t.source_id, p.position, p.name, p.number FROM discovered_teams.team_players p "
                                "JOIN discovered_teams.teams t USING (team_id) ORDER BY 1, 2").fetchall()

    try:
        first = run_discovered(out, source, dag_id, **day[0])
        assert first["children"]["players"]["superseded_parents"] == 0
        second = run_discovered(out, source, dag_id, **day[1])
        assert second["children"]["players"] == {"source": 5, "target": 5, "written": 5, "ambiguous_parents": 0,
                                                 "superseded_parents": 0}
        expected = sorted((f"{i}", j, f"P{i}-{j}", j) for i in range(20) for j in range(newer.get(i, i % 3 + 1)))
        assert players() == expected
        again = run_discovered(out, source, dag_id, **day[0])
        elements = sum(i % 3 + 1 for i in range(20))
        assert again["children"]["players"] == {"source": elements, "target": elements - 2 - 1, "written": elements,
                                                "ambiguous_parents": 0, "superseded_parents": 2}
        assert players() == expected
    finally:
        with psycopg.connect(dsql_uri, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS discovered_teams CASCADE")
