"""The mapping as Spark expressions against the Python mapper it stands in for, document by document.

Every value form the expressions take as plain, every form next to one (which must go to the mapper), the whole
bad-input corpus and a generated collection with its own bad documents are classified twice, by the expressions
and by the mapper alone: rows, rejects and every count must be equal. The corpus of variants also asserts that
the expressions did take most of it (a native path that took nothing would pass the comparison).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generators.movie_collection import write
from tests.fixtures import SPEC_DIR
from tests.fixtures.value_forms import MOVIE_VALUES, OID, RAW, value_form_lines, variants
from transforms.adjacency import DocumentMapper, Mapped
from transforms.entity_spec import parse_entities
from transforms.intervals import Window
from transforms.mongo_to_dsql import classify, resolve_groups
from transforms.native_mapping import LINE_SCHEMA, line_row, native_entities, plain_documents
from transforms.spec import DocumentShape, load_spec
from transforms.winners import ROW, SOURCE_DOCS, item

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
def _outcome(spark: Any, docs: list[tuple[str, str]], mapper: DocumentMapper, native: bool) -> dict[str, Any]:
    result = classify(spark.sparkContext.parallelize(docs, 3), mapper, lambda entity, keys: set(), native=native)
    return {
        "rows": sorted((e, json.dumps(row, sort_keys=True, default=repr)) for e, row in result.loadable.collect()),
        "rejects": sorted(map(repr, result.rejects.collect())),
        "counts": {k: dict(getattr(result, k)) for k in ("documents", "duplicates", "rejected", "reasons",
                                                          "unique", "unmapped")},
    }


@pytest.fixture(scope="module")
def movie_docs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """The variants, a generated collection with its bad documents, and the bad-input corpus over a clean export."""
    return [(text, f"line {i}") for i, text in enumerate(value_form_lines(tmp_path_factory.mktemp("native")))]


def test_the_expressions_map_as_the_mapper_does(spark, movie_docs: list[tuple[str, str]]) -> None:  # noqa: ANN001
    mapper = DocumentMapper.for_spec(SPEC)
    assert [e.name for e in native_entities(mapper)] == [e.name for e in SPEC.entities]
    native, python = (_outcome(spark, movie_docs, mapper, flag) for flag in (True, False))
    assert native["counts"] == python["counts"]
    assert native["rejects"] == python["rejects"]
    assert native["rows"] == python["rows"]


# the changes of MOVIE_VALUES the expressions take as plain (their index); every other one goes to the mapper
PLAIN = {"year": ['"1996"', "$numberInt", "$numberLong", '"007"', "-2**31", "2**31 - 1", "None"],
         "rating": ['"8.3"', "8", "8.25", "-8.25", "8.35", "99.94", "-0.0", "1e1", "$numberDecimal",
                    "$numberDouble", "$numberInt"],
         "release_date": ['"2020-01-01"', "$date with milliseconds", "$date $numberLong", "$date $numberLong 0"],
         "genres": ["[]", "non-ASCII", "None"], "title": ["quotes", "emoji", '""', "a line break"],
         "details": ["{}", "None", 'budget "123"', "language None"], "runtime_minutes": ["None", "-1"],
         "_id": ["upper-case $oid"], "PK": ["255 characters", "non-ASCII"]}


def test_the_plain_forms(spark) -> None:  # noqa: ANN001
    """Which value forms the expressions map: the forms a mongoexport writes, each exactly as the mapper reads it."""
    mapper = DocumentMapper.for_spec(SPEC)
    lines = spark.createDataFrame([line_row(t) for t in variants()], LINE_SCHEMA)
    rows = plain_documents(lines, mapper, native_entities(mapper)).collect()
    plain = Counter(field for (field, _), row in zip(MOVIE_VALUES, rows[::2], strict=False) if row.plain)
    assert plain == Counter({field: len(forms) for field, forms in PLAIN.items()})
    assert all(row.plain for row in rows[1:2 * len(MOVIE_VALUES):2])  # the unchanged duplicates
    assert [i for i, row in enumerate(rows[2 * len(MOVIE_VALUES):][:len(RAW)]) if row.plain] == [8, 10, 13]


def test_nearly_every_document_of_a_generated_collection_is_plain(spark, tmp_path: Path) -> None:  # noqa: ANN001
    """The generator's clean export: all but the documents with fields the spec maps nowhere (`_class`, …), which
    go to the mapper for `_extra`."""
    path = tmp_path / "movies.json"
    write(path, movies=120, seed=5, bad_input=False)
    texts = path.read_text().splitlines()
    mapper = DocumentMapper.for_spec(SPEC)
    lines = spark.createDataFrame([line_row(t) for t in texts], LINE_SCHEMA)
    not_plain = [r.text for r in plain_documents(lines, mapper, native_entities(mapper)).collect() if not r.plain]
    assert len(not_plain) < 0.03 * len(texts)
    assert all(isinstance(m := mapper.map_line(t), Mapped) and m.unmapped for t in not_plain)


def test_what_the_expressions_leave_to_the_mapper() -> None:
    """Windows, key shapes without a discriminator and nesting limits below the plain forms' stay with the mapper."""
    assert native_entities(DocumentMapper.for_spec(SPEC, Window.parse("2024-01-01T00:00:00Z", None))) == ()
    assert native_entities(DocumentMapper(SPEC.entities, shape=DocumentShape(discriminator=None))) == ()
    assert native_entities(DocumentMapper(SPEC.entities, max_nesting_depth=2)) == ()
    movie, *others = SPEC.entities  # an entity of a collection of its own (specs of several collections)
    assert native_entities(DocumentMapper((replace(movie, collection="movies"), *others))) == tuple(others)


@pytest.mark.parametrize("line", ['{"a": "\udcff"}', "plain"])
def test_a_text_the_jvm_cannot_hold_travels_as_its_bytes(line: str) -> None:
    from transforms.native_mapping import line_text

    text, raw, where, source = line_row((line, "here"))
    assert line_text(text, raw) == line and where == "here" and source is True
    assert (raw is None) == (line == "plain")


SENSORS = {"sensor": {"table": "sensors", "type": "sensor", "pk": {"prefix": "SENSOR#"}, "sk": {"equals": "METADATA"},
                      "id_column": "sensor_id",
                      "columns": {"reading": {"from": "reading", "type": "double"},
                                  "active": {"from": "active", "type": "boolean"},
                                  "tags": {"from": "tags", "type": "json", "array_of": "text"},
                                  "placed": {"from": "site.placed", "type": "date"}}}}
SENSOR_VALUES: list[tuple[str, Any]] = [
    ("reading", 1.5), ("reading", 2), ("reading", 1e-7), ("reading", -0.0), ("reading", 10**20), ("reading", "1.5"),
    ("reading", {"$numberDouble": "1.5"}), ("reading", {"$numberDouble": "NaN"}), ("reading", {"$numberInt": "3"}),
    ("reading", True), ("active", True), ("active", False), ("active", "true"), ("active", 1), ("active", None),
    ("tags", ["a"]), ("tags", []), ("tags", "a"), ("site", {"placed": "2020-01-01"}), ("site", {"other": 1}),
]


def test_doubles_booleans_and_a_nested_date_map_as_the_mapper_does(spark) -> None:  # noqa: ANN001
    mapper = DocumentMapper(parse_entities(SENSORS, "entities"))
    assert [e.name for e in native_entities(mapper)] == ["sensor"]
    docs = []
    for i, (field, value) in enumerate(SENSOR_VALUES):
        doc = {"_id": {"$oid": OID.format(i)}, "PK": f"SENSOR#s{i}", "SK": "METADATA", "type": "sensor", field: value}
        docs.append((json.dumps(doc), f"line {i}"))
    lines = spark.createDataFrame([line_row(d) for d in docs], LINE_SCHEMA)
    plain = [r.plain for r in plain_documents(lines, mapper, native_entities(mapper)).collect()]
    assert [f"{f}={v!r}" for (f, v), p in zip(SENSOR_VALUES, plain, strict=True) if p] == [
        "reading=1.5", "reading=2", "reading=1e-07", "reading=-0.0", f"reading={10**20}",
        "reading={'$numberDouble': '1.5'}", "active=True", "active=False", "active=None", "tags=['a']", "tags=[]",
        "site={'placed': '2020-01-01'}"]
    assert _outcome(spark, docs, mapper, True) == _outcome(spark, docs, mapper, False)


@pytest.mark.parametrize("change", [
    {"columns": {"x": {"from": "x", "type": "numeric(38,20)"}}},  # Python's 28 digits cannot quantize 15 to 20
    {"columns": {"x": {"from": "a.b.c", "type": "int"}}},  # nested twice
    {"columns": {"x": {"from": "x", "type": "timestamptz"}}},
    {"columns": {"x": {"from": "x", "type": "json"}}},  # free json
])
def test_an_entity_the_expressions_leave_to_the_mapper(change: dict[str, Any]) -> None:
    mapper = DocumentMapper(parse_entities({"sensor": {**SENSORS["sensor"], **change}}, "entities"))
    assert native_entities(mapper) == ()


def _map_one(mapper: DocumentMapper) -> Any:
    """What `classify`'s own `map_one` returns for a document (no window, no timeless record)."""
    def map_one(index: int, seq: int, text: str, where: str | None, from_source: bool) -> Any:
        m = mapper.map_line(text, windowed=from_source)
        if isinstance(m, Mapped):
            return (m.entity, m.key), item(m, text, where, from_source)
        return None if m is None else ((None, (index, seq)), (m.reason, m.entity, m.detail, text, where))
    return map_one


def _group(entity: str | None, gkey: str, winner: str | None, n: int, *others: str) -> str:
    """A `native_groups` text: `winner` (a plain movie document) standing for `n`, and `others` for the mapper."""
    fields = {"oid": None, "text": None, "where": None, "vals": None, "pk": None, "pk_id": None, "sk_id": None}
    if winner is not None:
        doc = json.loads(winner)
        fields = {"oid": doc["_id"]["$oid"], "text": winner, "where": "w", "pk": doc["PK"], "pk_id": doc["PK"][6:],
                  "sk_id": "", "vals": [doc.get("title"), None, None, None, None, None, None, None, None]}
    return json.dumps({"entity": entity, "gkey": gkey, "n": n, **fields,
                       "others": [{"text": o, "raw": None, "where": "o", "source": True} for o in others]})


def test_a_group_becomes_its_winner_and_rejects() -> None:
    """`resolve_groups` in-process: the plain winner made a row, merged with the group's other documents (the greater
    `_id` wins, the documents add up), rejects passed on, a document without a group counted."""
    mapper = DocumentMapper.for_spec(SPEC)
    plain = json.dumps({"_id": {"$oid": OID.format(1)}, "PK": "MOVIE#tt1", "SK": "METADATA", "type": "movie",
                        "title": "Plain"})
    later = plain.replace(OID.format(1), OID.format(2)).replace('"Plain"', '"Later", "extra": 1')
    bad = plain.replace('"Plain"', "5")
    alone: list[int] = []
    key = ("movie", "MOVIE#tt1|METADATA")
    out = list(resolve_groups(0, [_group(*key, plain, 2, later, bad), _group(None, "\x001", None, 0, later)], mapper,
                              _map_one(mapper), alone.append))
    assert [(kv[0], kv[1][SOURCE_DOCS], kv[1][ROW]["title"]) for kv in out if kv[0][0]] == [(key, 3, "Later"),
                                                                                           (key, 1, "Later")]
    assert [kv[1][0] for kv in out if kv[0][0] is None] == ["bad_type"] and alone == [1]
    row = next(kv[1][ROW] for kv in resolve_groups(0, [_group("movie", "MOVIE#tt1|METADATA", plain, 1)], mapper,
                                                   _map_one(mapper), alone.append))
    expected = mapper.map_line(plain)
    assert isinstance(expected, Mapped) and row == expected.row


def test_a_group_the_mapper_keys_otherwise_fails_loudly() -> None:
    mapper = DocumentMapper.for_spec(SPEC)
    other = json.dumps({"_id": {"$oid": OID.format(3)}, "PK": "MOVIE#tt9", "SK": "METADATA", "type": "movie",
                        "title": "Elsewhere"})
    with pytest.raises(RuntimeError, match="reads its keys otherwise"):
        list(resolve_groups(0, [_group("movie", "MOVIE#tt1|METADATA", None, 0, other)], mapper, _map_one(mapper),
                            lambda n: None))
