"""Migration specs: one YAML file per migration, loaded into frozen dataclasses and checked on load.

The DAG factory, the Spark/Glue jobs and the tests all read a spec through `load_spec`, so a typo in a
spec fails the same way everywhere: at load time, naming the field at fault. Pure Python (PyYAML only),
so the module ships to EMR and Glue inside the job bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transforms.entity_spec import (  # noqa: F401 - the spec's entity types, imported from here by the project
    COLUMN_TYPES,
    DEFAULT_SHAPE,
    EXTRA_COLUMN,
    VERSION_COLUMN,
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
from transforms.spec_checks import SpecError, ident, need, section, texts, whole
from transforms.spec_common import VALIDATION_KEYS, Incremental, SpecHead, common_fields, thresholds
from transforms.spec_dynamodb import parse_sql_to_dynamodb

# DSQL: at most 3,000 modified rows and 10 MiB per transaction; a row of at most 2 MiB, a column (not in an
# index) of at most 1 MiB (the DSQL user guide, "Cluster quotas and database limits").
DSQL_MAX_TXN_ROWS = 3000
DSQL_MAX_TXN_BYTES = 10 * 1024 * 1024
DSQL_MAX_ROW_BYTES = 2 * 1024 * 1024
DSQL_MAX_COLUMN_BYTES = 1024 * 1024
# MongoDB nests BSON documents at most 100 levels deep: anything deeper did not come from a collection.
MAX_NESTING_DEPTH = 100
WRITE_CONNECTIONS = 4  # concurrent connections of each write task (`write.connections`)


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
class MongoToDsqlSpec(SpecHead):
    """Everything a MongoDB adjacency-list collection → Aurora DSQL migration needs."""

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
    write_connections: int = WRITE_CONNECTIONS  # concurrent DSQL connections of each write task
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


def _mongo_to_dsql(raw: dict[str, Any], path: Path) -> MongoToDsqlSpec:
    w = path.name
    common = common_fields(raw, w, {"source", "target", "compute", "write", "validation", "entities", "unmapped"})
    source = section(raw, "source", f"{w}:", {"uri", "database", "collection", "collections", "secret_arn",
                                              "local_uri", "max_nesting_depth", "discriminator", "key_fields"})
    target = section(raw, "target", f"{w}:", {"conn_id", "schema", "ddl_dir"})
    compute = section(raw, "compute", f"{w}:", {"staging_uri", "quarantine_uri", "emr"})
    write = section(raw, "write", f"{w}:", {"batch_rows", "batch_bytes", "max_row_bytes", "max_column_bytes",
                                                 "connections"})
    validation = section(raw, "validation", f"{w}:", VALIDATION_KEYS)
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
        write_connections=whole(write.get("connections", WRITE_CONNECTIONS), f"{w}: write.connections", minimum=1),
        sample_size=whole(validation.get("sample_size", 200), f"{w}: validation.sample_size", minimum=0),
        entities=entities, shape=shape,
        max_nesting_depth=whole(source.get("max_nesting_depth", MAX_NESTING_DEPTH), f"{w}: source.max_nesting_depth",
                               minimum=1),
        max_row_bytes=max_row, max_column_bytes=max_column, **thresholds(validation, w), path=path,
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


_KINDS = {"mongo_to_dsql": _mongo_to_dsql, "sql_to_dynamodb": parse_sql_to_dynamodb}
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
    need(raw["kind"] != "sqlserver_to_dynamodb", f"{path.name}: kind", "sqlserver_to_dynamodb was dms_sample's "
         "design written in code; declare the design as kind sql_to_dynamodb (include/specs/"
         "dms_sample_to_dynamodb.yaml is that design, declared)")
    need(raw["kind"] in _KINDS, f"{path.name}: kind", f"must be one of {sorted(_KINDS)}")
    return _KINDS[raw["kind"]](raw, path)


def load_specs(spec_dir: str | Path) -> list[Any]:
    """Every spec in `spec_dir`, sorted by file name; dag_ids must be unique."""
    specs = [load_spec(p) for p in sorted(Path(spec_dir).glob("*.yaml"))]
    ids = [s.dag_id for s in specs]
    need(len(set(ids)) == len(ids), str(spec_dir), f"duplicate dag_id in {ids}")
    return specs
