"""The orphan check of a MongoDB → DSQL load: which relationship rows point at keys that exist nowhere.

Three ways, cheapest first (`transforms.mongo_to_dsql.classify` picks):
- **Gathered with the counts** (`with_key_sets`): the pass that counts the winners also collects, per partition,
  the entity keys it holds and the keys its relationship rows point at, while both stay under a cap. The driver
  takes the difference; when every referenced key is held (a clean load), the check costs no pass of its own.
- **Only the absent keys** (`orphans_of`): the relationship rows that point at an absent key, read in one filtered
  pass, and those keys looked up in the target (an earlier load may hold them).
- **Shuffled** (`referrers`, `add_referrer`, `merge_referrers`, `unanswered`): past the cap, a join of keys only
  across the cluster, never of rows.

An item here is a winner of the dedup shuffle, `((entity, key), item)`: `transforms.mongo_to_dsql.Item`, whose `pk`
and `refs` the caller says where to find.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyspark is there when the job runs, not where Airflow imports this bundle
    from pyspark import RDD

RefKey = tuple[str, str]  # (entity, source key)
# One partition's keys: those its entity rows hold, those its relationship rows point at; None past the cap
KeySets = tuple[set[RefKey], set[RefKey]] | None


def with_key_sets(items: Iterable[tuple[tuple[Any, Any], Any]], tally: Callable[[Iterable[Any]], Iterator[Counter]],
                  entity_names: frozenset[str], cap: int, pk_at: int, refs_at: int
                  ) -> Iterator[tuple[Counter, KeySets]]:
    """One partition's counts (`tally`, over the same items in the same pass) and its `KeySets` (an entity row's
    key is its item's `pk_at`, a relationship row's references its `refs_at`): None once either set holds more
    than `cap` keys, so that what reaches the driver stays bounded."""
    held: set[RefKey] = set()
    wanted: set[RefKey] = set()
    within = True

    def observed() -> Iterator[tuple[tuple[Any, Any], Any]]:
        nonlocal within
        for kv in items:
            entity = kv[0][0]
            if within and entity is not None:
                if entity in entity_names:
                    held.add((entity, kv[1][pk_at]))
                else:
                    wanted.update(kv[1][refs_at])
                within = len(held) <= cap and len(wanted) <= cap
            yield kv

    (counts,) = tally(observed())
    yield counts, ((held, wanted) if within else None)


def absent_keys(parts: list[KeySets]) -> set[RefKey] | None:
    """The keys some relationship row points at and no entity row of the load holds, from every partition's
    `KeySets`; None when a partition went past the cap (the shuffled check decides)."""
    if any(p is None for p in parts):
        return None
    held: set[RefKey] = set()
    wanted: set[RefKey] = set()
    for p in parts:
        assert p is not None
        held |= p[0]
        wanted |= p[1]
    return wanted - held


def orphans_of(missing: RDD, existing: Callable[[str, list[str]], set[str]]) -> dict[Any, Any]:
    """Relationship row (its referrer) → the first of its references that exists nowhere, of the (referenced key,
    referrer) pairs `missing` from the load: only those keys are looked up in the target (`existing(entity, keys)`),
    usually few, so batched on the driver; when the target holds them all, no further pass."""
    from pyspark import StorageLevel

    missing = missing.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        wanted: dict[str, list[str]] = {}
        for ent, key in missing.keys().distinct().collect():
            wanted.setdefault(ent, []).append(key)
        found = {(ent, k) for ent, keys in wanted.items() for k in existing(ent, keys)}
        if len(found) == sum(map(len, wanted.values())):
            return {}
        return dict(missing.filter(lambda kv: kv[0] not in found).map(lambda kv: (kv[1], kv[0])).reduceByKey(
            min).collect())
    finally:
        missing.unpersist()


# Per referenced key, combined map-side: None once an entity row holds the key, else the relationship keys that
# point at it. Most keys exist, so most lists collapse to None before the shuffle.
def referrers(marker: Any) -> list[Any] | None:
    return None if marker is None else [marker]


def add_referrer(found: list[Any] | None, marker: Any) -> list[Any] | None:
    if found is None or marker is None:
        return None
    found.append(marker)
    return found


def merge_referrers(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    return None if a is None or b is None else a + b


def unanswered(kv: tuple[RefKey, list[Any] | None]) -> list[tuple[RefKey, Any]]:
    """(referenced key, relationship key) for each reference to a key that no entity row of the load holds."""
    ref, found = kv
    return [(ref, rel) for rel in found or ()]
