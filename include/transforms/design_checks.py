"""Validation of a `sql_to_dynamodb` design against its source: the SQL the validators send the source database,
the items sampled source rows must have become, and the comparison of each access pattern with its SQL.

The source answers for itself: counts are SQL COUNTs over the item types' tables and conditions, sampled rows
are read by SQL and rendered into expected items here in Python (`item_templates.render`, not the job's Spark
columns), and each access pattern's expected rows are the spec's own SQL. The SQL is plain: `"schema"."table"`
quoted, aliases as the spec's conditions name them, `%(name)s` parameters. Pure Python.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from transforms.checks import compare_row, normalize
from transforms.design_spec import PICKED, AccessPattern, Attribute, Derived, ItemType, OrderTerm
from transforms.dynamo_items import MAX_ITEM_BYTES, from_item, item_size_bytes, to_item
from transforms.identifiers import quoted
from transforms.item_templates import format_instant, render_text
from transforms.source_types import coerce_integral, declared_integers

__all__ = ["columns_sql", "compare_keys", "compare_ordered", "comparable", "count_sql", "declared", "derive",
           "expected_item", "item_diffs", "pattern_query", "pick", "rows_sql", "sample_groups", "schema_sql",
           "subject_params", "unique_name"]


def schema_sql(sql: str, schema: str) -> str:
    """A spec's SQL with `{schema}` as the run's quoted source schema."""
    return sql.replace("{schema}", quoted(schema))


def _from(item: ItemType, schema: str) -> str:
    if item.query is not None:
        return f"({schema_sql(item.query, schema)}) AS {item.table}"
    out = f"{quoted(schema, item.table)} AS {item.table}"
    for j in item.joins:
        if j.how != "anti":
            out += f" {'LEFT JOIN' if j.how == 'left' else 'JOIN'} {quoted(schema, j.table)} AS {j.alias} ON ({j.on})"
    return out


def _integers(types: Mapping[str, Mapping[str, str]], table: str) -> list[str]:
    """The columns of `table` the spec declares to hold integers (`column_types`)."""
    return declared_integers(types.get(table, {}))


def _integral(types: Mapping[str, Mapping[str, str]], table: str, alias: str) -> list[str]:
    """SQL: the row of `alias` holds an integral value in each column declared to hold integers (or NULL), as the
    job reads it (any other row is a `bad_type` reject: `transforms.source_types`), judged by the source itself."""
    return [f"({alias}.{c} IS NULL OR {alias}.{c} = FLOOR({alias}.{c}))" for c in _integers(types, table)]


def _where(item: ItemType, schema: str, *, picked: bool = True,
           types: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The WHERE of the item type's rows: its anti joins, and its `where` unless `picked` is False (then the rows
    carry `PICKED` instead, for derivations that see every row); with `types`, only rows the job can read."""
    types = types or {}
    parts = [f"({item.where})"] if item.where and picked else []
    parts += _integral(types, item.table, item.table)
    parts += [p for j in item.joins if j.how == "inner" for p in _integral(types, j.table, j.alias)]
    parts += [f"NOT EXISTS (SELECT 1 FROM {quoted(schema, j.table)} AS {j.alias} WHERE "
              f"{' AND '.join([f'({j.on})', *_integral(types, j.table, j.alias)])})"
              for j in item.joins if j.how == "anti"]
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def _column(item: ItemType, name: str) -> str:
    """A row name (`column`, `alias.column`) as SQL."""
    return name if "." in name else f"{item.table}.{name}"


def _keep(item: ItemType) -> Derived | None:
    return next((d for d in item.derived if d.name == item.keep), None)


def count_sql(item: ItemType, schema: str, types: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The source rows that become items of this type (one per group when it keeps each group's latest); rows the
    job rejects for a non-integral value in a column `types` declares an integer left out."""
    keep, where = _keep(item), _where(item, schema, types=types)
    if keep is None:
        return f"SELECT COUNT(*) FROM {_from(item, schema)}{where}"
    groups = ", ".join(_column(item, n) for n in keep.per)
    return f"SELECT COUNT(*) FROM (SELECT DISTINCT {groups} FROM {_from(item, schema)}{where}) AS g"


def declared(item: ItemType, rows: Iterable[dict[str, Any]], types: Mapping[str, Mapping[str, str]]
             ) -> list[dict[str, Any]]:
    """Rows as the job reads them: columns declared integers (`column_types`) as exact ints; a row of the `from`
    table (or an inner-joined one) holding a non-integral value left out, a left-joined one's columns None."""
    out = []
    for row in rows:
        row = dict(row)
        keep = True
        for alias, table, how in [(None, item.table, "inner"), *((j.alias, j.table, j.how) for j in item.joins
                                                                 if j.how != "anti")]:
            names = {c: c if alias is None else f"{alias}.{c}" for c in _integers(types, table)}
            try:
                for name in names.values():
                    if row.get(name) is not None:
                        row[name] = coerce_integral(row[name])
            except ValueError:
                if how == "inner":
                    keep = False
                    break
                prefix = f"{alias}."
                row.update({k: None for k in row if k.startswith(prefix)})
        if keep:
            out.append(row)
    return out


def columns_sql(schema: str, table: str) -> str:
    """No rows, every column: the cursor's description names them."""
    return f"SELECT * FROM {quoted(schema, table)} WHERE 1 = 0"


def sample_groups(item: ItemType) -> tuple[str, ...]:
    """The columns whose groups a sample reads whole: those of the derivations and of keys made unique."""
    return tuple(dict.fromkeys([*(n for d in item.derived for n in d.per),
                                *(n for a in item.keys if a.unique for n in a.unique.per)]))


def sample_order(item: ItemType) -> tuple[str, ...]:
    """What the sampled rows are read in order of: the groups first (`sample_groups`: each read whole), then
    the key's columns."""
    names = list(sample_groups(item))
    names += [r.name for a in item.keys for r in a.template.refs if r.name not in {d.name for d in item.derived}]
    return tuple(dict.fromkeys(names)) or ("1",)


def rows_sql(item: ItemType, schema: str, columns: Mapping[str, Sequence[str]]) -> str:
    """The item type's rows, columns named as the spec's templates name them, in `sample_order`."""
    select = [f"{item.table}.*"] if item.query is not None else [
        f'{item.table}.{c} AS "{c}"' for c in columns[item.table]]
    select += [f'{j.alias}.{c} AS "{j.alias}.{c}"' for j in item.joins if j.how != "anti" for c in columns[j.table]]
    picked = not (item.where and item.derived)
    if not picked:
        select.append(f'CASE WHEN ({item.where}) THEN 1 ELSE 0 END AS "{PICKED}"')
    order = ", ".join(_column(item, n) if n != "1" else n for n in sample_order(item))
    where = _where(item, schema, picked=picked)
    return f"SELECT {', '.join(select)} FROM {_from(item, schema)}{where} ORDER BY {order}"


def _compare(a: Any, b: Any, term: OrderTerm) -> int:
    if a is None or b is None:
        if a is None and b is None:
            return 0
        first = -1 if term.nulls_first_effective else 1
        return first if a is None else -first
    out = (a > b) - (a < b)
    return -out if term.descending else out


def _ordered(rows: Sequence[dict[str, Any]], order_by: Sequence[OrderTerm]) -> list[dict[str, Any]]:
    def cmp(x: dict[str, Any], y: dict[str, Any]) -> int:
        for t in order_by:
            c = _compare(x[t.name], y[t.name], t)
            if c:
                return c
        return 0

    return sorted(rows, key=functools.cmp_to_key(cmp))


def unique_name(a: Attribute) -> str:
    """Where `derive` leaves a key made unique (`design_spec.Unique`)."""
    return f"__unique_{a.name}"


def derive(item: ItemType, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the item type's derived columns, and only those it keeps (`transforms.design_plan` does this in
    Spark); rows must hold whole groups. What `expected_item` renders."""
    out = [{k: _instant(v) for k, v in r.items()} for r in rows]  # instants as UTC wall clock, as Spark renders them
    for d in item.derived:
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for r in out:
            groups.setdefault(tuple(r[n] for n in d.per), []).append(r)

        for members in groups.values():
            ordered = _ordered(members, d.order_by)
            for n, r in enumerate(ordered, 1):
                r[d.name] = (n == len(ordered)) if d.kind == "latest" else n
    out = [r for r in out if r.pop(PICKED, 1)]
    out = [r for r in out if r[item.keep]] if item.keep else out
    for a in item.keys:
        if a.unique is not None:
            _make_unique(out, a)
    return out


def _make_unique(rows: list[dict[str, Any]], a: Attribute) -> None:
    """`a`'s value in each row (under `unique_name(a)`), made unique within its group as the job does."""
    assert a.unique is not None
    u, name = a.unique, unique_name(a)
    for r in rows:
        r[name] = _value(Attribute(a.name, a.template, a.fmt, a.type), r)

    def shared() -> Counter:
        return Counter((tuple(r[g] for g in u.per), r[name]) for r in rows)

    for suffix in u.suffixes:
        counts = shared()
        for r in [r for r in rows if counts[(tuple(r[g] for g in u.per), r[name])] > 1]:
            tail = _value(Attribute(a.name, suffix, a.fmt, "S"), r)
            r[name] = None if r[name] is None or tail is None else f"{r[name]}{tail}"
    if u.number_by:
        counts = shared()
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for r in rows:
            if counts[(tuple(r[g] for g in u.per), r[name])] > 1:
                groups.setdefault((tuple(r[g] for g in u.per), r[name]), []).append(r)
        for members in groups.values():
            for n, r in enumerate(_ordered(members, u.number_by), 1):
                r[name] = None if r[name] is None else f"{r[name]}{u.number_prefix}{n}"


def _instant(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value


def _value(a: Attribute, row: Mapping[str, Any]) -> Any:
    """`a`'s value for `row` (its instants in UTC already: `derive`, `subject_params`)."""
    formats = {r.name: a.fmt for r in a.template.refs} if a.fmt else {}
    if a.type is not None:
        single = a.template.single
        text = a.template.render(row, formats) if single is None else (
            None if row[single.name] is None else render_text(row[single.name], a.fmt))
        if a.type == "N" and text is not None:
            try:
                return Decimal(text)
            except InvalidOperation:
                raise ValueError(f"{a.name}: {text!r} is no number") from None
        return text
    return a.template.render(row, formats)


def expected_item(item: ItemType, row: Mapping[str, Any], type_attribute: str, key_names: Sequence[str]
                  ) -> dict[str, dict] | None:
    """The item `row` must have become; None when the job rejects the row (a key of the table has no value, text
    forced to N is no number, or the item is over DynamoDB's 400 KB)."""
    values: dict[str, Any] = {}
    for a in item.outputs:
        if a.when is not None and not row[a.when]:
            continue
        if a.unique is not None:
            values[a.name] = row[unique_name(a)]
            continue
        try:
            values[a.name] = _value(a, row)
        except ValueError:
            return None
    if any(values.get(k) is None for k in key_names):
        return None
    out = to_item({**values, type_attribute: item.type_value})
    return None if item_size_bytes(out) > MAX_ITEM_BYTES else out


def item_diffs(expected: Mapping[str, Mapping[str, Any]], actual: Mapping[str, Mapping[str, Any]] | None
               ) -> list[str]:
    """Attribute-by-attribute differences over the union of attribute names.

    Values are compared with `compare_row` after `from_item`, so numbers compare by value: DynamoDB trims
    leading and trailing zeros of every number it stores ("45.50" is read back as "45.5"), whatever the
    writer sent. Attributes whose values compare equal under different type tags (BOOL true and N 1) are
    reported too.
    """
    if actual is None:
        return compare_row({}, None, [])
    e, a = from_item(expected), from_item(actual)
    columns = sorted(set(e) | set(a))
    diffs = compare_row(e, a, columns)
    differing = {d.split(":", 1)[0] for d in diffs}
    for name in columns:
        if name in differing or name not in expected or name not in actual:
            continue
        if set(expected[name]) != set(actual[name]):
            diffs.append(f"{name}: expected {dict(expected[name])!r}, found {dict(actual[name])!r}")
    return diffs


def _json(value: Any) -> Any:
    """A compared key or row as JSON data (results are XComs and report files): tuples as lists, numbers as int or
    text."""
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


def compare_keys(expected: Iterable[Any], actual: Iterable[Any], *, show: int = 10) -> tuple[Any, Any]:
    """(expected, actual) for a `Check`: equal counts when the multisets agree, else the differences.

    Duplicates count (two items where the source has one is an error). Keys are turned into lists so the result
    is JSON-serialisable.
    """
    e, a = Counter(expected), Counter(actual)
    n = sum(e.values())
    if e == a:
        return n, n

    def listed(c: Counter) -> list[Any]:
        return [_json(k) for k in sorted(c.elements(), key=repr)[:show]]

    return n, {"found": sum(a.values()), "missing": listed(e - a), "unexpected": listed(a - e)}


def compare_ordered(expected: Sequence[Any], actual: Sequence[Any]) -> tuple[Any, Any]:
    """(expected, actual) for a `Check` of two sequences that must be equal in order: their length when they are,
    else where they first differ."""
    if list(expected) == list(actual):
        return len(expected), len(actual)
    pairs = enumerate(zip(expected, actual, strict=False))
    i = next((n for n, (e, a) in pairs if e != a), min(len(expected), len(actual)))

    def at(rows: Sequence[Any]) -> Any:
        return _json(rows[i]) if i < len(rows) else None

    return len(expected), {"found": len(actual), "first_difference_at": i, "expected": at(expected),
                           "found_row": at(actual)}


# --- access patterns ---------------------------------------------------------------------------------------


def pick(rows: Sequence[Any], n: int) -> list[Any]:
    """`n` of `rows` spread evenly from first to last (all of them when there are no more)."""
    if len(rows) <= n:
        return list(rows)
    if n <= 1:
        return list(rows[:n])
    return [rows[round(i * (len(rows) - 1) / (n - 1))] for i in range(n)]


def subject_params(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A `subjects` row as the parameters of a pattern's key templates and SQL: instants in UTC, and a number the
    source keeps as a float or an unscaled decimal that is integral (an id in a DOUBLE PRECISION or NUMERIC column,
    as AWS's own ports keep them) as the int the items hold."""
    def plain(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, Decimal) and v.is_finite() and v.as_tuple().exponent == 0:
            return int(v)
        return _instant(v)

    return {c: plain(v) for c, v in zip(columns, row, strict=True)}


def pattern_query(p: AccessPattern, subject: Mapping[str, Any], sort_key: str | None) -> dict[str, Any] | None:
    """The Query of `p` for one subject (index, key condition; `sort_key`: the sort key attribute of the table or
    index it queries); None when a key part is missing."""
    names: dict[str, str] = {}
    values: dict[str, dict] = {}
    conditions = []
    for n, a in enumerate(p.key):
        value = _value(a, subject)
        if value is None:
            return None
        names[f"#k{n}"] = a.name
        values[f":k{n}"] = to_item({"v": value})["v"]
        conditions.append(f"#k{n} = :k{n}")
    if p.sort_key_begins_with is not None:
        prefix = p.sort_key_begins_with.render(dict(subject))
        if prefix is None:
            return None
        names["#s"] = str(sort_key)
        values[":s"] = {"S": prefix}
        conditions.append("begins_with(#s, :s)")
    query: dict[str, Any] = {"KeyConditionExpression": " AND ".join(conditions),
                             "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    if p.index:
        query["IndexName"] = p.index
    return query


def comparable(value: Any) -> Any:
    """One form for a value from the source driver and from an item: timestamps and dates as the items write
    them by default, numbers by value."""
    value = _instant(value)
    if isinstance(value, date):
        return format_instant(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    return normalize(value)
