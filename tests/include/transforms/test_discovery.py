"""transforms.discovery and discovery_render on three shapes: the movie adjacency list, orders with embedded line
items, and a plain discriminator whose types refer to each other by `_id` (no key prefixes)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from generators.movie_collection import write
from transforms.ddl_lint import lint_dsql
from transforms.discovery import discover
from transforms.discovery_render import spec_entities, spec_gap
from transforms.discovery_tables import ddl_files, plan_tables
from transforms.extjson import loads


def tables_of(docs: list[dict], single_type: str = "document") -> dict[str, tuple[str, tuple[str, ...], dict]]:
    return {t.name: (t.kind, t.primary_key, t.refs) for t in plan_tables(discover(docs, single_type))}


@pytest.fixture(scope="module")
def movie_docs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    path = tmp_path_factory.mktemp("disc") / "movies.json"
    write(path, movies=80, seed=5)
    return [loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_movie_collection_gives_the_five_tables(movie_docs: list[dict]) -> None:
    findings = discover(movie_docs)
    assert findings.discriminator and findings.discriminator.field == "type"
    assert list(findings.key_fields) == ["PK", "SK"]
    found = tables_of(movie_docs)
    assert found == {
        "movies": ("entity", ("movie_id",), {}), "actors": ("entity", ("actor_id",), {}),
        "directors": ("entity", ("director_id",), {}),
        "movie_actors": ("relationship", ("movie_id", "actor_id"), {"movie_id": ("movie", "pk"),
                                                                   "actor_id": ("actor", "sk")}),
        "movie_directors": ("relationship", ("movie_id", "director_id"), {"movie_id": ("movie", "pk"),
                                                                         "director_id": ("director", "sk")}),
    }
    tables = plan_tables(findings)
    movies = next(t for t in tables if t.name == "movies")
    cols = {c.name: c for c in movies.columns}
    assert cols["title"].required and cols["genres"].type == "json" and cols["genres"].array_of == "text"
    assert cols["details_budget"].source == "details.budget"  # an embedded object's scalars: columns by path
    entities = spec_entities(findings, tables)
    assert entities["movie_actor"]["pk"] == {"prefix": "MOVIE#"} and entities["movie"]["sk"] == {"equals": "METADATA"}
    for name, sql in ddl_files("disc", tables, {}).items():
        assert lint_dsql(sql) == [], name


def orders(n: int = 120) -> list[dict]:
    return [loads(json.dumps(d)) for d in orders_json(n)]


def orders_json(n: int = 120) -> list[dict]:
    """Orders with embedded line items, as mongoexport writes them (Extended JSON)."""
    rng = random.Random(1)
    out = []
    for i in range(n):
        items = [{"sku": f"SKU-{rng.randrange(50)}", "qty": rng.randint(1, 5),
                  "price": {"$numberDecimal": f"{rng.randint(100, 9999) / 100:.2f}"}} for _ in range(rng.randint(1, 4))]
        doc = {"_id": {"$oid": f"{i:024x}"}, "order_no": 1000 + i,
               "customer": {"name": f"c{i}", "email": f"c{i}@example.com"},
               "placed_at": {"$date": f"2024-01-{1 + i % 28:02d}T10:00:00Z"}, "items": items, "tags": ["web"]}
        out.append(doc)
    return out


def test_embedded_arrays_of_objects_become_a_child_table() -> None:
    found = tables_of(orders(), "order")
    assert found["orders"][:2] == ("entity", ("order_id",))
    assert found["order_items"][:2] == ("child", ("order_id", "position"))
    tables = {t.name: t for t in plan_tables(discover(orders(), "order"))}
    child = {c.name: c for c in tables["order_items"].columns}
    assert child["qty"].type == "int" and child["price"].type.startswith("numeric(") and child["sku"].type == "text"
    parent = {c.name: c for c in tables["orders"].columns}
    assert parent["customer_email"].source == "customer.email" and parent["placed_at"].type == "timestamptz"
    assert parent["tags"].array_of == "text"


def library() -> list[dict]:
    docs: list[dict] = [{"_id": f"a{i}", "type": "author", "name": f"Author {i}"} for i in range(10)]
    docs += [{"_id": f"g{i}", "type": "genre", "name": f"Genre {i}"} for i in range(4)]
    docs += [{"_id": f"b{i}", "type": "book", "title": f"Book {i}", "author_id": f"a{i % 10}",
              "genre_ids": [f"g{i % 4}", f"g{(i + 1) % 4}"], "pages": 100 + i} for i in range(40)]
    return docs


def test_a_plain_discriminator_with_id_references() -> None:
    found = tables_of(library())
    assert set(found) == {"authors", "genres", "books", "book_genres"}
    assert found["books"][2] == {"author_id": ("author", "author_id")}
    assert found["book_genres"][:2] == ("relationship", ("book_id", "genre_id"))
    tables = {t.name: t for t in plan_tables(discover(library()))}
    assert ("author_id",) in tables["books"].indexes
    assert "author_id" in {c.name for c in tables["books"].columns}
    assert "genre_ids" not in {c.name for c in tables["books"].columns}


def test_ddl_of_every_shape_passes_the_dsql_rules(tmp_path: Path) -> None:
    for docs in (orders(), library()):
        for name, sql in ddl_files("disc", plan_tables(discover(docs)), {}).items():
            assert lint_dsql(sql) == [], (name, sql)


def test_key_prefixes_name_the_types_without_a_type_field(movie_docs: list[dict]) -> None:
    untyped = [{k: v for k, v in d.items() if k != "type"} for d in movie_docs]
    found = tables_of(untyped)
    assert set(found) == {"movies", "actors", "directors", "movie_actors", "movie_directors"}
    assert found["movie_actors"][:2] == ("relationship", ("movie_id", "actor_id"))


def test_links_to_entities_outside_the_sample_are_reported(movie_docs: list[dict]) -> None:
    orphan = {"_id": loads('{"$oid": "65a000000000000000000001"}'), "type": "movie_actor",
              "PK": "MOVIE#nowhere", "SK": "ACTOR#nobody", "character_name": "Ghost"}
    findings = discover([*movie_docs, orphan])
    assert any("movie_actor" in a and "1 of" in a for a in findings.anomalies), findings.anomalies


def test_the_shipped_linter_and_dsql_lint_pass_the_discovered_ddl(tmp_path: Path, movie_docs: list[dict]) -> None:
    from tests.include.transforms.test_ddl_lint import run_dsql_lint

    for docs, single in ((movie_docs, "document"), (orders(), "order"), (library(), "document")):
        for name, sql in ddl_files("disc", plan_tables(discover(docs, single)), {}).items():
            path = tmp_path / name
            path.write_text(sql)
            assert lint_dsql(sql) == [] and run_dsql_lint(path).returncode == 0, (name, sql)


def test_discover_writes_the_project_layout_and_reports_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                 ) -> None:
    from cli.discover import run, sample_documents

    source = tmp_path / "orders.json"
    source.write_text("\ufeff" + "\n".join(json.dumps(d, default=str) for d in
                                           [{"_id": {"$oid": f"{i:024x}"}, "n": i} for i in range(50)]) + "\n")
    docs, seen, bad = sample_documents(source.as_uri(), 10, progress_s=0)
    assert (len(docs), seen, bad) == (10, 50, 0)  # the BOM is the reader's business, as in the job
    assert "discover: " in capsys.readouterr().err
    assert run([str(source), "--name", "orders_to_dsql", "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    spec = (out / "include" / "specs" / "orders_to_dsql.yaml").read_text()  # one type keyed by `_id`
    assert "id_field: _id" in spec and "discriminator: null" in spec
    assert "no spec written" not in capsys.readouterr().err
    assert (out / "include" / "sql" / "orders" / "010_orders.sql").exists()
    assert (out / "docs" / "discovery" / "orders_to_dsql.md").exists()


def test_a_live_collection_is_sampled_through_the_jobs_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              movie_docs: list[dict]) -> None:
    """No MongoDB server installs here: mongomock (as the Mongo provider's own tests use) stands in for it."""
    import cli.discover as cli
    import mongomock
    from bson import json_util

    collection = mongomock.MongoClient()["entertainment"]["movie_collection"]
    raw = [json_util.loads(json.dumps(d, default=str)) for d in movie_docs[:300]]
    for d in raw:
        d.pop("_id")
    collection.insert_many(raw)
    monkeypatch.setattr(cli, "mongo_collection", lambda uri, db, coll: collection)
    out = tmp_path / "out"
    assert cli.run(["mongodb://mongo.example:27017", "--name", "live_movies_to_dsql", "--out", str(out),
                    "--database", "entertainment", "--collection", "movie_collection"]) == 0
    spec = (out / "include" / "specs" / "live_movies_to_dsql.yaml").read_text()
    assert "collection: movie_collection" in spec and "database: entertainment" in spec
    assert {p.name for p in (out / "include" / "sql" / "live_movies").glob("0[1-5]0_*.sql")} == {
        "010_actors.sql", "020_directors.sql", "030_movies.sql", "040_movie_actors.sql", "050_movie_directors.sql"}


def test_an_s3_export_is_read_like_a_file(tmp_path: Path, moto_endpoint: str, movie_docs: list[dict]) -> None:
    """An `s3://` export (on the moto server) through the job's reader: two files under a prefix, sampled as one
    collection, and a spec whose source is that prefix."""
    import uuid

    import boto3
    import cli.discover as cli

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    bucket = f"discover-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    lines = [json.dumps(d, default=str) for d in movie_docs]
    half = len(lines) // 2
    s3.put_object(Bucket=bucket, Key="export/part-0.json", Body="\n".join(lines[:half]).encode() + b"\n")
    s3.put_object(Bucket=bucket, Key="export/part-1.json", Body="\n".join(lines[half:]).encode() + b"\n")
    docs, seen, bad = cli.sample_documents(f"s3://{bucket}/export/", 10_000)
    assert (len(docs), seen, bad) == (len(movie_docs), len(movie_docs), 0)
    out = tmp_path / "out"
    assert cli.run([f"s3://{bucket}/export/", "--name", "s3_movies_to_dsql", "--out", str(out)]) == 0
    spec = (out / "include" / "specs" / "s3_movies_to_dsql.yaml").read_text()
    assert f"s3://{bucket}/export/" in spec
    assert len(list((out / "include" / "sql" / "s3_movies").glob("0[1-5]0_*.sql"))) == 5


def users(n: int = 60) -> list[str]:
    """One entity type keyed by its ObjectId `_id`: no discriminator, no key fields; an embedded object, an array of
    scalars, an age one document writes as a word, and a last line that is not JSON."""
    docs = [{"_id": {"$oid": f"{i:024x}"}, "email": f"u{i}@example.com", "age": 20 + i % 50 if i != 7 else "forty",
             "address": {"city": f"City {i % 7}", "zip": f"{10000 + i}"},
             "roles": ["reader"] + (["admin"] if i % 9 == 0 else [])} for i in range(n)]
    return [json.dumps(d) for d in docs] + ['{"_id": {"$oid": "ffffffffffffffffffffffff"}, "email": ']


def test_one_type_keyed_by_id_gets_a_spec_the_job_maps(tmp_path: Path) -> None:
    """A plain collection of one type (no discriminator, no key prefixes) becomes one table keyed by a uuid from
    `_id`, with a spec (`id_field: _id`, `discriminator: null`) whose mapper maps every readable document (a field
    of mixed kinds kept as json) and rejects the unreadable one."""
    from cli.discover import run

    from transforms.adjacency import DocumentMapper, Mapped, Rejected, entity_uuid
    from transforms.spec import load_spec

    source = tmp_path / "users.json"
    source.write_text("\n".join(users()) + "\n")
    assert run([str(source), "--name", "users_to_dsql", "--out", str(tmp_path / "out")]) == 0
    spec = load_spec(tmp_path / "out" / "include" / "specs" / "users_to_dsql.yaml")
    (entity,) = spec.entities
    assert (entity.table, entity.id_field, entity.id_column, spec.shape.discriminator) == (
        "users", "_id", "user_id", None)
    columns = {c.name: c for c in entity.columns}
    assert columns["address_city"].source == "address.city" and columns["roles"].array_of == "text"
    assert columns["age"].type == "json"  # ints and one word: a typed column would reject one kind
    mapper = DocumentMapper.for_spec(spec)
    mapped = [mapper.map_line(line) for line in users()]
    good, bad = mapped[:-1], mapped[-1]
    assert all(isinstance(m, Mapped) for m in good), [m for m in good if not isinstance(m, Mapped)][:2]
    first, word = good[0], good[7]
    assert isinstance(first, Mapped) and isinstance(word, Mapped)
    assert first.row["user_id"] == entity_uuid(f"user#{0:024x}") and first.row["source_id"] == f"{0:024x}"
    assert (first.row["age"], word.row["age"]) == ("20", '"forty"')
    assert len({m.key for m in good if isinstance(m, Mapped)}) == 60
    assert isinstance(bad, Rejected) and bad.reason == "malformed_json"
    ddl = (tmp_path / "out" / "include" / "sql" / "users" / "010_users.sql").read_text()
    assert "user_id uuid" in ddl.lower() and "source_id" in ddl


@pytest.mark.parametrize("shape", ["movies", "orders", "library", "users"])
def test_every_sampled_value_converts_to_the_type_discovery_chose(shape: str, movie_docs: list[dict]) -> None:
    """Discovery picks column types the job's own conversion takes every sampled value of (ISO text is not a
    timestamp to the job, a number is not text): else its spec would quarantine good documents."""
    from transforms.conversion import convert, lookup
    from transforms.spec import ColumnSpec

    docs = {"movies": movie_docs, "orders": orders(), "library": library(),
            "users": [loads(x) for x in users()[:-1]]}[shape]
    docs = docs + [loads(json.dumps({"_id": "x1", "type": "book", "title": "T", "pages": 1,
                                     "published": "2024-05-01T10:00:00Z"}))] if shape == "library" else docs
    findings = discover(docs, "order" if shape == "orders" else "user")
    disc = findings.discriminator.field if findings.discriminator else None
    checked = 0
    for table in plan_tables(findings):
        if table.kind != "entity":
            continue
        group = findings.groups[table.entity]
        members = [d for d in docs if disc is None or d.get(disc) == group.type_value]
        for col in table.columns:
            if not col.source or col.name in table.refs:  # uuid columns of references: not converted values
                continue
            spec_col = ColumnSpec.parse(col.name, {"from": col.source, "type": col.type,
                                                   **({"array_of": col.array_of} if col.array_of else {})}, col.name)
            for doc in members:
                value = lookup(doc, col.source)
                if value is not None:
                    convert(value, spec_col)
                    checked += 1
    assert checked > 40


def test_references_junctions_and_child_tables_are_in_the_spec(tmp_path: Path) -> None:
    from cli.discover import run

    from transforms.spec import load_spec

    source = tmp_path / "library.json"
    source.write_text("\n".join(json.dumps(d) for d in library()) + "\n")
    assert run([str(source), "--name", "library_to_dsql", "--out", str(tmp_path / "out")]) == 0
    spec = load_spec(tmp_path / "out" / "include" / "specs" / "library_to_dsql.yaml")
    book = spec.entity("book")
    assert [(r.column, r.entity, r.source) for r in book.references] == [("author_id", "author", "author_id")]
    (genres,) = book.children
    assert (genres.table, genres.source, genres.key_columns, genres.element_entity) == (
        "book_genres", "genre_ids", ("book_id", "genre_id"), "genre")
    assert "genre_ids" not in {c.source for c in book.columns} and "author_id" not in {c.name for c in book.columns}

    orders_file = tmp_path / "orders.json"
    orders_file.write_text("\n".join(json.dumps(d) for d in orders_json()) + "\n")
    assert run([str(orders_file), "--name", "orders_to_dsql", "--out", str(tmp_path / "out")]) == 0
    order = load_spec(tmp_path / "out" / "include" / "specs" / "orders_to_dsql.yaml").entity("order")
    (items,) = order.children
    assert (items.table, items.source, items.key_columns) == ("order_items", "items", ("order_id", "position"))
    assert {c.name: c.type for c in items.columns} == {"price": "numeric", "qty": "int", "sku": "text"}
    assert "items" not in {c.source for c in order.columns}  # the array is the child table, not a json column


def test_arrays_of_objects_in_a_relationship_get_no_spec_and_say_why(movie_docs: list[dict]) -> None:
    docs = [{**d, "takes": [{"n": 1}, {"n": 2}]} if d["type"] == "movie_actor" else d for d in movie_docs]
    findings = discover(docs)
    gap = spec_gap(findings, plan_tables(findings))
    assert gap is not None and "movie_actor_takes (an array of movie_actor, which is a relationship)" in gap, gap


def shop_collections(tmp_path: Path) -> dict[str, list[dict]]:
    from generators.shop_database import write as write_shop

    write_shop(tmp_path)
    return {c: [loads(x) for x in (tmp_path / f"{c}.json").read_text().splitlines()]
            for c in ("customers", "accounts", "orders")}


def test_several_collections_refer_by_id_and_by_natural_key(tmp_path: Path) -> None:
    from transforms.discovery_collections import discover_collections

    findings = discover_collections(shop_collections(tmp_path))
    refs = {(r.group, r.field): (r.target, r.many, r.by) for r in findings.references}
    assert refs == {("order", "customer_id"): ("customer", False, None),
                    ("order", "placed_by"): ("customer", False, "email"),
                    ("customer", "accounts"): ("account", True, "account_no")}
    assert any("`account.account_no`" in a and "held by 2 documents" in a for a in findings.anomalies)
    assert findings.collections == {"account": "accounts", "customer": "customers", "order": "orders"}
    tables = {t.name: t for t in plan_tables(findings)}
    assert tables["customer_tiers"].primary_key == ("customer_id", "tiers_key")  # a map keyed by ids
    assert tables["customer_accounts"].by == {"account_id": "account_no"}
    assert tables["orders"].by == {"placed_by_customer_id": "email"}
    assert {c.name for c in tables["accounts"].columns} >= {"limit_value", "account_no"}  # `limit` is reserved


def test_maps_keyed_by_data_are_found_by_their_keys() -> None:
    from transforms.discovery_fields import find_maps

    ids = [{"_id": i, "tiers": {f"{i:032x}": {"tier": "gold"}}, "meta": {"a": {"x": 1}}} for i in range(30)]
    emails = [{"_id": i, "by_email": {f"user{i}@example.com": {"n": i}}} for i in range(30)]
    assert set(find_maps(ids, set())) == {"tiers"}  # `meta`: one key every document holds, a field
    assert set(find_maps(emails, set())) == {"by_email"}  # 30 distinct keys, each in one document of 30
    assert find_maps(emails[:5], set()) == {}  # too few keys to tell data from names


def test_nested_objects_flatten_three_levels_and_json_below() -> None:
    docs = [{"_id": i, "a": {"b": {"c": i, "d": {"e": i}}}, "z": i} for i in range(10)]
    (table,) = plan_tables(discover(docs, "thing"))
    cols = {c.name: (c.source, c.type) for c in table.columns}
    assert cols["a_b_c"] == ("a.b.c", "int") and cols["a_b_d"] == ("a.b.d", "json")
    assert not any(c.startswith("a_b_d_") for c in cols)


def test_a_live_database_is_discovered_collection_by_collection(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """`mongodb://host/shop`: every collection of the database (mongomock stands in for the server), one spec."""
    import cli.discover as cli
    import mongomock
    import pymongo
    from bson import json_util

    from generators.shop_database import build as build_shop
    from generators.shop_database import to_line
    from transforms.spec import load_spec

    client = mongomock.MongoClient()
    for name, docs in build_shop().documents.items():
        client["shop"][name].insert_many([json_util.loads(to_line(d, "canonical")) for d in docs])
    monkeypatch.setattr(pymongo, "MongoClient", lambda *a, **k: client)
    monkeypatch.setattr(cli, "mongo_collection", lambda uri, db, coll: client[db][coll])
    out = tmp_path / "out"
    assert cli.run(["mongodb://mongo.example:27017/shop", "--name", "live_shop_to_dsql", "--out", str(out)]) == 0
    spec = load_spec(out / "include" / "specs" / "live_shop_to_dsql.yaml")
    assert (spec.source_database, spec.collections) == ("shop", ("accounts", "customers", "orders"))
    assert spec.source_uri == "mongodb://mongo.example:27017/shop"
    assert {r.column: r.by for r in spec.entity("order").references} == {"customer_id": None,
                                                                          "placed_by_customer_id": "email"}


def test_exports_of_one_migration_must_sit_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cli.discover as cli

    for folder, name in (("a", "customers"), ("b", "orders")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.json").write_text('{"_id": 1, "x": 1}\n')
    with pytest.raises(SystemExit):
        cli.run([str(tmp_path / "a" / "customers.json"), str(tmp_path / "b" / "orders.json"), "--name", "ab",
                 "--out", str(tmp_path / "out")])
    assert "must sit in one directory" in capsys.readouterr().err
    (tmp_path / "b" / "customers.json").write_text('{"_id": 1, "x": 1}\n')
    (tmp_path / "b" / "notes.json").write_text('{"_id": 1}\n')
    with pytest.raises(SystemExit):  # the run would refuse the stray export: refused now, not at run time
        cli.run([str(tmp_path / "b" / "customers.json"), str(tmp_path / "b" / "orders.json"), "--name", "ab",
                 "--out", str(tmp_path / "out")])
    assert "which is no collection of the spec" in capsys.readouterr().err
