"""Child tables, junctions and references (`children` and `references` of an entity in the spec): what the
loader refuses, and how one document maps to its row and its child rows, or to one reject with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from transforms.adjacency import DocumentMapper, Mapped, Rejected, entity_uuid
from transforms.batching import CHILDREN
from transforms.spec import SpecError, load_spec

SPEC_PATH = Path(__file__).resolve().parents[3] / "include" / "specs" / "movie_collection_to_dsql.yaml"


def library_entities() -> dict[str, Any]:
    return {
        "author": {"table": "authors", "id_field": "_id", "id_column": "author_id",
                   "columns": {"name": {"from": "name", "type": "text"}}},
        "genre": {"table": "genres", "id_field": "_id", "id_column": "genre_id", "columns": {}},
        "book": {"table": "books", "id_field": "_id", "id_column": "book_id",
                 "columns": {"title": {"from": "title", "type": "text", "required": True}},
                 "references": {"author_id": {"entity": "author", "from": "author_id"}},
                 "children": {
                     "genres": {"table": "book_genres", "from": "genre_ids", "parent_column": "book_id",
                                "element": {"column": "genre_id", "entity": "genre"}},
                     "editions": {"table": "book_editions", "from": "meta.editions", "parent_column": "book_id",
                                  "columns": {"year": {"from": "year", "type": "int", "required": True},
                                              "isbn": {"from": "ids.isbn", "type": "text"}}}}},
    }


def spec_at(tmp_path: Path, entities: dict[str, Any], **write: Any) -> Any:
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw.update(dag_id="library_to_dsql", entities=entities)
    raw["source"]["discriminator"] = "type"
    raw.setdefault("write", {}).update(write)
    path = tmp_path / "library_to_dsql.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


def book(**fields: Any) -> str:
    doc = {"_id": "b1", "type": "book", "title": "T", "author_id": "a7", "genre_ids": ["g1", "g2", "g1"],
           "meta": {"editions": [{"year": 2001, "ids": {"isbn": "111"}}, {"year": 2010}]}, **fields}
    return json.dumps(doc)


def test_a_book_maps_to_its_row_its_junction_rows_and_its_element_rows(tmp_path: Path) -> None:
    mapper = DocumentMapper.for_spec(spec_at(tmp_path, library_entities()))
    m = mapper.map_line(book())
    assert isinstance(m, Mapped)
    book_id = entity_uuid("book#b1")
    assert m.row["book_id"] == book_id and m.row["author_id"] == entity_uuid("author#a7")
    children = m.row[CHILDREN]
    assert [r["genre_id"] for r in children["genres"]] == [entity_uuid("genre#g1"), entity_uuid("genre#g2")]
    assert [(r["position"], r["year"], r["isbn"]) for r in children["editions"]] == [(0, 2001, "111"), (1, 2010, None)]
    assert all(r["book_id"] == book_id and r["source_version"] == m.row["source_version"]
               for rows in children.values() for r in rows)
    # no array and no reference: no child rows, a null column
    m = mapper.map_line(book(genre_ids=None, meta={}, author_id=None))
    assert isinstance(m, Mapped) and m.row["author_id"] is None
    assert m.row[CHILDREN] == {"genres": [], "editions": []}


@pytest.mark.parametrize(("fields", "reason", "detail"), [
    ({"genre_ids": "g1"}, "bad_type", "genre_ids: str 'g1' is not an array"),
    ({"genre_ids": ["g1", None]}, "bad_key", "`genre_ids[1]` is null"),
    ({"genre_ids": [{"id": 1}]}, "bad_key", "`genre_ids[0]` dict"),
    ({"meta": {"editions": [{"year": 1999}, 5]}}, "bad_type", "meta.editions[1]: int is not an object"),
    ({"meta": {"editions": [{"year": "nineteen"}]}}, "bad_type", "meta.editions[0].year"),
    ({"meta": {"editions": [{"ids": {}}]}}, "missing_field", "`meta.editions[0].year` is required"),
    ({"author_id": True}, "bad_key", "`author_id` bool"),
])
def test_one_unreadable_element_rejects_the_whole_document(tmp_path: Path, fields: dict, reason: str,
                                                           detail: str) -> None:
    m = DocumentMapper.for_spec(spec_at(tmp_path, library_entities())).map_line(book(**fields))
    assert isinstance(m, Rejected) and (m.reason, m.entity) == (reason, "book") and detail in m.detail, m


def test_a_document_whose_rows_cannot_fit_one_transaction_is_too_large(tmp_path: Path) -> None:
    spec = spec_at(tmp_path, library_entities(), batch_rows=10)
    mapper = DocumentMapper.for_spec(spec)
    assert isinstance(mapper.map_line(book(genre_ids=[f"g{i}" for i in range(7)])), Mapped)  # 1 + 7 + 2 rows
    m = mapper.map_line(book(genre_ids=[f"g{i}" for i in range(8)]))
    assert isinstance(m, Rejected) and m.reason == "too_large" and "11 rows" in m.detail, m


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e["book"]["children"]["genres"].update(columns={"x": {"from": "x", "type": "text"}}),
     "give `columns` (an array of objects) or `element` (an array of ids), not both"),
    (lambda e: e["book"]["children"]["genres"]["element"].update(entity="publisher"), "unknown entity 'publisher'"),
    (lambda e: e["book"]["references"]["author_id"].update(entity="nobody"), "unknown entity 'nobody'"),
    (lambda e: e["book"]["children"]["editions"].update(table="books"), "share a table"),
    (lambda e: e["book"]["references"].update(title={"entity": "author", "from": "x"}), "two columns share a name"),
    (lambda e: e["book"]["children"]["editions"]["columns"].update(position={"from": "p", "type": "int"}),
     "two columns share a name"),
])
def test_the_loader_refuses_children_and_references_it_cannot_write(tmp_path: Path, change: Any, message: str
                                                                   ) -> None:
    entities = library_entities()
    change(entities)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec_at(tmp_path, entities)


def test_a_child_may_not_take_an_entitys_name(tmp_path: Path) -> None:
    """Counts, reconciliations and assets go by name: a child named like an entity would overwrite it."""
    entities = library_entities()
    entities["book"]["children"]["genre"] = entities["book"]["children"].pop("genres")
    with pytest.raises(SpecError, match="names of their own"):
        spec_at(tmp_path, entities)
