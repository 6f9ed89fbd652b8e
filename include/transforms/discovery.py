"""Find the entities and relationships hidden in a sample of a NoSQL collection, deterministically.

What it looks for, each finding with the share of documents that supports it:
- a discriminator: a top-level string field with few distinct values present in nearly every document
  (`type`, `_type`, `kind`, … preferred by name when several qualify);
- key patterns: fields whose values read `PREFIX#id` (`PK`/`SK` in an adjacency list);
- entity types: one per discriminator value (else per key-pattern pair); a type whose PK and SK both carry the
  prefix of another type is a relationship between those two (a junction table);
- per type: every field with the types seen, how often present and null; embedded objects (flattened to
  columns when they hold scalars), arrays of scalars (a `json` column) and arrays of objects (a child table);
- maps keyed by data: an object whose keys are ids (or many distinct keys, each rare) and whose values are
  objects: a child table keyed by (parent, key), not one rare field per key;
- several collections (`transforms.discovery_collections`): one entity each, and references between them by
  `_id` or by a natural key (a field whose values are, nearly all, values of another collection's nearly unique
  field).

Pure Python over decoded documents (`transforms.extjson.loads`): no I/O, no Airflow, no Spark.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from transforms.discovery_fields import Group, KeyPattern, find_maps
from transforms.extjson import ObjectId

DISCRIMINATOR_NAMES = ("type", "_type", "kind", "entity", "entity_type", "entityType", "doc_type", "docType",
                       "record_type", "recordType", "_class")
MAX_TYPES = 50  # a discriminator has at most this many values
MIN_COVERAGE = 0.95  # a discriminator or key field is present in at least this share of documents
KEY_VALUE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*#)(.+)$")
TYPE_NAME = re.compile(r"^[A-Za-z][\w .-]{0,63}$")  # a type is named, not a date, a number or a sentence
INT32 = 2**31


@dataclass
class Discriminator:
    field: str
    coverage: float
    values: dict[str, int]
    reason: str


@dataclass
class Relationship:
    """A junction entity: its PK names one entity, its SK another."""

    group: str
    pk_entity: str
    sk_entity: str
    documents: int


@dataclass
class Reference:
    """A field of one type whose values are the ids of another type's documents (one-to-many), or an array of
    such ids (many-to-many: a junction table)."""

    group: str
    field: str
    target: str
    many: bool
    matched: int  # values found among the target's ids
    values: int  # non-null values seen
    by: str | None = None  # a natural key: the target's field whose values these are (None: its `_id`)


@dataclass
class Findings:
    documents: int
    discriminator: Discriminator | None
    key_fields: dict[str, dict[str, int]]  # key field → prefix → documents
    groups: dict[str, Group]
    relationships: list[Relationship]
    references: list[Reference]
    anomalies: list[str]
    choices: list[tuple[str, str]]  # (choice, reason)
    collections: dict[str, str] = field(default_factory=dict)  # several collections: entity → its collection


def find_discriminator(docs: list[Mapping[str, Any]]) -> Discriminator | None:
    """The top-level string field that best splits the documents into types, or None."""
    n = len(docs)
    candidates: list[tuple[tuple[Any, ...], Discriminator]] = []
    names = {k for d in docs for k in d}
    for name in sorted(names):
        values = Counter(d[name] for d in docs if isinstance(d.get(name), str) and not isinstance(d[name], ObjectId))
        coverage = sum(values.values()) / n if n else 0.0
        if coverage < MIN_COVERAGE or not 2 <= len(values) <= MAX_TYPES or len(values) > max(2, n // 2):
            continue
        if any(KEY_VALUE.match(v) or not TYPE_NAME.match(v) for v in values):
            continue  # key values, dates or free text, not type names
        preferred = name in DISCRIMINATOR_NAMES
        reason = (f"`{name}` is present in {coverage:.0%} of the documents with {len(values)} distinct values"
                  + (", and is a usual name for a type field" if preferred else ""))
        candidates.append(((preferred, coverage, -len(values), name), Discriminator(name, coverage, dict(values),
                                                                                   reason)))
    if not candidates:
        return None
    return max(candidates, key=lambda c: c[0])[1]


def find_key_fields(docs: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Top-level fields whose values nearly always read `PREFIX#id`: field → prefix → documents."""
    n = len(docs)
    out: dict[str, dict[str, int]] = {}
    for name in sorted({k for d in docs for k in d}):
        prefixes: Counter[str] = Counter()
        for d in docs:
            v = d.get(name)
            if isinstance(v, str) and (m := KEY_VALUE.match(v)):
                prefixes[m.group(1)] += 1
        if n and sum(prefixes.values()) / n >= 0.5:
            out[name] = dict(sorted(prefixes.items()))
    return out


def _pattern(key_field: str, docs: list[Mapping[str, Any]]) -> KeyPattern:
    """The dominant shape of `key_field` among `docs`: a prefix if most values carry one, else a constant."""
    values = [d.get(key_field) for d in docs]
    prefixes = Counter(m.group(1) for v in values if isinstance(v, str) and (m := KEY_VALUE.match(v)))
    constants = Counter(v for v in values if isinstance(v, str) and not KEY_VALUE.match(v))
    n = len(docs) or 1
    if prefixes and (not constants or prefixes.most_common(1)[0][1] >= constants.most_common(1)[0][1]):
        prefix, count = prefixes.most_common(1)[0]
        return KeyPattern(key_field, prefix=prefix, coverage=count / n)
    if constants:
        value, count = constants.most_common(1)[0]
        return KeyPattern(key_field, equals=value, coverage=count / n)
    return KeyPattern(key_field, coverage=0.0)


def discover(documents: Iterable[Mapping[str, Any]], single_type: str = "document") -> Findings:
    """Everything the sample shows: discriminator, key fields, one group per entity type, relationships.
    `single_type` names the entity of a collection that holds one type (no discriminator, no key prefixes)."""
    docs = [d for d in documents if isinstance(d, Mapping)]
    choices: list[tuple[str, str]] = []
    anomalies: list[str] = []
    disc = find_discriminator(docs)
    keys = find_key_fields(docs)
    if disc:
        choices.append((f"entity types from `{disc.field}`", disc.reason))
    if keys:
        choices.append(("key fields " + ", ".join(f"`{k}`" for k in keys),
                        "their values read PREFIX#id in most documents: " + "; ".join(
                            f"{k}: {', '.join(p)}" for k, p in keys.items())))
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for d in docs:
        if disc is not None:
            name = d.get(disc.field)
            if not isinstance(name, str):
                anomalies.append(f"a document without `{disc.field}` (_id {d.get('_id')}): left out")
                continue
        elif keys:  # no type field: the key prefixes name the type (`MOVIE#` + constant: movie; two: a link)
            parts = [_pattern(k, [d]).prefix for k in list(keys)[:2]]
            name = "_".join(p.rstrip("#") for p in parts if p) or "document"
        else:
            name = single_type
        by_group.setdefault(str(name), []).append(d)
    skip = {f for f in (disc.field if disc else None, *keys) if f}
    groups: dict[str, Group] = {}
    for name, members in sorted(by_group.items()):
        g = entity_group(entity_name(name), name if disc else None, members, skip, choices)
        g.keys = {k: _pattern(k, members) for k in keys}
        groups[g.name] = g
    relationships = _relationships(groups, keys)
    for rel in relationships:
        choices.append((f"`{rel.group}` is a relationship", f"its keys name a {rel.pk_entity} and a {rel.sk_entity} "
                        f"({rel.documents} documents): a junction table keyed by both"))
    anomalies += _orphans(relationships, groups, keys, by_group, disc)
    references = [] if keys else find_references({entity_name(k): v for k, v in by_group.items()})
    explain_references(references, choices, anomalies)
    return Findings(len(docs), disc, keys, groups, relationships, references, anomalies, choices)


def entity_group(name: str, type_value: str | None, members: list[Mapping[str, Any]], skip: set[str],
           choices: list[tuple[str, str]]) -> Group:
    """The group of one entity's documents, its maps keyed by data found first."""
    maps = find_maps(members, skip)
    for path, why in maps.items():
        choices.append((f"`{name}.{path}` is a map keyed by data", f"{why}: a child table keyed by ({name}, key)"))
    g = Group(name, type_value)
    for d in members:
        g.add(d, skip, frozenset(maps))
    return g


def explain_references(references: list[Reference], choices: list[tuple[str, str]], anomalies: list[str]) -> None:
    """Each reference as a choice with its evidence; values naming nothing in the sample as an anomaly."""
    for ref in references:
        what = "an array of" if ref.many else "a reference to"
        key = f"`{ref.target}.{ref.by}` values" if ref.by else f"`{ref.target}` ids"
        choices.append((f"`{ref.group}.{ref.field}` is {what} {key}",
                        f"{ref.matched} of its {ref.values} values are {key} in the sample"
                        + (": a junction table" if ref.many else ": a uuid column, indexed, no foreign key")))
        if ref.matched < ref.values:
            anomalies.append(f"`{ref.group}.{ref.field}`: {ref.values - ref.matched} value(s) name no {ref.target} "
                             "in the sample (dangling, or outside the sample): kept, and reported by every run")


def _orphans(relationships: list[Relationship], groups: dict[str, Group], keys: Mapping[str, Any],
             by_group: Mapping[str, list[Mapping[str, Any]]], disc: Discriminator | None) -> list[str]:
    """Relationship documents of the sample whose PK or SK names an entity the sample does not hold."""
    if len(keys) < 2:
        return []
    pk, sk = list(keys)[:2]
    ids = {g.name: {d.get(pk) for d in docs} for name, docs in by_group.items()
           if (g := groups.get(entity_name(name)))}
    out = []
    for rel in relationships:
        docs = by_group.get(groups[rel.group].type_value or rel.group, []) if disc else []
        missing = sum(1 for d in docs if d.get(pk) not in ids.get(rel.pk_entity, set())
                      or d.get(sk) not in ids.get(rel.sk_entity, set()))  # the SK of a link is the PK of its end
        if missing:
            out.append(f"`{rel.group}`: {missing} of {len(docs)} sampled links name a {rel.pk_entity} or "
                       f"{rel.sk_entity} outside the sample (orphans, or a sample too small to hold both ends)")
    return out


MIN_REFERENCE_MATCH = 0.8  # share of a field's values that must be ids of the other type


def find_references(by_group: Mapping[str, list[Mapping[str, Any]]]) -> list[Reference]:
    """Top-level fields (or arrays) of one type whose values are mostly `_id`s of another type's documents."""
    ids = {name: {str(d["_id"]) for d in docs if d.get("_id") is not None} for name, docs in by_group.items()}
    out = []
    for name, docs in sorted(by_group.items()):
        for path in sorted({k for d in docs for k in d if k != "_id"}):
            values = [d.get(path) for d in docs if d.get(path) is not None]
            many = bool(values) and all(isinstance(v, list) for v in values)
            flat = [str(x) for v in values for x in (v if many else [v]) if isinstance(x, str | int)
                    and not isinstance(x, bool)]
            if not flat or (not many and any(isinstance(v, list | Mapping) for v in values)):
                continue
            for target, target_ids in sorted(ids.items()):
                if target == name or not target_ids:
                    continue
                matched = sum(1 for v in flat if v in target_ids)
                if matched / len(flat) >= MIN_REFERENCE_MATCH:
                    out.append(Reference(name, path, target, many, matched, len(flat)))
                    break
    return out


def entity_name(value: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", value).lower()).strip("_")
    return name or "entity"


def _relationships(groups: dict[str, Group], keys: Mapping[str, Any]) -> list[Relationship]:
    """Groups whose first two key fields both carry the prefix another group's first key field carries."""
    if len(keys) < 2:
        return []
    pk, sk = list(keys)[:2]
    owners = {g.keys[pk].prefix: g.name for g in groups.values()
              if g.keys[pk].prefix and g.keys[sk].equals is not None}
    out = []
    for g in groups.values():
        p, s = g.keys[pk].prefix, g.keys[sk].prefix
        if p in owners and s in owners and owners[p] != g.name and owners[s] != g.name:
            out.append(Relationship(g.name, owners[p], owners[s], g.documents))
    return out
