"""What tables a discovered collection (`transforms.discovery.Findings`) becomes, and their DSQL DDL.

Tables follow the movie migration's conventions, which the Spark job writes: an entity table has a UUID primary
key `<entity>_id` (derived by the job from the source key), `source_id` (the key's id part), one column per
field, and the lineage columns `source_doc_id`, `source_version`, `migration_run_id`, `migrated_at`; a
relationship (junction) table has the two UUIDs as its primary key. No foreign keys (DSQL has none); the
columns joins use get `CREATE INDEX ASYNC`. An array of objects becomes a child table keyed by (parent, position),
an array of another type's ids a junction table, a field holding one such id a uuid column: the job fills all
three (`children` and `references` in the spec). Pure: text and dicts in, text and dicts out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transforms.discovery import Findings
from transforms.discovery_fields import FieldStats, Group

LINEAGE = (("source_doc_id", "text"), ("source_version", "text"), ("migration_run_id", "text"),
           ("migrated_at", "timestamptz"))
SPEC_TO_SQL = {"double": "double precision"}


@dataclass
class Column:
    name: str
    source: str  # dotted source path ("" for key and lineage columns)
    type: str  # spec type: text, int, bigint, double, numeric(p,s), date, timestamptz, json, boolean, uuid
    required: bool = False
    array_of: str | None = None
    reason: str = ""

    @property
    def sql_type(self) -> str:
        return SPEC_TO_SQL.get(self.type, self.type)


@dataclass
class Table:
    name: str
    entity: str
    kind: str  # entity, relationship, child
    columns: list[Column]
    primary_key: tuple[str, ...]
    indexes: list[tuple[str, ...]] = field(default_factory=list)
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # column → (entity, pk|sk)
    documents: int = 0
    array: str = ""  # child and junction tables: the array field of the parent they come from
    by: dict[str, str] = field(default_factory=dict)  # reference column → the natural key it names (not the id)
    key_column: str = ""  # a map keyed by data: the column holding the key
    collection: str = ""  # discovered from several collections: the entity's collection

    @property
    def has_extra(self) -> bool:
        """Whether rows of this table keep their unmapped fields (`_extra`): all but junctions of ids."""
        return not (self.kind == "relationship" and self.array)


def plural(name: str) -> str:
    if name.endswith(("s", "x", "ch", "sh")):
        return f"{name}es"
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return f"{name[:-1]}ies"
    return f"{name}s"


def column_type(stats: FieldStats) -> tuple[str, str | None, str]:
    """(spec type, array element type, reason) for the values one field held."""
    kinds = stats.value_kinds - {"bad"}
    if not kinds:
        return "text", None, "only nulls seen: text until values show otherwise"
    if kinds == {"bool"}:
        return "boolean", None, "booleans"
    if kinds == {"int"}:
        big = (stats.int_min or 0) < -(2**31) or (stats.int_max or 0) >= 2**31
        return ("bigint", None, "integers beyond 32 bits") if big else ("int", None, "integers within 32 bits")
    if kinds <= {"int", "float", "decimal"}:
        if stats.max_scale and stats.max_scale <= 6 and stats.max_precision <= 18:
            digits = max(stats.max_precision, len(str(abs(stats.int_max or 0))) + stats.max_scale)
            return f"numeric({min(38, digits + 2)},{stats.max_scale})", None, (
                f"decimals with at most {stats.max_scale} digits after the point")
        return "double", None, "floating-point numbers"
    # The types below are those the job's conversion (`transforms.adjacency.convert`) takes every value of: it
    # reads timestamps from `$date` values only and text from strings only, so anything else is kept as json.
    date_values = stats.kinds["date"] + stats.kinds["datetime"]
    if kinds == {"date"}:
        return "date", None, "ISO dates (YYYY-MM-DD)"
    if kinds == {"datetime"} and not stats.dates_as_text and stats.midnights == date_values:
        return "date", None, "timestamps that are all midnight UTC: dates"
    if kinds <= {"date", "datetime"} and not stats.dates_as_text:
        return "timestamptz", None, "timestamps"
    if kinds == {"array"}:
        elements = set(stats.element_kinds) - {"null"}
        scalar = _scalar_type(elements)
        if scalar:
            return "json", scalar, f"arrays of {scalar} values: a json array (DSQL has no array columns)"
        return "json", None, "arrays of mixed or nested values: kept whole as json"
    if kinds == {"object"}:
        return "json", None, "an object kept whole"
    if kinds <= {"string", "objectid", "date", "datetime"} and stats.dates_as_text == date_values:
        return "text", None, "strings" + (" (some read as ISO dates or timestamps: text keeps them as written)"
                                          if date_values else "")
    return "json", None, (f"mixed kinds {sorted(kinds)}: json keeps every value as written (a typed column "
                          "would reject the values of the other kinds)")


def _scalar_type(kinds: set[str]) -> str | None:
    if kinds == {"int"}:
        return "bigint"
    if kinds <= {"string", "objectid"} and kinds:
        return "text"
    if kinds == {"bool"}:
        return "boolean"
    if kinds <= {"int", "float", "decimal"} and kinds:
        return "double"
    return None


FLATTEN_DEPTH = 3  # nested objects become columns down to this depth (`a.b.c` → `a_b_c`); deeper, a json column


def _columns(group: Group, taken: set[str], skip: frozenset[str] = frozenset()) -> list[Column]:
    """One column per field of the group: objects flattened to their fields down to `FLATTEN_DEPTH` levels (an
    object at that depth is one json column), `_id` left to lineage, `skip` (reference, child and map fields)
    left to the caller; a nested field's column is named for its whole path."""
    out: list[Column] = []
    paths = sorted(group.fields)
    flattened = {p for p in paths if group.fields[p].value_kinds == {"object"} and p.count(".") + 1 < FLATTEN_DEPTH
                 and any(q.startswith(f"{p}.") for q in paths)}
    for path in paths:
        stats = group.fields[path]
        if path == "_id" or path in flattened or path.split(".")[0] in group.keys or path in skip:
            continue
        if any(path.startswith(f"{p}.") for p in skip):
            continue  # inside a child table's or map's field
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        if parent and parent not in flattened:
            continue  # inside an object kept whole as json (deeper than FLATTEN_DEPTH, or of mixed kinds)
        name = column_name(path.replace(".", "_"))
        if name in taken:
            name = column_name(f"{name}_value")
        taken.add(name)
        type_, array_of, reason = column_type(stats)
        required = stats.present == group.documents and stats.nulls == 0
        out.append(Column(name, path, type_, required, array_of, reason))
    return out


# PostgreSQL's reserved key words (those no column may be named without quotes): a field named so gets `_value`.
RESERVED = frozenset("""all analyse analyze and any array as asc asymmetric authorization binary both case cast check
collate collation column concurrently constraint create cross current_catalog current_date current_role current_schema
current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch for
foreign freeze from full grant group having ilike in initially inner intersect into is isnull join lateral leading
left like limit localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing
primary references returning right select session_user similar some symmetric system_user table tablesample then to
trailing true union unique user using variadic verbose when where window with""".split())


def column_name(name: str) -> str:
    import re

    text = re.sub(r"[^a-z0-9_]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()).strip("_")
    text = text if text and not text[0].isdigit() else f"f_{text}"
    return f"{text}_value" if text in RESERVED else text


def plan_tables(findings: Findings) -> list[Table]:
    """The tables the findings call for, entities first, then relationships, then child tables."""
    rel_of = {r.group: r for r in findings.relationships}
    refs_of: dict[str, list[Any]] = {}
    for ref in findings.references:
        refs_of.setdefault(ref.group, []).append(ref)
    tables: list[Table] = []
    for g in findings.groups.values():
        if g.name in rel_of:
            continue
        id_col = f"{g.name}_id"
        cols = [Column(id_col, "", "uuid", True, reason="derived from the source key (UUIDv5)"),
                Column("source_id", "", "text", True, reason="the id part of the source key")]
        indexes: list[tuple[str, ...]] = []
        refs: dict[str, tuple[str, str]] = {}
        by: dict[str, str] = {}
        for ref in refs_of.get(g.name, []):
            if ref.many:
                continue
            col = column_name(f"{ref.field}_{ref.target}_id" if ref.by else f"{ref.target}_id")
            if col in {c.name for c in cols} or ref.target == g.name:
                col = column_name(f"{ref.field}_ref")
            stats = g.fields[ref.field]
            what = f"`{ref.target}.{ref.by}` values" if ref.by else f"{ref.target} ids"
            cols.append(Column(col, ref.field, "uuid", stats.present == g.documents and stats.nulls == 0,
                               reason=f"`{ref.field}` holds {what} ({ref.matched}/{ref.values}): the "
                                      f"{ref.target}'s UUID, indexed for joins"))
            indexes.append((col,))
            refs[col] = (ref.target, ref.field)
            if ref.by:
                by[col] = ref.by
        cols += _columns(g, {c.name for c in cols} | {n for n, _ in LINEAGE} | {"_extra"},
                         frozenset([*(r.field for r in refs_of.get(g.name, [])), *g.children, *g.maps]))
        tables.append(Table(plural(g.name), g.name, "entity", cols, (id_col,), [*indexes, ("migration_run_id",)],
                            refs, documents=g.documents, by=by, collection=g.collection or ""))
    for ref in findings.references:
        if not ref.many:
            continue
        a, b = f"{ref.group}_id", f"{ref.target}_id"
        if a == b:
            b = f"other_{b}"
        what = f"`{ref.target}.{ref.by}` value" if ref.by else f"{ref.target}"
        cols = [Column(a, "", "uuid", True, reason=f"the {ref.group} holding the array `{ref.field}`"),
                Column(b, "", "uuid", True, reason=f"a {what} the array names")]
        name = f"{ref.group}_{plural(ref.target)}"
        if any(t.name == name for t in tables) or name in {plural(x) for x in findings.groups}:
            name = column_name(f"{ref.group}_{ref.field}")
        tables.append(Table(name, ref.group, "relationship", cols, (a, b),
                            [(b,)], {a: (ref.group, "_id"), b: (ref.target, ref.field)},
                            findings.groups[ref.group].documents, array=ref.field,
                            by={b: ref.by} if ref.by else {}))
    for rel in findings.relationships:
        g = findings.groups[rel.group]
        a, b = f"{rel.pk_entity}_id", f"{rel.sk_entity}_id"
        if a == b:
            b = f"other_{b}"
        cols = [Column(a, "", "uuid", True, reason=f"the {rel.pk_entity} named by the PK"),
                Column(b, "", "uuid", True, reason=f"the {rel.sk_entity} named by the SK")]
        cols += _columns(g, {a, b} | {n for n, _ in LINEAGE})
        tables.append(Table(plural(g.name), g.name, "relationship", cols, (a, b), [(b,), ("migration_run_id",)],
                            {a: (rel.pk_entity, "pk"), b: (rel.sk_entity, "sk")}, g.documents))
    for g in findings.groups.values():
        for path, fields in sorted(g.children.items()):
            parent = f"{g.name}_id"
            name = column_name(f"{g.name}_{path.replace('.', '_')}")
            cols = [Column(parent, "", "uuid", True, reason=f"the {g.name} holding the array"),
                    Column("position", "", "int", True, reason="the element's index in the array")]
            members = FieldGroup(fields, max((s.present for s in fields.values()), default=0))
            cols += _columns(members, {parent, "position", "_extra"} | {n for n, _ in LINEAGE})
            tables.append(Table(name, g.name, "child", cols, (parent, "position"), [], documents=g.documents,
                                array=path))
        for path, fields in sorted(g.maps.items()):
            parent = f"{g.name}_id"
            name = column_name(f"{g.name}_{path.replace('.', '_')}")
            key = column_name(f"{path.rsplit('.', 1)[-1]}_key")
            cols = [Column(parent, "", "uuid", True, reason=f"the {g.name} holding the map"),
                    Column(key, "", "text", True, reason=f"the key of the entry in `{path}` (data, not a field name)")]
            members = FieldGroup(fields, g.map_keys.get(path, 0))
            cols += _columns(members, {parent, key, "_extra"} | {n for n, _ in LINEAGE})
            tables.append(Table(name, g.name, "child", cols, (parent, key), [], documents=g.documents, array=path,
                                key_column=key))
    return tables


class FieldGroup(Group):
    """The fields of an array's elements, shaped like a group so `_columns` can type them."""

    def __init__(self, fields: dict[str, FieldStats], documents: int) -> None:
        super().__init__("elements", None, documents, dict(fields))


def table_ddl(schema: str, table: Table) -> str:
    lines = [f"    {c.name} {c.sql_type}{' NOT NULL' if c.required and c.name not in table.primary_key else ''}"
             for c in table.columns]
    if table.has_extra:
        lines.append("    _extra json")
    lines += [f"    {name} {type_}" for name, type_ in LINEAGE]
    if len(table.primary_key) == 1:
        lines[0] = lines[0].replace(f"{table.primary_key[0]} uuid", f"{table.primary_key[0]} uuid PRIMARY KEY")
    else:
        lines.append(f"    PRIMARY KEY ({', '.join(table.primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table.name} (\n" + ",\n".join(lines) + "\n);\n"


def ddl_files(schema: str, tables: list[Table], templates: dict[str, str]) -> dict[str, str]:
    """File name → SQL, in the order the deployer applies them. `templates`: the project's own lock, pending
    and load-log DDL (file name → text with `movie_db` as the schema), carried over to the new schema."""
    files = {"001_schema.sql": f"-- Written by `bin/dbmigrate discover`.\nCREATE SCHEMA IF NOT EXISTS {schema};\n"}
    for i, t in enumerate(tables, 1):
        note = {"entity": f"-- One row per `{t.entity}` document ({t.documents} in the sample).",
                "relationship": f"-- {t.entity}: the links between {' and '.join(e for e, _ in t.refs.values())} "
                                f"({t.documents} in the sample). No foreign keys in DSQL: validation checks both ends.",
                "child": f"-- The elements of the array `{t.array}` of `{t.entity}` documents, written with their "
                         "parent (a new version of the parent replaces them)."}[t.kind]
        files[f"{10 * i:03d}_{t.name}.sql"] = f"{note}\n{table_ddl(schema, t)}"
    index_lines = ["-- DSQL builds indexes only asynchronously (progress in sys.jobs)."]
    for t in tables:
        for cols in t.indexes:
            index_lines.append(f"CREATE INDEX ASYNC IF NOT EXISTS {t.name}_{'_'.join(cols)}_idx "
                               f"ON {schema}.{t.name} ({', '.join(cols)});")
    files[f"{10 * (len(tables) + 1):03d}_indexes.sql"] = "\n".join(index_lines) + "\n"
    for name, text in sorted(templates.items()):
        files[name] = text.replace("movie_db.", f"{schema}.")
    return files
