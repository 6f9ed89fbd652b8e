"""The mapper's shortcut for usual documents against the general mapper, line by line: the same `Mapped` (row values
with their types, key, `_id` order, references) or, where the shortcut stands aside, the general mapper's own
answer. The whole-run comparison is the acceptance sets' frozen reference (`tests/fixtures/mapping_reference.py`),
whose runs map through the shortcut.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generators.movie_collection import write
from tests.fixtures import SPEC_DIR
from tests.fixtures.value_forms import MOVIE, OID, value_form_lines
from transforms.adjacency import DocumentMapper, Mapped, entity_uuid
from transforms.entity_spec import parse_entities
from transforms.fast_mapper import FastMapper
from transforms.intervals import Window
from transforms.spec import DocumentShape, load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")

# forms next to the shortcut's own: each must be taken exactly as the mapper takes it, or left to the mapper
EDGES: list[tuple[str, Any]] = [
    ("release_date", "2020-W01-1"), ("release_date", "\t2020-01-0"), ("release_date", "2020-01-01\x1f"),
    ("release_date", "2020-1-1 00"), ("release_date", {"$date": "2020-13-01T00:00:00Z"}),
    ("release_date", {"$date": "0000-01-01T00:00:00Z"}), ("release_date", {"$date": "2020-01-01T23:59:60Z"}),
    ("release_date", {"$date": "2020-01-01T23:59:59.1234Z"}), ("release_date", {"$date": " 2020-01-01T00:00:00Z"}),
    ("year", {"$numberInt": "+5"}), ("year", {"$numberLong": "99999999999999999999"}), ("year", {"$numberInt": 5}),
    ("year", {"$numberInt": "5", "x": 1}), ("details", {"budget": {"$numberLong": "+12"}}),
    ("details", {"budget": {"$numberLong": "-9223372036854775808"}}), ("details", {"budget": 2**63}),
    ("rating", 1e30), ("rating", float("nan")), ("rating", 99.949999), ("rating", float("inf")),
    ("genres", ["a\x00"]), ("genres", ["\ud800"]), ("genres", ["ok", {"$oid": OID.format(1)}]),
    ("title", "\ud800"), ("title", "é\x00"), ("title", {"$oid": OID.format(2)}), ("title", {"$date": "x"}),
    ("PK", "MOVIE# x"), ("PK", "MOVIE#x "), ("PK", "MOVIE#\u00a0"), ("PK", "MOVIE#\x00"), ("SK", "METADATA "),
    ("_id", {"$oid": "65f00000000000000000000G"}), ("_id", {"$oid": 5}), ("_id", {"$oid": OID.format(3), "x": 1}),
    ("_id", {"$date": "2020-01-01T00:00:00Z"}), ("_id", {"$numberLong": "7"}), ("_id", "\ud800"), ("_id", 1.5),
    ("type", ["movie"]), ("type", {"$oid": OID.format(4)}), ("details", {"budget": 1, "$oid": 2}),
]


def _lines(base: dict[str, Any], changes: list[tuple[str, Any]]) -> list[str]:
    docs = [{"_id": {"$oid": OID.format(i)}, **{k: (v.format(i) if k == "PK" else v) for k, v in base.items()},
             field: value} for i, (field, value) in enumerate(changes)]
    return [json.dumps(d, ensure_ascii=i % 2 == 0) for i, d in enumerate(docs)]


def _general(mapper: DocumentMapper) -> DocumentMapper:
    general = copy.copy(mapper)
    general._fast = None
    return general


def _differences(mapper: DocumentMapper, lines: list[str]) -> list[tuple[str, str, str]]:
    general = _general(mapper)
    return [(line[:200], repr(a), repr(b)) for line in lines
            if repr(a := mapper.map_line(line)) != repr(b := general.map_line(line))]


@pytest.fixture(scope="module")
def value_forms(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return [*value_form_lines(tmp_path_factory.mktemp("forms")), *_lines(MOVIE, EDGES)]


def test_the_shortcut_maps_every_value_form_as_the_mapper_does(value_forms: list[str]) -> None:
    mapper = DocumentMapper.for_spec(SPEC)
    assert mapper._fast is not None and set(mapper._fast.plans) == {e.doc_type for e in SPEC.entities}
    assert _differences(mapper, value_forms) == []
    taken = [line for line in value_forms if mapper._fast(line) is not None]
    assert 0.3 * len(value_forms) < len(taken) < 0.9 * len(value_forms)  # it took many, and left many


def test_a_reference_by_field_and_doubles_map_as_the_mapper_does() -> None:
    entities = parse_entities({
        "sensor": {"table": "sensors", "type": "sensor", "pk": {"prefix": "SENSOR#"}, "sk": {"equals": "METADATA"},
                   "id_column": "sensor_id",
                   "columns": {"reading": {"from": "reading", "type": "double"},
                               "active": {"from": "active", "type": "boolean"},
                               "placed": {"from": "site.placed", "type": "date"}},
                   "references": {"site_id": {"entity": "site", "from": "site.id"}}},
        "site": {"table": "sites", "type": "site", "pk": {"prefix": "SITE#"}, "sk": {"equals": "METADATA"},
                 "id_column": "site_id", "columns": {"name": {"from": "name", "type": "text"}}}}, "entities")
    mapper = DocumentMapper(entities)
    base = {"PK": "SENSOR#s{}", "SK": "METADATA", "type": "sensor", "reading": 1.5, "active": True,
            "site": {"id": "north", "placed": "2020-01-01"}}
    changes = [("reading", 2), ("reading", "1.5"), ("reading", {"$numberDouble": "NaN"}), ("active", 1),
               ("site", {"id": 7}), ("site", {"id": {"$oid": OID.format(9)}}), ("site", {"id": ""}),
               ("site", None), ("site", {"placed": "2020-01-01"}), ("site", {"id": "x", "other": 1}),
               ("site", "north"), ("site", {"id": "x" * 300})]
    lines = _lines(base, changes)
    assert _differences(mapper, lines) == []
    assert [mapper._fast(line) is not None for line in lines] == [
        True, False, True, False, True, True, False, True, True, False, False, False]
    m = mapper._fast(lines[0])
    assert isinstance(m, Mapped) and m.row["site_id"] == entity_uuid("SITE#north")


def test_nearly_every_document_of_a_generated_collection_takes_the_shortcut(tmp_path: Path) -> None:
    path = tmp_path / "movies.json"
    write(path, movies=120, seed=5, bad_input=False)
    lines = path.read_text().splitlines()
    mapper = DocumentMapper.for_spec(SPEC)
    left = [line for line in lines if mapper._fast(line) is None]
    assert len(left) < 0.03 * len(lines)
    assert all(isinstance(m := mapper.map_line(line), Mapped) and m.unmapped for line in left)  # `_extra`'s own
    assert _differences(mapper, lines) == []


def test_the_mapper_travels_with_its_shortcut() -> None:
    """Spark ships the mapper to its workers pickled: the copy maps through a shortcut of its own."""
    mapper = pickle.loads(pickle.dumps(DocumentMapper.for_spec(SPEC)))
    line = _lines(MOVIE, [("year", 1999)])[0]
    assert mapper._fast is not None and mapper._fast.mapper is mapper
    assert repr(mapper._fast(line)) == repr(_general(mapper).map_line(line))


def test_where_there_is_no_shortcut() -> None:
    """Interval runs, natural keys, key shapes without a discriminator: the general mapper alone. Entities keyed by a
    field, with child tables, or of a collection of their own are left out of it."""
    assert FastMapper.of(DocumentMapper.for_spec(SPEC, Window.parse("2024-01-01T00:00:00Z", None))) is None
    assert FastMapper.of(DocumentMapper(SPEC.entities, shape=DocumentShape(discriminator=None))) is None
    movie, *others = SPEC.entities
    fast = FastMapper.of(DocumentMapper((replace(movie, collection="movies"), *others)))
    assert fast is not None and set(fast.plans) == {e.doc_type for e in others}
    named = parse_entities({"person": {"table": "people", "type": "person", "pk": {"prefix": "P#"},
                                       "sk": {"equals": "METADATA"}, "id_column": "person_id",
                                       "columns": {"email": {"from": "email", "type": "text"}}},
                            "post": {"table": "posts", "type": "post", "pk": {"prefix": "POST#"},
                                     "sk": {"equals": "METADATA"}, "id_column": "post_id",
                                     "references": {"author_id": {"entity": "person", "from": "author",
                                                                  "by": "email"}}}}, "entities")
    assert FastMapper.of(DocumentMapper(named)) is None  # references by natural key
    dollar = parse_entities({"thing": {"table": "things", "type": "thing", "pk": {"prefix": "T#"},
                                       "sk": {"equals": "METADATA"}, "id_column": "thing_id",
                                       "columns": {"owner": {"from": "owner.$oid", "type": "text"}}}}, "entities")
    assert FastMapper.of(DocumentMapper(dollar)) is None
