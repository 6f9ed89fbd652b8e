"""`bin/dbmigrate discover postgresql://user@host:port/db --schema S --name DAG_ID --out DIR`: read a relational
schema's tables, primary keys and foreign keys, and write a first `sql_to_dynamodb` spec and a report of what it
chose (`transforms.design_discovery`), in the project's layout: `include/specs/<DAG_ID>.yaml` (checked by the DAG
factory's own loader) and `docs/discovery/<DAG_ID>.md`. The user edits the spec: it is a start, one item type per
table. The password in the URI is used to read the catalog and written nowhere.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from transforms.spec import SpecError, load_spec

RELATIONAL_SCHEMES = ("postgresql", "postgres", "mssql")


def is_relational(source: str) -> bool:
    return urlparse(source).scheme in RELATIONAL_SCHEMES


def _conninfo(uri: str) -> dict[str, Any]:
    u = urlparse(uri)
    return {k: v for k, v in {"host": u.hostname, "port": u.port, "user": unquote(u.username or "") or None,
                              "password": unquote(u.password or "") or None, "dbname": u.path.lstrip("/") or None
                              }.items() if v is not None}


def spec_document(name: str, table: str, database: str, schema: str, args: argparse.Namespace, plan: Any
                  ) -> dict[str, Any]:
    return {
        "dag_id": name, "kind": "sql_to_dynamodb", "owner": "data-platform",
        "tags": ["migration", "relational", "dynamodb", "discovered"], "retries": 2,
        "description": f"Discovered from schema {schema} of {database}: one item type per table, each table with a "
                       "foreign key in its parent's item collection. A first design: edit it.",
        "source": {"conn_id": args.conn_id or f"{name}_source", "schema": args.source_schema, "local_schema": schema,
                   "glue_connection": f"{table}-source", "crawler_path": f"{database}/{args.source_schema}/%"},
        "glue": {"crawler_name": f"dbmigrate-{table}", "catalog_database": database,
                 "role": "arn:aws:iam::111122223333:role/dbmigrate-glue", "glue_version": "5.0",
                 "worker_type": "G.1X", "number_of_workers": 4},
        "compute": {"staging_uri": f"s3://dbmigrate-staging-111122223333/{name}",
                    "quarantine_uri": "${DBMIGRATE_QUARANTINE_URI:-s3://dbmigrate-staging-111122223333/" + name
                                      + "/quarantine}"},
        "write": {"write_units_per_s": 2000, "capacity_share": 0.5, "partitions": 4},
        "validation": {"sample_size": 50, "max_reject_ratio": 0.0, "min_documents": 1},
        "type_attribute": "entity",
        "targets": plan.targets, "items": plan.items, "access_patterns": plan.access_patterns,
    }


def report_markdown(name: str, schema: str, tables: dict[str, Any], fks: list[Any], plan: Any) -> str:
    lines = [f"# Discovery report: {name}", "", f"Source schema `{schema}`: {len(tables)} tables, "
             f"{len(fks)} foreign keys. One DynamoDB table, `{next(iter(plan.targets))}`.", "",
             "| table | primary key | item type | PK | SK |", "|---|---|---|---|---|"]
    for table, shape in tables.items():
        item = plan.items[table]
        lines.append(f"| {table} | {', '.join(shape.primary_key) or '(none)'} | {item['type']} | "
                     f"`{item['keys']['PK']}` | `{item['keys']['SK']}` |")
    lines += ["", "## Choices", ""] + [f"- **{what}**: {why}" for what, why in plan.choices]
    lines += ["", "## Access patterns", ""] + [f"- `{n}`: {p['description']}" for n, p in plan.access_patterns.items()]
    return "\n".join(lines) + "\n"


def run_relational(argv: list[str]) -> int:
    from connectors.sql_catalog import all_tables, foreign_keys
    from transforms.design_discovery import plan_design

    p = argparse.ArgumentParser(prog="bin/dbmigrate discover", description=__doc__.splitlines()[0])
    p.add_argument("source", metavar="SOURCE", help="postgresql://user[:password]@host:port/database")
    p.add_argument("--schema", required=True, help="the source schema to read")
    p.add_argument("--name", required=True, help="the DAG id of the new migration")
    p.add_argument("--out", required=True, type=Path, help="output folder, laid out like the project root")
    p.add_argument("--conn-id", default=None, help="the Airflow connection the DAG reads (default <name>_source)")
    p.add_argument("--source-schema", default="dbo", help="the schema on the production server (default dbo)")
    p.add_argument("--tables", nargs="*", default=None, help="only these tables (default: every table)")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.name):
        p.error("--name must be a lower-case identifier (the spec's dag_id)")
    if urlparse(args.source).scheme == "mssql":
        p.error("mssql:// is not read yet: discover a PostgreSQL copy of the schema (its types map the same way)")
    conninfo = _conninfo(args.source)
    try:
        tables = all_tables(conninfo, args.schema)
        fks = foreign_keys(conninfo, args.schema)
    except Exception as err:  # psycopg's errors: an unreachable server, a refused login
        p.error(f"cannot read the catalog of {urlparse(args.source).hostname}: {err}")
    if args.tables:
        missing = sorted(set(args.tables) - set(tables))
        if missing:
            p.error(f"schema {args.schema} has no table(s) {missing}")
        tables = {t: tables[t] for t in args.tables}
    if not tables:
        p.error(f"schema {args.schema} holds no table")
    table = re.sub(r"_to_dynamodb$", "", args.name)
    plan = plan_design(table, tables, fks)
    database = conninfo.get("dbname", "postgres")
    spec_path = args.out / "include" / "specs" / f"{args.name}.yaml"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(yaml.safe_dump(spec_document(args.name, table, database, args.schema, args, plan),
                                        sort_keys=False, allow_unicode=True, width=120))
    try:
        load_spec(spec_path)  # the DAG factory's own loader: a spec it would refuse is never left behind
    except SpecError as err:
        spec_path.unlink()
        print(f"discover: the spec written was refused by the DAG factory's loader: {err}", file=sys.stderr)
        return 1
    report = args.out / "docs" / "discovery" / f"{args.name}.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(report_markdown(args.name, args.schema, tables, fks, plan))
    print(f"discover: {len(tables)} tables, {len(fks)} foreign keys; wrote {spec_path}, {report}")
    return 0
