"""transforms.row_tuples: a mapped row as the tuple of its table's columns, and back."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tests.fixtures import SPEC_DIR
from tests.include.transforms.test_children import book, library_entities, spec_at
from transforms.adjacency import VERSION_COLUMN, DocumentMapper, Mapped, target_columns
from transforms.batching import CHILDREN
from transforms.row_tuples import RowTuples
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
LINK = json.dumps({"_id": {"$oid": "65f000000000000000000001"}, "PK": "MOVIE#tt1", "SK": "ACTOR#nm2",
                   "type": "movie_actor", "character_name": "Self", "billing_order": 3, "cameo": True})


def _mapped(line: str) -> Mapped:
    m = DocumentMapper.for_spec(SPEC).map_line(line)
    assert isinstance(m, Mapped)
    return m


def test_a_row_is_its_values_in_table_order_and_decodes_to_the_same_dict() -> None:
    m = _mapped(LINK)
    rows = RowTuples(SPEC.entities)
    encoded = rows.encode(m.entity, m.row)
    assert isinstance(encoded, tuple)
    assert encoded == tuple(m.row[c] for c in target_columns(SPEC.entity("movie_actor")))
    assert rows.decode(m.entity, encoded) == m.row and list(rows.decode(m.entity, encoded)) == list(
        target_columns(SPEC.entity("movie_actor")))
    assert rows.version(m.entity, encoded) == m.row[VERSION_COLUMN] == "7:65f000000000000000000001"
    assert m.row["_extra"] is not None  # the unmapped field is carried, not lost
    # the point of it: the tuple pickles smaller than the dict
    assert len(pickle.dumps(encoded)) < len(pickle.dumps(m.row))


def test_a_row_with_a_column_its_table_lacks_fails_loudly() -> None:
    m = _mapped(LINK)
    with pytest.raises(RuntimeError, match="surprise"):
        RowTuples(SPEC.entities).encode(m.entity, {**m.row, "surprise": 1})
    with pytest.raises(RuntimeError, match="fewer columns"):
        RowTuples(SPEC.entities).encode(m.entity, {k: v for k, v in m.row.items() if k != "_extra"})


def test_rows_of_entities_keyed_by_a_field_and_with_references_encode_and_those_with_child_tables_stay_dicts(
        tmp_path: Path) -> None:
    entities = library_entities()
    plain_book = {**entities["book"], "table": "plain_books"}
    del plain_book["children"]
    spec = spec_at(tmp_path, {**entities, "plain_book": plain_book})
    mapper, rows = DocumentMapper.for_spec(spec), RowTuples(spec.entities)
    for doc_type in ("book", "plain_book"):
        m = mapper.map_line(book(type=doc_type))
        assert isinstance(m, Mapped)
        encoded = rows.encode(m.entity, m.row)
        assert rows.decode(m.entity, encoded) == m.row
        assert rows.version(m.entity, encoded) == m.row[VERSION_COLUMN]
        if doc_type == "book":  # its child rows hang under CHILDREN: kept as the dict the writer reads
            assert encoded is m.row and CHILDREN in m.row
        else:
            assert isinstance(encoded, tuple) and encoded[:3] == (m.row["book_id"], "b1", m.row["author_id"])
