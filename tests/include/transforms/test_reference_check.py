"""The orphan check's key sets and shuffled join, outside Spark (they run in its Python workers, which coverage
does not measure); `test_mongo_to_dsql` runs both ways of the check through `classify`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import reduce

from transforms.reference_check import (
    absent_keys,
    add_referrer,
    merge_referrers,
    referrers,
    unanswered,
    with_key_sets,
)

REL_A, REL_B = ("movie_actor", "MOVIE#tt1|ACTOR#nm1"), ("movie_actor", "MOVIE#tt2|ACTOR#nm1")


def test_referrers_collapse_to_none_once_an_entity_row_holds_the_key() -> None:
    """None (an entity row) starts, absorbs and wins every merge; otherwise the referrers are listed."""
    assert referrers(None) is None
    assert referrers(REL_A) == [REL_A]
    assert add_referrer([REL_A], REL_B) == [REL_A, REL_B]
    assert add_referrer([REL_A], None) is None
    assert add_referrer(None, REL_B) is None
    assert merge_referrers([REL_A], [REL_B]) == [REL_A, REL_B]
    assert merge_referrers(None, [REL_B]) is None
    assert merge_referrers([REL_A], None) is None
    assert merge_referrers(None, None) is None


def _combine(markers: list) -> list | None:
    """combineByKey over one key's markers, split over two map-side partitions."""
    parts = []
    for part in (markers[:1], markers[1:]):
        if part:
            parts.append(reduce(add_referrer, part[1:], referrers(part[0])))
    return reduce(merge_referrers, parts)


def test_a_key_held_anywhere_among_its_markers_is_answered() -> None:
    """Wherever the entity row's marker falls among the references, the key ends up answered (no orphans)."""
    for markers in ([None, REL_A, REL_B], [REL_A, None, REL_B], [REL_A, REL_B, None]):
        assert _combine(markers) is None, markers
        assert unanswered((("actor", "ACTOR#nm1"), _combine(markers))) == []
    assert _combine([REL_A, REL_B]) == [REL_A, REL_B]


def testunanswered_pairs_each_referrer_with_the_missing_key() -> None:
    """(referenced key, relationship key) per referrer of a key no entity row holds; nothing for a held key."""
    ref = ("actor", "ACTOR#nm2")
    assert unanswered((ref, [REL_A, REL_B])) == [(ref, REL_A), (ref, REL_B)]
    assert unanswered((ref, None)) == []


PK_AT, REFS_AT = 0, 1


def _count(items: Iterable) -> Iterator[Counter]:
    yield Counter(kv[0][0] for kv in items)


def _partition(*rows: tuple) -> list:
    """Winners `((entity, key), (pk, refs))`: entity rows without refs, relationship rows with theirs."""
    return [((entity, key), (key.split("|")[0], refs)) for entity, key, refs in rows]


MOVIE = ("movie", "MOVIE#tt1|METADATA", ())
ACTOR = ("actor", "ACTOR#nm1|METADATA", ())
LINK = ("movie_actor", "MOVIE#tt1|ACTOR#nm1", (("movie", "MOVIE#tt1"), ("actor", "ACTOR#nm1")))
LOOSE = ("movie_actor", "MOVIE#tt1|ACTOR#nm9", (("movie", "MOVIE#tt1"), ("actor", "ACTOR#nm9")))
REJECT = (None, (0, 3))


def _sets(rows: list, cap: int = 10) -> tuple:
    (out,) = list(with_key_sets(iter(rows), _count, frozenset({"movie", "actor"}), cap, PK_AT, REFS_AT))
    return out


def test_key_sets_come_with_the_counts_of_the_same_pass() -> None:
    """The counts see every item (rejects too); the sets hold entity keys and the keys relationship rows name."""
    counts, sets = _sets([*_partition(MOVIE, LINK, LOOSE), (REJECT, ("bad_type", None, "", "", None))])
    assert counts == Counter({"movie": 1, "movie_actor": 2, None: 1})
    assert sets == ({("movie", "MOVIE#tt1")}, {("movie", "MOVIE#tt1"), ("actor", "ACTOR#nm1"), ("actor", "ACTOR#nm9")})


def test_a_partition_past_the_cap_gathers_nothing_and_the_check_is_shuffled() -> None:
    """Past `cap` keys in either set the partition sends None, and `absent_keys` answers None: the caller joins
    the keys across the cluster instead of holding them on the driver."""
    counts, sets = _sets(_partition(MOVIE, ACTOR, LINK), cap=1)
    assert counts == Counter({"movie": 1, "actor": 1, "movie_actor": 1}) and sets is None
    assert absent_keys([_sets(_partition(MOVIE))[1], None]) is None


def test_absent_keys_are_those_no_partition_holds() -> None:
    """A key held in one partition answers the references of every other; the rest are absent."""
    assert absent_keys([_sets(_partition(LINK, LOOSE))[1], _sets(_partition(MOVIE, ACTOR))[1]]) == {
        ("actor", "ACTOR#nm9")}
    assert absent_keys([_sets(_partition(MOVIE, ACTOR, LINK))[1], _sets([])[1]]) == set()
    assert absent_keys([]) == set()
