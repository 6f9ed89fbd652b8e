"""`bin/dbmigrate discover SOURCE --name DAG_ID [--sample N] --out DIR`: sample a MongoDB collection, find its
entities and relationships, and write the DDL, the migration spec and a report in the project's layout.

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

import yaml

from connectors.documents import is_mongo, iter_lines
from transforms.discovery import discover
from transforms.discovery_render import ddl_files, plan_tables, report_markdown, spec_entities, spec_gap
from transforms.extjson import loads
from transforms.spec import SpecError, load_spec

TEMPLATE_FILES = ("070_dbmigrate_lock.sql", "080_dbmigrate_pending.sql", "090_dbmigrate_loads.sql")


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
                  key_fields: list[str], database: str | None = None, collection: str | None = None
                  ) -> dict[str, Any]:
    """A whole mongo_to_dsql spec around the discovered entities (compute defaults as the shipped spec's); the
    discriminator (None: the key shapes tell the types) and key fields as found."""
    collection = collection or Path(source.split("?")[0].rstrip("/")).stem or name
    local = source if source.startswith("file://") else f"file://${{LOCAL_DATA_DIR:-/tmp}}/{collection}.json"
    return {
        "dag_id": name, "kind": "mongo_to_dsql", "owner": "data-platform",
        "tags": ["migration", "mongodb", "aurora-dsql", "emr", "discovered"], "retries": 2,
        "description": f"Normalize `{collection}` into the Aurora DSQL schema `{schema}` (written by "
                       f"`bin/dbmigrate discover`; review docs/discovery/{name}.md).\n",
        "source": {"uri": source, "database": database or "CHANGE-ME", "collection": collection, "local_uri": local,
                   "discriminator": discriminator, **({"key_fields": key_fields[:2]} if key_fields else {})},
        "target": {"conn_id": "dsql_default", "schema": schema, "ddl_dir": schema},
        "compute": {
            "staging_uri": f"s3://dbmigrate-staging-111122223333/{name}",
            "quarantine_uri": f"${{DBMIGRATE_QUARANTINE_URI:-s3://dbmigrate-staging-111122223333/{name}/quarantine}}",
            "emr": {"cluster_id": None, "release_label": "emr-7.5.0", "instance_type": "m6g.xlarge",
                    "core_instance_count": 2,
                    "packages": ["org.mongodb.spark:mongo-spark-connector_2.12:10.4.1"]},
        },
        "validation": {"sample_size": 200, "max_reject_ratio": 0.05, "min_documents": 1},
        "entities": entities,
    }


def run(argv: list[str] | None = None, *, project_root: Path | None = None) -> int:
    p = argparse.ArgumentParser(prog="bin/dbmigrate discover", description=__doc__.splitlines()[0])
    p.add_argument("source", help="a mongoexport file (path or file://), an s3:// export, or a mongodb:// URI")
    p.add_argument("--name", required=True, help="the DAG id of the new migration")
    p.add_argument("--sample", type=int, default=10_000, help="documents to sample (default 10,000)")
    p.add_argument("--out", required=True, type=Path, help="output folder, laid out like the project root")
    p.add_argument("--schema", default=None, help="target schema (default: from the name)")
    p.add_argument("--database", default=None, help="mongodb:// sources: the database")
    p.add_argument("--collection", default=None, help="mongodb:// sources: the collection")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        p.error("--name must be a valid DAG id (letters, digits, _ . -)")
    source = args.source if re.match(r"^[a-z][a-z0-9+]*://", args.source) else Path(args.source).resolve().as_uri()
    collection = None
    if is_mongo(source):
        if not (args.database and args.collection):
            p.error("a mongodb:// source needs --database and --collection")
        collection = mongo_collection(source, args.database, args.collection)
    schema = args.schema or _schema_for(args.name)
    root = project_root or Path(__file__).resolve().parents[2]
    docs, seen, bad = sample_documents(source, args.sample, collection=collection)
    if not docs:
        p.error(f"no readable document in {source} ({bad} unreadable)")
    stem = args.collection or Path(source.split("?")[0].rstrip("/")).stem
    findings = discover(docs, single_type=stem[:-1] if stem.endswith("s") and len(stem) > 3 else stem or "document")
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
            args.name, source, schema, spec_entities(findings, tables), database=args.database,
            collection=args.collection, discriminator=findings.discriminator.field if findings.discriminator else None,
            key_fields=list(findings.key_fields)), sort_keys=False, allow_unicode=True))
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
    report.write_text(report_markdown(findings, tables, source=source, dag_id=args.name, sampled=len(docs)))
    wrote = [str(spec_path)] if spec_path.exists() else []
    print(f"discover: {seen:,} documents read, {len(docs):,} sampled; {len(tables)} tables; wrote "
          + ", ".join([*wrote, f"{sql_dir}/", str(report)]))
    return 0


if __name__ == "__main__":
    sys.exit(run())
