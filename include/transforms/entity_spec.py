"""The entities of a MongoDB → DSQL spec: the collection(s) they come from, their keys, columns, references and
child tables, and how a document names its entity. Loaded and checked by `parse_entities`; pure Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from transforms.spec_checks import ident, need, text, texts

# Every entity table, and every child table of objects, has this json column: the fields of its document (or
# element) that the spec maps nowhere, kept (`unmapped: keep`), so that no source value is lost.
EXTRA_COLUMN = "_extra"
# The `_id` order as text (`transforms.intervals.version_text`): upserts only replace a row with an equal or
# greater one, so a document loaded by a later interval run never overwrites a newer row.
VERSION_COLUMN = "source_version"
COLUMN_TYPES = ("text", "int", "bigint", "double", "numeric", "date", "timestamptz", "json", "boolean")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")


@dataclass(frozen=True)
class ColumnSpec:
    """One target column filled from one (possibly dotted) source field."""

    name: str
    source: str
    type: str
    required: bool = False
    precision: int | None = None
    scale: int | None = None
    array_of: str | None = None  # json columns only: the value must be an array of this column type

    @classmethod
    def parse(cls, name: str, raw: dict[str, Any], where: str) -> ColumnSpec:
        ident(name, where)
        need(isinstance(raw, dict), where, "must be a mapping with `from` and `type`")
        unknown = set(raw) - {"from", "type", "required", "array_of"}
        need(not unknown, where, f"unknown keys {sorted(unknown)}")
        type_ = str(raw.get("type", ""))
        precision = scale = None
        if m := _NUMERIC.match(type_):
            precision, scale = int(m.group(1)), int(m.group(2))
            need(0 < precision <= 38 and scale <= precision, where, f"bad numeric precision in {type_!r}")
            type_ = "numeric"
        need(type_ in COLUMN_TYPES, where, f"type must be one of {COLUMN_TYPES} or numeric(p,s), got {type_!r}")
        source = raw.get("from", name)
        need(isinstance(source, str) and source != "", where, "`from` must be a field name")
        array_of = raw.get("array_of")
        if array_of is not None:
            need(type_ == "json" and array_of in COLUMN_TYPES and array_of not in ("json", "numeric"), where,
                  "`array_of` needs type json and a scalar element type")
        return cls(name, source, type_, bool(raw.get("required", False)), precision, scale, array_of)


@dataclass(frozen=True)
class KeyPart:
    """How an entity's PK or SK looks: a fixed value (`equals`) or `<prefix><id>`."""

    prefix: str | None = None
    equals: str | None = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> KeyPart:
        need(isinstance(raw, dict) and len(raw) == 1 and set(raw) <= {"prefix", "equals"}, where,
              "must be {prefix: ...} or {equals: ...}")
        value = next(iter(raw.values()))
        need(isinstance(value, str) and value != "", where, "must be a non-empty string")
        return cls(**raw)

    def id_of(self, key: str) -> str | None:
        """The id part of `key`, '' for an `equals` match, None when `key` does not have this shape."""
        if self.equals is not None:
            return "" if key == self.equals else None
        assert self.prefix is not None
        return key[len(self.prefix):] if key.startswith(self.prefix) else None

    def overlaps(self, other: KeyPart) -> bool:
        """Whether some key has both shapes (then the key alone cannot tell two entities apart)."""
        a, b = self.equals or self.prefix or "", other.equals or other.prefix or ""
        if self.equals is not None and other.equals is not None:
            return a == b
        if self.equals is not None:
            return a.startswith(b)
        if other.equals is not None:
            return b.startswith(a)
        return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class RefSpec:
    """A column that points at another entity through the id in the PK or SK."""

    column: str
    entity: str
    key: str  # "pk" or "sk"


@dataclass(frozen=True)
class ReferenceSpec:
    """A uuid column of an entity row naming another entity by a field holding its id (`author_id: a7`): the
    uuid the other entity's row has (`<its prefix><id>`). Written as the source holds it: with no foreign keys
    in DSQL, a reference to a row that does not exist is counted by validation, not dropped."""

    column: str
    entity: str
    source: str
    by: str | None = None  # a natural key: the (top-level) field of the other entity the value names, not its id


@dataclass(frozen=True)
class ChildSpec:
    """A table filled from an array of each parent document, written with the parent in one transaction.

    Of objects: one row per element, keyed by (`parent_column`, `position`), its `columns` read from the element.
    Of ids (`element_entity` set): one row per distinct id, keyed by (`parent_column`, `element_column`), the
    junction of a many-to-many; of natural keys (`element_by` set), the other entity's field they name. Of a map
    keyed by data (`key_column` set: an object whose keys are ids, its values objects of one shape): one row per
    key, keyed by (`parent_column`, `key_column`), its `columns` read from the value. A new version of the parent
    replaces its rows whole (older rows are deleted). Rows of objects keep their unmapped fields in `_extra`.
    """

    name: str
    table: str
    parent: str  # the entity holding the array
    source: str  # the (dotted) array field
    parent_column: str
    columns: tuple[ColumnSpec, ...] = ()
    element_column: str | None = None
    element_entity: str | None = None
    element_by: str | None = None
    key_column: str | None = None

    POSITION = "position"

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.parent_column, self.element_column or self.key_column or self.POSITION)

    @property
    def of_objects(self) -> bool:
        """Rows read from objects (array elements or map values), which have columns and `_extra`."""
        return self.element_entity is None


@dataclass(frozen=True)
class EntitySpec:
    """One entity type stored in the collection and the table it becomes.

    Keyed by `PK`/`SK` (an adjacency list), or by a field of its own (`id_field`, e.g. `_id`): then its source
    key is `<type>#<id>` (`pk` is that prefix, `sk` None), which its uuid derives from as a `PK` would.
    """

    name: str
    table: str
    doc_type: str
    pk: KeyPart
    sk: KeyPart | None
    columns: tuple[ColumnSpec, ...]
    id_column: str | None = None  # entity tables: uuid primary key derived from the source key
    refs: tuple[RefSpec, ...] = ()  # relationship tables: primary key is the refs' columns
    id_field: str | None = None  # entities keyed by a field of their own, not by PK/SK
    references: tuple[ReferenceSpec, ...] = ()  # entity tables: uuid columns naming other entities by a field
    children: tuple[ChildSpec, ...] = ()  # entity tables: tables filled from the document's arrays
    collection: str | None = None  # specs of several collections: the one holding this entity's documents

    @property
    def is_relationship(self) -> bool:
        return bool(self.refs)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(r.column for r in self.refs) if self.refs else (self.id_column or "",)


@dataclass(frozen=True)
class DocumentShape:
    """Where a document names its entity type and its keys (`source.discriminator` and
    `source.key_fields` in a spec). Collections differ: `type`, `_type`, `kind`; `PK`/`SK`, `pk`/`sk`. With no
    discriminator the key shapes alone tell the type, so no two entities' `pk` and `sk` may both overlap."""

    discriminator: str | None = "type"
    pk_field: str = "PK"
    sk_field: str = "SK"

    def type_of(self, doc: dict[str, Any], entities: tuple[EntitySpec, ...], collection: str | None = None
                ) -> str | None:
        """The document's entity `type`: that of its collection's entity (specs of several collections), its
        discriminator's value, or the `type` of the entity whose key shapes its keys have; None when it has none
        (missing, not a string, no entity's shape)."""
        if collection is not None:
            return next((e.doc_type for e in entities if e.collection == collection), None)
        if self.discriminator is not None:
            value = doc.get(self.discriminator)
            return value if isinstance(value, str) else None
        if len(entities) == 1 and entities[0].id_field is not None:  # a collection of one type keyed by a field
            return entities[0].doc_type
        pk, sk = doc.get(self.pk_field), doc.get(self.sk_field)
        if isinstance(pk, str) and isinstance(sk, str):
            for e in entities:
                if e.sk is not None and e.pk.id_of(pk) is not None and e.sk.id_of(sk) is not None:
                    return e.doc_type
        return None


DEFAULT_SHAPE = DocumentShape()  # `type`, `PK`, `SK`: the movie collection's and the AWS post's


def parse_entities(raw: Any, where: str, collections: tuple[str, ...] = ()) -> tuple[EntitySpec, ...]:
    """`entities:` of a spec; `collections` those of `source.collections` (each entity of such a spec names its
    own, and each collection holds one entity)."""
    need(isinstance(raw, dict) and raw, where, "must map entity names to their definitions")
    out = []
    for name, e in raw.items():
        w = f"{where}.{name}"
        need(isinstance(e, dict), w, "must be a mapping")
        unknown = set(e) - {"table", "type", "pk", "sk", "id_column", "refs", "columns", "id_field", "references",
                            "children", "collection"}
        need(not unknown, w, f"unknown keys {sorted(unknown)}")
        id_field = e.get("id_field")
        if id_field is not None:
            text(id_field, f"{w}.id_field")
            need(e.get("pk") is None and e.get("sk") is None and e.get("id_column") and not e.get("refs"), w,
                  "an entity keyed by `id_field` has an `id_column` and no `pk`, `sk` or `refs`")
        refs = tuple(
            RefSpec(ident(col, f"{w}.refs.{col}"), str(r.get("entity")), str(r.get("from")))
            for col, r in (e.get("refs") or {}).items()
        )
        for r in refs:
            need(r.key in ("pk", "sk"), f"{w}.refs.{r.column}", "`from` must be pk or sk")
            need(r.entity in raw and r.entity != name, f"{w}.refs.{r.column}", f"unknown entity {r.entity!r}")
        id_column = e.get("id_column")
        need((id_column is None) == bool(refs), w, "give exactly one of `id_column` (entity) or `refs` (relationship)")
        columns = tuple(ColumnSpec.parse(c, v, f"{w}.columns.{c}") for c, v in (e.get("columns") or {}).items())
        doc_type = str(e.get("type", name))
        keyed = id_field is None
        references = _references(e.get("references"), w, raw)
        children = _children(e.get("children"), w, raw, name)
        collection = e.get("collection")
        if collections:
            need(collection in collections and id_field is not None, w, f"a spec of several collections keys each "
                 f"entity by its `id_field` and names its `collection`, one of {list(collections)}; got {collection!r}")
        else:
            need(collection is None, f"{w}.collection", "needs `source.collections` (a spec of several collections)")
        need(not (references or children) or id_column, w, "only an entity (with an `id_column`) has "
              "`references` or `children`")
        taken = [c for c in (id_column, "source_id", EXTRA_COLUMN, *(c.name for c in columns),
                             *(r.column for r in references)) if c]
        need(len(set(taken)) == len(taken), w, f"two columns share a name in {taken}")
        out.append(EntitySpec(
            name=ident(name, w), table=ident(e.get("table"), f"{w}.table"), doc_type=doc_type,
            pk=KeyPart.parse(e.get("pk"), f"{w}.pk") if keyed else KeyPart(prefix=f"{doc_type}#"),
            sk=KeyPart.parse(e.get("sk"), f"{w}.sk") if keyed else None,
            columns=columns, id_column=ident(id_column, f"{w}.id_column") if id_column else None, refs=refs,
            id_field=id_field, references=references, children=children, collection=collection,
        ))
    types = [e.doc_type for e in out]
    tables = [e.table for e in out] + [c.table for e in out for c in e.children]
    need(len(set(tables)) == len(tables), where, f"two entities or child tables share a table in {tables}")
    names = [e.name for e in out] + [c.name for e in out for c in e.children]
    need(len(set(names)) == len(names), where, f"entities and children need names of their own (the counts, the "
          f"reconciliation and the assets go by name), got {names}")
    need(len(set(types)) == len(types), where, "two entities share a `type`")
    need(len({e.id_field is None for e in out}) == 1, where,
          "either every entity is keyed by PK/SK or every one by its `id_field`, not both")
    held = [e.collection for e in out if e.collection]
    need(len(set(held)) == len(held) == len(collections), where, f"each of the collections {list(collections)} "
         f"holds one entity; the entities name {held}")
    by_name = {e.name: e for e in out}
    for e in out:
        for at, entity, by in [*((f"{e.name}.references.{r.column}", r.entity, r.by) for r in e.references),
                               *((f"{e.name}.children.{c.name}", c.element_entity, c.element_by)
                                 for c in e.children)]:
            need(by is None or any(col.source == by for col in by_name[str(entity)].columns), f"{where}.{at}.by",
                 f"names {by!r}, which is no column's `from` of {entity}: the natural key must be a mapped field")
    for e in out:
        for r in e.refs:
            need(not next(x for x in out if x.name == r.entity).is_relationship, w,
                  f"{e.name}.{r.column} must reference an entity, not a relationship")
    return tuple(out)


def _entity_named(value: Any, entities: dict[str, Any], at: str) -> str:
    """`value`, the name of an entity of the spec (not a relationship): what a reference or a junction names."""
    need(value in entities and not (entities[value] or {}).get("refs"), at,
          f"unknown entity {value!r} (a reference names an entity, not a relationship)")
    return value


def _references(raw: Any, w: str, entities: dict[str, Any]) -> tuple[ReferenceSpec, ...]:
    """`references: {column: {entity: E, from: field[, by: natural key]}}`: uuid columns naming another entity by
    its id (or by the value of its field `by`)."""
    out = []
    for col, r in (raw or {}).items():
        at = f"{w}.references.{col}"
        need(isinstance(r, dict) and {"entity", "from"} <= set(r) <= {"entity", "from", "by"}, at,
             "must be {entity: ..., from: <field>[, by: <the entity's natural key field>]}")
        out.append(ReferenceSpec(ident(col, at), _entity_named(r["entity"], entities, at),
                                 text(r["from"], f"{at}.from"), _by(r.get("by"), f"{at}.by")))
    return tuple(out)


def _children(raw: Any, w: str, entities: dict[str, Any], parent: str) -> tuple[ChildSpec, ...]:
    """`children: {name: {table, from, parent_column, columns | element: {column, entity[, by]}}}`, and maps keyed
    by data: `{table, from, parent_column, key_column, columns}`."""
    need(raw is None or isinstance(raw, dict), f"{w}.children", "must map child names to their definitions")
    out = []
    for name, c in (raw or {}).items():
        at = f"{w}.children.{name}"
        need(isinstance(c, dict), at, "must be a mapping")
        unknown = set(c) - {"table", "from", "parent_column", "columns", "element", "key_column"}
        need(not unknown, at, f"unknown keys {sorted(unknown)}")
        parent_column = ident(c.get("parent_column"), f"{at}.parent_column")
        element = c.get("element")
        need((element is None) != (c.get("columns") is None), at,
              "give `columns` (an array of objects) or `element` (an array of ids), not both")
        columns: tuple[ColumnSpec, ...] = ()
        element_column = element_entity = element_by = None
        key_column = ident(c["key_column"], f"{at}.key_column") if c.get("key_column") is not None else None
        if element is not None:
            need(isinstance(element, dict) and {"column", "entity"} <= set(element) <= {"column", "entity", "by"},
                 f"{at}.element", "must be {column: ..., entity: ...[, by: ...]}")
            need(key_column is None, f"{at}.key_column", "is for a map of objects (with `columns`), not of ids")
            element_column = ident(element["column"], f"{at}.element.column")
            element_entity = _entity_named(element["entity"], entities, f"{at}.element.entity")
            element_by = _by(element.get("by"), f"{at}.element.by")
        else:
            need(isinstance(c["columns"], dict) and c["columns"], f"{at}.columns", "must map columns")
            columns = tuple(ColumnSpec.parse(k, v, f"{at}.columns.{k}") for k, v in c["columns"].items())
        names = [parent_column, element_column or key_column or ChildSpec.POSITION, *(col.name for col in columns),
                 *([] if element is not None else [EXTRA_COLUMN])]
        need(len(set(names)) == len(names), at, f"two columns share a name in {names}")
        out.append(ChildSpec(ident(name, at), ident(c.get("table"), f"{at}.table"), parent,
                             text(c.get("from"), f"{at}.from"), parent_column, columns, element_column,
                             element_entity, element_by, key_column))
    return tuple(out)


def _by(value: Any, at: str) -> str | None:
    """A natural key's field: top-level (what a lookup of the other collection reads), or None (by id)."""
    if value is not None:
        need(isinstance(value, str) and value and "." not in value, at, f"must be a top-level field, got {value!r}")
    return value


def parse_shape(source: dict[str, Any], w: str, entities: tuple[EntitySpec, ...]) -> DocumentShape:
    """`source.discriminator` (default `type`; null: the key shapes tell the type) and `source.key_fields`."""
    discriminator = source.get("discriminator", "type")
    if discriminator is not None:
        text(discriminator, f"{w}.discriminator")
    keys = texts(source.get("key_fields", ["PK", "SK"]), f"{w}.key_fields")
    need(len(keys) == 2 and keys[0] != keys[1], f"{w}.key_fields", f"must name two fields (PK, SK), got {list(keys)}")
    need(discriminator not in keys, f"{w}.discriminator", "must not be one of the key fields")
    if discriminator is None and entities[0].id_field is not None:
        need(len(entities) == 1, f"{w}.discriminator", "is null, so the documents hold one entity type; the "
              f"entities are {[e.name for e in entities]}: name the field that tells them apart")
    elif discriminator is None:
        for i, a in enumerate(entities):
            for b in entities[i + 1:]:
                assert a.sk is not None and b.sk is not None
                need(not (a.pk.overlaps(b.pk) and a.sk.overlaps(b.sk)), f"{w}.discriminator",
                      f"is null, so the keys alone must tell the types apart, but {a.name} and {b.name} can have "
                      f"the same {keys[0]} and {keys[1]}")
    return DocumentShape(discriminator, keys[0], keys[1])


