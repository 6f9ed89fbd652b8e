"""A first `sql_to_dynamodb` design from a relational schema: what `bin/dbmigrate discover postgresql://…` writes.

One DynamoDB table holds every source table (a single-table design the user then edits):
- each source table is an item type `<TABLE>` with every column as an attribute (`${column}`);
- a table with a foreign key lives in its parent's item collection: `PK = <PARENT>#<parent key>`,
  `SK = <TABLE>#<its own key>` (the first foreign key, in constraint order); any other table is its own collection,
  `PK = <TABLE>#<key>`, `SK = <TABLE>`;
- every item can be read by its own key through the GSI `by_key` (`key_pk = <TABLE>#<key>`), and every other
  foreign key gets a GSI of its own (`<gsi>_pk = <PARENT>#<fk>`, `<gsi>_sk = <TABLE>#<key>`), at most 20 GSIs;
- a table without a primary key is numbered within its collection (`number_within` its foreign key, ordered by
  every column), so two equal rows stay two items;
- access patterns: each item type by its key, and each foreign key's children of a parent, with the SQL that
  answers them over the source.
`choices` says what was chosen and why, for the report. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ForeignKey", "Plan", "plan_design"]

MAX_GSIS = 20


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass
class Plan:
    targets: dict[str, Any]
    items: dict[str, Any]
    access_patterns: dict[str, Any]
    choices: list[tuple[str, str]] = field(default_factory=list)


def _refs(columns: Sequence[str]) -> str:
    return "#".join(f"${{{c}}}" for c in columns)


def _type(table: str) -> str:
    return table.upper()


def _list(columns: Sequence[str], alias: str = "") -> str:
    return ", ".join(f"{alias}{c}" for c in columns)


def _params(columns: Sequence[str], alias: str = "") -> str:
    return " AND ".join(f"{alias}{c} = %({c})s" for c in columns)


def plan_design(name: str, tables: Mapping[str, Any], foreign_keys: Sequence[ForeignKey]) -> Plan:
    """The design for `tables` (`connectors.sql_catalog.TableShape` by name) and their `foreign_keys`; `name` names
    the DynamoDB table."""
    fks = {t: [f for f in foreign_keys if f.table == t and f.parent in tables] for t in tables}
    gsis: list[dict[str, Any]] = [{"name": "by_key", "partition_key": {"name": "key_pk", "type": "S"},
                                   "sort_key": {"name": "key_sk", "type": "S"}}]
    plan = Plan({name: {"name": name, "partition_key": {"name": "PK", "type": "S"},
                        "sort_key": {"name": "SK", "type": "S"}, "gsis": gsis}}, {}, {})
    for table, shape in tables.items():
        columns = [c for c, _ in shape.columns]
        key = list(shape.primary_key)
        derive: dict[str, Any] = {}
        parents = fks[table]
        if not key:
            group = list(parents[0].columns) if parents else []
            derive["row_number"] = {"number_within": group, "order_by": columns}
            key = [*group, "row_number"]
            plan.choices.append((f"{table}: no primary key", f"numbered within {group or 'the table'}, ordered by "
                                 "every column: equal rows stay distinct items"))
        own = f"{_type(table)}#{_refs(key)}" if "row_number" not in key else \
            f"{_type(table)}#{_refs(key[:-1])}{'#' if len(key) > 1 else ''}${{row_number:09}}"
        if parents:
            first = parents[0]
            keys = {"PK": f"{_type(first.parent)}#{_refs(first.columns)}", "SK": own}
            plan.choices.append((f"{table}: under {first.parent}",
                                 f"foreign key {first.name} ({_list(first.columns)}): in the item collection of "
                                 f"{first.parent}"))
        else:
            keys = {"PK": own, "SK": _type(table)}
        keys.update({"key_pk": own, "key_sk": _type(table)})
        for fk in parents[1:]:
            if len(gsis) >= MAX_GSIS:
                plan.choices.append((f"{table}: no GSI for {fk.name}", f"DynamoDB allows {MAX_GSIS} GSIs per table"))
                continue
            gsi = f"by_{table}_{'_'.join(fk.columns)}"
            gsis.append({"name": gsi, "partition_key": {"name": f"{gsi}_pk", "type": "S"},
                         "sort_key": {"name": f"{gsi}_sk", "type": "S"}})
            keys.update({f"{gsi}_pk": f"{_type(fk.parent)}#{_refs(fk.columns)}", f"{gsi}_sk": own})
            plan.choices.append((f"{table}: GSI {gsi}", f"the rows of {table} of one row of {fk.parent} (foreign key "
                                                       f"{fk.name})"))
        item: dict[str, Any] = {"target": name, "type": _type(table), "from": table}
        if derive:
            item["derive"] = derive
        item["keys"] = keys
        item["attributes"] = {c: f"${{{c}}}" for c in columns if c not in keys}
        plan.items[table] = item
        if "row_number" not in key:
            plan.access_patterns[f"{table}_by_key"] = {
                "description": f"A row of {table} by its primary key", "target": name, "index": "by_key",
                "key": {"key_pk": own}, "subjects": f"SELECT {_list(key)} FROM {{schema}}.{table} ORDER BY "
                                                     f"{_list(key)}",
                "sql": f"SELECT {_list(key)} FROM {{schema}}.{table} WHERE {_params(key)}"}
        for n, fk in enumerate(parents):
            if n and f"by_{table}_{'_'.join(fk.columns)}" not in {g["name"] for g in gsis}:
                continue
            pattern: dict[str, Any] = {
                "description": f"The rows of {table} of one row of {fk.parent}", "target": name,
                "subjects": f"SELECT DISTINCT {_list(fk.columns)} FROM {{schema}}.{table} ORDER BY "
                            f"{_list(fk.columns)}",
                "sql": f"SELECT {_list(columns)} FROM {{schema}}.{table} WHERE {_params(fk.columns)}"}
            if n == 0:
                pattern.update(key={"PK": keys["PK"]}, sort_key_begins_with=f"{_type(table)}#")
            else:
                gsi = f"by_{table}_{'_'.join(fk.columns)}"
                pattern.update(index=gsi, key={f"{gsi}_pk": keys[f"{gsi}_pk"]})
            pattern["compare"] = [c for c in columns if c in item["attributes"]]
            plan.access_patterns[f"{table}_of_{fk.parent}{'' if n == 0 else f'_by_{fk.name}'}"] = pattern
    return plan
