"""Per-document mapping: Extended JSON forms, every reject reason, deterministic UUIDs."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import pytest

from tests.fixtures import SPEC_DIR
from transforms.adjacency import MIGRATION_NAMESPACE, DocumentMapper, Mapped, Rejected, entity_uuid
from transforms.spec import load_spec

MAPPER = DocumentMapper(load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml").entities)


def movie(**fields: object) -> str:
    doc = {"_id": {"$oid": "65f0000000000000000000aa"}, "PK": "MOVIE#tt0111161", "SK": "METADATA", "type": "movie",
           "title": "The Shawshank Redemption"}
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not ...})


def test_movie_maps_every_extended_json_form() -> None:
    m = MAPPER.map_line(movie(year={"$numberLong": "1994"}, rating={"$numberDecimal": "9.25"},
                              release_date={"$date": {"$numberLong": "-86400000"}}, genres=["Drama", "Crime"],
                              runtime_minutes=None, details={"budget": {"$numberLong": "25000000"}, "language": "en"},
                              imdb_votes=123))
    assert isinstance(m, Mapped)
    assert m.row["movie_id"] == str(uuid.uuid5(uuid.UUID("6f1c1a52-8d4e-5b8e-9a57-2f1d8c0e4b31"), "MOVIE#tt0111161"))
    assert m.row["source_id"] == "tt0111161"
    assert m.row["release_year"] == 1994
    assert m.row["rating"] == Decimal("9.3")  # numeric(3,1), rounded half away from zero like PostgreSQL
    assert m.row["release_date"] == date(1969, 12, 31)
    assert json.loads(m.row["genres"]) == ["Drama", "Crime"]
    assert m.row["budget"] == 25000000 and m.row["box_office"] is None and m.row["language"] == "en"
    assert m.row["runtime_minutes"] is None


def test_uuid_is_the_same_for_the_entity_and_its_references() -> None:
    link = MAPPER.map_line('{"_id": 1, "PK": "MOVIE#tt1", "SK": "ACTOR#nm2", "type": "movie_actor", '
                           '"character_name": "O\'Brien \\"Bud\\"", "billing_order": {"$numberInt": "2"}}')
    assert isinstance(link, Mapped)
    assert link.row["movie_id"] == entity_uuid("MOVIE#tt1")
    assert link.row["actor_id"] == entity_uuid("ACTOR#nm2")
    assert link.row["character_name"] == 'O\'Brien "Bud"'
    assert link.refs == (("movie", "MOVIE#tt1"), ("actor", "ACTOR#nm2"))


@pytest.mark.parametrize(("line", "reason"), [
    (movie(title=...), "missing_field"),
    (movie(title=None), "missing_field"),
    (movie(type=...), "missing_field"),
    (movie(_id=...), "missing_field"),
    (movie(SK=...), "missing_field"),
    (movie(year="nineteen"), "bad_type"),
    (movie(year=1994.5), "bad_type"),
    (movie(year=2**31), "bad_type"),
    (movie(runtime_minutes=True), "bad_type"),
    (movie(rating=123.4), "bad_type"),
    (movie(rating={"$numberDouble": "NaN"}), "bad_type"),
    (movie(genres="Drama"), "bad_type"),
    (movie(genres=["Drama", 5]), "bad_type"),
    (movie(release_date="not a date"), "bad_type"),
    (movie(release_date={"$date": "1999-13-45T00:00:00Z"}), "bad_type"),
    (movie(details={"budget": "lots"}), "bad_type"),
    (movie(details="n/a"), "bad_type"),
    (movie(title="nul\u0000byte"), "bad_type"),
    (movie(type="producer", PK="PRODUCER#p1"), "unknown_entity"),
    (movie(PK="FILM#tt1"), "unknown_entity"),
    (movie(SK="DETAILS"), "unknown_entity"),
    (movie(PK="MOVIE#"), "bad_key"),
    (movie(PK="MOVIE#" + "x" * 256), "bad_key"),
    (movie(PK=42), "bad_key"),
    (movie(PK="MOVIE#tt\u00009"), "bad_key"),  # text PostgreSQL cannot store, in a key or the `_id`
    (movie(PK="MOVIE#tt\udfff9"), "bad_key"),
    (movie(_id="65f0\u0000"), "bad_key"),
    (movie(title="x" * (DocumentMapper([]).max_column_bytes + 1)), "too_large"),  # more than a DSQL column holds
    ('{"_id": 1, "PK": "MOVIE#tt1", "SK": "ACTOR#", "type": "movie_actor"}', "bad_key"),
    ('{"_id": 1, "PK": "MOVIE#tt1", "SK": "ACTOR#a", "type": "movie_actor", "billing_order": "first"}', "bad_type"),
    ("{not json", "malformed_json"),
    ("[1, 2]", "malformed_json"),
])
def test_reject_reasons(line: str, reason: str) -> None:
    result = MAPPER.map_line(line)
    assert isinstance(result, Rejected), result
    assert result.reason == reason, result.detail
    assert result.detail


@pytest.mark.parametrize("id_", [{"$numberDecimal": "NaN"}, {"$numberDecimal": "-Infinity"}, {"$numberDouble": "NaN"}])
def test_a_non_finite_id_is_named_in_its_documents_rejection(id_: dict[str, str]) -> None:
    result = MAPPER.map_line(movie(_id=id_, PK="MOVIE#"))
    assert isinstance(result, Rejected) and result.reason == "bad_key", result
    assert result.detail.lower().startswith(f"_id {next(iter(id_.values())).lower()}: "), result.detail


def test_an_unforeseen_error_quarantines_the_document_as_unmappable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-document safety net: whatever a document makes the mapping raise (in the shortcut of
    `transforms.fast_mapper`, then in the general mapper), the load goes on without it."""
    def broken(self: DocumentMapper, *args: object) -> Mapped:
        raise ZeroDivisionError("a mapping bug")

    monkeypatch.setattr(DocumentMapper, "_key_columns", broken)
    result = MAPPER.map_line(movie())
    assert result == Rejected("unmappable", "movie", "ZeroDivisionError: a mapping bug")


def test_blank_lines_are_not_documents() -> None:
    assert MAPPER.map_line("   ") is None


def test_id_of_exactly_255_characters_is_a_key() -> None:
    assert isinstance(MAPPER.map_line(movie(PK="MOVIE#" + "x" * 255)), Mapped)


def test_documents_order_by_bson_id() -> None:
    a = MAPPER.map_line(movie(_id={"$oid": "65f0000000000000000000aa"}))
    b = MAPPER.map_line(movie(_id={"$oid": "65f0000000000000000000ab"}))
    n = MAPPER.map_line(movie(_id=99999))
    assert isinstance(a, Mapped) and isinstance(b, Mapped) and isinstance(n, Mapped)
    assert n.order < a.order < b.order  # numbers sort before ObjectIds, as in MongoDB


@pytest.mark.parametrize("key", ["MOVIE#tt0111161", "ACTOR#nm0000151", "", "É#ü\u2028😀", "X" * 300])
def test_entity_uuid_is_uuid5_in_the_migration_namespace(key: str) -> None:
    # the fast path must give exactly the standard UUIDv5: targets loaded before keep their keys
    assert entity_uuid(key) == str(uuid.uuid5(MIGRATION_NAMESPACE, key))


@pytest.mark.parametrize("fields", [
    {},  # a plain movie
    {"unmapped": [1e15, 1e15, 1e15, 1e15], "more": {"x": 1e15}},  # floats written out longer than their text
    {"title": "\\u00e9\\u00e9\\u00e9", "note": "\U0001F600" * 8},  # escapes and astral characters: more bytes
    {"rating": {"$numberDecimal": "1"}, "details": {"budget": {"$numberLong": "1"}}},  # quantized, widened
    {"_id": "x", "release_date": {"$date": {"$numberLong": "1"}}},
])
def test_a_row_is_never_larger_than_the_bound_that_skips_measuring_it(fields: dict[str, object]) -> None:
    """`_row` measures a row only when its text is long enough to make it too large (`TEXT_GROWTH`, `VALUE_TEXT`):
    the estimate the writer's batches use stays below that bound for the value forms that grow most."""
    from transforms.batching import TEXT_GROWTH, VALUE_TEXT, row_size

    line = movie(**fields)
    m = MAPPER.map_line(line)
    assert isinstance(m, Mapped), m
    assert row_size(m.row) <= TEXT_GROWTH * len(line) + VALUE_TEXT * len(m.row)


def test_a_long_text_is_still_measured_and_rejected_when_too_large() -> None:
    small = DocumentMapper(load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml").entities, max_row_bytes=4096,
                           max_column_bytes=2048)
    assert isinstance(small.map_line(movie(title="x" * 100)), Mapped)
    result = small.map_line(movie(title="x" * 2049))
    assert isinstance(result, Rejected) and result.reason == "too_large" and "`title`" in result.detail, result
    result = small.map_line(movie(title="x" * 2000, note="y" * 2100))  # each column fits, the row does not
    assert isinstance(result, Rejected) and result.reason == "too_large" and "the row is" in result.detail, result


def test_an_entity_keyed_by_pk_and_sk_indexes_its_natural_keys_before_they_resolve() -> None:
    """A person is named by its email (by posts) and names its team by the team's name: indexing the people's emails
    maps each person without resolving its own natural reference (there is no index yet); then every reference
    resolves through the index."""
    from transforms.entity_spec import parse_entities
    from transforms.natural_keys import natural_index

    entities = parse_entities({
        "team": {"table": "teams", "type": "team", "pk": {"prefix": "TEAM#"}, "sk": {"equals": "METADATA"},
                 "id_column": "team_id", "columns": {"name": {"from": "name", "type": "text"}}},
        "person": {"table": "people", "type": "person", "pk": {"prefix": "P#"}, "sk": {"equals": "METADATA"},
                   "id_column": "person_id", "columns": {"email": {"from": "email", "type": "text"}},
                   "references": {"team_id": {"entity": "team", "from": "team", "by": "name"}}},
        "post": {"table": "posts", "type": "post", "pk": {"prefix": "POST#"}, "sk": {"equals": "METADATA"},
                 "id_column": "post_id",
                 "references": {"author_id": {"entity": "person", "from": "author", "by": "email"}}}}, "entities")
    docs = [{"PK": "TEAM#1", "type": "team", "name": "red"},
            {"PK": "P#1", "type": "person", "email": "a@x", "team": "red"},
            {"PK": "POST#1", "type": "post", "author": "a@x"}]
    lines = [json.dumps({"_id": {"$oid": f"65f00000000000000000000{i}"}, "SK": "METADATA", **d})
             for i, d in enumerate(docs)]
    mapper = DocumentMapper(entities)
    index, _ = natural_index(p for line in lines for p in mapper.natural_keys(line))
    assert set(index) == {("team", "name", "red"), ("person", "email", "a@x")}
    team, person, post = (mapper.with_natural(index).map_line(line) for line in lines)
    assert isinstance(person, Mapped) and person.row["team_id"] == team.row["team_id"] == entity_uuid("TEAM#1")
    assert isinstance(post, Mapped) and post.row["author_id"] == entity_uuid("P#1")
