"""Turn `transforms.discovery.Findings` and their tables (`transforms.discovery_tables`) into the migration spec's
entities and the discovery report. Pure: text and dicts in, text and dicts out; the `discover` command
(`cli.discover`) writes them.
"""

from __future__ import annotations

from typing import Any

from transforms.discovery import Findings
from transforms.discovery_tables import FLATTEN_DEPTH, Table, column_name

RARE = 0.05  # a field in fewer documents of its type is reported as rare


def spec_gap(findings: Findings, tables: list[Table]) -> str | None:
    """Why the job cannot migrate these tables (no spec is written then), or None when it can. (References by
    `_id` are only looked for without key fields: the job names an adjacency-list entity by its key's id.)"""
    entities = {t.entity for t in tables if t.kind == "entity"}
    adjacency = len(findings.key_fields) >= 2
    gaps = [f"{t.name} (an array of {t.entity}, which is a relationship)" for t in tables
            if t.array and t.entity not in entities]
    if gaps:
        return ("the Spark job cannot fill " + ", ".join(gaps) + "; the DDL and this report are written for "
                "review, the spec is not")
    if not adjacency and findings.discriminator is None and len(entities) > 1 and not findings.collections:
        return "several entity types but no discriminator field to tell them apart"
    return None


def spec_entities(findings: Findings, tables: list[Table]) -> dict[str, Any]:
    """The spec's `entities` section (what the Spark job maps), for entity and relationship tables."""
    keys = list(findings.key_fields)
    out: dict[str, Any] = {}
    for t in tables:
        if t.array:  # a child or junction table: filled from its parent's array, below
            continue
        g = findings.groups[t.entity]
        entry: dict[str, Any] = {"table": t.name, "type": g.type_value or t.entity}
        if t.collection:
            entry["collection"] = t.collection
        if len(keys) >= 2:
            entry["pk"], entry["sk"] = g.keys[keys[0]].as_spec(), g.keys[keys[1]].as_spec()
        if t.kind == "entity":
            if len(keys) < 2:
                entry["id_field"] = "_id"
            entry["id_column"] = t.primary_key[0]
        else:
            entry["refs"] = {col: {"entity": entity, "from": part} for col, (entity, part) in t.refs.items()}
        entry["columns"] = _spec_columns(c for c in t.columns if c.source and c.name not in t.refs)
        if t.kind == "entity" and t.refs:
            entry["references"] = {col: {"entity": entity, "from": field, **({"by": t.by[col]} if col in t.by else {})}
                                   for col, (entity, field) in t.refs.items()}
        out[t.entity] = entry
    for t in tables:
        if not t.array:
            continue
        parent, position_or_element = t.primary_key
        child: dict[str, Any] = {"table": t.name, "from": t.array, "parent_column": parent}
        if t.key_column:
            child["key_column"] = t.key_column
        if t.kind == "child":
            child["columns"] = _spec_columns(c for c in t.columns if c.source)
        else:
            child["element"] = {"column": position_or_element, "entity": t.refs[position_or_element][0],
                                **({"by": t.by[position_or_element]} if position_or_element in t.by else {})}
        name = column_name(t.array)
        out[t.entity].setdefault("children", {})[name if name not in out else f"{t.entity}_{name}"] = child
    return out


def _spec_columns(columns: Any) -> dict[str, Any]:
    return {c.name: {"from": c.source, "type": c.type, **({"required": True} if c.required else {}),
                     **({"array_of": c.array_of} if c.array_of else {})} for c in columns}


def _share(n: int, of: int) -> str:
    return f"{n / of:.0%}" if of else "-"


def report_markdown(findings: Findings, tables: list[Table], *, source: str, dag_id: str, sampled: int) -> str:
    """What was found, with its evidence, and every choice with its reason, for a person to review."""
    lines = [f"# Discovery: {dag_id}", "", f"Source `{source}`, {sampled:,} documents sampled.", ""]
    d = findings.discriminator
    lines += ["## Entity types", ""]
    if d:
        lines += [f"Discriminator `{d.field}` ({d.coverage:.0%} of the documents): {d.reason}.", ""]
    elif findings.collections:
        lines += ["Several collections, one entity type each: " + ", ".join(
            f"`{c}` → `{e}`" for e, c in sorted(findings.collections.items())) + ".", ""]
    else:
        lines += ["No discriminator field: " + ("types come from the key prefixes." if findings.key_fields
                                                else "the collection holds one entity type."), ""]
    if findings.key_fields:
        lines += ["Key fields: " + "; ".join(f"`{k}` ({', '.join(f'{p} ×{n}' for p, n in v.items())})"
                                           for k, v in findings.key_fields.items()), ""]
    lines += ["| type | documents | share | table | kind | keys |", "|---|---|---|---|---|---|"]
    for t in tables:
        g = findings.groups[t.entity]
        keys = ", ".join(f"{k}: {p.prefix or p.equals} ({p.coverage:.0%})" for k, p in g.keys.items())
        lines.append(f"| {g.type_value or g.name} | {g.documents:,} | {_share(g.documents, findings.documents)} | "
                     f"`{t.name}` | {t.kind} | {keys or '-'} |")
    lines += ["", "## Tables", ""]
    for t in tables:
        lines += [f"### `{t.name}` ({t.kind}, primary key {', '.join(t.primary_key)})", "",
                  "| column | type | from | present | null | why |", "|---|---|---|---|---|---|"]
        g = findings.groups[t.entity]
        fields = ((g.maps if t.key_column else g.children).get(t.array, {}) if t.kind == "child" else g.fields)
        for c in t.columns:
            s = fields.get(c.source) if c.source else None
            present = _share(s.present, g.documents) if s and t.kind != "child" else "-"
            nulls = f"{s.nulls:,}" if s else "-"
            type_ = c.sql_type + (f" (array of {c.array_of})" if c.array_of else "")
            lines.append(f"| {c.name} | {type_}{' NOT NULL' if c.required else ''} | {c.source or '-'} | {present} | "
                         f"{nulls} | {c.reason} |")
        if t.has_extra:
            lines.append("| _extra | json | (unmapped) | - | - | the fields the spec maps nowhere (a field that "
                         "appears after discovery), kept: `unmapped: keep` |")
        lines.append("")
    anomalies = list(findings.anomalies)
    for g in findings.groups.values():
        for path, s in sorted(g.fields.items()):
            kinds = s.value_kinds
            if len(kinds - {"int", "float", "decimal"}) > 1 or ("string" in kinds and len(kinds) > 1):
                anomalies.append(f"`{g.name}.{path}` holds mixed kinds {dict(sorted(s.kinds.items()))}")
            if "bad" in kinds:
                anomalies.append(f"`{g.name}.{path}`: {s.kinds['bad']} unreadable Extended JSON value(s)")
            if g.documents and s.present / g.documents < RARE:
                anomalies.append(f"`{g.name}.{path}` is rare: {s.present} of {g.documents} documents")
    lines += ["## Anomalies", ""] + ([f"- {a}" for a in anomalies] or ["- none in the sample"]) + [""]
    lines += ["## Choices", ""] + [f"- **{c}**: {why}" for c, why in findings.choices]
    lines += [f"- **Nested objects** flatten into columns down to {FLATTEN_DEPTH} levels (`a.b.c` → `a_b_c`); an "
              "object deeper than that is one json column.",
              "- **Arrays of scalars** are json columns (DSQL has no array columns) unless their values name another "
              "entity (then a junction table); **arrays of objects** and **maps keyed by data** are child tables.",
              "- **Nothing unmapped is lost**: `unmapped: keep` keeps every field the spec does not map in the row's "
              "`_extra` json column (`fail` makes a run fail naming such fields instead); each run counts them and "
              "proves, path by path, that every source value is in the target (value conservation).",
              "- **UUID primary keys** derived from the source keys (UUIDv5, as the job derives them), the source "
              "id kept in `source_id`: reruns write the same keys.",
              "- **No foreign keys** (DSQL has none); `CREATE INDEX ASYNC` on the columns joins use.", ""]
    return "\n".join(lines)
