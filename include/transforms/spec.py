"""Migration specs: one YAML file per migration, loaded into frozen dataclasses and checked on load.

The DAG factory, the Spark/Glue jobs and the tests all read a spec through `load_spec`, so a typo in a
spec fails the same way everywhere: at load time, naming the field at fault. Pure Python (PyYAML only),
so the module ships to EMR and Glue inside the job bundle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from transforms.entity_spec import (  # noqa: F401 - the spec's entity types, imported from here by the project
    COLUMN_TYPES,
    DEFAULT_SHAPE,
    EXTRA_COLUMN,
    ChildSpec,
    ColumnSpec,
    DocumentShape,
    EntitySpec,
    KeyPart,
    ReferenceSpec,
    RefSpec,
    parse_entities,
    parse_shape,
)
from transforms.spec_checks import SpecError, ident, need, number, section, text, texts, whole

# DSQL: at most 3,000 modified rows and 10 MiB per transaction; a row of at most 2 MiB, a column (not in an
# index) of at most 1 MiB (the DSQL user guide, "Cluster quotas and database limits").
DSQL_MAX_TXN_ROWS = 3000
DSQL_MAX_TXN_BYTES = 10 * 1024 * 1024
DSQL_MAX_ROW_BYTES = 2 * 1024 * 1024
DSQL_MAX_COLUMN_BYTES = 1024 * 1024
# MongoDB nests BSON documents at most 100 levels deep: anything deeper did not come from a collection.
MAX_NESTING_DEPTH = 100


SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
_CRON = re.compile(r"^\S+( \S+){4}$")


@dataclass(frozen=True)
class Incremental:
    """How runs cut the source into intervals: the DAG's `schedule` from `start_date`, each scheduled or
    backfill run loading the records whose `field` falls in its data interval. No schedule: manual runs only."""

    schedule: str | None = None
    start_date: datetime | None = None
    field: str = "_id"  # MongoDB: a (dotted) document field, `_id` meaning the ObjectId's creation time
    table: str | None = None  # relational sources: the table whose `field` cuts the intervals


@dataclass(frozen=True)
class EmrCompute:
    cluster_id: str | None
    release_label: str
    instance_type: str
    core_instance_count: int
    log_uri: str | None
    job_flow_role: str
    service_role: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Unmapped:
    """What happens to a source field the spec maps nowhere (dlt's schema contract, by another name): `keep` it,
    as json in the `_extra` column of its row, or `fail` the run naming each path and its count; the paths in
    `ignore` (`<entity>.<dotted path>`, e.g. `customer.photo`) are left out on purpose and only counted."""

    contract: str = "keep"
    ignore: tuple[str, ...] = ()

    CONTRACTS = ("keep", "fail")

    def ignored(self, entity: str) -> tuple[str, ...]:
        """The dotted paths of `entity` to leave out."""
        return tuple(p.split(".", 1)[1] for p in self.ignore if p.split(".", 1)[0] == entity)


@dataclass(frozen=True)
class MongoToDsqlSpec:
    """Everything a MongoDB adjacency-list collection → Aurora DSQL migration needs."""

    dag_id: str
    description: str
    owner: str
    tags: tuple[str, ...]
    retries: int
    source_uri: str
    source_database: str
    source_collection: str
    source_secret_arn: str | None
    local_source_uri: str
    target_conn_id: str
    target_schema: str
    ddl_dir: str
    staging_uri: str
    quarantine_uri: str
    emr: EmrCompute
    batch_rows: int
    batch_bytes: int
    sample_size: int
    entities: tuple[EntitySpec, ...]
    max_nesting_depth: int = MAX_NESTING_DEPTH
    max_row_bytes: int = DSQL_MAX_ROW_BYTES
    max_column_bytes: int = DSQL_MAX_COLUMN_BYTES
    max_reject_ratio: float = 0.05
    min_documents: int = 1
    incremental: Incremental = Incremental()
    shape: DocumentShape = DEFAULT_SHAPE
    source_collections: tuple[str, ...] = ()  # several collections, one migration (`source.collections`)
    unmapped: Unmapped = Unmapped()
    path: Path = field(compare=False, default=Path())

    kind = "mongo_to_dsql"

    @property
    def collections(self) -> tuple[str, ...]:
        """The collections the migration reads: `source.collections`, or the one `source.collection`."""
        return self.source_collections or (self.source_collection,)

    def entity(self, name: str) -> EntitySpec:
        for e in self.entities:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def children(self) -> tuple[ChildSpec, ...]:
        """Every child table, in entity order."""
        return tuple(c for e in self.entities for c in e.children)


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
class SqlServerToDynamoDbSpec:
    """A relational (SQL Server) database → DynamoDB single-table designs migration, run as Glue jobs."""

    dag_id: str
    description: str
    owner: str
    tags: tuple[str, ...]
    retries: int
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


def expand_env(value: str) -> str:
    """Expand `${VAR}` and `${VAR:-default}`; unset variables without a default are left as written."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        return os.environ.get(name, default if default is not None else m.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, value)

_VALIDATION_KEYS = {"sample_size", "max_reject_ratio", "min_documents"}


def _thresholds(validation: dict[str, Any], w: str) -> dict[str, Any]:
    """When a run fails however well the rest reconciles: too many rejects, too few source records."""
    ratio = number(validation.get("max_reject_ratio", 0.05), f"{w}: validation.max_reject_ratio")
    need(0 <= ratio <= 1, f"{w}: validation.max_reject_ratio", f"must be in [0, 1], got {ratio}")
    return {"max_reject_ratio": ratio,
            "min_documents": whole(validation.get("min_documents", 1), f"{w}: validation.min_documents", minimum=0)}


_COMMON_KEYS = {"dag_id", "kind", "owner", "tags", "retries", "description", "schedule", "start_date", "incremental"}


def _incremental(raw: dict[str, Any], w: str, default: Incremental) -> Incremental:
    """`schedule` (a preset or a five-field cron), `start_date` (optional: the DAG's, where it has one) and
    `incremental`."""
    inc = section(raw, "incremental", f"{w}:", {"field", "table"})
    schedule = raw.get("schedule")
    if schedule is not None:
        need(isinstance(schedule, str) and (schedule in SCHEDULE_PRESETS or bool(_CRON.match(schedule))),
              f"{w}: schedule", f"must be one of {SCHEDULE_PRESETS} or a five-field cron, got {schedule!r}")
    start = raw.get("start_date")
    if start is not None:
        from transforms.intervals import WindowError, parse_instant

        try:
            start = parse_instant(start, "start_date")
        except WindowError as err:
            raise SpecError(f"{w}: start_date: {err}") from None
    return Incremental(schedule=schedule, start_date=start,
                       field=text(inc.get("field", default.field), f"{w}: incremental.field"),
                       table=inc.get("table", default.table))


def _common(raw: dict[str, Any], w: str, sections: set[str], incremental: Incremental = Incremental()
            ) -> dict[str, Any]:
    """dag_id, owner, tags, retries, description, schedule and interval field, checked; unknown top-level keys
    refused."""
    unknown = set(raw) - _COMMON_KEYS - sections
    need(not unknown, w, f"unknown top-level keys {sorted(unknown)}; known: {sorted(_COMMON_KEYS | sections)}")
    return {"dag_id": raw["dag_id"], "owner": raw["owner"],
            "description": str(raw.get("description") or "").strip(),
            "tags": texts(raw.get("tags", []), f"{w}: tags"),
            "retries": whole(raw.get("retries", 2), f"{w}: retries", minimum=0),
            "incremental": _incremental(raw, w, incremental)}


def _mongo_to_dsql(raw: dict[str, Any], path: Path) -> MongoToDsqlSpec:
    w = path.name
    common = _common(raw, w, {"source", "target", "compute", "write", "validation", "entities", "unmapped"})
    source = section(raw, "source", f"{w}:", {"uri", "database", "collection", "collections", "secret_arn",
                                              "local_uri", "max_nesting_depth", "discriminator", "key_fields"})
    target = section(raw, "target", f"{w}:", {"conn_id", "schema", "ddl_dir"})
    compute = section(raw, "compute", f"{w}:", {"staging_uri", "quarantine_uri", "emr"})
    write = section(raw, "write", f"{w}:", {"batch_rows", "batch_bytes", "max_row_bytes", "max_column_bytes"})
    validation = section(raw, "validation", f"{w}:", _VALIDATION_KEYS)
    emr = section(compute, "emr", f"{w}: compute", {"cluster_id", "release_label", "instance_type",
                                                      "core_instance_count", "log_uri", "job_flow_role",
                                                      "service_role", "packages"})
    batch_rows = whole(write.get("batch_rows", 1000), f"{w}: write.batch_rows")
    batch_bytes = whole(write.get("batch_bytes", 8 * 1024 * 1024), f"{w}: write.batch_bytes")
    need(0 < batch_rows <= DSQL_MAX_TXN_ROWS, f"{w}: write.batch_rows",
          f"must be 1..{DSQL_MAX_TXN_ROWS} (DSQL's limit)")
    need(0 < batch_bytes <= DSQL_MAX_TXN_BYTES, f"{w}: write.batch_bytes", f"must be 1..{DSQL_MAX_TXN_BYTES} (10 MiB)")
    max_row = whole(write.get("max_row_bytes", DSQL_MAX_ROW_BYTES), f"{w}: write.max_row_bytes", minimum=1)
    need(max_row <= min(batch_bytes, DSQL_MAX_ROW_BYTES), f"{w}: write.max_row_bytes",
          f"must be at most write.batch_bytes and DSQL's {DSQL_MAX_ROW_BYTES} (2 MiB)")
    max_column = whole(write.get("max_column_bytes", DSQL_MAX_COLUMN_BYTES), f"{w}: write.max_column_bytes",
                      minimum=1)
    need(max_column <= min(max_row, DSQL_MAX_COLUMN_BYTES), f"{w}: write.max_column_bytes",
          f"must be at most write.max_row_bytes and DSQL's {DSQL_MAX_COLUMN_BYTES} (1 MiB)")
    collections = _collections(source, w)
    for key in ("uri", "database", "local_uri", *(() if collections else ("collection",))):
        need(isinstance(source.get(key), str) and source[key], f"{w}: source.{key}", "is required")
    for key in ("conn_id", "schema", "ddl_dir"):
        need(isinstance(target.get(key), str) and target[key], f"{w}: target.{key}", "is required")
    for key in ("staging_uri", "quarantine_uri"):
        need(isinstance(compute.get(key), str) and compute[key], f"{w}: compute.{key}", "is required")
    need(emr.get("cluster_id") or emr.get("release_label"), f"{w}: compute.emr",
          "needs `cluster_id` (existing cluster) or `release_label` (transient cluster)")
    entities = parse_entities(raw.get("entities"), f"{w}: entities", collections)
    if collections:
        need(source.get("discriminator") is None and "key_fields" not in source, f"{w}: source", "a spec of "
             "several collections tells the entities apart by collection: no `discriminator` or `key_fields`")
        shape = DocumentShape(discriminator=None)
    else:
        shape = parse_shape(source, f"{w}: source", entities)
    return MongoToDsqlSpec(
        **common, source_uri=source["uri"], source_database=source["database"],
        source_collection=source.get("collection") or "", source_collections=collections,
        unmapped=_unmapped(raw.get("unmapped", "keep"), w, entities),
        source_secret_arn=source.get("secret_arn"), local_source_uri=source["local_uri"],
        target_conn_id=target["conn_id"], target_schema=ident(target["schema"], f"{w}: target.schema"),
        ddl_dir=target["ddl_dir"], staging_uri=compute["staging_uri"].rstrip("/"),
        quarantine_uri=compute["quarantine_uri"].rstrip("/"),
        emr=EmrCompute(
            cluster_id=emr.get("cluster_id"), release_label=str(emr.get("release_label", "emr-7.5.0")),
            instance_type=str(emr.get("instance_type", "m6g.xlarge")),
            core_instance_count=whole(emr.get("core_instance_count", 2), f"{w}: compute.emr.core_instance_count",
                                     minimum=1), log_uri=emr.get("log_uri"),
            job_flow_role=str(emr.get("job_flow_role", "EMR_EC2_DefaultRole")),
            service_role=str(emr.get("service_role", "EMR_DefaultRole")),
            packages=texts(emr.get("packages", []), f"{w}: compute.emr.packages"),
        ),
        batch_rows=batch_rows, batch_bytes=batch_bytes,
        sample_size=whole(validation.get("sample_size", 200), f"{w}: validation.sample_size", minimum=0),
        entities=entities, shape=shape,
        max_nesting_depth=whole(source.get("max_nesting_depth", MAX_NESTING_DEPTH), f"{w}: source.max_nesting_depth",
                               minimum=1),
        max_row_bytes=max_row, max_column_bytes=max_column, **_thresholds(validation, w), path=path,
    )


def _collections(source: dict[str, Any], w: str) -> tuple[str, ...]:
    """`source.collections`: the collections of one migration (its `local_uri` a directory holding one export
    per collection, `<name>.json` or a `<name>/` folder of parts); refused beside `source.collection`."""
    raw = source.get("collections")
    if raw is None:
        return ()
    names = texts(raw, f"{w}: source.collections")
    need(bool(names) and len(set(names)) == len(names), f"{w}: source.collections", "must list distinct collections")
    need(source.get("collection") is None, f"{w}: source.collection", "give `collection` or `collections`, not both")
    for name in names:
        need(bool(re.fullmatch(r"[A-Za-z0-9_.-]+", name)) and not name.startswith("."), f"{w}: source.collections",
             f"{name!r} is not a collection name a file can carry")
    return names


def _unmapped(raw: Any, w: str, entities: tuple[EntitySpec, ...]) -> Unmapped:
    """`unmapped: keep | fail`, or `unmapped: {contract: keep | fail, ignore: [<entity>.<path>, ...]}`."""
    if isinstance(raw, str):
        raw = {"contract": raw}
    need(isinstance(raw, dict) and set(raw) <= {"contract", "ignore"}, f"{w}: unmapped",
         "must be keep, fail, or {contract: keep | fail, ignore: [<entity>.<path>, ...]}")
    contract = raw.get("contract", "keep")
    need(contract in Unmapped.CONTRACTS, f"{w}: unmapped.contract", f"must be one of {Unmapped.CONTRACTS}")
    ignore = texts(raw.get("ignore", []), f"{w}: unmapped.ignore")
    names = {e.name for e in entities}
    for path in ignore:
        need("." in path and path.split(".", 1)[0] in names, f"{w}: unmapped.ignore",
             f"{path!r} must be <entity>.<path>, the entity one of {sorted(names)}")
    return Unmapped(contract, ignore)


ITEM_SETS = ("ticket_sales", "config")


def _sqlserver_to_dynamodb(raw: dict[str, Any], path: Path) -> SqlServerToDynamoDbSpec:
    from transforms.dynamodb_tables import TableSpec

    w = path.name
    common = _common(raw, w, {"source", "glue", "compute", "write", "validation", "jobs", "targets"},
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
    validation = section(raw, "validation", f"{w}:", _VALIDATION_KEYS)
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
        jobs=jobs, targets=dict(targets), **_thresholds(validation, w), path=path,
    )


_KINDS = {"mongo_to_dsql": _mongo_to_dsql, "sqlserver_to_dynamodb": _sqlserver_to_dynamodb}
# libyaml's safe loader where PyYAML was built with it: the same documents, a tenth of the CPU (every DAG parse and
# every task process reads the specs)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(path: str | Path) -> Any:
    """Load and check one spec file; raise `SpecError` naming the file and field on any problem."""
    path = Path(path)
    return parse_spec(path.read_text(encoding="utf-8"), path)


def parse_spec(text: str, path: Path) -> Any:
    """Check spec YAML `text`; `path` names it in errors (jobs read the text from S3)."""
    try:
        raw = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise SpecError(f"{path.name}: not valid YAML: {err}") from err
    need(isinstance(raw, dict), path.name, "must be a mapping")
    for key in ("dag_id", "kind", "owner"):
        need(isinstance(raw.get(key), str) and raw[key], f"{path.name}: {key}", "is required")
    ident(raw["dag_id"], f"{path.name}: dag_id")
    if path.suffix == ".yaml":
        need(raw["dag_id"] == path.stem, f"{path.name}: dag_id", f"must be the file's name, {path.stem!r}")
    need(raw["kind"] in _KINDS, f"{path.name}: kind", f"must be one of {sorted(_KINDS)}")
    return _KINDS[raw["kind"]](raw, path)


def load_specs(spec_dir: str | Path) -> list[Any]:
    """Every spec in `spec_dir`, sorted by file name; dag_ids must be unique."""
    specs = [load_spec(p) for p in sorted(Path(spec_dir).glob("*.yaml"))]
    ids = [s.dag_id for s in specs]
    need(len(set(ids)) == len(ids), str(spec_dir), f"duplicate dag_id in {ids}")
    return specs
