"""A `sql_to_dynamodb` design as Spark plans: source tables → each item type's rows → items, rejects and counts.

The source tables are temporary views `src_<table>`; an item type's rows are one Spark SQL query (its `from`,
`join`s, `where`), its derived columns window functions, its keys and attributes column expressions rendered as
`transforms.item_templates` renders them in Python. Rows whose key has a missing part are rejects
(`missing_key`); when rows of one target render the same key, the first (by item type, then the item's text) is
written and the others are rejects (`duplicate_key`): nothing is dropped unseen. No I/O beyond Spark, no
session of its own; pyspark imported lazily.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from transforms.design_spec import PICKED, Attribute, ItemType, OrderTerm
from transforms.dynamo_items import to_item
from transforms.item_templates import DATE_FORMAT, TIMESTAMP_FORMAT, Template

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["REJECT", "REWRITTEN", "SCOPE_KEEP", "TYPE_ORDER", "Scope", "derive", "item_frame", "key_frame",
           "register_sources", "row_to_item", "target_frame", "view_name"]

REJECT = "_reject"  # the reject reason column: null for an item to write
TYPE_ORDER = "_type_order"


def view_name(table: str) -> str:
    return f"src_{table}"


def register_sources(frames: Mapping[str, DataFrame]) -> None:
    """Each source table as the view the item types' SQL reads (`view_name`), and under its own name for the SQL a
    spec writes (`touched_by`, anomalies)."""
    for table, df in frames.items():
        df.createOrReplaceTempView(view_name(table))
        df.createOrReplaceTempView(table)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def rows_sql(item: ItemType, columns: Mapping[str, Sequence[str]]) -> str:
    """The Spark SQL of an item type's rows: the `from` table's columns by name, a joined table's as
    `alias.column` (an anti join's not at all); or its query's rows, the tables read through their views."""
    if item.query is not None:
        return f"SELECT * FROM ({item.query.replace('{schema}.', '')}) AS {item.table}"
    select = [f"{_q(item.table)}.{_q(c)} AS {_q(c)}" for c in columns[item.table]]
    joins = []
    for j in item.joins:
        kind = {"left": "LEFT JOIN", "inner": "JOIN", "anti": "LEFT ANTI JOIN"}[j.how]
        joins.append(f"{kind} {view_name(j.table)} AS {_q(j.alias)} ON ({j.on})")
        if j.how != "anti":
            select += [f"{_q(j.alias)}.{_q(c)} AS {_q(f'{j.alias}.{c}')}" for c in columns[j.table]]
    if item.where and item.derived:  # derivations see every row: `where` marks this item type's (`PICKED`)
        select.append(f"(CASE WHEN ({item.where}) THEN TRUE ELSE FALSE END) AS {PICKED}")
    sql = f"SELECT {', '.join(select)} FROM {view_name(item.table)} AS {_q(item.table)} {' '.join(joins)}"
    return f"{sql} WHERE ({item.where})" if item.where and not item.derived else sql


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(_q(name))


def _sort(term: OrderTerm, reverse: bool = False) -> Column:
    c = _col(term.name)
    desc = term.descending != reverse
    nulls_first = term.nulls_first_effective != reverse
    if desc:
        return c.desc_nulls_first() if nulls_first else c.desc_nulls_last()
    return c.asc_nulls_first() if nulls_first else c.asc_nulls_last()


def derive(df: DataFrame, item: ItemType, *, within: Sequence[Column] = (), prefix: str = "") -> DataFrame:
    """The item type's derived columns (named `prefix` + their name), each group further split by `within`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    for d in item.derived:
        by = [*(_col(n) for n in d.per), *within]
        if d.kind == "number":
            df = df.withColumn(prefix + d.name, F.row_number().over(Window.partitionBy(*by).orderBy(
                *[_sort(t) for t in d.order_by])))
        else:  # the greatest row in the order: the first when every term is reversed
            df = df.withColumn(prefix + d.name, F.row_number().over(Window.partitionBy(*by).orderBy(
                *[_sort(t, reverse=True) for t in d.order_by])) == 1)
    return df


def _text(df: DataFrame, name: str, fmt: str | None) -> Column:
    """A column as template text (`item_templates.render_text`)."""
    from pyspark.sql import functions as F

    kind = dict(df.dtypes)[name]
    c = _col(name)
    if kind == "timestamp":
        return F.date_format(c, fmt or TIMESTAMP_FORMAT)
    if kind == "date":
        return F.date_format(c, fmt or DATE_FORMAT)
    return c.cast("string")


def _value(df: DataFrame, template: Template, fmt: str | None, as_text: bool) -> Column:
    from pyspark.sql import functions as F

    single = template.single
    if single is not None and not as_text and dict(df.dtypes)[single.name] not in ("timestamp", "date"):
        return _col(single.name)
    parts = []
    for part in template.parts:
        if isinstance(part, str):
            parts.append(F.lit(part))
        else:
            text = _text(df, part.name, fmt)
            parts.append(F.lpad(text, part.pad, "0") if part.pad else text)
    return F.concat(*parts) if len(parts) > 1 else parts[0]


def _output(df: DataFrame, a: Attribute) -> Column:
    from pyspark.sql import functions as F

    value = _value(df, a.template, a.fmt, a.type is not None)
    return (F.when(_col(a.when), value) if a.when else value).alias(a.name)


def _unique_name(a: Attribute) -> str:
    return f"__unique_{a.name}"


def _unique(df: DataFrame, a: Attribute) -> DataFrame:
    """The key `a` as a column of its own, made unique within its group (`design_spec.Unique`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    assert a.unique is not None
    u, name = a.unique, _unique_name(a)
    df = df.withColumn(name, _value(df, a.template, a.fmt, a.type is not None))
    group = [_col(n) for n in u.per]
    for suffix in u.suffixes:
        shared = F.count(F.lit(1)).over(Window.partitionBy(*group, F.col(name))) > 1
        df = df.withColumn(name, F.when(shared, F.concat(F.col(name), _value(df, suffix, a.fmt, True)))
                           .otherwise(F.col(name)))
    if u.number_by:
        same = Window.partitionBy(*group, F.col(name))
        number = F.row_number().over(same.orderBy(*[_sort(t) for t in u.number_by])).cast("string")
        df = df.withColumn(name, F.when(F.count(F.lit(1)).over(same) > 1, F.concat(
            F.col(name), F.lit(u.number_prefix), number)).otherwise(F.col(name)))
    return df


class Scope(Protocol):
    """What part of an item type's rows a load writes (`transforms.design_intervals`): `mark` sees the rows with
    their derived columns, before `where` picks and keys are made unique; it may filter them, or add
    `SCOPE_KEEP` (the rows to write, applied after keys are made unique) and `REWRITTEN`."""

    def mark(self, df: DataFrame, item: ItemType) -> DataFrame: ...


SCOPE_KEEP = "_scope_keep"
REWRITTEN = "_rewritten"  # an item of rows outside the window, rewritten because the window changed it


def item_frame(spark: SparkSession, item: ItemType, columns: Mapping[str, Sequence[str]], type_attribute: str,
               key_names: Sequence[str], order: int, scope: Scope | None = None) -> DataFrame:
    """The item type's items as columns named like their attributes, plus `type_attribute`, `REJECT`
    (`missing_key: <attributes>`, `bad_number: <attributes>`: text forced to N that is no number) and
    `TYPE_ORDER` (and `REWRITTEN` when the `scope` says). ValueError naming what a template reads that the rows
    lack."""
    from pyspark.sql import functions as F

    df = spark.sql(rows_sql(item, columns))
    missing = sorted(r for r in item.references() | {a.when for a in item.attributes if a.when}
                     if r not in df.columns and r not in {d.name for d in item.derived})
    if missing:
        raise ValueError(f"item type {item.name}: {missing} are no columns of its rows ({df.columns}) nor derived")
    df = derive(df, item)
    if scope is not None:
        df = scope.mark(df, item)
    if item.keep:
        df = df.where(_col(item.keep))
    if PICKED in df.columns:
        df = df.where(F.col(PICKED)).drop(PICKED)
    for a in item.keys:
        if a.unique is not None:
            df = _unique(df, a)
    if SCOPE_KEEP in df.columns:
        df = df.where(F.col(SCOPE_KEEP)).drop(SCOPE_KEEP)
    outputs = [_col(_unique_name(a)).alias(a.name) if a.unique else _output(df, a) for a in item.outputs]
    base = [a.name for a in item.keys if a.name in key_names]
    numbers = [a.name for a in item.outputs if a.type == "N"]
    named = type_attribute in {a.name for a in item.outputs}  # a key may be the type (checked to be its value)
    out = df.select(*outputs, *([] if named else [F.lit(item.type_value).alias(type_attribute)]),
                    *([F.col(REWRITTEN)] if REWRITTEN in df.columns else []))
    missing = F.concat_ws(", ", *[F.when(_col(k).isNull(), F.lit(k)) for k in base])
    bad = F.concat_ws(", ", *[F.when(_col(n).isNotNull() & _col(n).cast("decimal(38,10)").isNull(), F.lit(n))
                              for n in numbers]) if numbers else F.lit("")
    return (out.withColumn(REJECT, F.when(missing != "", F.concat(F.lit("missing_key: "), missing))
                           .when(bad != "", F.concat(F.lit("bad_number: "), bad)))
            .withColumn(TYPE_ORDER, F.lit(order)))


def key_frame(spark: SparkSession, item: ItemType, columns: Mapping[str, Sequence[str]], key_names: Sequence[str],
              rows: Scope) -> DataFrame:
    """The table keys the item type's templates render from its `from` rows the `rows` scope keeps, whether or
    not `where` and anti joins would make them items: what a load deletes where no item is written."""
    from dataclasses import replace

    bare = replace(item, where=None, joins=tuple(j for j in item.joins if j.how != "anti"), derived=(), keep=None,
                   attributes=())
    df = rows.mark(spark.sql(rows_sql(bare, columns)), bare)
    keys = [a for a in bare.keys if a.name in key_names]
    return df.select(*[_output(df, a) for a in keys]).dropna(how="any").distinct()


def target_frame(spark: SparkSession, items: Iterable[ItemType], columns: Mapping[str, Sequence[str]],
                 type_attribute: str, key_names: Sequence[str],
                 scopes: Mapping[str, Scope | None] | None = None) -> DataFrame:
    """Every item of one target (of each item type what its scope, by name, says a load writes), with `REJECT` set
    on the duplicates of a key (all but the first)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    scopes = scopes or {}
    frames = [item_frame(spark, item, columns, type_attribute, key_names, n, scopes.get(item.name))
              for n, item in enumerate(items)]
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f, allowMissingColumns=True)
    keys = [_col(k) for k in key_names]
    attrs = [c for c in df.columns if c not in (REJECT, TYPE_ORDER, REWRITTEN)]
    first = Window.partitionBy(*keys).orderBy(TYPE_ORDER, F.to_json(F.struct(*[_col(c) for c in attrs])))
    dup = F.row_number().over(first) > 1
    return df.withColumn(REJECT, F.when(_col(REJECT).isNotNull(), _col(REJECT)).when(dup, F.lit("duplicate_key")))


def row_to_item(row: Mapping[str, Any], numbers: frozenset[str]) -> dict[str, dict]:
    """A target row as a DynamoDB item: `numbers` (attributes forced to N) from their text; None left out."""
    out = {}
    for name, value in row.items():
        if name in (REJECT, TYPE_ORDER, REWRITTEN):
            continue
        out[name] = Decimal(value) if name in numbers and isinstance(value, str) else value
    return to_item(out)
