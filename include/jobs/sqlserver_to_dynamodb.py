"""Glue job (and local spark-submit): dms_sample (SQL Server) → one DynamoDB table, `ticket_sales` or `config`.

    # Glue (the job's default arguments carry --extra-py-files dbmigrate_jobs.zip)
    sqlserver_to_dynamodb.py --spec s3://.../dms_sample_to_dynamodb.yaml --item-set ticket_sales --run-id ID \
        --report-uri s3://.../job_report_ticket_sales.json --catalog-database dms_sample \
        --catalog-table-prefix dms_sample_dbo_ [--write-units-per-s N --capacity-share F --partitions N]
    # embedded stack: the PostgreSQL copy of the source, read with psycopg on the executors
    spark-submit --py-files dbmigrate_jobs.zip sqlserver_to_dynamodb.py --spec FILE --item-set config \
        --run-id ID --report-uri FILE --source-json '{"host": ..., "port": ..., "user": ..., "dbname": ...}' \
        --source-schema dms_sample --source-password-file FILE [--table NAME] [--dry-run]

Thin on purpose: read arguments and the spec, read the source tables the item set needs
(`transforms.dms_sample_schema`), build the items (`transforms.ticketing`) and write them on the executors
(`connectors.dynamodb_writer.write_items`), each write partition throttled to its share of the planned
write capacity. The report counts items by `item_type` (ticket_sales) or `data_type` (config), the source rows rejected
(`bad_type`: a non-integral value in an integer column; written to `--quarantine-uri`) and, for ticket_sales,
the source's anomalies (`transforms.ticketing.history_anomalies`). The source tables are persisted once
read: rejects, anomalies and items come from one read of each.
Unknown arguments (Glue's own, e.g. --JOB_NAME) are ignored. The source password never travels as an
argument: the local stand-in's is read from a file, Glue's comes with its catalog connection.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import add
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from connectors.dynamodb_job import (
    add_common_args,
    check_source_args,
    finish,
    item_writer,
    source_identity,
    split_rejects,
)
from connectors.dynamodb_job import main as job_main
from connectors.dynamodb_load_log import LOG_TABLE, Loads, read_loads
from connectors.progress import Progress
from connectors.storage import read_text, write_text
from transforms.dms_sample_schema import BAD_TYPE_COLUMN, ITEM_SET_TABLES, SPLIT_COLUMNS, conform, struct_of
from transforms.dynamodb_tables import TableSpec
from transforms.intervals import Window, WindowError, sql_timestamp
from transforms.spec import parse_spec
from transforms.spec_dynamodb import ITEM_SETS, SqlServerToDynamoDbSpec
from transforms.ticketing import (
    ANOMALIES,
    PURCHASED,
    TRANSFERRED,
    config_items,
    history_anomalies,
    interval_deletes,
    ticket_sales_items,
    to_dynamodb_rdd,
    touched_config_keys,
    transaction_ts,
)

TYPE_ATTRIBUTE = {"ticket_sales": "item_type", "config": "data_type"}  # what the report counts items by


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    add_common_args(p)
    p.add_argument("--item-set", required=True, choices=ITEM_SETS)
    p.add_argument("--window-start", default=None,
                   help="an interval load: history rows whose transaction_date_time is at or after this (ISO 8601)")
    p.add_argument("--window-end", default=None, help="... and before this one")
    p.add_argument("--log-table", default=LOG_TABLE, help="the DynamoDB table holding each table's load log")
    args, _unknown = p.parse_known_args(argv)
    check_source_args(p, args)
    try:
        args.window = Window.parse(args.window_start, args.window_end)
    except WindowError as err:
        p.error(str(err))
    return args


# tables an interval's config load reads besides its own: what tells it which config items the interval touches
TOUCH_TABLES = ("ticket_purchase_hist", "sporting_event_ticket", "sporting_event")


def read_source(spark: Any, args: argparse.Namespace, tables: Iterable[str], partitions: int) -> dict[str, Any]:
    """The source tables as DataFrames of `struct_of(table)`, keyed by table name.

    Glue (`--catalog-database`): the crawled Data Catalog tables. Local (`--source-json`, no password in it;
    the password from the file `--source-password-file` names): `{"jdbc_url", "driver", "user"}` is
    read with Spark's JDBC source (a real SQL Server under docker compose, whose driver comes with
    `--packages com.microsoft.sqlserver:mssql-jdbc:12.8.1.jre11`), `{"host", "port", "user", "dbname"}` with
    psycopg on the executors (the embedded PostgreSQL copy). `--partitions` parallel reads on each table's
    split column either way.
    """
    out: dict[str, Any] = {}
    if args.catalog_database is not None:
        from awsglue.context import GlueContext

        glue = GlueContext(spark.sparkContext)
        for table in tables:
            split = SPLIT_COLUMNS.get(table)
            # Glue splits a JDBC read into `hashpartitions` queries on `hashfield`
            options = {"hashfield": split, "hashpartitions": str(partitions)} if split and partitions > 1 else {}
            frame = glue.create_dynamic_frame.from_catalog(
                database=args.catalog_database, table_name=f"{args.catalog_table_prefix}{table}",
                additional_options=options, transformation_ctx=f"read_{table}")
            out[table] = conform(frame.toDF(), table)
        return out
    from connectors.sql_source import read_table, read_table_jdbc

    conninfo = json.loads(args.source_json)
    for table in tables:
        if "jdbc_url" in conninfo:  # a real SQL Server (docker compose): Spark's JDBC source
            out[table] = conform(read_table_jdbc(
                spark, source=conninfo, password_file=args.source_password_file, schema=args.source_schema,
                table=table, partitions=partitions, split_column=SPLIT_COLUMNS.get(table)), table)
            continue
        out[table] = read_table(spark, conninfo=conninfo, password_file=args.source_password_file,
                                schema=args.source_schema, table=table, struct=struct_of(table),
                                partitions=partitions, split_column=SPLIT_COLUMNS.get(table))
    return out


EXAMPLES = 5  # example keys per anomaly in the report


def anomaly_notes(source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`transforms.ticketing.history_anomalies` of the source: per anomaly its count and a few example keys."""
    found = history_anomalies(source["ticket_purchase_hist"], source["sporting_event_ticket"])
    out = {}
    for name in ANOMALIES:
        df = found[name]
        out[name] = {"count": df.count(),
                     "examples": [r["key"] for r in df.orderBy("key").limit(EXAMPLES).collect()]}
    return out


@dataclass(frozen=True)
class Interval:
    """What an interval load writes: history rows of `window`, built as the table will reflect the source up to
    `holds` (the latest end loaded, this run's included); `snapshot` when the table had no load yet (then the
    Available, Held and config items are all written, later only what the interval touches)."""

    window: Window
    holds: Window
    snapshot: bool

    @classmethod
    def of(cls, window: Window, loads: Loads) -> Interval | None:
        return None if window.is_full else cls(window, loads.holds(window), loads.loads == 0)

    def bounds(self) -> tuple[str | None, str | None]:
        w = self.window
        return (sql_timestamp(w.start) if w.start else None, sql_timestamp(w.end) if w.end else None)

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window.as_dict(), "holds": self.holds.as_dict(), "snapshot": self.snapshot}


def build_items(item_set: str, t: dict[str, Any], interval: Interval | None = None) -> Any:
    """The item set's DataFrame (columns = attribute names) from the source DataFrames `t`."""
    if item_set == "ticket_sales":
        hist = t["ticket_purchase_hist"]
        if interval is not None and interval.holds.end is not None:
            from pyspark.sql import functions as F

            hist = hist.where(F.col("transaction_date_time") < F.to_timestamp(F.lit(sql_timestamp(interval.holds.end))))
        return ticket_sales_items(hist, t["sporting_event_ticket"], t["sporting_event"],
                                  t["sport_team"], t["sport_location"], t["person"],
                                  window=interval.bounds() if interval else None,
                                  snapshot=interval is None or interval.snapshot)
    items = config_items(t["person"], t["sport_team"], t["sport_type"], t["sport_location"], t["sport_league"],
                         t["sport_division"])
    if interval is None or interval.snapshot:
        return items
    touched = touched_config_keys(t["ticket_purchase_hist"], t["sporting_event_ticket"], t["sporting_event"],
                                  t["sport_team"], *interval.bounds())
    return items.join(touched, ["data_type", "data_id"], "left_semi")


def delete_keys(item_set: str, t: dict[str, Any], interval: Interval | None) -> Any:
    """The keys an interval load of ticket_sales deletes (`interval_deletes`); None for anything else."""
    if item_set != "ticket_sales" or interval is None:
        return None
    return interval_deletes(t["ticket_purchase_hist"], t["sporting_event_ticket"], *interval.bounds())


REWRITTEN = "previous latest rewritten"  # report key: history items outside the window, rewritten by an interval
HISTORY_TYPES = (PURCHASED, TRANSFERRED)


def partition_writer(*, table: str, key_names: tuple[str, ...], type_attribute: str, dry_run: bool,
                     write_units_per_s: float, share: float, region: str | None,
                     window: tuple[str, str] | None = None, delete: bool = False
                     ) -> Callable[[Iterator[dict]], Iterator[tuple[str, int]]]:
    """The mapPartitions function (`connectors.dynamodb_job.item_writer`), items counted by `type_attribute`.

    `window`: (start, end) as `transaction_date` text; history items outside it count as `REWRITTEN`.
    `delete`: the partition holds keys to delete, counted by their sort key (`Available`, `Held`)."""

    def kind(item: dict) -> str:
        name = item.get(type_attribute, item.get(key_names[-1], {})).get("S", "")
        if window is not None and name in HISTORY_TYPES and not (
                window[0] <= item["transaction_date"]["S"] < window[1]):
            return REWRITTEN
        return name

    return item_writer(table=table, key_names=key_names, kind=kind, dry_run=dry_run,
                       write_units_per_s=write_units_per_s, share=share, region=region, delete=delete)


def refuse_another_source(loads: Loads, source: str, table: str) -> None:
    """An interval load adds its window to what the loads before it wrote: refuse it (before anything is written)
    when the table's latest load read another source."""
    if loads.loads and loads.source not in (None, source):
        raise SystemExit(f"refused (nothing was written): this interval run reads {source}, but the latest load of "
                         f"{table} read {loads.source}; the intervals of one table must come from one source. Run it "
                         "on that source, or switch sources with a load of the new one without a window")


def run(args: argparse.Namespace, spark: Any) -> dict[str, Any]:
    started = time.monotonic()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spec: SqlServerToDynamoDbSpec = parse_spec(read_text(args.spec), Path(urlparse(args.spec).path))
    if args.item_set not in spec.jobs:
        raise SystemExit(f"item set {args.item_set!r} is not a job of {spec.dag_id} ({list(spec.jobs)})")
    target = TableSpec.from_dict(spec.targets[args.item_set])
    table = args.table or target.name
    partitions = args.partitions or spec.partitions
    write_units = args.write_units_per_s or spec.write_units_per_s
    capacity_share = args.capacity_share or spec.capacity_share
    # the jobs run at the same time, each with `partitions` writers: each writer gets an equal slice
    share = capacity_share / partitions / len(spec.jobs)

    loads = Loads()
    if not args.window.is_full:
        import boto3

        loads = read_loads(boto3.client("dynamodb", region_name=args.region), table, args.log_table)
        refuse_another_source(loads, source_identity(args), table)
    interval = Interval.of(args.window, loads)
    tables = ITEM_SET_TABLES[args.item_set]
    if interval is not None and not interval.snapshot:
        tables = tuple(dict.fromkeys((*tables, *TOUCH_TABLES)))

    deleted: dict[str, int] = {}
    with Progress(spark, f"{spec.dag_id}:{args.item_set}") as progress:
        progress.set_phase("read source, build and write items")
        source = {t: df.persist() for t, df in read_source(spark, args, tables, partitions).items()}
        source, rejected, rejects = split_rejects(source, BAD_TYPE_COLUMN)
        rejected = {t: n for t, n in rejected.items() if t in ITEM_SET_TABLES[args.item_set]}
        rejects = [r for r in rejects if r["table"] in ITEM_SET_TABLES[args.item_set]]
        notes = anomaly_notes(source) if args.item_set == "ticket_sales" else {}
        key_names = tuple(a.name for a in target.key_attrs)
        common = {"table": table, "key_names": key_names, "type_attribute": TYPE_ATTRIBUTE[args.item_set],
                  "dry_run": args.dry_run, "write_units_per_s": write_units, "share": share, "region": args.region}
        keys = delete_keys(args.item_set, source, interval)
        if keys is not None:  # first: a ticket sold in the interval loses its Available item before anything else
            progress.set_phase("delete the items the interval ends")
            deletes = keys.rdd.map(lambda r: {k: ({"N": str(v)} if isinstance(v, int) else {"S": v})
                                              for k, v in r.asDict().items()}).repartition(partitions)
            writer = partition_writer(**common, delete=True)
            deleted = {k: int(v) for k, v in sorted(deletes.mapPartitions(writer).reduceByKey(add).collect())}
            progress.set_phase("read source, build and write items")
        items = to_dynamodb_rdd(build_items(args.item_set, source, interval)).repartition(partitions)
        text_window = None
        if interval is not None and args.item_set == "ticket_sales":
            w = interval.window
            text_window = (transaction_ts(w.start.replace(tzinfo=None)) if w.start else "",
                           transaction_ts(w.end.replace(tzinfo=None)) if w.end else "~")
        writer = partition_writer(**common, window=text_window)
        items = items.mapPartitions(progress.counted("items written" if not args.dry_run else "items built"))
        counted = {k: int(v) for k, v in sorted(items.mapPartitions(writer).reduceByKey(add).collect())}
    if rejects and args.quarantine_uri:
        write_text(f"{args.quarantine_uri.rstrip('/')}/{args.item_set}/bad_type.jsonl",
                   "".join(json.dumps(r, sort_keys=True) + "\n" for r in rejects))
    rewritten = counted.pop(REWRITTEN, 0)  # history items of earlier intervals: written, not of this interval
    by_type = counted
    report = {"item_set": args.item_set, "table": table, "run_id": args.run_id, "dry_run": args.dry_run,
              "items": sum(by_type.values()) + rewritten, "by_type": by_type,
              "rejects": {"bad_type": sum(rejected.values())} if any(rejected.values()) else {},
              "rejected_rows": {t: n for t, n in rejected.items() if n},
              "rejected_examples": [f"{r['table']}: {r['detail']}" for r in rejects[:EXAMPLES]],
              "anomalies": notes}
    if interval is not None:
        report["interval"] = {**interval.as_dict(), "rewritten_previous_latest": rewritten,
                              "delete_requests": deleted}
    return finish(args, report, table=table, window=args.window, log_table=args.log_table, started=started)


def main(argv: list[str] | None = None) -> None:
    job_main(parse_args, run, argv)


if __name__ == "__main__":
    main()
