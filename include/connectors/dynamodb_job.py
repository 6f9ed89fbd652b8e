"""What the relational → DynamoDB jobs share: their source arguments, what the load log calls their source, and
the partition writer (one partition's items written with its share of the write capacity, counted by kind).

Glue passes every argument with a value and its own extra ones; spark-submit passes what the local operator
built. A source password never travels as an argument: the local stand-in's is read from a file, Glue's comes
with its catalog connection.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from connectors.dynamodb_load_log import Loads
from transforms.booleans import as_bool
from transforms.intervals import Window, sql_timestamp

__all__ = ["MAX_QUARANTINED", "Interval", "add_common_args", "check_source_args", "finish", "item_writer", "main",
           "refuse_another_source", "source_identity", "split_rejects"]

MAX_QUARANTINED = 100_000  # rejected rows per table brought to the driver for the quarantine file; all are counted


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The arguments both jobs take: spec, run, table, source, quarantine, capacity, region, dry run."""
    p.add_argument("--spec", required=True, help="spec YAML (file path, file:// or s3://)")
    p.add_argument("--run-id", required=True)
    p.add_argument("--report-uri", required=True, help="where the job report JSON goes (file or s3://)")
    p.add_argument("--table", default=None, help="DynamoDB table name; default: the spec's target's name")
    p.add_argument("--source-json", default=None,
                   help='local: {"host", "port", "user", "dbname"} of the PostgreSQL copy, or {"jdbc_url", "driver", '
                        '"user"} of a real SQL Server; never a password')
    p.add_argument("--source-schema", default=None, help="local: schema of the source tables (dbo on SQL Server)")
    p.add_argument("--source-password-file", default=None, help="local: file holding the source password")
    p.add_argument("--catalog-database", default=None, help="Glue: Data Catalog database of the crawled source")
    p.add_argument("--catalog-table-prefix", default="", help="Glue: catalog table name = prefix + source table")
    p.add_argument("--quarantine-uri", default=None,
                   help="where rejected source rows go (file or s3:// prefix); default: counted and reported only")
    p.add_argument("--write-units-per-s", type=float, default=None, help="default: the spec's write_units_per_s")
    p.add_argument("--capacity-share", type=float, default=None, help="default: the spec's capacity_share")
    p.add_argument("--partitions", type=int, default=None, help="parallel readers/writers; default: the spec's")
    p.add_argument("--region", default=None, help="AWS region of the table; default: boto3's")
    # `--dry-run` alone (spark-submit) or `--dry-run true|false` (Glue passes every argument with a value)
    p.add_argument("--dry-run", nargs="?", const=True, default=False, type=as_bool,
                   help="read, build and count the items; write nothing")


def check_source_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one source, and no password in it."""
    if (args.source_json is None) == (args.catalog_database is None):
        p.error("give either --source-json (with --source-schema) or --catalog-database")
    if args.source_json is None:
        return
    if not args.source_schema:
        p.error("--source-json needs --source-schema")
    try:
        source = json.loads(args.source_json)
    except ValueError as err:
        p.error(f"--source-json is not JSON: {err}")
    if not isinstance(source, dict):
        p.error("--source-json must be a JSON object")
    if "password" in source:
        p.error("--source-json must not carry a password: give the file holding it with --source-password-file")
    if "jdbc_url" in source and not source.get("driver"):
        p.error('--source-json with "jdbc_url" needs "driver" (e.g. com.microsoft.sqlserver.jdbc.SQLServerDriver)')


def source_identity(args: argparse.Namespace) -> str:
    """What the job reads, as the load log keeps it: the database and schema (local) or the crawled catalog tables
    (Glue); never a credential."""
    if args.source_json is not None:
        src = json.loads(args.source_json)
        return f"{src.get('host')}:{src.get('port')}/{src.get('dbname')} schema {args.source_schema}"
    return f"glue catalog {args.catalog_database} tables {args.catalog_table_prefix}*"


def item_writer(*, table: str, key_names: tuple[str, ...], kind: Callable[[dict], str] | None, dry_run: bool,
                write_units_per_s: float, share: float, region: str | None, delete: bool = False
                ) -> Callable[[Iterator[Any]], Iterator[tuple[str, int]]]:
    """The mapPartitions function: write one partition's items (unless `dry_run`; `delete`: delete those keys)
    and yield (kind of item, count); the kind is `kind(item)`, or, with `kind` None, the partition holds
    (item, kind) pairs."""

    def write(items: Iterator[Any]) -> Iterator[tuple[str, int]]:
        counts: Counter[str] = Counter()

        def counted(it: Iterator[Any]) -> Iterator[dict]:
            for entry in it:
                item, label = (entry, kind(entry)) if kind is not None else entry
                counts[label] += 1
                yield item

        if dry_run:
            for _ in counted(items):
                pass
        else:
            import boto3

            from connectors.dynamodb_writer import CapacityShareLimiter, write_items

            client = boto3.client("dynamodb", region_name=region)
            written = write_items(counted(items), table=table, key_names=key_names, client=client,
                                  rate_limiter=CapacityShareLimiter(write_units_per_s, share), delete=delete)
            if written != sum(counts.values()):
                raise RuntimeError(f"wrote {written} items to {table} but built {sum(counts.values())}")
        return iter(counts.items())

    return write


def split_rejects(source: dict[str, Any], bad_column: str) -> tuple[dict[str, Any], dict[str, int],
                                                                    list[dict[str, Any]]]:
    """The source tables without their `bad_type` rows (`bad_column` set by the readers), how many each table had,
    and those rows (JSON-ready: every value as text, the bad column(s) in `detail`; at most `MAX_QUARANTINED` per
    table). A row whose integer column holds a non-integral value is rejected whole: it is never rounded, no item
    is built from it. One Spark job counts every table's (reading each once, into its cache when persisted); only
    a table that has some is read again for them."""
    from functools import reduce

    from pyspark.sql import functions as F

    good = {t: df.where(df[bad_column].isNull()).drop(bad_column) for t, df in source.items()}
    counted = reduce(lambda a, b: a.unionByName(b), [
        df.select(F.lit(t).alias("table"), F.col(bad_column).isNotNull().cast("long").alias("bad"))
        for t, df in source.items()])
    counts = dict.fromkeys(source, 0)
    counts.update({r["table"]: int(r["n"]) for r in counted.groupBy("table").agg(F.sum("bad").alias("n")).collect()})
    rows = []
    for table, n in counts.items():
        if n:
            df = source[table]
            rows += [{"table": table, "reason": "bad_type", "detail": r[bad_column],
                      "row": {k: None if v is None else str(v) for k, v in r.asDict().items() if k != bad_column}}
                     for r in df.where(df[bad_column].isNotNull()).limit(MAX_QUARANTINED).collect()]
    return good, counts, rows


def main(parse_args: Callable[[list[str] | None], argparse.Namespace],
         run: Callable[[argparse.Namespace, Any], Any], argv: list[str] | None = None) -> None:
    """A job's entry point: its arguments, a session in UTC named after the run, the run, the session stopped (Glue
    owns its context's lifecycle)."""
    from pyspark.sql import SparkSession

    args = parse_args(argv)
    spark = (SparkSession.builder.appName(f"dbmigrate:{args.item_set}:{args.run_id}")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    try:
        run(args, spark)
    finally:
        if args.catalog_database is None:
            spark.stop()


def finish(args: argparse.Namespace, report: dict[str, Any], *, table: str, window: Any, log_table: str,
           started: float, record: bool = True) -> dict[str, Any]:
    """Record the load in the table's load log (unless a dry run, or `record` is False: a first load through
    ImportTable is recorded once the import made the table), write the report where the run asked, print it with
    the job's seconds."""
    import time

    if record and not args.dry_run:
        import boto3

        from connectors.dynamodb_load_log import record_load

        record_load(boto3.client("dynamodb", region_name=args.region), table, window, args.run_id, log_table,
                    source=source_identity(args))
    from connectors.storage import write_text

    write_text(args.report_uri, json.dumps(report, indent=2, sort_keys=True))
    print(json.dumps({**report, "seconds": round(time.monotonic() - started, 1)}, sort_keys=True))
    return report


@dataclass(frozen=True)
class Interval:
    """What an interval load writes: the incremental table's rows of `window`, built as the table will reflect the
    source up to `holds` (the latest end loaded, this run's included); `snapshot` when the table had no load yet
    (then the items of state are all written, later only what the interval touches)."""

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


def refuse_another_source(loads: Loads, source: str, table: str) -> None:
    """An interval load adds its window to what the loads before it wrote: refuse it (before anything is written)
    when the table's latest load read another source."""
    if loads.loads and loads.source not in (None, source):
        raise SystemExit(f"refused (nothing was written): this interval run reads {source}, but the latest load of "
                         f"{table} read {loads.source}; the intervals of one table must come from one source. Run it "
                         "on that source, or switch sources with a load of the new one without a window")
