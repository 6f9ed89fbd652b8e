"""Glue job (and local spark-submit): a relational database → one DynamoDB table, by the design its spec declares.

    # Glue (the job's default arguments carry --extra-py-files dbmigrate_jobs.zip)
    sql_to_dynamodb.py --spec s3://.../retail_to_dynamodb.yaml --item-set retail --run-id ID \
        --report-uri s3://.../job_report_retail.json --catalog-database retail --catalog-table-prefix retail_dbo_
    # embedded stack: the PostgreSQL copy of the source, read with psycopg on the executors
    spark-submit --py-files dbmigrate_jobs.zip sql_to_dynamodb.py --spec FILE --item-set retail --run-id ID \
        --report-uri FILE --source-json '{"host": ..., "port": ..., "user": ..., "dbname": ...}' \
        --source-schema retail --source-password-file FILE [--dry-run]

`--item-set` names one of the spec's targets (one job per DynamoDB table). The job reads the source tables the
target's item types name, with the types the source declares (`connectors.sql_catalog`), builds every item type
(`transforms.design_plan`), writes the items on the executors with their share of the write capacity, and
reports items by type and rejects by item type and reason (`missing_key`, `bad_number`, `duplicate_key`,
`item_too_large`; source
rows whose integer column holds a non-integral value are `bad_type`), the rejected rows written to
`--quarantine-uri`. No table or column of any database is named here: the spec says them all.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from operator import add
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from connectors.dynamodb_import import import_writer
from connectors.dynamodb_job import (
    MAX_QUARANTINED,
    Interval,
    add_common_args,
    check_source_args,
    finish,
    item_writer,
    refuse_another_source,
    source_identity,
    split_rejects,
)
from connectors.dynamodb_job import main as job_main
from connectors.dynamodb_load_log import LOG_TABLE, Loads, read_loads
from connectors.progress import Progress
from connectors.storage import clear_prefix, read_text, write_text
from transforms.design_intervals import (
    WINDOW_VIEW,
    TouchedScope,
    WindowScope,
    anomaly_counts,
    before,
    in_window,
    tables_named,
    touched_rows,
)
from transforms.design_plan import REJECT, REWRITTEN, TYPE_ORDER, key_frame, register_sources, row_to_item, target_frame
from transforms.design_spec import ALL_TOUCHED
from transforms.dynamo_items import MAX_ITEM_BYTES, item_size_bytes
from transforms.dynamodb_tables import TableSpec
from transforms.intervals import Window, WindowError, sql_timestamp
from transforms.source_types import BAD_TYPE_COLUMN, conform_struct, declared_integers
from transforms.spec import parse_spec

EXAMPLES = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    add_common_args(p)
    p.add_argument("--item-set", required=True, help="the spec's target (DynamoDB table) this job writes")
    p.add_argument("--window-start", default=None,
                   help="an interval load: rows of the spec's incremental table whose field is at or after this")
    p.add_argument("--window-end", default=None, help="... and before this one (ISO 8601)")
    p.add_argument("--log-table", default=LOG_TABLE, help="the DynamoDB table holding each table's load log")
    p.add_argument("--import-uri", default=None,
                   help="a first load: put the items under this S3 prefix as DynamoDB JSON for ImportTable to create "
                        "the table from, instead of writing them (the table must not exist)")
    args, _unknown = p.parse_known_args(argv)
    check_source_args(p, args)
    try:
        args.window = Window.parse(args.window_start, args.window_end)
    except WindowError as err:
        p.error(str(err))
    return args


def _declared(df: Any, types: dict[str, str]) -> Any:
    """A table read with the types its reader gave, with the spec's `column_types` (integers kept exact, the
    non-integral marked `bad_type`) and `BAD_TYPE_COLUMN`."""
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    by_lower = {c.lower(): c for c in df.columns}
    missing = sorted(c for c in types if c.lower() not in by_lower)
    if missing:
        raise ValueError(f"column_types names {missing}, which the table does not have ({df.columns})")
    fields = [StructField(c, _parse_datatype_string(types[c]) if c in types else df.schema[c].dataType, True)
              for c in df.columns]
    return conform_struct(df, StructType(fields), declared_integers(types))


def read_source(spark: Any, args: argparse.Namespace, tables: list[str], partitions: int,
                column_types: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The source tables as DataFrames with the source's own column types but those the spec declares
    (`column_types`), plus `BAD_TYPE_COLUMN`."""
    out: dict[str, Any] = {}
    if args.catalog_database is not None:
        from awsglue.context import GlueContext

        glue = GlueContext(spark.sparkContext)
        for table in tables:
            # Glue splits a JDBC read into `hashpartitions` queries on `hashfield`: the first column the spec
            # declares an integer (an id, as a primary key usually leads)
            split = next(iter(declared_integers(column_types.get(table, {}))), None)
            options = {"hashfield": split, "hashpartitions": str(partitions)} if split and partitions > 1 else {}
            frame = glue.create_dynamic_frame.from_catalog(
                database=args.catalog_database, table_name=f"{args.catalog_table_prefix}{table}",
                additional_options=options, transformation_ctx=f"read_{table}")
            out[table] = _declared(frame.toDF(), column_types.get(table, {}))
        return out
    from connectors.sql_catalog import table_shapes
    from connectors.sql_source import read_table, read_table_jdbc, source_conninfo

    conninfo = json.loads(args.source_json)
    if "jdbc_url" in conninfo:  # a real SQL Server (docker compose): Spark's JDBC source types the columns
        for table in tables:
            split = next(iter(declared_integers(column_types.get(table, {}))), None)  # as Glue's `hashfield`
            out[table] = _declared(read_table_jdbc(
                spark, source=conninfo, password_file=args.source_password_file, schema=args.source_schema,
                table=table, partitions=partitions if split else 1, split_column=split), column_types.get(table, {}))
        return out
    shapes = table_shapes(source_conninfo(conninfo, args.source_password_file), args.source_schema, tables)
    for table, shape in shapes.items():
        shape = shape.declared(column_types.get(table, {}))
        out[table] = read_table(spark, conninfo=conninfo, password_file=args.source_password_file,
                                schema=args.source_schema, table=table, struct=shape.struct(),
                                partitions=partitions, split_column=shape.split_column)
    return out


def _line(item_type: str, detail: str, key: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    return {"item_type": item_type, "reason": detail.split(":")[0], "detail": detail, "key": key, "item": item}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def sort_and_write(writer: Callable[[Iterator[Any]], Iterator[tuple[str, int]]], *, numbers: frozenset[str],
                   type_attribute: str, key_names: tuple[str, ...], keep_lines: int = MAX_QUARANTINED
                   ) -> Callable[[Iterator[Any]], Iterator[tuple]]:
    """The mapPartitions function of the one pass over a load's built rows: a row with a reject reason is counted
    (by item type and reason, `missing_key: PK` as `missing_key`), an item over DynamoDB's 400 KB likewise
    (`item_too_large`: quarantined, never sent to fail the write), the first `keep_lines` of either kept as
    quarantine lines (a partition's share of `MAX_QUARANTINED`, what the driver collects); every other item goes
    to `writer` as (item, its type, or REWRITTEN for the items of rows outside an interval's window). Yields
    ("written", kind, n), ("rejected", item type, reason, n) and ("line", quarantine line): counting, sizing and
    writing in one Spark job instead of one each."""

    def run(rows: Iterator[Any]) -> Iterator[tuple]:
        rejected: Counter[tuple[str, str]] = Counter()
        lines: list[dict[str, Any]] = []

        def fitting() -> Iterator[tuple[dict, str]]:
            for r in rows:
                row = r.asDict()
                reason = row[REJECT]
                if reason is not None:
                    rejected[row[type_attribute], reason.split(":")[0]] += 1
                    if len(lines) < keep_lines:
                        lines.append(_line(row[type_attribute], reason, {k: _text(row[k]) for k in key_names},
                                           {k: _text(v) for k, v in row.items() if k not in (REJECT, TYPE_ORDER)}))
                    continue
                item = row_to_item(row, numbers)
                size = item_size_bytes(item)
                kind = item[type_attribute]["S"]
                if size > MAX_ITEM_BYTES:
                    rejected[kind, "item_too_large"] += 1
                    if len(lines) < keep_lines:
                        lines.append(_line(kind, f"item_too_large: {size} bytes (at most {MAX_ITEM_BYTES})",
                                           {k: str(next(iter(item[k].values()))) for k in key_names}, {}))
                    continue
                yield item, REWRITTEN if row.get(REWRITTEN) else kind

        for kind, n in writer(fitting()):
            yield "written", kind, n
        for (kind, reason), n in rejected.items():
            yield "rejected", kind, reason, n
        for line in lines:
            yield "line", line

    return run


def _passed(out: list[tuple]) -> tuple[dict[str, int], dict[str, dict[str, int]], list[dict[str, Any]]]:
    """What the partitions of `sort_and_write` yielded, summed: items written by kind, rejects by item type and
    reason, and the quarantine lines in a stable order."""
    by_type: Counter[str] = Counter()
    rejected: dict[str, Counter[str]] = {}
    lines = []
    for entry in out:
        if entry[0] == "written":
            by_type[entry[1]] += entry[2]
        elif entry[0] == "rejected":
            rejected.setdefault(entry[1], Counter())[entry[2]] += entry[3]
        else:
            lines.append(entry[1])
    lines.sort(key=lambda x: (x["item_type"], x["reason"], json.dumps(x["key"], sort_keys=True)))
    return dict(sorted(by_type.items())), {t: dict(r) for t, r in rejected.items()}, lines


def _scopes(spark: Any, spec: Any, items: tuple[Any, ...], interval: Interval | None,
            columns: dict[str, list[str]]) -> dict[str, Any]:
    """What each item type writes in this load (`transforms.design_intervals`): everything in a full load; in an
    interval, the window's rows of the incremental table's item types (and the rows it changes), and of the others
    everything on the table's first load or with `touched_by: all`, else the rows their `touched_by` names."""
    if interval is None:
        return {}
    inc = spec.incremental
    scopes: dict[str, Any] = {}
    for item in items:
        if item.table == inc.table:
            scopes[item.name] = WindowScope(inc.field, *interval.bounds())
        elif not interval.snapshot and item.touched_by != ALL_TOUCHED:
            scopes[item.name] = TouchedScope(touched_rows(spark, item, columns[item.table]).persist())
    return scopes


def _deletes(spark: Any, items: tuple[Any, ...], columns: dict[str, list[str]], key_names: tuple[str, ...],
             scopes: dict[str, Any], written: Any) -> Any:
    """The keys of touched rows that no longer make an item (of any type of the target), with the item type they
    were (`_type`): deleted. None when no item type is scoped by `touched_by`."""
    from pyspark.sql import functions as F

    keys = written.select(*key_names).distinct()
    frames = [key_frame(spark, i, columns, key_names, scopes[i.name]).withColumn("_type", F.lit(i.type_value))
              for i in items if isinstance(scopes.get(i.name), TouchedScope)]
    if not frames:
        return None
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out.join(keys, list(key_names), "left_anti")


def run(args: argparse.Namespace, spark: Any) -> dict[str, Any]:
    started = time.monotonic()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spec = parse_spec(read_text(args.spec), Path(urlparse(args.spec).path))
    if spec.kind != "sql_to_dynamodb":
        raise SystemExit(f"{spec.dag_id} is a {spec.kind} spec, not sql_to_dynamodb")
    if args.item_set not in spec.jobs:
        raise SystemExit(f"{args.item_set!r} is not a target of {spec.dag_id} ({list(spec.jobs)})")
    inc = spec.incremental
    if not args.window.is_full and inc.table is None:
        raise SystemExit(f"{spec.dag_id} declares no incremental table: run it without a window")
    target = TableSpec.from_dict(spec.targets[args.item_set])
    table = args.table or target.name
    items = spec.items_of(args.item_set)
    partitions = args.partitions or spec.partitions
    share = (args.capacity_share or spec.capacity_share) / partitions / len(spec.jobs)
    key_names = tuple(a.name for a in target.key_attrs)
    type_attribute = spec.type_attribute[args.item_set]
    numbers = frozenset(a.name for i in items for a in i.outputs if a.type == "N")
    own = list(dict.fromkeys(t for i in items for t in i.tables))
    known = list(dict.fromkeys(t for i in spec.items for t in i.tables))
    loads = Loads()
    if not args.window.is_full:
        import boto3

        loads = read_loads(boto3.client("dynamodb", region_name=args.region), table, args.log_table)
        refuse_another_source(loads, source_identity(args), table)
    interval = Interval.of(args.window, loads)
    anomalies = [a for a in spec.anomalies if a.target == args.item_set]
    queries = [a.sql for a in anomalies] + ([i.touched_by or "" for i in items] if interval else [])
    tables = list(dict.fromkeys([*own, *(t for q in queries for t in tables_named(q, known)),
                                 *([inc.table] if interval else [])]))

    importing = bool(args.import_uri) and not args.dry_run
    if importing:  # what an earlier attempt of the run put there goes: the import reads the whole prefix
        clear_prefix(args.import_uri)
    deleted: dict[str, int] = {}
    with Progress(spark, f"{spec.dag_id}:{args.item_set}") as progress:
        progress.set_phase("read source, build and write items")
        source = {t: df.persist() for t, df in read_source(spark, args, tables, partitions,
                                                               spec.column_types).items()}
        source, rejected_rows, bad_rows = split_rejects(source, BAD_TYPE_COLUMN)
        rejected_rows = {t: n for t, n in rejected_rows.items() if t in own}
        bad_rows = [r for r in bad_rows if r["table"] in own]
        if interval is not None:  # what the table will hold: the incremental table up to the latest end loaded
            from pyspark.sql import functions as F

            rows = source[inc.table]
            source[inc.table] = before(rows, inc.field, sql_timestamp(interval.holds.end) if interval.holds.end
                                       else None)
            rows.where(in_window(F.col(f"`{inc.field}`"), *interval.bounds())).createOrReplaceTempView(WINDOW_VIEW)
        register_sources(source)
        notes = anomaly_counts(spark, anomalies, EXAMPLES)
        columns = {t: list(df.columns) for t, df in source.items()}
        scopes = _scopes(spark, spec, items, interval, columns)
        built = target_frame(spark, items, columns, type_attribute, key_names, scopes)
        if any(isinstance(s, TouchedScope) for s in scopes.values()):  # read twice: deletes, then writes
            built = built.persist()
        good = built.where(built[REJECT].isNull())
        writer_args = {"table": table, "key_names": key_names, "dry_run": args.dry_run, "region": args.region,
                       "write_units_per_s": args.write_units_per_s or spec.write_units_per_s, "share": share}
        gone = _deletes(spark, items, columns, key_names, scopes, good)
        # first: an item a touched row no longer makes goes before anything is written (a table an import creates
        # holds none)
        if gone is not None and not importing:
            progress.set_phase("delete the items the interval ends")
            pairs = gone.rdd.map(lambda r: (row_to_item({k: v for k, v in r.asDict().items() if k != "_type"},
                                                        numbers), r["_type"])).repartition(partitions)
            writer = item_writer(kind=None, delete=True, **writer_args)
            deleted = {k: int(v) for k, v in sorted(pairs.mapPartitions(writer).reduceByKey(add).collect())}
            progress.set_phase("read source, build and write items")
        count = progress.counted("items put for import" if importing else "items written" if not args.dry_run
                                 else "items built")
        writer = import_writer(uri=args.import_uri, region=args.region) if importing else item_writer(
            kind=None, **writer_args)
        one_pass = sort_and_write(lambda pairs: writer(count(pairs)), numbers=numbers, type_attribute=type_attribute,
                                  key_names=key_names, keep_lines=-(-MAX_QUARANTINED // partitions))
        by_type, rejected, lines = _passed(built.repartition(partitions).rdd.mapPartitions(one_pass).collect())
        built.unpersist()
    if args.quarantine_uri and (lines or bad_rows):
        base = f"{args.quarantine_uri.rstrip('/')}/{args.item_set}"
        if lines:
            write_text(f"{base}/rejected_items.jsonl", "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines))
        if bad_rows:
            write_text(f"{base}/bad_type.jsonl", "".join(json.dumps(x, sort_keys=True) + "\n" for x in bad_rows))
    reasons: dict[str, int] = {}
    for per_reason in rejected.values():
        for reason, n in per_reason.items():
            reasons[reason] = reasons.get(reason, 0) + n
    if any(rejected_rows.values()):
        reasons["bad_type"] = sum(rejected_rows.values())
    rewritten = by_type.pop(REWRITTEN, 0)  # items of rows outside the window: written, not of this interval
    report = {"item_set": args.item_set, "table": table, "run_id": args.run_id, "dry_run": args.dry_run,
              "items": sum(by_type.values()) + rewritten, "by_type": by_type, "rejects": reasons,
              "rejected_items": rejected, "rejected_rows": {t: n for t, n in rejected_rows.items() if n},
              "rejected_examples": [f"{x['item_type']} {x['key']}: {x['detail']}" for x in lines[:EXAMPLES]]
              + [f"{x['table']}: {x['detail']}" for x in bad_rows[:EXAMPLES]],
              "source": source_identity(args), "anomalies": notes}
    if interval is not None:
        report["interval"] = {**interval.as_dict(), "rewritten": rewritten, "delete_requests": deleted}
    if importing:  # what the import task needs to import the items and then record the load (the table is new)
        report["import"] = {"uri": args.import_uri, "items": report["items"], "window": args.window.as_dict(),
                            "log_table": args.log_table}
    return finish(args, report, table=table, window=args.window, log_table=args.log_table, started=started,
                  record=not importing)


def main(argv: list[str] | None = None) -> None:
    job_main(parse_args, run, argv)


if __name__ == "__main__":
    main()
