"""`bin/dbmigrate discover SOURCE [SOURCE ...] --name DAG_ID [--sample N] --out DIR`: sample MongoDB collections,
find their entities and relationships, and write the DDL, the migration spec and a report in the project's layout.
(A `postgresql://` SOURCE is a relational schema: `cli.discover_relational` writes a `sql_to_dynamodb` spec.)

One SOURCE is one collection (an export file, a directory of its parts, s3://…, mongodb://host/db.collection);
`mongodb://host/db` is every collection of the database. Several collections make one migration: one spec, one
DAG, one Spark job reading them all, so references between them (by `_id` or by a natural key) resolve in one pass.
Their exports must then sit side by side, `<collection>.json` or `<collection>/` in one directory (or S3 prefix):
that directory is the spec's `source.local_uri`, the source its DAG reads with no conf.

Copying DIR's contents over the project root (`cp -r DIR/. .`) adds the migration
DAG_ID: `include/specs/<DAG_ID>.yaml` (checked here by the DAG factory's own spec loader), the DDL in
`include/sql/<schema>/` and the report in `docs/discovery/<DAG_ID>.md`.

The source is read by the job's own reader (`connectors.documents.iter_lines`: BOM, encodings and
`--jsonArray` judged the same way) and sampled uniformly (a seeded reservoir over one pass), printing a progress
line every few seconds on a large source.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from connectors.documents import SourceLayoutError, collection_sources, is_mongo, iter_lines
from transforms.discovery import discover
from transforms.discovery_collections import discover_collections, singular
from transforms.discovery_render import report_markdown, spec_entities, spec_gap
from transforms.discovery_tables import ddl_files, plan_tables
from transforms.extjson import loads
from transforms.spec import SpecError, load_spec

TEMPLATE_FILES = ("070_dbmigrate_lock.sql", "080_dbmigrate_pending.sql", "090_dbmigrate_loads.sql",
                  "100_dbmigrate_timeless.sql")


def sample_documents(source: str, size: int, *, seed: int = 0, progress_s: float = 5.0,
                     collection: Any = None) -> tuple[list[dict[str, Any]], int, int]:
    """A uniform sample of `size` decoded documents (a seeded reservoir), the documents read, the unreadable."""
    rng = random.Random(seed)
    kept: list[dict[str, Any]] = []
    seen = bad = 0
    last = time.monotonic()
    for text in iter_lines(source, collection=collection):
        try:
            doc = loads(text)
        except ValueError:
            bad += 1
            continue
        if not isinstance(doc, dict):
            bad += 1
            continue
        seen += 1
        if len(kept) < size:
            kept.append(doc)
        elif (j := rng.randrange(seen)) < size:
            kept[j] = doc
        if time.monotonic() - last >= progress_s:
            print(f"discover: {seen:,} documents read, {len(kept):,} sampled", file=sys.stderr, flush=True)
            last = time.monotonic()
    return kept, seen, bad


def mongo_collection(uri: str, database: str, collection: str) -> Any:
    """The pymongo collection to sample (read-only use: one `find` sorted by `_id`)."""
    from pymongo import MongoClient

    return MongoClient(uri, serverSelectionTimeoutMS=10_000)[database][collection]


def _schema_for(name: str) -> str:
    schema = re.sub(r"_to_dsql$", "", re.sub(r"[^a-z0-9_]+", "_", name.lower())).strip("_") or "discovered"
    return schema if not schema[0].isdigit() else f"s_{schema}"


def spec_document(name: str, source: str, schema: str, entities: dict[str, Any], *, discriminator: str | None,
                  key_fields: list[str], database: str | None = None, collection: str | None = None,
                  collections: list[str] | None = None) -> dict[str, Any]:
    """A whole mongo_to_dsql spec around the discovered entities (compute defaults as the shipped spec's); the
    discriminator (None: the key shapes tell the types) and key fields as found. With `collections`, `source` is
    the directory (or mongodb:// database) holding them all."""
    if collections:
        local = source if source.startswith("file://") else f"file://${{LOCAL_DATA_DIR:-/tmp}}/{database or name}"
        described = ", ".join(f"`{c}`" for c in collections)
        where: dict[str, Any] = {"collections": collections}
    else:
        collection = collection or Path(source.split("?")[0].rstrip("/")).stem or name
        local = source if source.startswith("file://") else f"file://${{LOCAL_DATA_DIR:-/tmp}}/{collection}.json"
        described = f"`{collection}`"
        where = {"collection": collection}
    return {
        "dag_id": name, "kind": "mongo_to_dsql", "owner": "data-platform",
        "tags": ["migration", "mongodb", "aurora-dsql", "emr", "discovered"], "retries": 2,
        "description": f"Normalize {described} into the Aurora DSQL schema `{schema}` (written by "
                       f"`bin/dbmigrate discover`; review docs/discovery/{name}.md).\n",
        "source": {"uri": source, "database": database or "CHANGE-ME", **where, "local_uri": local,
                   **({} if collections else {"discriminator": discriminator}),
                   **({"key_fields": key_fields[:2]} if key_fields else {})},
        "target": {"conn_id": "dsql_default", "schema": schema, "ddl_dir": schema},
        "compute": {
            "staging_uri": f"s3://dbmigrate-staging-111122223333/{name}",
            "quarantine_uri": f"${{DBMIGRATE_QUARANTINE_URI:-s3://dbmigrate-staging-111122223333/{name}/quarantine}}",
            "emr": {"cluster_id": None, "release_label": "emr-7.5.0", "instance_type": "m6g.xlarge",
                    "core_instance_count": 2,
                    "packages": ["org.mongodb.spark:mongo-spark-connector_2.12:10.4.1"]},
        },
        "validation": {"sample_size": 200, "max_reject_ratio": 0.05, "min_documents": 1},
        # a field the spec does not map is kept in its row's `_extra` (or `fail`: the run fails naming it)
        "unmapped": {"contract": "keep", "ignore": []},
        "entities": entities,
    }


def _as_uri(source: str) -> str:
    return source if re.match(r"^[a-z][a-z0-9+]*://", source) else Path(source).resolve().as_uri()


def _name_of(uri: str) -> str:
    """A collection's name from its export's file or folder name (`…/customers.json` → `customers`)."""
    return Path(urlparse(uri).path.rstrip("/")).stem


def mongo_sources(uri: str, database: str | None, collection: str | None) -> tuple[str, list[str]]:
    """(database, collections) a mongodb:// SOURCE names: `…/db.collection`, `…/db` (all its collections), or
    the flags."""
    path = urlparse(uri).path.lstrip("/")
    db, _, coll = path.partition(".")
    database, collection = database or db or None, collection or coll or None
    if not database:
        raise ValueError(f"{uri}: name the database (mongodb://host/db or --database)")
    if collection:
        return database, [collection]
    from pymongo import MongoClient

    names = sorted(n for n in MongoClient(uri, serverSelectionTimeoutMS=10_000)[database].list_collection_names()
                   if not n.startswith("system."))
    if not names:
        raise ValueError(f"{uri}: database {database} holds no collection")
    return database, names


def common_location(uris: list[str]) -> str:
    """The one directory (or S3 prefix) several collections' exports sit in, side by side."""
    parents = {u.rstrip("/").rsplit("/", 1)[0] for u in uris}
    if len(parents) != 1:
        raise SourceLayoutError(f"the exports of a migration of several collections must sit in one directory (or S3 "
                                f"prefix), each `<collection>.json` or `<collection>/`; these are in {sorted(parents)}")
    return parents.pop() + "/"


def run(argv: list[str] | None = None, *, project_root: Path | None = None) -> int:
    from cli.discover_relational import is_relational, run_relational

    argv = sys.argv[1:] if argv is None else argv
    if any(is_relational(a) for a in argv if not a.startswith("-")):
        return run_relational(argv)  # a relational schema → a first sql_to_dynamodb spec
    p = argparse.ArgumentParser(prog="bin/dbmigrate discover", description=__doc__.splitlines()[0])
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a collection: a mongoexport file (path or file://), a directory of its parts, an s3:// "
                        "export, mongodb://host/db.collection; or mongodb://host/db for every collection of a database")
    p.add_argument("--name", required=True, help="the DAG id of the new migration")
    p.add_argument("--sample", type=int, default=10_000, help="documents to sample per collection (default 10,000)")
    p.add_argument("--out", required=True, type=Path, help="output folder, laid out like the project root")
    p.add_argument("--schema", default=None, help="target schema (default: from the name)")
    p.add_argument("--database", default=None, help="mongodb:// sources: the database")
    p.add_argument("--collection", default=None, help="mongodb:// sources: the collection")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        p.error("--name must be a valid DAG id (letters, digits, _ . -)")
    sources = [_as_uri(s) for s in args.sources]
    # (collection, where its documents are, the pymongo collection or None)
    items: list[tuple[str, str, Any]] = []
    database = args.database
    try:
        for source in sources:
            if is_mongo(source):
                database, names = mongo_sources(source, args.database, args.collection)
                items += [(n, source, mongo_collection(source, database, n)) for n in names]
            else:
                items.append((args.collection or _name_of(source), source, None))
    except (ValueError, SourceLayoutError) as err:
        p.error(str(err))
    several = len(items) > 1 or (is_mongo(sources[0]) and not args.collection
                                 and "." not in urlparse(sources[0]).path)
    if len({c for c, _, _ in items}) != len(items):
        p.error(f"two sources are one collection: {[c for c, _, _ in items]}")
    schema = args.schema or _schema_for(args.name)
    root = project_root or Path(__file__).resolve().parents[2]
    samples: dict[str, list[dict[str, Any]]] = {}
    seen = bad = 0
    for name, source, collection in items:
        docs, n, unreadable = sample_documents(source, args.sample, collection=collection)
        if not docs:
            p.error(f"no readable document in {source} ({unreadable} unreadable)")
        samples[name], seen, bad = docs, seen + n, bad + unreadable
    if several:
        location = sources[0] if is_mongo(sources[0]) else ""
        try:
            if not location:
                location = common_location([s for _, s, _ in items])
                collection_sources(location, list(samples))  # the layout the job reads: refused now, not at run
            findings = discover_collections(samples)
        except (ValueError, SourceLayoutError) as err:
            p.error(str(err))
        source = location
    else:
        (name, source, _), = items
        findings = discover(samples[name], single_type=singular(name) or "document")
    if bad:
        findings.anomalies.append(f"{bad:,} unreadable document(s) in the source (not sampled)")
    tables = plan_tables(findings)
    templates = {f: (root / "include" / "sql" / "movie_db" / f).read_text() for f in TEMPLATE_FILES}
    out = args.out
    sql_dir = out / "include" / "sql" / schema
    sql_dir.mkdir(parents=True, exist_ok=True)
    for name, text in ddl_files(schema, tables, templates).items():
        (sql_dir / name).write_text(text)
    spec_path = out / "include" / "specs" / f"{args.name}.yaml"
    no_spec = spec_gap(findings, tables)
    if no_spec is None:
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(yaml.safe_dump(spec_document(
            args.name, source, schema, spec_entities(findings, tables), database=database,
            collection=None if several else items[0][0] if is_mongo(source) else args.collection,
            discriminator=findings.discriminator.field if findings.discriminator else None,
            key_fields=list(findings.key_fields), collections=sorted(samples) if several else None),
            sort_keys=False, allow_unicode=True))
        try:
            load_spec(spec_path)  # the DAG factory's own loader: a spec it would refuse is never left behind
        except SpecError as err:
            spec_path.unlink()
            no_spec = f"the spec written was refused by the DAG factory's loader: {err}"
    if no_spec is not None:
        findings.choices.append(("no migration spec written", no_spec))
        print(f"discover: no spec written: {no_spec}", file=sys.stderr)
    report = out / "docs" / "discovery" / f"{args.name}.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    sampled = sum(len(d) for d in samples.values())
    report.write_text(report_markdown(findings, tables, source=source, dag_id=args.name, sampled=sampled))
    wrote = [str(spec_path)] if spec_path.exists() else []
    print(f"discover: {seen:,} documents read, {sampled:,} sampled; {len(tables)} tables; wrote "
          + ", ".join([*wrote, f"{sql_dir}/", str(report)]))
    return 0


if __name__ == "__main__":
    sys.exit(run())
