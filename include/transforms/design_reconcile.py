"""Full reconciliation of a declared design, the pure parts: every item the source's rows must have become, and the
(key, row) form both sides are compared in.

Expected items are rendered from every source row of each item type as the item validator renders its sample
(`design_checks.declared`, `derive`, `expected_item`: Python, not the job's Spark columns), streamed: the rows
arrive in `design_checks.sample_order`, groups first, so each group a derivation or a unique key needs is read
whole and nothing more is held. Items of both sides become rows of one form (`item_row`): DynamoDB's typed values
as tagged text, `N:45.5` / `S:Boston` (the type stays part of the value, numbers canonical: "45.50" and "45.5"
agree, as DynamoDB trims them); attributes outside the design's land in `OTHER_ATTRIBUTES`, so an item carrying
an unknown attribute differs. Tagged text rather than `{"N": ...}` maps because the reconciliation core hashes
plain text about ten times faster than nested maps. Pure Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from itertools import groupby
from typing import Any

from transforms.design_checks import declared, derive, expected_item, sample_groups
from transforms.design_spec import ItemType

__all__ = ["OTHER_ATTRIBUTES", "canonical_attribute", "chunk_columns", "columns_of", "expected_items", "item_key",
           "item_row"]

Key = tuple[Any, ...]
Item = Mapping[str, Mapping[str, Any]]
OTHER_ATTRIBUTES = "(other attributes)"  # not a DynamoDB attribute name a design can use


def _number(text: str) -> str:
    """A DynamoDB number as canonical text: "45.50" → "45.5", "1E+2" → "100", "-0" → "0"."""
    if text.isdigit() and (text[0] != "0" or len(text) == 1):
        return text
    value = Decimal(text)
    return "0" if value.is_zero() else format(value.normalize(), "f")


def _plain(value: Mapping[str, Any]) -> Any:
    """A nested attribute value as JSON-able data with canonical numbers (type tags kept)."""
    (kind, v), = value.items()
    if kind == "N":
        return {"N": _number(v)}
    if kind == "NS":
        return {"NS": sorted(_number(x) for x in v)}
    if kind in ("SS", "BS"):
        return {kind: sorted(str(x) for x in v)}
    if kind == "L":
        return {"L": [_plain(x) for x in v]}
    if kind == "M":
        return {"M": {k: _plain(x) for k, x in v.items()}}
    return {kind: v if kind != "B" else bytes(v).hex()}


def canonical_attribute(value: Mapping[str, Any]) -> str:
    """One attribute value as tagged text: `S:<text>`, `N:<canonical number>`, anything else `<tag>:<JSON>`."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type key, got {dict(value)!r}")
    (kind, v), = value.items()
    if kind == "S":
        return "S:" + v
    if kind == "N":
        return "N:" + _number(v)
    return f"{kind}:" + json.dumps(_plain(value)[kind], sort_keys=True, separators=(",", ":"))


def _key_value(value: Mapping[str, Any]) -> Any:
    (kind, v), = value.items()
    if kind == "S":
        return v
    if kind == "N":
        n = _number(v)
        return int(n) if n.lstrip("-").isdigit() else n
    return canonical_attribute(value)


def item_key(item: Item, key_names: Sequence[str]) -> Key:
    """An item's primary key as a tuple: text as text, an integral number as an int (a table's keys have one type
    each: S, N or B)."""
    return tuple(_key_value(item[k]) for k in key_names)


def columns_of(items: Iterable[ItemType], type_attribute: str) -> tuple[str, ...]:
    """The columns a target's rows are compared on: every attribute its item types write, the type attribute, and
    `OTHER_ATTRIBUTES`."""
    names = [a.name for i in items for a in i.outputs]
    return (*dict.fromkeys([*names, type_attribute]), OTHER_ATTRIBUTES)


def item_row(item: Item, key_names: Sequence[str], known: frozenset[str]) -> tuple[Key, dict[str, str]]:
    """(key, row) of an item of either side: each attribute the design `known`s as `canonical_attribute` text under
    its name, the others as one JSON object under `OTHER_ATTRIBUTES`; an absent attribute is absent."""
    row: dict[str, str] = {}
    other: dict[str, str] = {}
    for name, value in item.items():
        if name in known:
            row[name] = canonical_attribute(value)
        else:
            other[name] = canonical_attribute(value)
    if other:
        row[OTHER_ATTRIBUTES] = json.dumps(other, sort_keys=True, ensure_ascii=False)
    return item_key(item, key_names), row


def chunk_columns(item: ItemType) -> tuple[str, ...] | None:
    """The columns whose runs of equal values hold whole groups for every derivation and unique key: the longest
    prefix of `sample_groups` that each of them groups by. () when the item type has no groups (each row stands
    alone); None when their groups share no leading column (the rows are then taken all at once)."""
    groups = sample_groups(item)
    if not groups:
        return ()
    sets = [set(d.per) for d in item.derived] + [set(a.unique.per) for a in item.keys if a.unique]
    prefix = []
    for name in groups:
        if not all(name in s for s in sets):
            break
        prefix.append(name)
    return tuple(prefix) or None


def expected_items(item: ItemType, rows: Iterable[Mapping[str, Any]], types: Mapping[str, Mapping[str, str]],
                   type_attribute: str, key_names: Sequence[str]) -> Iterator[dict[str, dict]]:
    """Every item the item type's source rows (`design_checks.rows_sql`, in its order) must have become; rows the
    job rejects yield nothing."""
    by = chunk_columns(item)
    if by == ():
        chunks: Iterable[list[Mapping[str, Any]]] = ([r] for r in rows)
    elif by is None:
        chunks = [list(rows)]
    else:
        chunks = (list(g) for _, g in groupby(rows, key=lambda r: tuple(r[c] for c in by)))
    for chunk in chunks:
        for row in derive(item, declared(item, chunk, types)):
            out = expected_item(item, row, type_attribute, key_names)
            if out is not None:
                yield out
