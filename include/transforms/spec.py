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

# DSQL: at most 3,000 modified rows and 10 MiB per transaction; a row of at most 2 MiB, a column (not in an
# index) of at most 1 MiB (the DSQL user guide, "Cluster quotas and database limits").
DSQL_MAX_TXN_ROWS = 3000
DSQL_MAX_TXN_BYTES = 10 * 1024 * 1024
DSQL_MAX_ROW_BYTES = 2 * 1024 * 1024
DSQL_MAX_COLUMN_BYTES = 1024 * 1024
# MongoDB nests BSON documents at most 100 levels deep: anything deeper did not come from a collection.
MAX_NESTING_DEPTH = 100

COLUMN_TYPES = ("text", "int", "bigint", "double", "numeric", "date", "timestamptz", "json", "boolean")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class SpecError(ValueError):
    """A migration spec that cannot be used; the message names the file and the field."""


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise SpecError(f"{where}: {msg}")


def _int(value: Any, where: str, *, minimum: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)
    _need(ok, where, f"must be a whole number{'' if minimum is None else f' >= {minimum}'}, got {value!r}")
    return value


def _float(value: Any, where: str) -> float:
    _need(isinstance(value, int | float) and not isinstance(value, bool), where, f"must be a number, got {value!r}")
    return float(value)


def _str(value: Any, where: str) -> str:
    _need(isinstance(value, str) and value != "", where, f"must be a non-empty string, got {value!r}")
    return value


def _strs(value: Any, where: str) -> tuple[str, ...]:
    ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    _need(ok, where, f"must be a list of strings, got {value!r}")
    return tuple(value)


def _section(raw: dict[str, Any], key: str, where: str, allowed: set[str]) -> dict[str, Any]:
    """`raw[key]` as a mapping (empty if absent) whose keys are all in `allowed`."""
    value = raw.get(key)
    if value is None:
        return {}
    _need(isinstance(value, dict), f"{where}.{key}".lstrip("."), "must be a mapping")
    unknown = set(value) - allowed
    _need(not unknown, f"{where}.{key}".lstrip("."), f"unknown keys {sorted(unknown)}; known: {sorted(allowed)}")
    return value


def _ident(value: Any, where: str) -> str:
    ok = isinstance(value, str) and bool(_IDENT.match(value))
    _need(ok, where, f"must be a lower-case SQL identifier, got {value!r}")
    return value


@dataclass(frozen=True)
class ColumnSpec:
    """One target column filled from one (possibly dotted) source field."""

    name: str
    source: str
    type: str
    required: bool = False
    precision: int | None = None
    scale: int | None = None
    array_of: str | None = None  # json columns only: the value must be an array of this column type

    @classmethod
    def parse(cls, name: str, raw: dict[str, Any], where: str) -> ColumnSpec:
        _ident(name, where)
        _need(isinstance(raw, dict), where, "must be a mapping with `from` and `type`")
        unknown = set(raw) - {"from", "type", "required", "array_of"}
        _need(not unknown, where, f"unknown keys {sorted(unknown)}")
        type_ = str(raw.get("type", ""))
        precision = scale = None
        if m := _NUMERIC.match(type_):
            precision, scale = int(m.group(1)), int(m.group(2))
            _need(0 < precision <= 38 and scale <= precision, where, f"bad numeric precision in {type_!r}")
            type_ = "numeric"
        _need(type_ in COLUMN_TYPES, where, f"type must be one of {COLUMN_TYPES} or numeric(p,s), got {type_!r}")
        source = raw.get("from", name)
        _need(isinstance(source, str) and source != "", where, "`from` must be a field name")
        array_of = raw.get("array_of")
        if array_of is not None:
            _need(type_ == "json" and array_of in COLUMN_TYPES and array_of not in ("json", "numeric"), where,
                  "`array_of` needs type json and a scalar element type")
        return cls(name, source, type_, bool(raw.get("required", False)), precision, scale, array_of)


@dataclass(frozen=True)
class KeyPart:
    """How an entity's PK or SK looks: a fixed value (`equals`) or `<prefix><id>`."""

    prefix: str | None = None
    equals: str | None = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> KeyPart:
        _need(isinstance(raw, dict) and len(raw) == 1 and set(raw) <= {"prefix", "equals"}, where,
              "must be {prefix: ...} or {equals: ...}")
        value = next(iter(raw.values()))
        _need(isinstance(value, str) and value != "", where, "must be a non-empty string")
        return cls(**raw)

    def id_of(self, key: str) -> str | None:
        """The id part of `key`, '' for an `equals` match, None when `key` does not have this shape."""
        if self.equals is not None:
            return "" if key == self.equals else None
        assert self.prefix is not None
        return key[len(self.prefix):] if key.startswith(self.prefix) else None

    def overlaps(self, other: KeyPart) -> bool:
        """Whether some key has both shapes (then the key alone cannot tell two entities apart)."""
        a, b = self.equals or self.prefix or "", other.equals or other.prefix or ""
        if self.equals is not None and other.equals is not None:
            return a == b
        if self.equals is not None:
            return a.startswith(b)
        if other.equals is not None:
            return b.startswith(a)
        return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class RefSpec:
    """A column that points at another entity through the id in the PK or SK."""

    column: str
    entity: str
    key: str  # "pk" or "sk"


@dataclass(frozen=True)
class ReferenceSpec:
    """A uuid column of an entity row naming another entity by a field holding its id (`author_id: a7`): the
    uuid the other entity's row has (`<its prefix><id>`). Written as the source holds it: with no foreign keys
    in DSQL, a reference to a row that does not exist is counted by validation, not dropped."""

    column: str
    entity: str
    source: str


@dataclass(frozen=True)
class ChildSpec:
    """A table filled from an array of each parent document, written with the parent in one transaction.

    Of objects: one row per element, keyed by (`parent_column`, `position`), its `columns` read from the element.
    Of ids (`element_entity` set): one row per distinct id, keyed by (`parent_column`, `element_column`), the
    junction of a many-to-many. A new version of the parent replaces its rows whole (older rows are deleted).
    """

    name: str
    table: str
    parent: str  # the entity holding the array
    source: str  # the (dotted) array field
    parent_column: str
    columns: tuple[ColumnSpec, ...] = ()
    element_column: str | None = None
    element_entity: str | None = None

    POSITION = "position"

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.parent_column, self.element_column or self.POSITION)


@dataclass(frozen=True)
class EntitySpec:
    """One entity type stored in the collection and the table it becomes.

    Keyed by `PK`/`SK` (an adjacency list), or by a field of its own (`id_field`, e.g. `_id`): then its source
    key is `<type>#<id>` (`pk` is that prefix, `sk` None), which its uuid derives from as a `PK` would.
    """

    name: str
    table: str
    doc_type: str
    pk: KeyPart
    sk: KeyPart | None
    columns: tuple[ColumnSpec, ...]
    id_column: str | None = None  # entity tables: uuid primary key derived from the source key
    refs: tuple[RefSpec, ...] = ()  # relationship tables: primary key is the refs' columns
    id_field: str | None = None  # entities keyed by a field of their own, not by PK/SK
    references: tuple[ReferenceSpec, ...] = ()  # entity tables: uuid columns naming other entities by a field
    children: tuple[ChildSpec, ...] = ()  # entity tables: tables filled from the document's arrays

    @property
    def is_relationship(self) -> bool:
        return bool(self.refs)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(r.column for r in self.refs) if self.refs else (self.id_column or "",)


@dataclass(frozen=True)
class DocumentShape:
    """Where a document names its entity type and its keys (`source.discriminator` and
    `source.key_fields` in a spec). Collections differ: `type`, `_type`, `kind`; `PK`/`SK`, `pk`/`sk`. With no
    discriminator the key shapes alone tell the type, so no two entities' `pk` and `sk` may both overlap."""

    discriminator: str | None = "type"
    pk_field: str = "PK"
    sk_field: str = "SK"

    def type_of(self, doc: dict[str, Any], entities: tuple[EntitySpec, ...]) -> str | None:
        """The document's entity `type`: its discriminator's value, or the `type` of the entity whose key shapes
        its keys have; None when it has none (missing, not a string, no entity's shape)."""
        if self.discriminator is not None:
            value = doc.get(self.discriminator)
            return value if isinstance(value, str) else None
        if len(entities) == 1 and entities[0].id_field is not None:  # a collection of one type keyed by a field
            return entities[0].doc_type
        pk, sk = doc.get(self.pk_field), doc.get(self.sk_field)
        if isinstance(pk, str) and isinstance(sk, str):
            for e in entities:
                if e.sk is not None and e.pk.id_of(pk) is not None and e.sk.id_of(sk) is not None:
                    return e.doc_type
        return None


DEFAULT_SHAPE = DocumentShape()  # `type`, `PK`, `SK`: the movie collection's and the AWS post's


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
    path: Path = field(compare=False, default=Path())

    kind = "mongo_to_dsql"

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


def _entities(raw: Any, where: str) -> tuple[EntitySpec, ...]:
    _need(isinstance(raw, dict) and raw, where, "must map entity names to their definitions")
    out = []
    for name, e in raw.items():
        w = f"{where}.{name}"
        _need(isinstance(e, dict), w, "must be a mapping")
        unknown = set(e) - {"table", "type", "pk", "sk", "id_column", "refs", "columns", "id_field", "references",
                            "children"}
        _need(not unknown, w, f"unknown keys {sorted(unknown)}")
        id_field = e.get("id_field")
        if id_field is not None:
            _str(id_field, f"{w}.id_field")
            _need(e.get("pk") is None and e.get("sk") is None and e.get("id_column") and not e.get("refs"), w,
                  "an entity keyed by `id_field` has an `id_column` and no `pk`, `sk` or `refs`")
        refs = tuple(
            RefSpec(_ident(col, f"{w}.refs.{col}"), str(r.get("entity")), str(r.get("from")))
            for col, r in (e.get("refs") or {}).items()
        )
        for r in refs:
            _need(r.key in ("pk", "sk"), f"{w}.refs.{r.column}", "`from` must be pk or sk")
            _need(r.entity in raw and r.entity != name, f"{w}.refs.{r.column}", f"unknown entity {r.entity!r}")
        id_column = e.get("id_column")
        _need((id_column is None) == bool(refs), w, "give exactly one of `id_column` (entity) or `refs` (relationship)")
        columns = tuple(ColumnSpec.parse(c, v, f"{w}.columns.{c}") for c, v in (e.get("columns") or {}).items())
        doc_type = str(e.get("type", name))
        keyed = id_field is None
        references = _references(e.get("references"), w, raw)
        children = _children(e.get("children"), w, raw, name)
        _need(not (references or children) or id_column, w, "only an entity (with an `id_column`) has "
              "`references` or `children`")
        taken = [c for c in (id_column, "source_id", *(c.name for c in columns), *(r.column for r in references)) if c]
        _need(len(set(taken)) == len(taken), w, f"two columns share a name in {taken}")
        out.append(EntitySpec(
            name=_ident(name, w), table=_ident(e.get("table"), f"{w}.table"), doc_type=doc_type,
            pk=KeyPart.parse(e.get("pk"), f"{w}.pk") if keyed else KeyPart(prefix=f"{doc_type}#"),
            sk=KeyPart.parse(e.get("sk"), f"{w}.sk") if keyed else None,
            columns=columns, id_column=_ident(id_column, f"{w}.id_column") if id_column else None, refs=refs,
            id_field=id_field, references=references, children=children,
        ))
    types = [e.doc_type for e in out]
    tables = [e.table for e in out] + [c.table for e in out for c in e.children]
    _need(len(set(tables)) == len(tables), where, f"two entities or child tables share a table in {tables}")
    names = [e.name for e in out] + [c.name for e in out for c in e.children]
    _need(len(set(names)) == len(names), where, f"entities and children need names of their own (the counts, the "
          f"reconciliation and the assets go by name), got {names}")
    _need(len(set(types)) == len(types), where, "two entities share a `type`")
    _need(len({e.id_field is None for e in out}) == 1, where,
          "either every entity is keyed by PK/SK or every one by its `id_field`, not both")
    for e in out:
        for r in e.refs:
            _need(not next(x for x in out if x.name == r.entity).is_relationship, w,
                  f"{e.name}.{r.column} must reference an entity, not a relationship")
    return tuple(out)


def _entity_named(value: Any, entities: dict[str, Any], at: str) -> str:
    """`value`, the name of an entity of the spec (not a relationship): what a reference or a junction names."""
    _need(value in entities and not (entities[value] or {}).get("refs"), at,
          f"unknown entity {value!r} (a reference names an entity, not a relationship)")
    return value


def _references(raw: Any, w: str, entities: dict[str, Any]) -> tuple[ReferenceSpec, ...]:
    """`references: {column: {entity: E, from: field}}`: uuid columns naming another entity by its id."""
    out = []
    for col, r in (raw or {}).items():
        at = f"{w}.references.{col}"
        _need(isinstance(r, dict) and set(r) == {"entity", "from"}, at, "must be {entity: ..., from: <field>}")
        out.append(ReferenceSpec(_ident(col, at), _entity_named(r["entity"], entities, at),
                                 _str(r["from"], f"{at}.from")))
    return tuple(out)


def _children(raw: Any, w: str, entities: dict[str, Any], parent: str) -> tuple[ChildSpec, ...]:
    """`children: {name: {table, from, parent_column, columns | element: {column, entity}}}`."""
    _need(raw is None or isinstance(raw, dict), f"{w}.children", "must map child names to their definitions")
    out = []
    for name, c in (raw or {}).items():
        at = f"{w}.children.{name}"
        _need(isinstance(c, dict), at, "must be a mapping")
        unknown = set(c) - {"table", "from", "parent_column", "columns", "element"}
        _need(not unknown, at, f"unknown keys {sorted(unknown)}")
        parent_column = _ident(c.get("parent_column"), f"{at}.parent_column")
        element = c.get("element")
        _need((element is None) != (c.get("columns") is None), at,
              "give `columns` (an array of objects) or `element` (an array of ids), not both")
        columns: tuple[ColumnSpec, ...] = ()
        element_column = element_entity = None
        if element is not None:
            _need(isinstance(element, dict) and set(element) == {"column", "entity"}, f"{at}.element",
                  "must be {column: ..., entity: ...}")
            element_column = _ident(element["column"], f"{at}.element.column")
            element_entity = _entity_named(element["entity"], entities, f"{at}.element.entity")
        else:
            _need(isinstance(c["columns"], dict) and c["columns"], f"{at}.columns", "must map columns")
            columns = tuple(ColumnSpec.parse(k, v, f"{at}.columns.{k}") for k, v in c["columns"].items())
        names = [parent_column, element_column or ChildSpec.POSITION, *(col.name for col in columns)]
        _need(len(set(names)) == len(names), at, f"two columns share a name in {names}")
        out.append(ChildSpec(_ident(name, at), _ident(c.get("table"), f"{at}.table"), parent,
                             _str(c.get("from"), f"{at}.from"), parent_column, columns, element_column,
                             element_entity))
    return tuple(out)


def _shape(source: dict[str, Any], w: str, entities: tuple[EntitySpec, ...]) -> DocumentShape:
    """`source.discriminator` (default `type`; null: the key shapes tell the type) and `source.key_fields`."""
    discriminator = source.get("discriminator", "type")
    if discriminator is not None:
        _str(discriminator, f"{w}.discriminator")
    keys = _strs(source.get("key_fields", ["PK", "SK"]), f"{w}.key_fields")
    _need(len(keys) == 2 and keys[0] != keys[1], f"{w}.key_fields", f"must name two fields (PK, SK), got {list(keys)}")
    _need(discriminator not in keys, f"{w}.discriminator", "must not be one of the key fields")
    if discriminator is None and entities[0].id_field is not None:
        _need(len(entities) == 1, f"{w}.discriminator", "is null, so the documents hold one entity type; the "
              f"entities are {[e.name for e in entities]}: name the field that tells them apart")
    elif discriminator is None:
        for i, a in enumerate(entities):
            for b in entities[i + 1:]:
                assert a.sk is not None and b.sk is not None
                _need(not (a.pk.overlaps(b.pk) and a.sk.overlaps(b.sk)), f"{w}.discriminator",
                      f"is null, so the keys alone must tell the types apart, but {a.name} and {b.name} can have "
                      f"the same {keys[0]} and {keys[1]}")
    return DocumentShape(discriminator, keys[0], keys[1])


_VALIDATION_KEYS = {"sample_size", "max_reject_ratio", "min_documents"}


def _thresholds(validation: dict[str, Any], w: str) -> dict[str, Any]:
    """When a run fails however well the rest reconciles: too many rejects, too few source records."""
    ratio = _float(validation.get("max_reject_ratio", 0.05), f"{w}: validation.max_reject_ratio")
    _need(0 <= ratio <= 1, f"{w}: validation.max_reject_ratio", f"must be in [0, 1], got {ratio}")
    return {"max_reject_ratio": ratio,
            "min_documents": _int(validation.get("min_documents", 1), f"{w}: validation.min_documents", minimum=0)}


_COMMON_KEYS = {"dag_id", "kind", "owner", "tags", "retries", "description", "schedule", "start_date", "incremental"}


def _incremental(raw: dict[str, Any], w: str, default: Incremental) -> Incremental:
    """`schedule` (a preset or a five-field cron), `start_date` (optional: the DAG's, where it has one) and
    `incremental`."""
    section = _section(raw, "incremental", f"{w}:", {"field", "table"})
    schedule = raw.get("schedule")
    if schedule is not None:
        _need(isinstance(schedule, str) and (schedule in SCHEDULE_PRESETS or bool(_CRON.match(schedule))),
              f"{w}: schedule", f"must be one of {SCHEDULE_PRESETS} or a five-field cron, got {schedule!r}")
    start = raw.get("start_date")
    if start is not None:
        from transforms.intervals import WindowError, parse_instant

        try:
            start = parse_instant(start, "start_date")
        except WindowError as err:
            raise SpecError(f"{w}: start_date: {err}") from None
    return Incremental(schedule=schedule, start_date=start,
                       field=_str(section.get("field", default.field), f"{w}: incremental.field"),
                       table=section.get("table", default.table))


def _common(raw: dict[str, Any], w: str, sections: set[str], incremental: Incremental = Incremental()
            ) -> dict[str, Any]:
    """dag_id, owner, tags, retries, description, schedule and interval field, checked; unknown top-level keys
    refused."""
    unknown = set(raw) - _COMMON_KEYS - sections
    _need(not unknown, w, f"unknown top-level keys {sorted(unknown)}; known: {sorted(_COMMON_KEYS | sections)}")
    return {"dag_id": raw["dag_id"], "owner": raw["owner"],
            "description": str(raw.get("description") or "").strip(),
            "tags": _strs(raw.get("tags", []), f"{w}: tags"),
            "retries": _int(raw.get("retries", 2), f"{w}: retries", minimum=0),
            "incremental": _incremental(raw, w, incremental)}


def _mongo_to_dsql(raw: dict[str, Any], path: Path) -> MongoToDsqlSpec:
    w = path.name
    common = _common(raw, w, {"source", "target", "compute", "write", "validation", "entities"})
    source = _section(raw, "source", f"{w}:", {"uri", "database", "collection", "secret_arn", "local_uri",
                                               "max_nesting_depth", "discriminator", "key_fields"})
    target = _section(raw, "target", f"{w}:", {"conn_id", "schema", "ddl_dir"})
    compute = _section(raw, "compute", f"{w}:", {"staging_uri", "quarantine_uri", "emr"})
    write = _section(raw, "write", f"{w}:", {"batch_rows", "batch_bytes", "max_row_bytes", "max_column_bytes"})
    validation = _section(raw, "validation", f"{w}:", _VALIDATION_KEYS)
    emr = _section(compute, "emr", f"{w}: compute", {"cluster_id", "release_label", "instance_type",
                                                      "core_instance_count", "log_uri", "job_flow_role",
                                                      "service_role", "packages"})
    batch_rows = _int(write.get("batch_rows", 1000), f"{w}: write.batch_rows")
    batch_bytes = _int(write.get("batch_bytes", 8 * 1024 * 1024), f"{w}: write.batch_bytes")
    _need(0 < batch_rows <= DSQL_MAX_TXN_ROWS, f"{w}: write.batch_rows",
          f"must be 1..{DSQL_MAX_TXN_ROWS} (DSQL's limit)")
    _need(0 < batch_bytes <= DSQL_MAX_TXN_BYTES, f"{w}: write.batch_bytes", f"must be 1..{DSQL_MAX_TXN_BYTES} (10 MiB)")
    max_row = _int(write.get("max_row_bytes", DSQL_MAX_ROW_BYTES), f"{w}: write.max_row_bytes", minimum=1)
    _need(max_row <= min(batch_bytes, DSQL_MAX_ROW_BYTES), f"{w}: write.max_row_bytes",
          f"must be at most write.batch_bytes and DSQL's {DSQL_MAX_ROW_BYTES} (2 MiB)")
    max_column = _int(write.get("max_column_bytes", DSQL_MAX_COLUMN_BYTES), f"{w}: write.max_column_bytes",
                      minimum=1)
    _need(max_column <= min(max_row, DSQL_MAX_COLUMN_BYTES), f"{w}: write.max_column_bytes",
          f"must be at most write.max_row_bytes and DSQL's {DSQL_MAX_COLUMN_BYTES} (1 MiB)")
    for key in ("uri", "database", "collection", "local_uri"):
        _need(isinstance(source.get(key), str) and source[key], f"{w}: source.{key}", "is required")
    for key in ("conn_id", "schema", "ddl_dir"):
        _need(isinstance(target.get(key), str) and target[key], f"{w}: target.{key}", "is required")
    for key in ("staging_uri", "quarantine_uri"):
        _need(isinstance(compute.get(key), str) and compute[key], f"{w}: compute.{key}", "is required")
    _need(emr.get("cluster_id") or emr.get("release_label"), f"{w}: compute.emr",
          "needs `cluster_id` (existing cluster) or `release_label` (transient cluster)")
    entities = _entities(raw.get("entities"), f"{w}: entities")
    shape = _shape(source, f"{w}: source", entities)
    return MongoToDsqlSpec(
        **common, source_uri=source["uri"], source_database=source["database"], source_collection=source["collection"],
        source_secret_arn=source.get("secret_arn"), local_source_uri=source["local_uri"],
        target_conn_id=target["conn_id"], target_schema=_ident(target["schema"], f"{w}: target.schema"),
        ddl_dir=target["ddl_dir"], staging_uri=compute["staging_uri"].rstrip("/"),
        quarantine_uri=compute["quarantine_uri"].rstrip("/"),
        emr=EmrCompute(
            cluster_id=emr.get("cluster_id"), release_label=str(emr.get("release_label", "emr-7.5.0")),
            instance_type=str(emr.get("instance_type", "m6g.xlarge")),
            core_instance_count=_int(emr.get("core_instance_count", 2), f"{w}: compute.emr.core_instance_count",
                                     minimum=1), log_uri=emr.get("log_uri"),
            job_flow_role=str(emr.get("job_flow_role", "EMR_EC2_DefaultRole")),
            service_role=str(emr.get("service_role", "EMR_DefaultRole")),
            packages=_strs(emr.get("packages", []), f"{w}: compute.emr.packages"),
        ),
        batch_rows=batch_rows, batch_bytes=batch_bytes,
        sample_size=_int(validation.get("sample_size", 200), f"{w}: validation.sample_size", minimum=0),
        entities=entities, shape=shape,
        max_nesting_depth=_int(source.get("max_nesting_depth", MAX_NESTING_DEPTH), f"{w}: source.max_nesting_depth",
                               minimum=1),
        max_row_bytes=max_row, max_column_bytes=max_column, **_thresholds(validation, w), path=path,
    )


ITEM_SETS = ("ticket_sales", "config")


def _sqlserver_to_dynamodb(raw: dict[str, Any], path: Path) -> SqlServerToDynamoDbSpec:
    from transforms.dynamodb_tables import TableSpec

    w = path.name
    common = _common(raw, w, {"source", "glue", "compute", "write", "validation", "jobs", "targets"},
                     SqlServerToDynamoDbSpec.incremental)
    # intervals cut the purchase history by transaction time; the items of tickets and config are state
    inc, default = common["incremental"], SqlServerToDynamoDbSpec.incremental
    _need((inc.field, inc.table) == (default.field, default.table), f"{w}: incremental",
          f"a sqlserver_to_dynamodb migration cuts intervals on {default.table}.{default.field} only, "
          f"got {inc.table}.{inc.field}")
    source = _section(raw, "source", f"{w}:", {"conn_id", "schema", "local_schema", "glue_connection",
                                               "crawler_path"})
    glue = _section(raw, "glue", f"{w}:", {"crawler_name", "catalog_database", "catalog_table_prefix", "role",
                                           "glue_version", "worker_type", "number_of_workers"})
    compute = _section(raw, "compute", f"{w}:", {"staging_uri", "quarantine_uri"})
    write = _section(raw, "write", f"{w}:", {"write_units_per_s", "capacity_share", "partitions"})
    validation = _section(raw, "validation", f"{w}:", _VALIDATION_KEYS)
    for key in ("conn_id", "schema", "local_schema", "glue_connection", "crawler_path"):
        _need(isinstance(source.get(key), str) and source[key], f"{w}: source.{key}", "is required")
    for key in ("crawler_name", "catalog_database", "role"):
        _need(isinstance(glue.get(key), str) and glue[key], f"{w}: glue.{key}", "is required")
    _need(isinstance(compute.get("staging_uri"), str), f"{w}: compute.staging_uri", "is required")
    jobs = _strs(raw.get("jobs", []), f"{w}: jobs")
    _need(bool(jobs) and set(jobs) <= set(ITEM_SETS), f"{w}: jobs", f"must list item sets of {ITEM_SETS}")
    targets = raw.get("targets") or {}
    _need(isinstance(targets, dict), f"{w}: targets", "must map each job to its table")
    _need(set(targets) == set(jobs), f"{w}: targets", "must define one table per job")
    for name, table in targets.items():
        try:
            TableSpec.from_dict(table)
        except ValueError as err:
            raise SpecError(f"{w}: targets.{name}: {err}") from err
    share = _float(write.get("capacity_share", 0.5), f"{w}: write.capacity_share")
    _need(0 < share <= 1, f"{w}: write.capacity_share", "must be in (0, 1]")
    return SqlServerToDynamoDbSpec(
        **common, source_conn_id=source["conn_id"], source_schema=_ident(source["schema"], f"{w}: source.schema"),
        local_source_schema=_ident(source["local_schema"], f"{w}: source.local_schema"),
        glue_connection=source["glue_connection"], crawler_path=source["crawler_path"],
        glue=GlueCompute(
            crawler_name=glue["crawler_name"], catalog_database=glue["catalog_database"],
            catalog_table_prefix=str(glue.get("catalog_table_prefix", "")), role=glue["role"],
            glue_version=str(glue.get("glue_version", "5.0")), worker_type=str(glue.get("worker_type", "G.1X")),
            number_of_workers=_int(glue.get("number_of_workers", 10), f"{w}: glue.number_of_workers", minimum=1),
        ),
        staging_uri=compute["staging_uri"].rstrip("/"),
        quarantine_uri=str(compute.get("quarantine_uri") or f"{compute['staging_uri'].rstrip('/')}/quarantine"
                           ).rstrip("/"),
        write_units_per_s=_float(write.get("write_units_per_s", 4000), f"{w}: write.write_units_per_s"),
        capacity_share=share, partitions=_int(write.get("partitions", 8), f"{w}: write.partitions", minimum=1),
        sample_size=_int(validation.get("sample_size", 200), f"{w}: validation.sample_size", minimum=0),
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
    _need(isinstance(raw, dict), path.name, "must be a mapping")
    for key in ("dag_id", "kind", "owner"):
        _need(isinstance(raw.get(key), str) and raw[key], f"{path.name}: {key}", "is required")
    _ident(raw["dag_id"], f"{path.name}: dag_id")
    if path.suffix == ".yaml":
        _need(raw["dag_id"] == path.stem, f"{path.name}: dag_id", f"must be the file's name, {path.stem!r}")
    _need(raw["kind"] in _KINDS, f"{path.name}: kind", f"must be one of {sorted(_KINDS)}")
    return _KINDS[raw["kind"]](raw, path)


def load_specs(spec_dir: str | Path) -> list[Any]:
    """Every spec in `spec_dir`, sorted by file name; dag_ids must be unique."""
    specs = [load_spec(p) for p in sorted(Path(spec_dir).glob("*.yaml"))]
    ids = [s.dag_id for s in specs]
    _need(len(set(ids)) == len(ids), str(spec_dir), f"duplicate dag_id in {ids}")
    return specs
