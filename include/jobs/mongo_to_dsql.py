"""EMR step (and local spark-submit): MongoDB adjacency-list collection → Aurora DSQL tables.

    spark-submit --py-files dbmigrate_jobs.zip mongo_to_dsql.py --spec S3_OR_FILE --source-uri URI \
        --target-json '{"host": ..., "auth": "iam", "region": ...}' --run-id ID \
        --report-uri URI --quarantine-uri URI

Thin on purpose: read arguments, build the session, then extract (`read_documents`), transform
(`transforms.mongo_to_dsql.classify`) and load (`connectors.dsql_writer.upsert_tables` on the executors).
Secrets never travel as step arguments: the MongoDB credentials come from Secrets Manager by ARN, DSQL
uses IAM tokens minted on each executor, and the local stand-in's password is read from a file (never an
argument or an environment variable).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from connectors.documents import plan_splits, read_split
from connectors.dsql import DsqlTarget, connect, table_exists
from connectors.dsql_writer import TableWrite, upsert_tables
from connectors.load_log import last_source, record_load
from connectors.mongo_source import database_of, with_credentials
from connectors.pending import PARKED, PARKED_AGAIN, PENDING_WRITE, has_table, pending_row, read_parked, release
from connectors.progress import PhaseTimer, Progress
from connectors.storage import clear_prefix, read_secret, read_text, restrict, write_text
from connectors.timeless import known_timeless, record_timeless
from transforms.adjacency import (
    REJECT_REASONS,
    TIMELESS_REASONS,
    VERSION_COLUMN,
    WINDOW_REJECT_REASONS,
    DocumentMapper,
    target_columns,
)
from transforms.intervals import FULL, OBJECTID_FIELD, Window, objectid_at
from transforms.mongo_to_dsql import classify, entity_counts
from transforms.natural_keys import held_by, natural_index
from transforms.source_text import CollectionText
from transforms.spec import EntitySpec, MongoToDsqlSpec, parse_spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True, help="spec YAML (file path, file:// or s3://)")
    p.add_argument("--source-uri", required=True, help="file://, s3:// (mongoexport lines) or mongodb(+srv)://")
    p.add_argument("--target-json", required=True, help="DsqlTarget as JSON, without any password")
    p.add_argument("--target-password-file", default=None, help="file holding the password (the stand-in)")
    p.add_argument("--run-id", required=True)
    p.add_argument("--report-uri", required=True)
    p.add_argument("--quarantine-uri", required=True)
    p.add_argument("--mongo-secret-arn", default=None, help="overrides the spec's source.secret_arn")
    p.add_argument("--dry-run", action="store_true", help="classify, quarantine and report; write nothing")
    p.add_argument("--partitions", type=int, default=0,
                   help="dedup and write parallelism (0: 4 × Spark's default parallelism, at most the source's "
                        "splits); each write task holds the spec's write.connections")
    p.add_argument("--native-mapping", action="store_true",
                   help="map plain documents by Spark expressions (transforms.native_mapping) instead of in Python: "
                        "the same rows and rejects, not yet faster (docs/scaling.md)")
    p.add_argument("--window-start", default=None,
                   help="load only documents whose incremental field (spec) is at or after this ISO 8601 time")
    p.add_argument("--window-end", default=None, help="... and before this one")
    return p.parse_args(argv)


# The live collection through the MongoDB Spark Connector (10.x), each document as one string column: a
# StringType field holding a BSON document is written by the connector as that document's JSON, canonical
# Extended JSON with `outputExtendedJson` (ObjectId, dates, Int64, Decimal128 keep their types). The job then
# classifies these lines exactly as it classifies a mongoexport file: no schema inference over a sample, no
# field dropped or coerced because other documents disagree, and the quarantine keeps each document's text.
MONGO_DOCUMENT_PIPELINE = '[{"$project": {"_id": 0, "document": "$$ROOT"}}]'


def mongo_pipeline(window: Window = FULL, field: str = OBJECTID_FIELD) -> str:
    """The aggregation pipeline of a live read: the window pushed down to the server as a `$match` (on `_id`
    the smallest ObjectIds of the window's seconds, so the server's `_id` index serves it), then each document
    as one field."""
    stages = json.loads(MONGO_DOCUMENT_PIPELINE)
    if not window.is_full:
        bounds: dict[str, Any] = {}
        for op, at in (("$gte", window.start), ("$lt", window.end)):
            if at is not None:
                bounds[op] = {"$oid": objectid_at(at)} if field == OBJECTID_FIELD else {"$date": at.isoformat()}
        stages.insert(0, {"$match": {field: bounds}})
    return json.dumps(stages)


def mongo_read_options(connection_uri: str, database: str, collection: str, pipeline: str = MONGO_DOCUMENT_PIPELINE
                       ) -> dict[str, str]:
    """The connector options of `read_documents` for a live collection (the URI carries the credentials)."""
    return {"connection.uri": connection_uri, "database": database, "collection": collection,
            "aggregation.pipeline": pipeline, "outputExtendedJson": "true"}


def read_documents(spark: Any, source_uri: str, spec: MongoToDsqlSpec, secret_arn: str | None,
                   window: Window = FULL) -> Any:
    """The source as an RDD of Extended JSON documents, each `(text, where in the source)`.

    `file://`/`s3://`: the mongoexport file or directory (one document a line, or `--jsonArray`), cut into
    byte-range splits read on the executors by `connectors.documents`, the reader the validators use too:
    invalid UTF-8, a byte order mark, CRLF and array exports are judged the same on both sides. `mongodb://` and
    `mongodb+srv://`: the URI's database (else the spec's) and each collection through the MongoDB Spark
    Connector (the job needs `--packages org.mongodb.spark:mongo-spark-connector_2.12:10.4.1`), with the
    credentials fetched from Secrets Manager by `secret_arn` (`connectors.mongo_source`, as the source check and
    the validators reach it; never an argument), each document as its canonical Extended JSON, the
    window pushed down (`mongo_pipeline`). A file is read whole; the mapper keeps the window's documents.
    A spec of several collections reads each (`connectors.documents.collection_sources`), every text tagged
    with its collection (`CollectionText`), as one RDD.
    """
    if source_uri.startswith(("mongodb://", "mongodb+srv://")):
        try:
            uri = with_credentials(source_uri, secret_arn)
        except ValueError as err:
            raise SystemExit(str(err)) from None
        database = database_of(source_uri, spec.source_database)
        rdds = []
        tagged = bool(spec.source_collections)
        pipeline = mongo_pipeline(window, spec.incremental.field)
        for name in spec.collections:
            options = mongo_read_options(uri, database, name, pipeline)
            rows = spark.read.format("mongodb").options(**options).schema("document string").load().rdd
            rdds.append(rows.map(lambda row, c=name, t=tagged: (CollectionText(row[0], c) if t else row[0], None)))
        return rdds[0] if len(rdds) == 1 else spark.sparkContext.union(rdds)
    sc = spark.sparkContext
    splits = plan_splits(source_uri, parts=sc.defaultParallelism * 4, collections=spec.source_collections)
    return sc.parallelize(splits, max(len(splits), 1)).flatMap(read_split)


def existing_keys(target: DsqlTarget, schema: str, entity: EntitySpec, keys: list[str]) -> set[str]:
    """Which of `keys` (`<prefix><id>`) already have a row in the target, looked up 500 at a time.

    A table that does not exist yet (a dry run before the first DDL deployment) holds none of them.
    """
    from psycopg import sql

    assert entity.pk.prefix is not None
    prefix = entity.pk.prefix
    table = sql.Identifier(schema, entity.table)
    found: set[str] = set()
    with connect(target, autocommit=True) as conn:
        if not table_exists(conn, schema, entity.table):
            return found
        query = sql.SQL("SELECT source_id FROM {} WHERE source_id = ANY(%s)").format(table)
        for i in range(0, len(keys), 500):
            ids = [k[len(prefix):] for k in keys[i:i + 500]]
            found.update(prefix + r[0] for r in conn.execute(query, [ids]).fetchall())
    return found


def table_write(entity: EntitySpec) -> TableWrite:
    """Where the writer puts an entity's rows and its child rows, each upsert guarded by `source_version`."""
    children = tuple((c.name, TableWrite(c.table, tuple(target_columns(c)), c.key_columns, VERSION_COLUMN))
                     for c in entity.children)
    return TableWrite(entity.table, tuple(target_columns(entity)), tuple(entity.key_columns), VERSION_COLUMN,
                      children)


def run(args: argparse.Namespace, spark: Any) -> dict[str, Any]:
    spec: MongoToDsqlSpec = parse_spec(read_text(args.spec), Path(urlparse(args.spec).path))
    with Progress(spark, spec.dag_id) as progress:
        return _run(args, spark, spec, progress)


def _run(args: argparse.Namespace, spark: Any, spec: MongoToDsqlSpec, progress: Progress) -> dict[str, Any]:
    target_dict = json.loads(args.target_json)
    if args.target_password_file:
        target_dict["password"] = read_secret(args.target_password_file)
    target = DsqlTarget.from_dict(target_dict)
    window = Window.parse(args.window_start, args.window_end)
    known = None
    if not window.is_full:  # an interval of the target's source; the lines with no time it quarantined already
        with connect(target, autocommit=True) as conn:
            refuse_another_source(conn, spec, args.source_uri)
            known = known_timeless(conn, spec.target_schema, args.source_uri, args.run_id)
    mapper = DocumentMapper.for_spec(spec, window)
    phases = PhaseTimer()
    docs = read_documents(spark, args.source_uri, spec, args.mongo_secret_arn or spec.source_secret_arn, window)
    # dedup and write parallelism: 4 × Spark's default parallelism, but no more than the source has splits (each
    # at least 1 MiB): a small source is a task or two per stage instead of a Python worker per empty partition
    partitions = args.partitions or min(spark.sparkContext.defaultParallelism * 4, max(docs.getNumPartitions(), 1))
    duplicated_keys: dict[tuple[str, str, str], int] = {}
    if mapper.natural_targets:  # references by natural key: which row holds each key, from the whole source
        progress.set_phase("index natural keys")
        # merged on the executors: one entry per key reaches the driver, which broadcasts the index with the mapper
        claims = docs.flatMap(lambda d: mapper.natural_keys(d[0])).mapValues(lambda v: (v, 1)).reduceByKey(held_by)
        index, duplicated_keys = natural_index(claims.collect(), held=True)
        mapper = mapper.with_natural(index)
        phases.end("index natural keys")
    # documents parked by earlier runs (their ends were missing) are retried with this run's
    parked = read_parked(target, spec.target_schema)
    if parked:
        sc = spark.sparkContext
        docs = docs.union(sc.parallelize([(text, where, False) for _, _, text, where in parked],
                                         max(1, min(len(parked) // 10_000, sc.defaultParallelism))))
    progress.set_phase("read, map, dedup, check references")
    docs = docs.mapPartitions(progress.counted("documents read"))
    result = classify(docs, mapper, lambda e, keys: existing_keys(target, spec.target_schema, e, keys),
                      partitions=partitions, timer=phases.end,
                      known_timeless=None if known is None else spark.sparkContext.broadcast(known),
                      native=args.native_mapping)
    timeless_new = sum(result.reasons[r] for r in TIMELESS_REASONS) if known is not None else 0

    unmapped = sorted(result.unmapped.items())
    if unmapped and spec.unmapped.contract == "fail":
        raise SystemExit("unmapped: fail, and the source holds values the spec maps nowhere (nothing was written): "
                         + "; ".join(f"{e}.{path} ×{n}" for (e, path), n in unmapped[:50]))

    progress.set_phase("write quarantine")
    quarantine = f"{args.quarantine_uri.rstrip('/')}"
    schema = "reason string, entity string, detail string, document string, source string"
    if sum(result.reasons.values()):
        result.rejects.toDF(schema).coalesce(1).write.mode("overwrite").json(quarantine)
        restrict(quarantine)  # rejected documents as they were: owner-only
    else:  # no rejects (the counts know): no pass over the winners, no Spark write of nothing (seconds on a small
        clear_prefix(quarantine)  # run); what an earlier attempt of the run left there goes
    phases.end("write quarantine")

    written: dict[str, int] = {}
    newly_parked: int | None = 0
    released = 0
    if not args.dry_run:
        progress.set_phase("write " + ", ".join(t.table for t in (*spec.entities, *spec.children)))
        tables = {e.name: table_write(e) for e in spec.entities}
        accs = {t.name: progress.counter(f"{t.table} rows written") for t in (*spec.entities, *spec.children)}
        rows = result.loadable
        # Orphans are parked for later runs where the schema has a pending table (its DDL from 080 on), in the same
        # pass as the rows; a target deployed before keeps them in the quarantine only, as before.
        if result.orphan_keys and has_table(target, spec.target_schema):
            tables |= {PARKED: PENDING_WRITE, PARKED_AGAIN: PENDING_WRITE}
            rows = rows.union(result.parked.map(lambda r: pending_row(PARKED, r)))
            if sum(result.still_pending.values()):  # parked again: the end they miss may have changed
                rows = rows.union(result.still_parked.map(lambda r: pending_row(PARKED_AGAIN, r)))
        elif result.orphan_keys:
            newly_parked = None

        def write(rows: Any) -> list[tuple[str, int]]:
            def counted(name: str, k: int) -> None:
                if name in accs:
                    accs[name].add(k)

            n = upsert_tables(rows, tables=tables, target=target, schema=spec.target_schema, run_id=args.run_id,
                              batch_rows=spec.batch_rows, batch_bytes=spec.batch_bytes, on_commit=counted,
                              connections=spec.write_connections)
            return list(n.items())

        # One pass over the winners (the shuffle read again), every table and the pending area at once.
        written = dict(rows.mapPartitions(write).reduceByKey(lambda a, b: a + b).collect())
        if PARKED in tables:
            newly_parked = written.pop(PARKED, 0)
            written.pop(PARKED_AGAIN, None)
        phases.end("write")
        released = release({(e, k) for e, k, _, _ in parked} - result.orphan_keys, target=target,
                           schema=spec.target_schema)
        with connect(target) as conn:
            if timeless_new:  # quarantined by this run: later interval runs of the source skip them
                record_timeless(conn, spec.target_schema, args.source_uri, args.run_id, result.timeless.collect())
            record_load(conn, spec.target_schema, run_id=args.run_id, dag_id=spec.dag_id,
                        source_uri=args.source_uri, window=window)
        phases.end("pending")

    counts = entity_counts(result, [e.name for e in spec.entities])
    for name in counts:
        counts[name]["written"] = written.get(name, 0)
    for e in spec.entities:  # child rows written with this run's rows of their parent
        if e.children:
            counts[e.name]["children"] = {c.name: written.get(c.name, 0) for c in e.children}
    report = {
        "dag_id": spec.dag_id, "run_id": args.run_id, "source_uri": args.source_uri,
        "target": target.redacted(), "schema": spec.target_schema, "quarantine_uri": quarantine,
        "dry_run": args.dry_run,
        # documents of an entity, plus rejects that belong to none (no or unknown `type`, broken JSON)
        "documents": (sum(result.documents.values()) + sum(result.reasons.values())
                      - sum(result.rejected.values())),
        "entities": counts,
        "rejects": {reason: result.reasons.get(reason, 0) for reason in REJECT_REASONS
                    + (() if window.is_full else WINDOW_REJECT_REASONS)},
        "phases": phases.seconds, "partitions": partitions, "window": window.as_dict(),
        # relationship documents parked until their ends land (connectors.pending): read back, parked, released
        # (parked None: the schema has no pending table to park them in)
        "pending": {"retried": len(parked), "parked": newly_parked, "released": released},
        # values the spec maps nowhere, kept in `_extra` (entity → folded path → values), and natural keys several
        # documents hold (references go to the one with the smallest `_id`)
        "unmapped": unmapped_by_entity(unmapped),
        # lines no interval holds (`connectors.timeless`): quarantined by this run, or by an earlier one and skipped
        **({} if known is None else {"timeless": {"quarantined": timeless_new, "met_again": result.timeless_known}}),
        "duplicate_natural_keys": [{"entity": e, "field": f, "value": v, "documents": n}
                                   for (e, f, v), n in sorted(duplicated_keys.items())],
    }
    write_text(args.report_uri, json.dumps(report, indent=2, sort_keys=True, default=str))
    return report


def refuse_another_source(conn: Any, spec: MongoToDsqlSpec, source_uri: str) -> None:
    """An interval load adds its window of one source to what the loads before it wrote: refuse it (before anything
    is written) when the target's latest load read another source, which a schedule's or a backfill's runs never
    mean to mix (a run triggered with the form's default source beside a backfill of an export, say)."""
    last = last_source(conn, spec.target_schema, spec.dag_id)
    if last is not None and last[0] != source_uri:
        raise SystemExit(
            f"refused (nothing was written): this interval run reads {source_uri}, but the latest load of "
            f"{spec.target_schema} ({last[1]}) read {last[0]}; the intervals of one target must come from one source. "
            f"Run it with source_uri={last[0]}, or switch sources with a load of the new one without a window")


def unmapped_by_entity(unmapped: list[tuple[tuple[str, str], int]]) -> dict[str, dict[str, int]]:
    """entity → folded path → values, from the (entity, path) counts."""
    out: dict[str, dict[str, int]] = {}
    for (entity, path), n in unmapped:
        out.setdefault(entity, {})[path] = n
    return out


def main(argv: list[str] | None = None) -> None:
    from pyspark.sql import SparkSession

    args = parse_args(argv)
    spark = SparkSession.builder.appName(f"dbmigrate:{args.run_id}").getOrCreate()
    try:
        report = run(args, spark)
    finally:
        spark.stop()
    print(json.dumps({"entities": report["entities"], "rejects": report["rejects"]}, sort_keys=True))


if __name__ == "__main__":
    main()
