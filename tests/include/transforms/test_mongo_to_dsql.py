"""The Spark classification of a mongoexport file, in local Spark, against the generator's exact outcome."""

from __future__ import annotations

from collections import Counter
from functools import reduce
from pathlib import Path

import pytest

from connectors.documents import plan_splits, read_split
from generators.movie_collection import write
from tests.fixtures import SPEC_DIR
from transforms.adjacency import DocumentMapper, Mapped
from transforms.mongo_to_dsql import BROADCAST_KEYS, PARKED_WHERE, _tally, classify, entity_counts
from transforms.spec import load_spec
from transforms.winners import ORDER, PARKED_DOCS, PK, REFS, ROW, SOURCE_DOCS, TEXT, WHERE, item, merge, winner

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
NAMES = [e.name for e in SPEC.entities]


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("mongo") / "movie_collection.json"
    expected = write(path, movies=40, seed=7, bad_input=True)
    return path, expected


# The orphan check two ways: keys gathered with the counts (the default, up to BROADCAST_KEYS spread over the
# partitions; `transforms.reference_check`) and a shuffled join of keys (0: every partition past its cap).
@pytest.fixture(scope="module", params=[BROADCAST_KEYS, 0], ids=["gathered keys", "shuffle join"])
def broadcast_keys(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture(scope="module")
def run(spark, broadcast_keys: int):  # noqa: ANN001, ANN201
    def _classify(path: Path, existing=lambda entity, keys: set()):  # noqa: ANN001, ANN202
        splits = plan_splits(f"file://{path}", parts=3)
        docs = spark.sparkContext.parallelize(splits, len(splits)).flatMap(read_split)
        return classify(docs, DocumentMapper(SPEC.entities), existing, broadcast_keys=broadcast_keys)
    return _classify


@pytest.fixture(scope="module")
def classified(run, bad_file) -> dict:  # noqa: ANN001
    """The bad file classified once per join: the counts, reasons, quarantined rejects and movie rows."""
    result = run(bad_file[0])
    return {"counts": entity_counts(result, NAMES), "reasons": dict(result.reasons),
            "rejects": result.rejects.collect(), "movies": result.rows["movie"].collect()}


def test_counts_match_the_generated_outcome_exactly(classified, bad_file) -> None:  # noqa: ANN001
    _, expected = bad_file
    for name in NAMES:
        assert classified["counts"][name] == expected["entities"][name], name
    assert classified["reasons"] == {k: v for k, v in expected["rejects"].items() if v}
    assert len(classified["rejects"]) == sum(expected["rejects"].values())


def test_every_reject_reason_is_quarantined_with_its_document(classified, bad_file) -> None:  # noqa: ANN001
    path, expected = bad_file
    rejects = classified["rejects"]
    reasons = {r[0] for r in rejects}
    assert reasons == {"missing_field", "bad_type", "unknown_entity", "bad_key", "orphan_reference", "malformed_json"}
    source_lines = set(path.read_text(encoding="utf-8").splitlines())
    for reason, _entity, detail, document, where in rejects:
        assert detail, reason
        assert document in source_lines  # the document as it was in the source, for a person to fix
        offset = int(where.rsplit(" ", 1)[1])  # "<file> byte <offset>": where a person finds it
        assert path.read_bytes()[offset:].decode("utf-8").startswith(document)


def test_greatest_id_wins_among_duplicates(classified, bad_file) -> None:  # noqa: ANN001
    _, expected = bad_file
    movies = {r["source_id"]: r for r in classified["movies"]}
    for key, title in expected["winners"].items():
        if key.startswith("MOVIE#") and key.endswith("|METADATA"):
            assert movies[key.split("|")[0][len("MOVIE#"):]]["title"] == title


def test_references_found_in_the_target_are_not_orphans(run, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "links.json"
    path.write_text("\n".join([
        '{"_id": {"$oid": "00000000000000000000000a"}, "PK": "MOVIE#tt1", "SK": "METADATA", "type": "movie", '
        '"title": "A"}',
        '{"_id": {"$oid": "00000000000000000000000b"}, "PK": "MOVIE#tt1", "SK": "ACTOR#nm1", "type": "movie_actor"}',
        '{"_id": {"$oid": "00000000000000000000000c"}, "PK": "MOVIE#tt1", "SK": "ACTOR#nm2", "type": "movie_actor"}',
    ]))
    asked: list[tuple[str, list[str]]] = []

    def existing(entity, keys):  # noqa: ANN001, ANN202
        asked.append((entity.name, sorted(keys)))
        return {"ACTOR#nm1"} & set(keys)

    result = run(path, existing)
    assert [r["actor_id"] for r in result.rows["movie_actor"].collect()] == [
        DocumentMapper(SPEC.entities).map_line(
            '{"_id": 1, "PK": "ACTOR#nm1", "SK": "METADATA", "type": "actor", "name": "x"}').row["actor_id"]]
    assert [r[0] for r in result.rejects.collect()] == ["orphan_reference"]
    # only references missing from the load are looked up, once each
    assert asked == [("actor", ["ACTOR#nm1", "ACTOR#nm2"])]


# The functions below run inside Spark's Python workers, which coverage does not measure: tested here directly.

def _doc(order: int, text: str, *, where: str | None = None, from_source: bool = True, entity: str = "movie",
         pk: str = "MOVIE#tt1", refs: tuple[tuple[str, str], ...] = ()) -> tuple:
    """One mapped document as it goes through the shuffle (`_item`), its row naming the document."""
    return item(Mapped(entity, f"{pk}|METADATA", pk, (0, order), {"text": text}, refs), text, where, from_source)


def _counted(item: tuple, source: int, parked: int) -> tuple:
    """`item` standing for `source` documents of the source and `parked` parked ones, as `merge` leaves it."""
    fields = list(item)
    fields[SOURCE_DOCS], fields[PARKED_DOCS] = source, parked
    return tuple(fields)


def test_item_counts_a_document_as_of_the_source_or_parked() -> None:
    """A document is one of the source's or one parked by an earlier run, never both: the counts `_tally` uses."""
    refs = (("actor", "ACTOR#nm1"),)
    item = _doc(3, "doc", where="f byte 0", refs=refs)
    assert item[ORDER] == (0, 3) and item[TEXT] == "doc" and item[WHERE] == "f byte 0"
    assert (item[SOURCE_DOCS], item[PARKED_DOCS]) == (1, 0)
    assert item[PK] == "MOVIE#tt1" and item[REFS] == refs and item[ROW] == {"text": "doc"}
    parked = _doc(3, "doc", from_source=False)
    assert (parked[SOURCE_DOCS], parked[PARKED_DOCS]) == (0, 1)


def test_winner_is_the_greatest_id_whichever_side() -> None:
    """The greatest `_id` wins even when its text sorts first: order before text."""
    old, new = _doc(1, "zzz"), _doc(2, "aaa")
    assert winner(old, new) is new
    assert winner(new, old) is new


def test_winner_of_equal_ids_is_the_greatest_text() -> None:
    """A re-exported document (same `_id`) is decided by its text, the same way in either order."""
    a, b = _doc(5, "{\"title\": \"A\"}"), _doc(5, "{\"title\": \"B\"}")
    assert winner(a, b) is b
    assert winner(b, a) is b
    same = _doc(5, "{\"title\": \"A\"}")
    assert winner(a, same) is a  # identical: the first, either is right


def test_merge_keeps_the_winner_and_sums_the_documents() -> None:
    """The merged item is the winner's document, standing for every source and parked document of the key."""
    source_doc = _doc(1, "source", where="f byte 10", refs=(("actor", "ACTOR#nm1"),))
    parked_doc = _doc(2, "parked", where=PARKED_WHERE + "x)", from_source=False, refs=(("actor", "ACTOR#nm2"),))
    merged = merge(source_doc, parked_doc)
    assert merged == ((0, 2), "parked", PARKED_WHERE + "x)", 1, 1, "MOVIE#tt1", (("actor", "ACTOR#nm2"),),
                      {"text": "parked"}, ())
    assert merge(parked_doc, source_doc) == merged


def test_merge_counts_add_up_over_a_reduce() -> None:
    """reduceByKey merges partial results: the counts add up and the greatest `_id` wins in any order."""
    docs = [_doc(4, "a"), _doc(9, "b", from_source=False), _doc(7, "c"), _doc(2, "d", from_source=False),
            _doc(1, "e")]
    for ordered in (docs, docs[::-1], docs[2:] + docs[:2]):
        merged = reduce(merge, ordered)
        assert (merged[SOURCE_DOCS], merged[PARKED_DOCS]) == (3, 2)
        assert merged[TEXT] == "b" and merged[ROW] == {"text": "b"}


def test_tally_counts_one_partition() -> None:
    """Documents, duplicates and winners per entity; parked-only keys as retried; early rejects per reason."""
    parked_where = PARKED_WHERE + "2024-01-01T00:00:00) f byte 5"
    items = [
        # early rejects: keyed by (None, (partition, seq)), valued (reason, entity, detail, text, where)
        ((None, (0, 0)), ("missing_field", "movie", "no title", "{}", "f byte 0")),
        ((None, (0, 1)), ("malformed_json", None, "not JSON", "{", "f byte 3")),
        ((None, (0, 2)), ("bad_type", "actor", "name is 1", "{}", parked_where)),
        ((None, (0, 3)), ("bad_type", "actor", "name is 2", "{}", None)),
        # a key of the source: 3 documents, one row
        (("movie", "MOVIE#tt1|METADATA"), _counted(_doc(3, "m1"), 3, 0)),
        # the source holds this key again: its parked documents are neither retried nor duplicates
        (("movie", "MOVIE#tt2|METADATA"), _counted(_doc(4, "m2", pk="MOVIE#tt2"), 1, 2)),
        # keys only parked documents have
        (("actor", "ACTOR#nm1|METADATA"), _counted(_doc(5, "a1", from_source=False, entity="actor"), 0, 3)),
        (("actor", "ACTOR#nm2|METADATA"), _counted(_doc(6, "a2", from_source=False, entity="actor"), 0, 1)),
    ]
    (tally,) = list(_tally(iter(items)))
    assert tally == Counter({  # missing counts compare as 0: a parked-only key adds 0 documents
        ("reason", "missing_field"): 1, ("reason", "malformed_json"): 1, ("reason", "bad_type"): 2,
        ("rejected", "movie"): 1, ("rejected", "actor"): 1, ("retried_rejected", "actor"): 1,
        ("documents", "movie"): 4, ("duplicates", "movie"): 2, ("winners", "movie"): 2,
        ("retried", "actor"): 4, ("duplicates", "actor"): 2, ("parked_winners", "actor"): 2,
    })
    assert list(_tally(iter([]))) == [Counter()]  # an empty partition still yields its (empty) counts
