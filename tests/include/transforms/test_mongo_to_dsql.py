"""The Spark classification of a mongoexport file, in local Spark, against the generator's exact outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.documents import plan_splits, read_split
from generators.movie_collection import write
from tests.fixtures import SPEC_DIR
from transforms.adjacency import DocumentMapper
from transforms.mongo_to_dsql import BROADCAST_KEYS, classify, entity_counts
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
NAMES = [e.name for e in SPEC.entities]


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("mongo") / "movie_collection.json"
    expected = write(path, movies=40, seed=7, bad_input=True)
    return path, expected


# The orphan check joins keys two ways: broadcast (the default for up to BROADCAST_KEYS entity rows) and shuffled.
@pytest.fixture(scope="module", params=[BROADCAST_KEYS, 0], ids=["broadcast join", "shuffle join"])
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


