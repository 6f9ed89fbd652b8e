"""Discovery over several collections: one entity each, and the references between them by `_id` or by a natural
key (a field whose values are, nearly all, values of another collection's nearly unique field).

Pure Python over decoded documents, like `transforms.discovery`, whose per-entity findings it builds on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from transforms.discovery import (
    MIN_COVERAGE,
    Findings,
    Reference,
    entity_group,
    entity_name,
    explain_references,
    find_references,
)
from transforms.discovery_fields import Group
from transforms.extjson import ObjectId


def singular(collection: str) -> str:
    """The entity a collection holds (`customers` → `customer`, `categories` → `category`)."""
    name = entity_name(collection)
    if name.endswith("ies") and len(name) > 4:
        return f"{name[:-3]}y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 3:
        return name[:-1]
    return name


def discover_collections(collections: Mapping[str, list[Mapping[str, Any]]]) -> Findings:
    """Several collections, one entity each (named for its collection), and the references between them: by
    `_id` (`find_references`) and, for the fields that are none, by natural key (`find_natural_references`)."""
    choices: list[tuple[str, str]] = []
    anomalies: list[str] = []
    groups: dict[str, Group] = {}
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    names = {c: singular(c) for c in collections}
    if len(set(names.values())) != len(names):
        raise ValueError(f"two collections make one entity name: {names}")
    for collection, docs in sorted(collections.items()):
        name = names[collection]
        docs = [d for d in docs if isinstance(d, Mapping)]
        g = entity_group(name, None, docs, set(), choices)
        g.collection = collection
        groups[name] = g
        by_group[name] = docs
        choices.append((f"`{collection}` holds `{name}` documents", f"{len(docs)} sampled"))
    references = find_references(by_group)
    taken = {(r.group, r.field) for r in references}
    natural = [r for r in find_natural_references(by_group, anomalies) if (r.group, r.field) not in taken]
    explain_references([*references, *natural], choices, anomalies)
    n = sum(len(d) for d in by_group.values())
    return Findings(n, None, {}, groups, [], [*references, *natural], anomalies, choices,
                    {name: g.collection or "" for name, g in groups.items()})


MIN_NATURAL_MATCH = 0.95  # share of a field's values that must be values of the other collection's key
MIN_KEY_UNIQUE = 0.95  # a natural key: distinct values / documents holding it, at least this (nearly unique)


def _scalar_key(value: Any) -> str | None:
    if isinstance(value, bool) or isinstance(value, ObjectId) or not isinstance(value, str | int):
        return None
    return str(value)


def find_natural_references(by_group: Mapping[str, list[Mapping[str, Any]]], anomalies: list[str]
                            ) -> list[Reference]:
    """Top-level fields (or arrays) of one entity whose values are, at least `MIN_NATURAL_MATCH` of them, values
    of another entity's natural key: a top-level string or whole-number field present in nearly every document
    and nearly unique. A key value several documents hold is an anomaly (the job links to the smallest `_id`)."""
    keys: dict[tuple[str, str], set[str]] = {}
    repeated: dict[tuple[str, str], dict[str, int]] = {}
    for name, docs in sorted(by_group.items()):
        for path in sorted({k for d in docs for k in d if k != "_id"}):
            values = [_scalar_key(d.get(path)) for d in docs]
            held = [v for v in values if v is not None]
            if not docs or len(held) < MIN_COVERAGE * len(docs) or len(set(held)) < MIN_KEY_UNIQUE * len(held):
                continue
            keys[(name, path)] = set(held)
            repeated[(name, path)] = {v: n for v, n in Counter(held).items() if n > 1}
    out = []
    for name, docs in sorted(by_group.items()):
        for path in sorted({k for d in docs for k in d if k != "_id"}):
            values = [d.get(path) for d in docs if d.get(path) is not None]
            many = bool(values) and all(isinstance(v, list) for v in values)
            flat = [_scalar_key(x) for v in values for x in (v if many else [v])]
            if not flat or None in flat or len(set(flat)) < 2:
                continue
            for (target, key), target_values in sorted(keys.items()):
                if target == name:
                    continue
                matched = sum(1 for v in flat if v in target_values)
                if matched >= MIN_NATURAL_MATCH * len(flat):
                    out.append(Reference(name, path, target, many, matched, len(flat), by=key))
                    break
    for target, key in sorted({(r.target, r.by) for r in out if r.by}):
        for value, n in sorted(repeated[(target, key)].items()):
            anomalies.append(f"`{target}.{key}` {value!r} is held by {n} documents: a reference to it links the "
                             "one with the smallest `_id`, and every run reports it")
    return out
