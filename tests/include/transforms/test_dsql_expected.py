"""The expected side of a MongoDB → DSQL reconciliation: the job's winner, reject and orphan rules, in memory."""

from __future__ import annotations

import json

from tests.fixtures import SPEC_DIR
from transforms.adjacency import DocumentMapper, Mapped, entity_uuid
from transforms.dsql_expected import (
    _order,
    _pack,
    _Recorder,
    bucket_in,
    digest_of,
    expected_tables,
    key_bytes,
    key_text,
    position_of,
)
from transforms.reconcile import bucket_of, row_digest
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")


def doc(oid: str, pk: str, sk: str, type_: str, **fields: object) -> str:
    return json.dumps({"_id": {"$oid": oid}, "PK": pk, "SK": sk, "type": type_, **fields})


def movie(oid: str, mid: str, title: str, **fields: object) -> str:
    return doc(oid, f"MOVIE#{mid}", "METADATA", "movie", title=title, **fields)


def actor(oid: str, aid: str, name: str) -> str:
    return doc(oid, f"ACTOR#{aid}", "METADATA", "actor", name=name)


def link(oid: str, mid: str, aid: str, character: str) -> str:
    return doc(oid, f"MOVIE#{mid}", f"ACTOR#{aid}", "movie_actor", character_name=character, billing_order=1)


def nothing_exists(entity: object, ids: list[str]) -> set[str]:
    return set()


def winner_row(exp, lines: list[str], name: str, key: tuple[str, ...]) -> dict:
    (row,) = [r for k, r in exp.rows(lambda: iter(lines), {name: {key_bytes(key)}})[name]]
    return row


def test_keys_pack_into_bytes_and_back() -> None:
    key = (entity_uuid("MOVIE#tt1"), entity_uuid("ACTOR#nm1"))
    assert len(key_bytes(key)) == 32 and key_text(key_bytes(key)) == key
    for order in [(7, "65f0000000000000000000ab"), (1, 5), (2, "text id")]:
        p = _pack(order, 2**64 - 1, 1023, 2**32 - 1)
        assert (_order(p), digest_of(p), bucket_in(p), position_of(p)) == (order, 2**64 - 1, 1023, 2**32 - 1)


def test_the_greatest_id_wins_whatever_the_order_of_the_lines() -> None:
    lines = [movie("65f000000000000000000002", "tt1", "New"), movie("65f000000000000000000001", "tt1", "Old"),
             movie("65f000000000000000000003", "tt2", "Other")]
    for ordered in (lines, lines[::-1]):
        exp = expected_tables(lambda o=ordered: iter(o), SPEC, nothing_exists)
        assert len(exp.winners["movie"]) == 2 and exp.duplicates["movie"] == 1
        assert winner_row(exp, ordered, "movie", (entity_uuid("MOVIE#tt1"),))["title"] == "New"
        mapped = DocumentMapper.for_spec(SPEC).map_line(lines[0])
        assert isinstance(mapped, Mapped)
        p = exp.winners["movie"][key_bytes((entity_uuid("MOVIE#tt1"),))]
        assert digest_of(p) == row_digest(mapped.row, ["movie_id", "source_id", "title", "release_year",
                                                       "release_date", "runtime_minutes", "rating", "genres",
                                                       "budget", "box_office", "language", "_extra",
                                                       "source_doc_id", "source_version"])
        assert bucket_in(p) == bucket_of((entity_uuid("MOVIE#tt1"),), exp.buckets)


def test_identical_ids_are_decided_by_the_greater_text_as_the_job_does() -> None:
    same = "65f000000000000000000009"
    lines = [movie(same, "tt1", "Alpha"), movie(same, "tt1", "Zulu"), movie(same, "tt1", "Mike")]
    calls = 0

    def source():
        nonlocal calls
        calls += 1
        return iter(lines)

    exp = expected_tables(source, SPEC, nothing_exists)
    assert calls == 2  # one pass, and one more to read the tied texts
    assert winner_row(exp, lines, "movie", (entity_uuid("MOVIE#tt1"),))["title"] == max(
        ["Alpha", "Zulu", "Mike"], key=lambda t: movie(same, "tt1", t))


def test_rejects_are_not_expected() -> None:
    lines = [movie("65f000000000000000000001", "tt1", "Fine"), doc("65f000000000000000000002", "MOVIE#tt2",
                                                                   "METADATA", "movie"),  # no title
             "{not json", "", doc("65f000000000000000000003", "X#1", "METADATA", "alien")]
    exp = expected_tables(lambda: iter(lines), SPEC, nothing_exists)
    assert len(exp.winners["movie"]) == 1 and exp.documents == 4 and exp.rejected == 3


def test_links_to_entities_in_neither_the_load_nor_the_target_are_orphans() -> None:
    lines = [movie("65f000000000000000000001", "tt1", "Here"), actor("65f000000000000000000002", "nm1", "Here"),
             link("65f000000000000000000003", "tt1", "nm1", "both here"),
             link("65f000000000000000000004", "tt1", "nm2", "actor in the target"),
             link("65f000000000000000000005", "tt9", "nm1", "movie nowhere")]
    asked: list[tuple[str, list[str]]] = []

    def existing(entity, ids: list[str]) -> set[str]:
        asked.append((entity.name, ids))
        return {entity_uuid("ACTOR#nm2")} & set(ids)

    exp = expected_tables(lambda: iter(lines), SPEC, existing)
    kept = {key_text(k) for k in exp.winners["movie_actor"]}
    assert kept == {(entity_uuid("MOVIE#tt1"), entity_uuid("ACTOR#nm1")),
                    (entity_uuid("MOVIE#tt1"), entity_uuid("ACTOR#nm2"))}
    assert exp.orphans == {"movie_actor": 1}
    assert sorted(asked) == [("actor", [entity_uuid("ACTOR#nm2")]), ("movie", [entity_uuid("MOVIE#tt9")])]


def test_totals_count_every_winner_once() -> None:
    lines = [movie(f"65f0000000000000000000{i:02x}", f"tt{i % 7}", f"t{i}") for i in range(40)]
    exp = expected_tables(lambda: iter(lines), SPEC, nothing_exists, buckets=8)
    totals = exp.totals()
    assert totals["movie"].rows == 7 and totals["actor"].rows == 0 and exp.duplicates["movie"] == 33


def test_a_record_digests_the_row_as_row_digest_does() -> None:
    """The recorder takes a mapped row's values in table order at once; a row short of a column (none the mapper
    makes) digests as `row_digest` does, the column as NULL."""
    recorder = _Recorder(DocumentMapper.for_spec(SPEC), SPEC, 64)
    m = DocumentMapper.for_spec(SPEC).map_line(movie("00000000000000000000000a", "tt1", "A", genres=["Drama"]))
    assert isinstance(m, Mapped)
    columns = recorder.columns["movie"]
    assert recorder(movie("00000000000000000000000a", "tt1", "A", genres=["Drama"]))[3] == row_digest(m.row, columns)
    short = {k: v for k, v in m.row.items() if k != "title"}
    assert recorder._digest("movie", short) == row_digest(short, columns) == row_digest({**m.row, "title": None},
                                                                                            columns)
