"""The mapping of plain documents as Spark expressions: parsed, typed, keyed and deduplicated in the JVM.

`transforms.adjacency.DocumentMapper` maps one document in Python (tens of µs each, and every mapped item pickled
through the shuffle). Most documents of a real collection are *plain*: every value the spec reads has one of a few
exact forms (a JSON string, a whole number, a decimal of at most 15 digits, an ISO date, `$oid`, `$date`,
`$numberInt`/`$numberLong`/`$numberDouble`/`$numberDecimal` with a payload of those forms, an array of strings), no
field is left for `_extra`, and nothing is near a size limit. For those the expressions below say exactly what the
mapper says; everything else (a reject, an Extended JSON or value form outside these, unmapped fields, escapes of
NUL or surrogates, duplicate keys) is not plain and goes to the mapper, document by document, so rows, rejects and
their reasons stay the mapper's. Each document's group key (its entity and `PK|SK`) is computed whenever its key
fields are plain, plain or not the rest of it, so a key's documents meet in one group whichever side maps them.

What stays with the mapper, by design: windows (interval runs), natural keys, child tables, references by field,
entities keyed by a field, specs of several collections, `timestamptz` and free `json` columns, nested paths
deeper than one object. `native_entities` tells; an entity it leaves out is mapped in Python whole.

Opt-in (the job's `--native-mapping`), not the default: the expressions give the mapper's rows exactly
(tests/include/transforms/test_native_mapping.py), but on two cores they cost more than the Python mapper they
replace, because the documents still cross into the JVM and the winners back into Python (docs/scaling.md has the
figures). They pay once the read and the write stay in the JVM too.

pyspark is imported inside the functions: Airflow imports this bundle where pyspark is not installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from transforms.conversion import INT_RANGE, VALUE_OF
from transforms.entity_spec import EXTRA_COLUMN, EntitySpec
from transforms.fast_mapper import objectid_columns
from transforms.mapped import Mapped
from transforms.source_text import holds_surrogates

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from transforms.adjacency import DocumentMapper

# Every key of a document's text (at any depth; not `$…`, the Extended JSON wrappers') and the first character of
# its value: `"` a string, `{` an object, `[` an array, `n` null, `t`/`f` a boolean, else a number. A key can only
# follow an unescaped `{` or `,` (inside a string every `"` is escaped), so no string value can fake one; a field
# is read only where the text names its key exactly once, as the parser saw it.
_PROBE = r'[{,]\s*"([^"\\$][^"\\]*)"\s*:\s*(?=(.))'
# An escaped NUL or surrogate: the JVM's parser reads a lone one as `?`, Python as what PostgreSQL cannot store.
_BAD_ESCAPE = r"(?i)\\u(d[89a-f]|0000)"
_NUMBER = r"[-0-9]"
_WHOLE = r"-?[0-9]{1,18}"
_DECIMAL = r"-?[0-9]+(\.[0-9]+)?"
_DOUBLE = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
_DAY = r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{3})?Z"
_STRINGS = r'\[("[^"\\\x00-\x1f]*"(,"[^"\\\x00-\x1f]*")*)?\]'
_OID = r'\{"\$oid":"[0-9a-fA-F]{24}"\}'
# Python's json reads no single quotes; the JVM's does unless told
STRICT = {"allowSingleQuotes": "false"}
_TYPES = ("text", "int", "bigint", "numeric", "double", "date", "boolean", "json")
# 15 digits quantized to this scale stay within the 28 digits Python's decimal context holds (beyond, it fails)
MAX_SCALE = 13
MIN_NESTING = 3  # the deepest plain form: {"$date": {"$numberLong": …}} inside the document
ROW_MARGIN = 512  # bytes: a plain row's estimate is at most its text, plus this, plus 64 per column



def native_entities(mapper: DocumentMapper) -> tuple[EntitySpec, ...]:
    """The entities whose plain documents the expressions map; () where the mapper must map everything."""
    shape = mapper.shape
    if (not mapper.window.is_full or mapper.natural_targets or shape.discriminator is None
            or mapper.max_nesting_depth < MIN_NESTING):
        return ()
    return tuple(e for e in mapper.entities.values() if _native(e, mapper))


def _native(entity: EntitySpec, mapper: DocumentMapper) -> bool:
    if entity.id_field or entity.children or entity.references or entity.collection or entity.sk is None:
        return False
    for col in entity.columns:
        if col.type not in _TYPES or (col.type == "json" and col.array_of != "text") or col.source.count(".") > 1:
            return False
        if col.type == "numeric" and (col.scale or 0) > MAX_SCALE or col.source.startswith("$"):
            return False
    consumed = mapper._consumed[entity.name]
    return all(sub is True or all(v is True for v in sub.values()) for sub in consumed.values())


def plain_mapped(mapper: DocumentMapper, entity_name: str, key: str, pk: str, pk_id: str, sk_id: str, oid: str,
                 values: Iterable[str | None]) -> Mapped:
    """What `mapper.map_document` makes of a plain document, from what the expressions read of it: its keys, its
    `$oid` (lowercase hex) and each column's value as text."""
    entity = mapper.entities[entity_name]
    row, refs = mapper._key_columns(entity, pk, pk_id, sk_id)
    for col, value in zip(entity.columns, values, strict=True):
        row[col.name] = None if value is None else VALUE_OF[col.type](value)
    row[EXTRA_COLUMN] = None
    return Mapped(entity.name, key, pk, objectid_columns(row, oid), row, tuple(refs))


def _whole(raw: Column, first: Column, wrappers: str = "Int|Long") -> Column:
    """The digits of a whole number in a plain form (a number, a string of digits, `$numberInt`/`$numberLong`)."""
    from pyspark.sql import functions as F

    return (F.when(first.rlike(_NUMBER) & raw.rlike(f"^{_WHOLE}$"), raw)
            .when((first == '"') & raw.rlike(f"^{_WHOLE}$"), raw)
            .when((first == "{") & raw.rlike(rf'^\{{"\$number({wrappers})":"{_WHOLE}"\}}$'),
                  F.regexp_extract(raw, f"({_WHOLE})", 1)))


def _decimal_text(raw: Column, first: Column) -> Column:
    """A decimal of at most 15 digits in a plain form: as a float, Python reads it back to the same value."""
    from pyspark.sql import functions as F

    text = (F.when(first.rlike(_NUMBER) & raw.rlike(f"^{_DECIMAL}$"), raw)
            .when((first == '"') & raw.rlike(f"^{_DECIMAL}$"), raw)
            .when((first == "{") & raw.rlike(rf'^\{{"\$number(Double|Decimal)":"{_DECIMAL}"\}}$'),
                  F.regexp_extract(raw, f"({_DECIMAL})", 1))
            .when((first == "{") & raw.rlike(rf'^\{{"\$number(Int|Long)":"{_WHOLE}"\}}$'),
                  F.regexp_extract(raw, f"({_WHOLE})", 1)))
    return F.when(F.length(F.regexp_replace(text, "[^0-9]", "")) <= 15, text)


def _value(col: Any, raw: Column, first: Column) -> Column:
    """The text of a column's value read from `raw` (its field as text, None when null or absent) where its form is
    plain, else null."""
    from pyspark.sql import functions as F

    t = col.type
    if t == "text":
        value = F.when((first == '"') & ~raw.contains("\x00"), raw)
    elif t in ("int", "bigint"):
        low, high = INT_RANGE[t]  # a whole of at most 18 digits: within bigint's range
        number = _whole(raw, first).cast("bigint")
        value = F.when(number.between(low, high), number.cast("string"))
    elif t == "numeric":
        scale = col.scale or 0
        number = _decimal_text(raw, first).cast(f"decimal(38,{scale})")
        digits = (col.precision or 38) - scale  # at most 15 digits fit whatever the precision leaves them
        value = number.cast("string") if digits > 15 else F.when(F.abs(number) < F.lit(Decimal(10) ** digits),
                                                                    number.cast("string"))
    elif t == "double":
        value = F.when(first.rlike(_NUMBER) & raw.rlike(f"^{_DOUBLE}$"), raw).when(
            (first == "{") & raw.rlike(rf'^\{{"\$numberDouble":"{_DECIMAL}"\}}$'),
            F.regexp_extract(raw, f"({_DECIMAL})", 1))
    elif t == "boolean":
        value = F.when(first.isin("t", "f") & raw.isin("true", "false"), raw)
    elif t == "date":
        day = (F.when((first == '"') & raw.rlike(f"^{_DAY}$"), raw)
               .when((first == "{") & raw.rlike(rf'^\{{"\$date":"{_DAY}{_TIME}"\}}$'), F.substring(raw, 11, 10)))
        millis = F.when((first == "{") & raw.rlike(r'^\{"\$date":\{"\$numberLong":"-?[0-9]{1,13}"\}\}$'),
                        F.regexp_extract(raw, "(-?[0-9]{1,13})", 1).cast("bigint"))
        value = F.coalesce(F.to_date(day, "yyyy-MM-dd"),
                           F.date_from_unix_date(F.floor(millis / 86_400_000).cast("int"))).cast("string")
    else:  # json, an array of strings: the JVM writes it as Python's json.dumps does (no escape in it)
        value = F.when((first == "[") & raw.rlike(f"^{_STRINGS}$"), raw)
    return value


def _all(conditions: list[Column]) -> Column:
    from functools import reduce

    from pyspark.sql import functions as F

    return reduce(lambda a, b: a & b, conditions, F.lit(True))


def plain_documents(lines: DataFrame, mapper: DocumentMapper, entities: tuple[EntitySpec, ...]) -> DataFrame:
    """`lines` (`text`, …) with each document's group key and, where plain, what it maps to.

    Adds `entity` and `key` (the document's entity and `PK|SK` where its key fields are plain, else null), `plain`,
    `pk`, `pk_id`, `sk_id`, `oid` (its `_id`'s lowercase hex) and `vals` (each column's value as text, the entity's
    column order). Each whole-text operation runs once per document and each field's value once, whichever
    entities read it; the entities only pick from them."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    shape = mapper.shape
    key_fields = ["_id", shape.discriminator, shape.pk_field, shape.sk_field]
    consumed = {e.name: mapper._consumed[e.name] for e in entities}
    tops = sorted({*key_fields, *(k for c in consumed.values() for k in c)})
    nested = {k: sorted({n for c in consumed.values() if isinstance(c.get(k), dict) for n in c[k]})
              for k in tops if any(isinstance(c.get(k), dict) for c in consumed.values())}

    def struct(names: list[str]) -> T.StructType:
        return T.StructType([T.StructField(n, T.StringType()) for n in names])

    text = F.col("text")
    # wrapped in an array: the JVM's parser would stop at the end of the first object, Python's refuses what follows
    wrapped = F.concat(F.lit('{"d":['), text, F.lit("]}"))
    df = lines.select(
        "*", F.from_json(wrapped, T.StructType([T.StructField("d", T.ArrayType(struct(tops)))]), STRICT)["d"]
        .alias("_d"), F.json_object_keys(text).alias("_top"), F.regexp_extract_all(text, F.lit(_PROBE), 1)
        .alias("_keys"), F.regexp_extract_all(text, F.lit(_PROBE), 2).alias("_firsts"),
        text.rlike(_BAD_ESCAPE).alias("_bad"), F.octet_length(text).alias("_bytes"))
    df = df.select("*", F.when(F.size("_d") == 1, F.col("_d")[0]).alias("_p"))
    df = df.select("*", *(F.from_json(F.col("_p")[k], struct(names), STRICT).alias(f"_n_{k}")
                          for k, names in nested.items()),
                   *(F.json_object_keys(F.col("_p")[k]).alias(f"_nk_{k}") for k in nested))
    keys, firsts = F.col("_keys"), F.col("_firsts")

    # each field once: its text, its value's first character and whether the probe saw it where the parser did
    paths = sorted({*key_fields, *tops, *(c.source for e in entities for c in e.columns)})
    fields: dict[str, tuple[Column, Column, Column]] = {}
    for i, path in enumerate(paths):
        parts = path.split(".")
        if len(parts) == 1:
            present, raw = F.array_contains(F.col("_top"), path), F.col("_p")[path]
        else:
            present = F.coalesce(F.array_contains(F.col(f"_nk_{parts[0]}"), parts[1]), F.lit(False))
            raw = F.col(f"_n_{parts[0]}")[parts[1]]
        at = F.array_position(keys, parts[-1])
        df = df.withColumn(f"_r{i}", raw).withColumn(f"_f{i}", F.when(at > 0, F.element_at(firsts, at.cast("int"))))
        named = F.size(keys) - F.size(F.array_remove(keys, parts[-1]))  # how many times the text names it
        df = df.withColumn(f"_c{i}", F.when(present, named == 1).otherwise(named == 0))
        fields[path] = F.col(f"_r{i}"), F.col(f"_f{i}"), F.col(f"_c{i}")
    # each (field, type) once: the value's text, null where not plain
    values: dict[tuple[str, str, int | None, int | None, str | None], Column] = {}
    for e in entities:
        for col in e.columns:
            kind = (col.source, col.type, col.precision, col.scale, col.array_of)
            if kind not in values:
                raw, first, _ = fields[col.source]
                name = f"_v{len(values)}"
                df = df.withColumn(name, _value(col, raw, first))
                values[kind] = F.col(name)

    id_raw, id_first, id_ok = fields["_id"]
    type_raw, type_first, type_ok = fields[shape.discriminator]
    pk_raw, pk_first, pk_ok = fields[shape.pk_field]
    sk_raw, sk_first, sk_ok = fields[shape.sk_field]
    # the key fields as Python reads them: the document parses alike on both sides, each key field is a string
    # named once, and no escape reads differently
    keyed = _all([F.col("_p").isNotNull(), F.col("_top").isNotNull(), ~F.col("_bad"), type_ok,
                  pk_ok, sk_ok, type_first == '"', pk_first == '"', sk_first == '"'])
    document = _all([F.size(F.array_distinct("_top")) == F.size("_top"), F.col("_bytes") <= mapper.max_column_bytes,
                     id_ok, id_first == "{", id_raw.rlike(f"^{_OID}$"), ~pk_raw.contains("\x00"),
                     ~sk_raw.contains("\x00")])
    df = df.withColumn("_keyed", F.coalesce(keyed, F.lit(False))).withColumn("_doc", F.coalesce(document, F.lit(False)))

    entity = pk_id = sk_id = F.lit(None).cast("string")
    vals = F.lit(None).cast("array<string>")
    plain = F.lit(False)
    for e in entities:
        assert e.sk is not None and e.pk.prefix is not None
        is_e = F.col("_keyed") & (type_raw == e.doc_type) & pk_raw.startswith(e.pk.prefix)
        e_pk_id = F.substring(pk_raw, len(e.pk.prefix) + 1, 1 << 30)
        if e.sk.equals is not None:
            is_e &= sk_raw == e.sk.equals
            e_sk_id, sk_plain = F.lit(""), F.lit(True)
        else:
            is_e &= sk_raw.startswith(e.sk.prefix)
            e_sk_id = F.substring(sk_raw, len(e.sk.prefix) + 1, 1 << 30)
            sk_plain = _plain_id(e_sk_id)
        checks = [F.col("_doc"), _plain_id(e_pk_id), sk_plain, _within(F.col("_top"), list(consumed[e.name])),
                  F.col("_bytes") + 64 * (len(e.columns) + 8) + ROW_MARGIN <= mapper.max_row_bytes]
        for parent, sub in consumed[e.name].items():
            p_raw, p_first, p_ok = fields[parent]
            checks.append(p_ok)
            if isinstance(sub, dict):
                checks.append(p_raw.isNull() | ((p_first == "{") & _within(F.col(f"_nk_{parent}"), list(sub))))
        row = []
        for col in e.columns:
            raw, _, consistent = fields[col.source]
            value = values[(col.source, col.type, col.precision, col.scale, col.array_of)]
            checks += [consistent, value.isNotNull() if col.required else raw.isNull() | value.isNotNull()]
            row.append(value)
        entity = F.when(is_e, F.lit(e.name)).otherwise(entity)
        pk_id = F.when(is_e, e_pk_id).otherwise(pk_id)
        sk_id = F.when(is_e, e_sk_id).otherwise(sk_id)
        plain = F.when(is_e, _all(checks)).otherwise(plain)
        vals = F.when(is_e, F.array(*row) if row else F.array().cast("array<string>")).otherwise(vals)
    df = df.withColumn("entity", entity)
    return df.select(
        *lines.columns, "entity",
        F.when(F.col("entity").isNotNull(), F.concat(pk_raw, F.lit("|"), sk_raw)).alias("key"),
        F.coalesce(plain, F.lit(False)).alias("plain"), pk_id.alias("pk_id"), sk_id.alias("sk_id"),
        F.lower(F.substring(id_raw, 10, 24)).alias("oid"), vals.alias("vals"),
        F.when(F.col("entity").isNotNull(), pk_raw).alias("pk"))


def _within(keys: Column, names: list[str]) -> Column:
    """Every one of `keys` is one of `names`."""
    from pyspark.sql import functions as F

    return F.size(F.array_except(keys, F.array(*map(F.lit, names)))) == 0


def _plain_id(id_: Column) -> Column:
    """An id the mapper takes as it is: not blank (an ASCII letter or digit in it), at most 255 characters."""
    from pyspark.sql import functions as F

    return id_.rlike("[0-9A-Za-z]") & (F.length(id_) <= 255)


# The lines as the expressions read them: a text the JVM cannot hold as it is (an invalid byte or a lone surrogate,
# kept by `transforms.source_text` as a surrogate) travels as its bytes instead, and is never plain.
LINE_SCHEMA = "text string, raw binary, where string, source boolean"


def line_row(doc: Any) -> tuple[str | None, bytes | None, str | None, bool]:
    """A document of `transforms.mongo_to_dsql.classify` (a text, or `(text, where[, from the source])`) as a row
    of `LINE_SCHEMA`."""
    text, where, source = (*doc, True)[:3] if isinstance(doc, tuple) else (doc, None, True)
    if holds_surrogates(text):
        return None, text.encode("utf-8", "surrogatepass"), where, source
    return text, None, where, source


def line_text(text: str | None, raw: bytes | None) -> str:
    """The text a `line_row` carries."""
    return text if raw is None else bytes(raw).decode("utf-8", "surrogatepass")


def native_groups(lines: DataFrame, mapper: DocumentMapper, entities: tuple[EntitySpec, ...], partitions: int
                  ) -> DataFrame:
    """The documents of each key, from `lines` (`LINE_SCHEMA`), one JSON text a key (`group`): its `entity` and
    `gkey` (`PK|SK`; a document whose key the expressions cannot read is a group of its own, `entity` null), `n`
    plain documents of the source, the greatest of them by `_id` then text (`oid`, `text`, `where`, `vals`, `pk`,
    `pk_id`, `sk_id`: what `plain_mapped` takes) and `others`, the rest (`text` or base64 `raw`,
    `where`, `source`), for the mapper. One text, not a row: Python reads it several times faster than a nested
    row."""
    from pyspark.sql import functions as F

    docs = plain_documents(lines, mapper, entities)
    plain = F.col("plain") & F.col("source")
    own = F.concat(F.lit("\x00"), F.monotonically_increasing_id().cast("string"))
    docs = docs.withColumn("gkey", F.coalesce(F.col("key"), own)).repartition(partitions, "entity", "gkey")
    winner = F.struct("oid", "text", "where", "vals", "pk", "pk_id", "sk_id")
    other = F.struct("text", F.base64("raw").alias("raw"), "where", "source")
    groups = docs.groupBy("entity", "gkey").agg(
        F.sum(plain.cast("int")).alias("n"),
        F.max_by(F.when(plain, winner), F.when(plain, F.struct("oid", "text"))).alias("w"),
        F.collect_list(F.when(~plain, other)).alias("others"))
    return groups.select(F.to_json(F.struct("entity", "gkey", "n", "w.*", "others"), {"ignoreNullFields": "false"})
                         .alias("group"))
