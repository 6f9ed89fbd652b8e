"""The `sqlserver_to_dynamodb` spec: a relational database → DynamoDB single-table designs, run as Glue jobs.
Pure Python: ships to EMR and Glue in the job bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transforms.spec_checks import SpecError, ident, need, number, section, texts, whole
from transforms.spec_common import VALIDATION_KEYS, Incremental, SpecHead, common_fields, thresholds


@dataclass(frozen=True)
class GlueCompute:
    crawler_name: str
    catalog_database: str
    catalog_table_prefix: str
    role: str
    glue_version: str
    worker_type: str
    number_of_workers: int


@dataclass(frozen=True)
class SqlServerToDynamoDbSpec(SpecHead):
    """A relational (SQL Server) database → DynamoDB single-table designs migration, run as Glue jobs."""

    source_conn_id: str
    source_schema: str
    local_source_schema: str
    glue_connection: str
    crawler_path: str
    glue: GlueCompute
    staging_uri: str
    quarantine_uri: str  # rejected source rows (bad_type), under <dag_id>/<run>/<item set>/
    write_units_per_s: float
    capacity_share: float
    partitions: int
    sample_size: int
    jobs: tuple[str, ...]
    targets: dict[str, dict[str, Any]] = field(compare=False, default_factory=dict)  # TableSpec dicts by job
    max_reject_ratio: float = 0.05
    min_documents: int = 1
    incremental: Incremental = Incremental(field="transaction_date_time", table="ticket_purchase_hist")
    path: Path = field(compare=False, default=Path())

    kind = "sqlserver_to_dynamodb"


ITEM_SETS = ("ticket_sales", "config")


def parse_sqlserver_to_dynamodb(raw: dict[str, Any], path: Path) -> SqlServerToDynamoDbSpec:
    from transforms.dynamodb_tables import TableSpec

    w = path.name
    common = common_fields(raw, w, {"source", "glue", "compute", "write", "validation", "jobs", "targets"},
                     SqlServerToDynamoDbSpec.incremental)
    # intervals cut the purchase history by transaction time; the items of tickets and config are state
    inc, default = common["incremental"], SqlServerToDynamoDbSpec.incremental
    need((inc.field, inc.table) == (default.field, default.table), f"{w}: incremental",
          f"a sqlserver_to_dynamodb migration cuts intervals on {default.table}.{default.field} only, "
          f"got {inc.table}.{inc.field}")
    source = section(raw, "source", f"{w}:", {"conn_id", "schema", "local_schema", "glue_connection",
                                               "crawler_path"})
    glue = section(raw, "glue", f"{w}:", {"crawler_name", "catalog_database", "catalog_table_prefix", "role",
                                           "glue_version", "worker_type", "number_of_workers"})
    compute = section(raw, "compute", f"{w}:", {"staging_uri", "quarantine_uri"})
    write = section(raw, "write", f"{w}:", {"write_units_per_s", "capacity_share", "partitions"})
    validation = section(raw, "validation", f"{w}:", VALIDATION_KEYS)
    for key in ("conn_id", "schema", "local_schema", "glue_connection", "crawler_path"):
        need(isinstance(source.get(key), str) and source[key], f"{w}: source.{key}", "is required")
    for key in ("crawler_name", "catalog_database", "role"):
        need(isinstance(glue.get(key), str) and glue[key], f"{w}: glue.{key}", "is required")
    need(isinstance(compute.get("staging_uri"), str), f"{w}: compute.staging_uri", "is required")
    jobs = texts(raw.get("jobs", []), f"{w}: jobs")
    need(bool(jobs) and set(jobs) <= set(ITEM_SETS), f"{w}: jobs", f"must list item sets of {ITEM_SETS}")
    targets = raw.get("targets") or {}
    need(isinstance(targets, dict), f"{w}: targets", "must map each job to its table")
    need(set(targets) == set(jobs), f"{w}: targets", "must define one table per job")
    for name, table in targets.items():
        try:
            TableSpec.from_dict(table)
        except ValueError as err:
            raise SpecError(f"{w}: targets.{name}: {err}") from err
    share = number(write.get("capacity_share", 0.5), f"{w}: write.capacity_share")
    need(0 < share <= 1, f"{w}: write.capacity_share", "must be in (0, 1]")
    return SqlServerToDynamoDbSpec(
        **common, source_conn_id=source["conn_id"], source_schema=ident(source["schema"], f"{w}: source.schema"),
        local_source_schema=ident(source["local_schema"], f"{w}: source.local_schema"),
        glue_connection=source["glue_connection"], crawler_path=source["crawler_path"],
        glue=GlueCompute(
            crawler_name=glue["crawler_name"], catalog_database=glue["catalog_database"],
            catalog_table_prefix=str(glue.get("catalog_table_prefix", "")), role=glue["role"],
            glue_version=str(glue.get("glue_version", "5.0")), worker_type=str(glue.get("worker_type", "G.1X")),
            number_of_workers=whole(glue.get("number_of_workers", 10), f"{w}: glue.number_of_workers", minimum=1),
        ),
        staging_uri=compute["staging_uri"].rstrip("/"),
        quarantine_uri=str(compute.get("quarantine_uri") or f"{compute['staging_uri'].rstrip('/')}/quarantine"
                           ).rstrip("/"),
        write_units_per_s=number(write.get("write_units_per_s", 4000), f"{w}: write.write_units_per_s"),
        capacity_share=share, partitions=whole(write.get("partitions", 8), f"{w}: write.partitions", minimum=1),
        sample_size=whole(validation.get("sample_size", 200), f"{w}: validation.sample_size", minimum=0),
        jobs=jobs, targets=dict(targets), **thresholds(validation, w), path=path,
    )
