"""The design a `sql_to_dynamodb` spec declares: item types (where their rows come from, their keys, attributes and
derivations) and access patterns (an index, a key condition, and the SQL over the source that answers the same).

    items:
      order:                                   # an item type; its items carry `<type_attribute>: ORDER`
        target: shop                           # the DynamoDB table (a key of `targets`)
        type: ORDER                            # default: the item type's name
        from: orders                           # a source table; its columns are `${column}`
        join:                                  # optional; a joined table's columns are `${alias.column}`
          - {table: customers, as: customer, on: "customer.id = orders.customer_id"}   # how: left (default),
        where: "orders.status <> 'DRAFT'"                                              # inner, or anti
        derive:                                # optional window columns over the rows
          is_latest: {latest_of: [customer_id], order_by: [placed_at, id]}     # true on each group's last row
          n: {number_within: [customer_id], order_by: [placed_at, id]}         # 1, 2, ... in that order
        keep: is_latest                        # optional: only the rows where a derived flag is true
        keys: {PK: "CUSTOMER#${customer_id}", SK: "ORDER#${placed_at}#${id}"}
        attributes:
          order_id: ${id}                      # a lone reference keeps the column's type
          placed_on: {from: "${placed_at}", format: "yyyy-MM-dd"}
          current: {from: "${status}", when: is_latest}   # only on rows where the flag is true
          label: {from: "${id}", type: S}      # a number written as text

With interval loads (`incremental`), an item type not made from the incremental table says which of its rows a
window touches: `touched_by: "SELECT customer_id AS id FROM {window}"` (Spark SQL over the window's rows and the
source tables, returning columns of its `from` table), or `touched_by: all` (`transforms.design_intervals`).

Derivations see every row of `from` and its joins; `where` then picks the item type's rows (so the latest row of a
group is the latest of all of them, whichever item type it becomes). A key may be made unique within a group:
`{from: "A|${x}", unique_within: [g], suffixes: ["|${y}"], number_by: [z]}` appends `|${y}` to the keys its group
shares, then `|1`, `|2`, ... in `number_by` order to those still shared.

`on` and `where` are SQL conditions over the aliases (the `from` table's alias is its name): the job runs them in
Spark SQL, the validators in the source's own SQL, so they stay to what both share (comparisons, AND/OR, IS NULL,
IN, LIKE). Pure Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transforms.item_templates import Template, check_format, parse_template
from transforms.spec_checks import SpecError, need, text, texts

__all__ = ["PICKED", "AccessPattern", "Attribute", "Derived", "ItemType", "Join", "OrderTerm", "Unique",
           "parse_access_patterns", "parse_items"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ORDER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)(\s+(ASC|DESC))?"
                    r"(\s+NULLS\s+(FIRST|LAST))?$", re.IGNORECASE)
JOIN_KINDS = ("left", "inner", "anti")
PICKED = "_picked"  # the rows' column saying `where` picks a row, when derivations had to see every row
_ITEM_KEYS = {"target", "type", "from", "join", "where", "derive", "keep", "keys", "attributes", "touched_by", "sql"}
QUERY_ALIAS = "q"  # an item type made from `sql`: its rows are the query's, `q` in the SQL around it
_QUERY_TABLE = re.compile(r"\{schema\}\.([A-Za-z_][A-Za-z0-9_]*)")
ALL_TOUCHED = "all"  # `touched_by: all`: an interval load rewrites every item of the type
_PATTERN_KEYS = {"description", "target", "index", "key", "sort_key_begins_with", "subjects", "sql", "compare",
                 "ordered"}


@dataclass(frozen=True)
class Join:
    table: str
    alias: str
    on: str
    how: str = "left"


@dataclass(frozen=True)
class OrderTerm:
    """`name [ASC|DESC] [NULLS FIRST|LAST]`; nulls come first ascending and last descending unless told."""

    name: str
    descending: bool = False
    nulls_first: bool | None = None

    @property
    def nulls_first_effective(self) -> bool:
        return (not self.descending) if self.nulls_first is None else self.nulls_first


@dataclass(frozen=True)
class Derived:
    """A window column: `latest` (true on the greatest row of its group by `order_by`) or `number` (1, 2, ...)."""

    name: str
    kind: str
    per: tuple[str, ...]
    order_by: tuple[OrderTerm, ...]


@dataclass(frozen=True)
class Unique:
    """How a key is made unique among the rows of its group (`per`) that would share it: each suffix template is
    appended while the value is still shared, then `|<n>` (`number_prefix` and the row's number in `number_by`
    order) if it still is."""

    per: tuple[str, ...]
    suffixes: tuple[Template, ...] = ()
    number_by: tuple[OrderTerm, ...] = ()
    number_prefix: str = "|"


@dataclass(frozen=True)
class Attribute:
    """A key or attribute: its template, a timestamp `fmt`, a forced `type` (S or N), a `when` flag, and for a key
    how it is made `unique`."""

    name: str
    template: Template
    fmt: str | None = None
    type: str | None = None
    when: str | None = None
    unique: Unique | None = None


@dataclass(frozen=True)
class ItemType:
    name: str
    target: str
    type_value: str
    table: str
    joins: tuple[Join, ...]
    where: str | None
    derived: tuple[Derived, ...]
    keep: str | None
    keys: tuple[Attribute, ...]
    attributes: tuple[Attribute, ...]
    touched_by: str | None = None  # interval loads: Spark SQL naming the `from` rows a window touches, or `all`
    query: str | None = None  # `sql`: the rows come from this query (`{schema}.table`), not from/join/where

    @property
    def tables(self) -> tuple[str, ...]:
        """The source tables this item type reads, `from` first (or those its query names)."""
        if self.query is not None:
            return tuple(dict.fromkeys(_QUERY_TABLE.findall(self.query)))
        return tuple(dict.fromkeys((self.table, *(j.table for j in self.joins))))

    @property
    def outputs(self) -> tuple[Attribute, ...]:
        return (*self.keys, *self.attributes)

    def references(self) -> set[str]:
        """Every name the templates, derivations and `when` flags read (columns and derived names)."""
        names = {r.name for a in self.outputs for r in a.template.refs}
        for u in (a.unique for a in self.keys if a.unique):
            names |= {*u.per, *(r.name for t in u.suffixes for r in t.refs), *(t.name for t in u.number_by)}
        names |= {n for d in self.derived for n in (*d.per, *(t.name for t in d.order_by))}
        return names


@dataclass(frozen=True)
class AccessPattern:
    """An access pattern: a Query of `target` (or its GSI `index`) whose key condition is `key` (partition key
    equal, and optionally the sort key equal) and `sort_key_begins_with`, rendered from each subject row that
    the source SQL `subjects` returns; the source SQL `sql`, given the subject's columns as `%(name)s`
    parameters, returns the rows the Query must return, compared on `compare` (default: the SQL's columns)."""

    name: str
    description: str
    target: str
    index: str | None
    key: tuple[Attribute, ...]
    sort_key_begins_with: Template | None
    subjects: str
    sql: str
    compare: tuple[str, ...]
    ordered: bool


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    need(isinstance(value, Mapping), where, "must be a mapping")
    return value


def _known(value: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(value) - allowed
    need(not unknown, where, f"unknown keys {sorted(unknown)}; known: {sorted(allowed)}")


def _name(value: Any, where: str) -> str:
    need(isinstance(value, str) and bool(_NAME.match(value)), where, f"must be a name (letters, digits, _), "
                                                                     f"got {value!r}")
    return value


def _template(value: Any, where: str) -> Template:
    try:
        return parse_template(value if not isinstance(value, int | float) or isinstance(value, bool)
                              else str(value), where)
    except ValueError as err:
        raise SpecError(str(err)) from None


def _attribute(name: str, value: Any, where: str, *, key: bool = False) -> Attribute:
    if not isinstance(value, Mapping):
        return Attribute(name, _template(value, where))
    _known(value, {"from", "format", "type"} | ({"unique_within", "suffixes", "number_by", "number_prefix"} if key
                                                 else {"when"}), where)
    fmt = None
    if value.get("format") is not None:
        try:
            fmt = check_format(value["format"], f"{where}.format")
        except ValueError as err:
            raise SpecError(str(err)) from None
    kind = value.get("type")
    need(kind in (None, "S", "N"), f"{where}.type", f"must be S or N, got {kind!r}")
    when = value.get("when")
    unique = None
    if "unique_within" in value:
        unique = Unique(texts(value["unique_within"], f"{where}.unique_within"),
                        tuple(_template(t, f"{where}.suffixes") for t in texts(value.get("suffixes", []),
                                                                              f"{where}.suffixes")),
                        _order(value["number_by"], f"{where}.number_by") if value.get("number_by") else (),
                        str(value.get("number_prefix", "|")))
    else:
        need(not {"suffixes", "number_by", "number_prefix"} & set(value), where,
             "suffixes, number_by and number_prefix need unique_within")
    return Attribute(name, _template(value.get("from"), f"{where}.from"), fmt, kind,
                     None if when is None else _name(when, f"{where}.when"), unique)


def _order(value: Any, where: str) -> tuple[OrderTerm, ...]:
    terms = texts(value, where)
    out = []
    for t in terms:
        m = _ORDER.match(t.strip())
        need(m is not None, where, f"{t!r} is not `column [ASC|DESC] [NULLS FIRST|LAST]`")
        assert m is not None
        nulls = m.group(5)
        out.append(OrderTerm(m.group(1), (m.group(3) or "").upper() == "DESC",
                             None if nulls is None else nulls.upper() == "FIRST"))
    return tuple(out)


def _derived(name: str, value: Any, where: str) -> Derived:
    d = _mapping(value, where)
    _known(d, {"latest_of", "number_within", "order_by"}, where)
    kinds = [k for k in ("latest_of", "number_within") if k in d]
    need(len(kinds) == 1, where, "needs exactly one of latest_of (a flag) or number_within (a sequence)")
    need("order_by" in d, where, "needs order_by: the columns that order each group, ties broken by the later ones")
    return Derived(name, "latest" if kinds[0] == "latest_of" else "number", texts(d[kinds[0]], f"{where}."
                   f"{kinds[0]}"), _order(d["order_by"], f"{where}.order_by"))


def _item(name: str, value: Any, where: str, targets: Mapping[str, Any]) -> ItemType:
    d = _mapping(value, where)
    _known(d, _ITEM_KEYS, where)
    target = text(d.get("target"), f"{where}.target")
    need(target in targets, f"{where}.target", f"must be one of the targets {sorted(targets)}")
    query = None if d.get("sql") is None else text(d["sql"], f"{where}.sql")
    if query is not None:  # what declarations cannot say: the rows of a query
        need(not {"from", "join", "where"} & set(d), f"{where}.sql", "takes the place of from, join and where")
        need(bool(_QUERY_TABLE.search(query)) and '{schema}."' not in query, f"{where}.sql",
             "must name the source's tables as {schema}.<table> (unquoted: the job runs it in Spark SQL)")
    table = QUERY_ALIAS if query is not None else _name(d.get("from"), f"{where}.from")
    joins = []
    for i, j in enumerate(d.get("join") or []):
        jw = f"{where}.join[{i}]"
        # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true
        j = {("on" if k is True else k): v for k, v in _mapping(j, jw).items()}
        _known(j, {"table", "as", "on", "how"}, jw)
        how = j.get("how", "left")
        need(how in JOIN_KINDS, f"{jw}.how", f"must be one of {JOIN_KINDS}, got {how!r}")
        joins.append(Join(_name(j.get("table"), f"{jw}.table"), _name(j.get("as", j.get("table")), f"{jw}.as"),
                          text(j.get("on"), f"{jw}.on"), how))
    aliases = [table, *(j.alias for j in joins)]
    need(len(set(aliases)) == len(aliases), f"{where}.join", f"aliases must differ, got {aliases}")
    derived = tuple(_derived(_name(n, f"{where}.derive"), v, f"{where}.derive.{n}")
                    for n, v in _mapping(d.get("derive") or {}, f"{where}.derive").items())
    flags = {x.name for x in derived if x.kind == "latest"}
    keep = d.get("keep")
    if keep is not None:
        need(keep in flags, f"{where}.keep", f"must name a latest_of flag of derive, got {keep!r}")
        need(d.get("where") is None, f"{where}.keep", "cannot go with where yet (derivations see every row, where "
                                                      "then picks; a kept group's count would need both)")
    keys = tuple(_attribute(n, v, f"{where}.keys.{n}", key=True)
                 for n, v in _mapping(d.get("keys"), f"{where}.keys").items())
    attributes = tuple(_attribute(_name(n, f"{where}.attributes"), v, f"{where}.attributes.{n}")
                       for n, v in _mapping(d.get("attributes") or {}, f"{where}.attributes").items())
    for a in attributes:
        need(a.when is None or a.when in flags, f"{where}.attributes.{a.name}.when",
             f"must name a latest_of flag of derive ({sorted(flags)}), got {a.when!r}")
    clash = {a.name for a in keys} & {a.name for a in attributes}
    need(not clash, f"{where}.attributes", f"{sorted(clash)} are keys already")
    item = ItemType(name, target, str(d.get("type", name)), table, tuple(joins),
                    None if d.get("where") is None else text(d["where"], f"{where}.where"), derived, keep, keys,
                    attributes, None if d.get("touched_by") is None else text(d["touched_by"], f"{where}.touched_by"),
                    query)
    joined = {j.alias for j in joins if j.how != "anti"}
    for ref in sorted(item.references()):
        if "." in ref:
            need(ref.split(".")[0] in joined, where, f"`{ref}` names no joined alias ({sorted(joined)}); an anti "
                                                     "join's columns are not in the row")
    return item


def parse_items(raw: Any, w: str, targets: Mapping[str, Any]) -> tuple[ItemType, ...]:
    """The spec's `items`, checked against its `targets` (each target's key attributes are every item's keys)."""
    from transforms.dynamodb_tables import TableSpec

    items = tuple(_item(_name(n, f"{w}: items"), v, f"{w}: items.{n}", targets)
                  for n, v in _mapping(raw, f"{w}: items").items())
    need(bool(items), f"{w}: items", "must declare at least one item type")
    for item in items:
        table = TableSpec.from_dict(targets[item.target])
        base = [table.partition_key.name, *([table.sort_key.name] if table.sort_key else [])]
        index_keys = {a.name for g in table.gsis for a in g.key_attrs}
        names = [a.name for a in item.keys]
        need(base == names[:len(base)] and set(names) <= set(base) | index_keys, f"{w}: items.{item.name}.keys",
             f"must give the table's key {base} first, then any GSI key attributes ({sorted(index_keys)}); "
             f"got {names}")
    seen: dict[tuple[str, str], str] = {}
    for item in items:
        other = seen.setdefault((item.target, item.type_value), item.name)
        need(other == item.name, f"{w}: items.{item.name}.type", f"{item.type_value!r} is the type of {other} too")
    return items


def parse_access_patterns(raw: Any, w: str, targets: Mapping[str, Any]) -> tuple[AccessPattern, ...]:
    from transforms.dynamodb_tables import TableSpec

    out = []
    for name, value in _mapping(raw or {}, f"{w}: access_patterns").items():
        where = f"{w}: access_patterns.{_name(name, f'{w}: access_patterns')}"
        d = _mapping(value, where)
        _known(d, _PATTERN_KEYS, where)
        target = text(d.get("target"), f"{where}.target")
        need(target in targets, f"{where}.target", f"must be one of the targets {sorted(targets)}")
        table = TableSpec.from_dict(targets[target])
        index = d.get("index")
        if index is None:
            pk, sk = table.partition_key, table.sort_key
        else:
            gsi = {g.name: g for g in table.gsis}.get(index)
            need(gsi is not None, f"{where}.index", f"{index!r} is no GSI of {target} ({[g.name for g in table.gsis]})")
            assert gsi is not None
            pk, sk = gsi.partition_key, gsi.sort_key
        key = tuple(_attribute(n, v, f"{where}.key.{n}", key=True)
                    for n, v in _mapping(d.get("key"), f"{where}.key").items())
        allowed = [pk.name, *([sk.name] if sk else [])]
        need([a.name for a in key] in (allowed[:1], allowed), f"{where}.key",
             f"must give {allowed[0]} (and may give {allowed[1:]}) of {index or 'the table'}, got "
             f"{[a.name for a in key]}")
        prefix = d.get("sort_key_begins_with")
        need(prefix is None or (sk is not None and len(key) == 1), f"{where}.sort_key_begins_with",
             "needs a sort key that the key condition does not fix")
        ordered = d.get("ordered", False)
        need(isinstance(ordered, bool), f"{where}.ordered", "must be true or false")
        out.append(AccessPattern(
            name, str(d.get("description") or name), target, index, key,
            None if prefix is None else _template(prefix, f"{where}.sort_key_begins_with"),
            text(d.get("subjects"), f"{where}.subjects"), text(d.get("sql"), f"{where}.sql"),
            texts(d.get("compare", []), f"{where}.compare") if d.get("compare") is not None else (), ordered))
    return tuple(out)
