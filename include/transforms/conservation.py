"""Value conservation: prove that no source value was left behind, path by path, without the mapping code.

The source side folds every document into counts by path (`transforms.paths`); the target side folds what the
tables hold (columns, json texts, `_extra`) into the same paths, from a description of where the spec puts each
value (`holders`). Reading the spec, never `transforms.adjacency`, keeps the check independent of the mapper it
checks: a mapper that drops a field cannot hide it here. Pure Python; the caller runs `target_sql` and feeds the
values (or counts) back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from transforms.entity_spec import EXTRA_COLUMN, ChildSpec, EntitySpec
from transforms.identifiers import quoted
from transforms.paths import ARRAY, DATA_KEY, distinct_leaf_counts, leaf_counts
from transforms.spec import MongoToDsqlSpec

KINDS = ("rows", "value", "json", "extra", "distinct")
_COUNTED = ("rows", "value", "distinct")  # a number of rows or of non-null values: no need to fetch the values


@dataclass(frozen=True)
class Holder:
    """A column of a target table that holds source values of one path of one entity, and how to count them:
    `rows` (a key, one per row), `value` (a scalar column, one per non-null value), `json` (a subtree as JSON text),
    `extra` (the unmapped fields, JSON text, `path` their prefix: '' on entity tables), `distinct` (junction rows,
    one per distinct id of a document)."""

    entity: str
    table: str
    column: str
    path: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"holder kind must be one of {KINDS}, got {self.kind!r}")


def _key_holders(spec: MongoToDsqlSpec, e: EntitySpec) -> list[Holder]:
    """The key fields: every row holds one of each (in a column, or by being the row of its document)."""
    shape, by_ref = spec.shape, {r.key: r.column for r in e.refs}
    row_key = e.id_column or e.refs[0].column
    keys = [("_id", "source_doc_id"), *([(shape.discriminator, row_key)] if shape.discriminator else []),
            *([(shape.pk_field, by_ref.get("pk", row_key)), (shape.sk_field, by_ref.get("sk", row_key))]
              if e.id_field is None else [(e.id_field, "source_id")])]
    return [Holder(e.name, e.table, column, path, "rows") for path, column in keys]


def _child_holders(e: EntitySpec, c: ChildSpec) -> list[Holder]:
    if c.element_entity is not None:
        return [Holder(e.name, c.table, str(c.element_column), f"{c.source}{ARRAY}", "distinct")]
    base = f"{c.source}.{DATA_KEY}" if c.key_column else f"{c.source}{ARRAY}"
    return [*(Holder(e.name, c.table, col.name, f"{base}.{col.source}", "json" if col.type == "json" else "value")
              for col in c.columns), Holder(e.name, c.table, EXTRA_COLUMN, base, "extra")]


def holders(spec: MongoToDsqlSpec) -> list[Holder]:
    """Every place a value of each entity can land: its keys, columns, references, `_extra` and child tables. A
    path held twice (a key also mapped as a column) is counted once, where it is named first."""
    out: list[Holder] = []
    seen: set[tuple[str, str]] = set()
    for e in spec.entities:
        candidates = [
            *_key_holders(spec, e),
            *(Holder(e.name, e.table, c.name, c.source, "json" if c.type == "json" else "value") for c in e.columns),
            *(Holder(e.name, e.table, r.column, r.source, "value") for r in e.references),
            Holder(e.name, e.table, EXTRA_COLUMN, "", "extra"),
            *(h for c in e.children for h in _child_holders(e, c)),
        ]
        for h in candidates:
            if h.kind == "extra" or (h.entity, h.path) not in seen:
                seen.add((h.entity, h.path))
                out.append(h)
    return out


def _map_sources(e: EntitySpec) -> frozenset[str]:
    """The maps the spec reads as child tables: every key of theirs is data, whatever it looks like."""
    return frozenset(c.source for c in e.children if c.key_column)


def _junction_paths(e: EntitySpec) -> frozenset[str]:
    return frozenset(f"{c.source}{ARRAY}" for c in e.children if c.element_entity is not None)


def source_counts(spec: MongoToDsqlSpec, entity: str, doc: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """(every non-null leaf, distinct leaves) by folded path of one decoded document of `entity`."""
    keys = _map_sources(spec.entity(entity))
    return leaf_counts(doc, data_keys=keys), distinct_leaf_counts(doc, data_keys=keys)


def held_counts(spec: MongoToDsqlSpec, entity: str, counts: Counter[str], distinct: Counter[str]) -> Counter[str]:
    """What the target should hold of `counts`: all values, but on junction paths the distinct ones (a repeated id
    is one link row). The rule `compare` applies to the source; build quarantined and superseded counts with it."""
    junctions = _junction_paths(spec.entity(entity))
    out = Counter({p: n for p, n in counts.items() if p not in junctions})
    out.update({p: n for p, n in distinct.items() if p in junctions})
    return out


def target_count_from_number(holder: Holder, n: int) -> Counter[str]:
    """The path a counted holder (`rows`, `value`, `distinct`) accounts for, from the number `target_sql` gave."""
    if holder.kind not in _COUNTED:
        raise ValueError(f"{holder.table}.{holder.column} holds {holder.kind} values: pass them to target_counts")
    return Counter({holder.path: n}) if n else Counter()


def target_counts(holder: Holder, values: Iterable[Any]) -> Counter[str]:
    """The paths the non-null `values` of the holder's column account for: JSON texts (`json`, `extra`) walked
    like the source was, other values counted."""
    if holder.kind in _COUNTED:
        return target_count_from_number(holder, sum(1 for v in values if v is not None))
    out: Counter[str] = Counter()
    for v in values:
        if v is not None:
            out.update(leaf_counts(json.loads(v), prefix=holder.path))
    return out


def target_sql(schema: str, holder: Holder, where: str | None = None) -> str:
    """The query for the holder's count (counted kinds) or its non-null JSON texts (`::text`, so a driver that
    decodes json hands back text all the same); `where`: an SQL condition of the caller's, its params its own."""
    column = quoted(holder.column)
    if holder.kind in _COUNTED:
        what, conditions = ("count(*)" if holder.kind != "value" else f"count({column})"), []
    else:
        what, conditions = f"{column}::text", [f"{column} IS NOT NULL"]
    if where:
        conditions.append(f"({where})")
    tail = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {what} FROM {quoted(schema, holder.table)}{tail}"


@dataclass
class PathCount:
    """One path of one entity: the values the source had, and where they went."""

    entity: str
    path: str
    source: int
    target: int
    quarantined: int = 0
    superseded: int = 0
    ignored: bool = False

    @property
    def found(self) -> int:
        """Values accounted for: in the target, or in a rejected or superseded document; all, when ignored."""
        return self.source if self.ignored else self.target + self.quarantined + self.superseded

    @property
    def ok(self) -> bool:
        """Exactly as many found as there were: fewer is a value left behind, more one counted twice or made up."""
        return self.found == self.source

    @property
    def status(self) -> str:
        return "ignored" if self.ignored else "ok" if self.ok else "MISSING" if self.found < self.source else "EXTRA"


def _is_ignored(path: str, ignored: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}{ARRAY}")) for p in ignored)


def compare(spec: MongoToDsqlSpec, source: dict[str, Counter[str]], distinct: dict[str, Counter[str]],
            target: dict[str, Counter[str]], quarantined: dict[str, Counter[str]] | None = None,
            superseded: dict[str, Counter[str]] | None = None) -> list[PathCount]:
    """Per entity and path (both sides': a path only the target has fails too), sorted. Counters by entity name;
    junction paths compare the source's distinct-per-document count; `quarantined`/`superseded`: `held_counts`."""
    quarantined, superseded, out = quarantined or {}, superseded or {}, []
    for e in spec.entities:
        src = held_counts(spec, e.name, source.get(e.name, Counter()), distinct.get(e.name, Counter()))
        tgt, q, s = (d.get(e.name, Counter()) for d in (target, quarantined, superseded))
        ignored = spec.unmapped.ignored(e.name)
        for path in set(src) | set(tgt) | set(q) | set(s):
            out.append(PathCount(e.name, path, src[path], tgt[path], q[path], s[path], _is_ignored(path, ignored)))
    return sorted(out, key=lambda r: (r.entity, r.path))


def summary_lines(results: list[PathCount]) -> list[str]:
    """A markdown table for the run's report, failures first."""
    rows = sorted(results, key=lambda r: (r.ok, r.entity, r.path))
    return ["| entity | path | source | target | quarantined | superseded | status |",
            "|---|---|---:|---:|---:|---:|---|",
            *(f"| {r.entity} | `{r.path}` | {r.source} | {r.target} | {r.quarantined} | {r.superseded} | {r.status} |"
              for r in rows)]


def failures(results: list[PathCount]) -> list[str]:
    """One line per path whose values are not all accounted for, naming the entity, the path and the counts."""
    out = []
    for r in (r for r in results if not r.ok):
        where = (f" ({r.target} in the target, {r.quarantined} quarantined, {r.superseded} superseded)"
                 if r.quarantined or r.superseded else " in the target")
        if r.found < r.source:
            out.append(f"{r.entity}.{r.path}: {r.found} of {r.source} values found{where}")
        else:
            out.append(f"{r.entity}.{r.path}: {r.found} values found{where}, the source has {r.source}")
    return out
