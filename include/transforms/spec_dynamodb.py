"""The relational → DynamoDB spec, `sql_to_dynamodb`: any database, its single-table design declared
(`transforms.design_spec`), run as Glue jobs. Pure Python: ships in the job bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transforms.spec_checks import SpecError, ident, need, number, section, text, texts, whole
from transforms.spec_common import VALIDATION_KEYS, Incremental, SpecHead, common_fields, thresholds

# `write.first_load`: how a load into a table that does not exist yet writes (`SqlToDynamoDbSpec.first_load`)
FIRST_LOADS = ("import", "writer")


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
class Anomaly:
    """Something of the source worth knowing but failing nothing (a log whose rows share a time): a Spark SQL query
    over the source tables (by name) returning one `key` column per row showing it; the job reports how many and
    the first few."""

    name: str
    target: str
    sql: str


@dataclass(frozen=True)
class SqlToDynamoDbSpec(SpecHead):
    """Any relational database → DynamoDB single-table designs, by the items and access patterns it declares, run
    as Glue jobs (one per target table)."""

    source_conn_id: str
    source_schema: str
    local_source_schema: str
    glue_connection: str
    crawler_path: str
    glue: GlueCompute
    staging_uri: str
    quarantine_uri: str  # rejected source rows and items, under <dag_id>/<run>/<target>/
    write_units_per_s: float
    capacity_share: float
    partitions: int
    sample_size: int
    jobs: tuple[str, ...]
    # how a load into a table that does not exist yet writes: `import` (the job writes DynamoDB JSON to S3 and
    # ImportTable creates the table from it, using no write capacity) or `writer` (the table is created, then written)
    first_load: str = "import"
    targets: dict[str, dict[str, Any]] = field(compare=False, default_factory=dict)  # TableSpec dicts by job
    max_reject_ratio: float = 0.05
    min_documents: int = 1
    items: tuple[Any, ...] = ()  # transforms.design_spec.ItemType
    access_patterns: tuple[Any, ...] = ()  # transforms.design_spec.AccessPattern
    type_attribute: dict[str, str] = field(default_factory=dict)  # by target: the attribute an item's type is in
    column_types: dict[str, dict[str, str]] = field(default_factory=dict)  # declared over the source's: table → types
    anomalies: tuple[Anomaly, ...] = ()  # what the job reports about the source, failing nothing
    incremental: Incremental = Incremental(field="none", table=None)  # none: every run loads everything
    path: Path = field(compare=False, default=Path())

    kind = "sql_to_dynamodb"

    def items_of(self, target: str) -> tuple[Any, ...]:
        return tuple(i for i in self.items if i.target == target)


def parse_sql_to_dynamodb(raw: dict[str, Any], path: Path) -> SqlToDynamoDbSpec:
    """A relational database → DynamoDB by its declared design (`transforms.design_spec`): no code of its own."""
    from transforms.design_spec import parse_access_patterns, parse_items

    w = path.name
    fields = _relational_fields(raw, path, {"items", "access_patterns", "type_attribute", "column_types",
                                            "anomalies"}, SqlToDynamoDbSpec.incremental)
    targets = fields["targets"]
    items = parse_items(raw.get("items"), w, targets)
    _check_intervals(fields["incremental"], items, w)
    idle = sorted(set(targets) - {i.target for i in items})
    need(not idle, f"{w}: targets", f"{idle} have no item type")
    named = raw.get("type_attribute", "item_type")  # one name, or one per target
    if isinstance(named, dict):
        need(set(named) == set(targets), f"{w}: type_attribute",
             f"must name one attribute per target {sorted(targets)}")
    type_attribute = {t: ident(named[t] if isinstance(named, dict) else named, f"{w}: type_attribute")
                      for t in targets}
    for item in items:  # a key or attribute named like the type attribute must say the item's type
        for a in item.outputs:
            need(a.name != type_attribute[item.target] or a.template.source == item.type_value,
                 f"{w}: items.{item.name}", f"{a.name} is the type attribute: it must be {item.type_value!r}, got "
                                            f"{a.template.source!r}")
    column_types = _column_types(raw.get("column_types") or {}, w)
    anomalies = []
    for name, value in (raw.get("anomalies") or {}).items():
        where = f"{w}: anomalies.{ident(name, f'{w}: anomalies')}"
        need(isinstance(value, dict) and set(value) <= {"target", "sql"}, where, "must be {target, sql}")
        need(value.get("target") in targets, f"{where}.target", f"must be one of the targets {sorted(targets)}")
        anomalies.append(Anomaly(name, value["target"], text(value.get("sql"), f"{where}.sql")))
    return SqlToDynamoDbSpec(**fields, items=items, type_attribute=type_attribute, column_types=column_types,
                             access_patterns=parse_access_patterns(raw.get("access_patterns"), w, targets),
                             anomalies=tuple(anomalies))


def _check_intervals(inc: Incremental, items: tuple[Any, ...], w: str) -> None:
    """Interval loads cut `incremental.table` by `incremental.field`: the item types made from it write the window's
    rows (and rewrite earlier rows whose derived values the window changes); every other item type must say which
    of its rows a window touches (`touched_by`), from whose keys alone it is rewritten or deleted."""
    if inc.table is None:
        need(inc.schedule is None, f"{w}: schedule", "needs incremental: {table, field} (what cuts the intervals)")
        for item in items:
            need(item.touched_by is None, f"{w}: items.{item.name}.touched_by", "needs incremental")
        return
    import re

    for key, value in (("table", inc.table), ("field", inc.field)):
        need(value != "none" and bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(value))), f"{w}: incremental.{key}",
             f"must name the table and its column that cut the intervals, got {value!r}")
    need(any(i.table == inc.table for i in items), f"{w}: incremental.table",
         f"must be the `from` of an item type, got {inc.table!r}")
    for item in items:
        where = f"{w}: items.{item.name}"
        if item.table == inc.table:
            need(item.touched_by is None, f"{where}.touched_by", f"{inc.table} is cut by the window itself")
            need(item.keep is None, f"{where}.keep", "cannot go with interval loads yet (a kept row that stops "
                                                     "being its group's latest would have to be deleted)")
            continue
        need(item.query is None or item.touched_by == "all", f"{where}.touched_by",
             "an item type made from sql is rewritten whole by each interval: touched_by: all")
        need(item.touched_by is not None, f"{where}.touched_by",
             f"is required with incremental: a Spark SQL query over {{window}} (the window's {inc.table} rows) and "
             f"the source tables returning columns of {item.table} (its rows a window touches), or `all`")
        derived = {d.name for d in item.derived}
        unsafe = [a.name for a in item.keys if a.unique or {r.name for r in a.template.refs} & derived]
        need(not unsafe, f"{where}.keys", f"{unsafe}: a touched item's key must come from its row alone (no "
                                          "derived column, no unique_within) so a load can delete it")


def _column_types(raw: Any, w: str) -> dict[str, dict[str, str]]:
    """`column_types: {table: {column: type}}`: what some source columns hold, whatever the source declares (an id
    kept as DOUBLE PRECISION read as bigint: integral values exact, others `bad_type` rejects)."""
    import re

    from transforms.source_types import SPARK_TYPE

    need(isinstance(raw, dict) and all(isinstance(v, dict) for v in raw.values()), f"{w}: column_types",
         "must map tables to {column: type}")
    for table, columns in raw.items():
        for column, kind in columns.items():
            need(isinstance(kind, str) and bool(re.match(SPARK_TYPE, kind)), f"{w}: column_types.{table}.{column}",
                 f"must be smallint, int, bigint, double, boolean, date, timestamp, string or decimal(p,s), "
                 f"got {kind!r}")
    return {t: dict(c) for t, c in raw.items()}


def _relational_fields(raw: dict[str, Any], path: Path, sections: set[str], incremental: Incremental
                       ) -> dict[str, Any]:
    """Source, Glue, staging, write capacity, validation, jobs and targets."""
    from transforms.dynamodb_tables import TableSpec

    w = path.name
    common = common_fields(raw, w, {"source", "glue", "compute", "write", "validation", "jobs", "targets",
                                    *sections}, incremental)
    source = section(raw, "source", f"{w}:", {"conn_id", "schema", "local_schema", "glue_connection",
                                               "crawler_path"})
    glue = section(raw, "glue", f"{w}:", {"crawler_name", "catalog_database", "catalog_table_prefix", "role",
                                           "glue_version", "worker_type", "number_of_workers"})
    compute = section(raw, "compute", f"{w}:", {"staging_uri", "quarantine_uri"})
    write = section(raw, "write", f"{w}:", {"write_units_per_s", "capacity_share", "partitions",
                                                        "first_load"})
    validation = section(raw, "validation", f"{w}:", VALIDATION_KEYS)
    for key in ("conn_id", "schema", "local_schema", "glue_connection", "crawler_path"):
        need(isinstance(source.get(key), str) and source[key], f"{w}: source.{key}", "is required")
    for key in ("crawler_name", "catalog_database", "role"):
        need(isinstance(glue.get(key), str) and glue[key], f"{w}: glue.{key}", "is required")
    need(isinstance(compute.get("staging_uri"), str), f"{w}: compute.staging_uri", "is required")
    targets = raw.get("targets") or {}
    need(isinstance(targets, dict) and bool(targets), f"{w}: targets", "must map each job to its table")
    jobs = texts(raw["jobs"], f"{w}: jobs") if "jobs" in raw else tuple(targets)
    need(set(targets) == set(jobs), f"{w}: targets", "must define one table per job")
    for name, table in targets.items():
        try:
            TableSpec.from_dict(table)
        except ValueError as err:
            raise SpecError(f"{w}: targets.{name}: {err}") from err
    share = number(write.get("capacity_share", 0.5), f"{w}: write.capacity_share")
    need(0 < share <= 1, f"{w}: write.capacity_share", "must be in (0, 1]")
    first_load = write.get("first_load", "import")
    need(first_load in FIRST_LOADS, f"{w}: write.first_load", f"must be one of {', '.join(FIRST_LOADS)}")
    return dict(
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
        first_load=first_load,
        sample_size=whole(validation.get("sample_size", 200), f"{w}: validation.sample_size", minimum=0),
        jobs=jobs, targets=dict(targets), **thresholds(validation, w), path=path,
    )
