"""Where a document names its type and keys (`source.discriminator`, `source.key_fields`): the same movie
collection written with `kind` and `pk`/`sk`, or with no type field at all, maps to the same rows and is counted
the same, and `bin/dbmigrate discover` writes a spec that says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.documents import count_by_type
from generators.movie_collection import write
from transforms.adjacency import DocumentMapper, Mapped, Rejected
from transforms.spec import DocumentShape, KeyPart, SpecError, load_spec

SPEC_PATH = Path(__file__).resolve().parents[3] / "include" / "specs" / "movie_collection_to_dsql.yaml"
SPEC = load_spec(SPEC_PATH)


def reshaped(line: str, discriminator: str | None, pk: str = "PK", sk: str = "SK") -> str:
    """`line` with its type field renamed to `discriminator` (dropped when None) and its keys renamed."""
    doc = json.loads(line)
    renamed: dict[str, Any] = {}
    for k, v in doc.items():
        if k == "type":
            if discriminator is not None:
                renamed[discriminator] = v
        else:
            renamed[{"PK": pk, "SK": sk}.get(k, k)] = v
    return json.dumps(renamed)


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("shape") / "movies.json"
    write(path, movies=40, seed=3)
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("shape", [DocumentShape("kind", "pk", "sk"), DocumentShape(None, "PK1", "SK1")],
                         ids=["kind-and-lowercase-keys", "no-discriminator"])
def test_another_shape_maps_to_the_same_rows_and_counts(lines: list[str], shape: DocumentShape) -> None:
    default = DocumentMapper(SPEC.entities)
    other = DocumentMapper(SPEC.entities, shape=shape)
    for line in lines:
        expected, got = default.map_line(line), other.map_line(reshaped(line, shape.discriminator, shape.pk_field,
                                                                        shape.sk_field))
        assert isinstance(expected, Mapped) and got == expected
    by_type, total = count_by_type(iter(lines))
    assert count_by_type((reshaped(x, shape.discriminator, shape.pk_field, shape.sk_field) for x in lines),
                         shape=shape, entities=SPEC.entities) == (by_type, total)
    assert set(by_type) == {e.doc_type for e in SPEC.entities}


def test_documents_without_the_shape_are_rejected_with_the_fields_named() -> None:
    keyed = DocumentMapper(SPEC.entities, shape=DocumentShape(None, "pk", "sk"))
    got = keyed.map_document({"_id": "1", "pk": "MOVIE#tt1", "sk": "REVIEW#9"})
    assert isinstance(got, Rejected) and got.reason == "unknown_entity" and "`pk`/`sk`" in got.detail
    got = keyed.map_document({"_id": "1", "pk": "MOVIE#tt1"})
    assert isinstance(got, Rejected) and (got.reason, got.detail) == ("missing_field", "_id 1: `sk` is missing")
    kind = DocumentMapper(SPEC.entities, shape=DocumentShape("kind", "PK", "SK"))
    got = kind.map_document({"_id": "1", "type": "movie", "PK": "MOVIE#tt1", "SK": "METADATA", "title": "x"})
    assert isinstance(got, Rejected) and got.detail == "_id 1: `kind` is missing"
    got = kind.map_document({"_id": "1", "kind": "review", "PK": "MOVIE#tt1", "SK": "METADATA"})
    assert isinstance(got, Rejected) and got.detail == "_id 1: unknown kind 'review'"


def test_key_shapes_overlap() -> None:
    def part(**kw: str) -> KeyPart:
        return KeyPart(**kw)

    assert part(prefix="MOVIE#").overlaps(part(prefix="MOVIE#"))
    assert part(prefix="A#").overlaps(part(prefix="A#B#")) and part(prefix="A#B#").overlaps(part(prefix="A#"))
    assert not part(prefix="MOVIE#").overlaps(part(prefix="ACTOR#"))
    assert part(equals="METADATA").overlaps(part(prefix="META"))
    assert not part(equals="METADATA").overlaps(part(prefix="ACTOR#"))
    assert not part(equals="A").overlaps(part(equals="B")) and part(equals="A").overlaps(part(equals="A"))


def _spec_with(tmp_path: Path, **source: Any) -> Path:
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw["source"].update(source)
    path = tmp_path / "movie_collection_to_dsql.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_spec_names_the_shape_and_refuses_ambiguous_keys(tmp_path: Path) -> None:
    assert SPEC.shape == DocumentShape("type", "PK", "SK")
    assert load_spec(_spec_with(tmp_path, discriminator=None, key_fields=["pk", "sk"])).shape == \
        DocumentShape(None, "pk", "sk")
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw["source"]["discriminator"] = None
    raw["entities"]["actor"]["pk"] = {"prefix": "MOVIE#"}  # actor and movie: both MOVIE# / METADATA
    path = tmp_path / "ambiguous" / "movie_collection_to_dsql.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match="(movie and actor|actor and movie) can have the same PK and SK"):
        load_spec(path)
    with pytest.raises(SpecError, match="key_fields"):
        load_spec(_spec_with(tmp_path, key_fields=["PK"]))
    with pytest.raises(SpecError, match="must not be one of the key fields"):
        load_spec(_spec_with(tmp_path, discriminator="PK"))


@pytest.mark.parametrize("discriminator", ["kind", None])
def test_discover_writes_the_shape_it_found(tmp_path: Path, lines: list[str], discriminator: str | None) -> None:
    """The spec `discover` writes for a collection with `kind` (or no type field) and `pk`/`sk` keys maps every
    document, and its entities' counts are those the source's own types give."""
    from cli.discover import run

    source = tmp_path / "movies.json"
    source.write_text("\n".join(reshaped(x, discriminator, "pk", "sk") for x in lines) + "\n")
    assert run([str(source), "--name", "shaped_to_dsql", "--out", str(tmp_path / "out")]) == 0
    spec = load_spec(tmp_path / "out" / "include" / "specs" / "shaped_to_dsql.yaml")
    assert spec.shape == DocumentShape(discriminator, "pk", "sk")
    mapper = DocumentMapper.for_spec(spec)
    mapped = [mapper.map_line(reshaped(x, discriminator, "pk", "sk")) for x in lines]
    assert all(isinstance(m, Mapped) for m in mapped), [m for m in mapped if isinstance(m, Rejected)][:3]
    tables = {spec.entity(m.entity).table for m in mapped if isinstance(m, Mapped)}
    assert tables == {"movies", "actors", "directors", "movie_actors", "movie_directors"}
    by_table: dict[str, int] = {}
    for m in mapped:
        assert isinstance(m, Mapped)
        by_table[spec.entity(m.entity).table] = by_table.get(spec.entity(m.entity).table, 0) + 1
    by_type, _ = count_by_type(iter(lines))  # what the original documents' `type` says
    original = {e.table: by_type[e.doc_type] for e in SPEC.entities}
    assert by_table == original
