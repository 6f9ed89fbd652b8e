"""The Spark side of MongoDB adjacency list → relational tables: classify, dedupe, check references.

Takes an RDD of documents (mongoexport lines or decoded dicts) and returns lazily evaluated RDDs of
rows per table and of rejects, plus the counts the run report needs. No I/O here: the job script reads
the source and writes the target, and the one lookup that needs the target (do referenced rows exist
from an earlier load?) is passed in as a function.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transforms.adjacency import TIMELESS_REASONS, DocumentMapper, Mapped, entity_uuid
from transforms.native_mapping import line_text, native_entities, plain_mapped
from transforms.reference_check import (
    absent_keys,
    add_referrer,
    merge_referrers,
    orphans_of,
    referrers,
    unanswered,
    with_key_sets,
)
from transforms.row_tuples import RowTuples
from transforms.spec import EntitySpec
from transforms.winners import (
    PARKED_DOCS,
    PK,
    REFS,
    ROW,
    SOURCE_DOCS,
    TEXT,
    UNMAPPED,
    WHERE,
    dedup,
    item,
    merge,
)

if TYPE_CHECKING:  # pyspark is there when the job runs, not where Airflow imports this bundle
    from pyspark import RDD

# How the `where` of a document parked by an earlier run begins (`connectors.pending.read_parked`).
PARKED_WHERE = "pending (first read at "
# The reason a line's tally carries when an earlier run of the source quarantined it (`connectors.timeless`): counted,
# never rejected or quarantined again.
KNOWN_TIMELESS = "timeless_known"
# Entity keys (~100 bytes each in Python) the orphan check may hold on the driver and each executor.
BROADCAST_KEYS = 2_000_000
# (entity, [source keys]) → the keys among them that already exist in the target
ExistingKeys = Callable[[EntitySpec, list[str]], set[str]]


@dataclass
class Classified:
    """The outcome of one load, before writing: lazy RDDs over the deduplicated winners, and the counts."""

    rows: dict[str, RDD]  # entity name → RDD[dict] (one winning row per key)
    rejects: RDD  # RDD[tuple[reason, entity | None, detail, document text, where in the source | None]]
    loadable: RDD  # RDD[tuple[entity name, row]] (`transforms.row_tuples`): every row to write, in one pass
    parked: RDD  # RDD[tuple[entity, key, version, missing key, text, where]]: this source's orphans, to park
    # ... and the parked documents still orphaned, to park again: the first end they miss may have changed (a later
    # interval brought one end, not the other)
    still_parked: RDD | None = None
    orphan_keys: set = field(default_factory=set)  # (entity, key) of every orphan, parked ones included
    documents: Counter = field(default_factory=Counter)  # per entity (by `type`), the source's documents
    duplicates: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)  # per entity
    reasons: Counter = field(default_factory=Counter)  # per reject reason
    unique: Counter = field(default_factory=Counter)  # rows of this source's keys to write, per entity
    retried: Counter = field(default_factory=Counter)  # parked documents read back, per entity
    landed: Counter = field(default_factory=Counter)  # keys only parked documents had, written now
    still_pending: Counter = field(default_factory=Counter)  # keys only parked documents had, still orphans
    unmapped: Counter = field(default_factory=Counter)  # (entity, folded path): values of the rows to write that
    # the spec maps nowhere (kept in `_extra`, or failing the run under `unmapped: fail`)
    timeless: RDD | None = None  # RDD[(content digest, reason)] of the timeless lines rejected now (to record)
    timeless_known: int = 0  # timeless lines an earlier run of the source quarantined: skipped


def classify(docs: RDD, mapper: DocumentMapper, existing: ExistingKeys, *, partitions: int | None = None,
             broadcast_keys: int = BROADCAST_KEYS, timer: Callable[[str], None] | None = None,
             known_timeless: Any = None, native: bool = False) -> Classified:
    """Map every document, keep one winner per key, and reject relationship rows whose ends exist nowhere.

    `docs` holds document texts (`connectors.documents`), each alone, as `(text, where in the source)`, or as
    `(text, where, False)` for a document parked by an earlier run (`connectors.pending`: mapped whatever the
    mapper's window). Rejects keep the document's text, made printable (`transforms.source_text.printable`:
    invalid bytes as `\\xNN`), and where it was. Orphans of the source are rejected for this run and returned
    in `parked` to be retried by later runs; parked documents still orphaned stay parked (not rejected again).

    One shuffle carries the documents: each is mapped once on the executors and keyed by its dedup key (an early
    reject by a key of its own), and the reduce side keeps the winner and how many documents it stood for
    (`dedup`). The winners are not persisted: each pass after the shuffle (the counts, the write, the rejects)
    reads the shuffle's files again and merges them anew, which costs less than pickling every winner into
    Spark's storage and unpickling it once more for the counts. The counting pass also gathers the keys of the
    orphan check while each partition holds at most `2 × broadcast_keys / partitions`
    (`transforms.reference_check`; else a join of keys across the cluster), and the orphans themselves, usually
    few, go out as a broadcast set. `timer(phase)` is called as each phase ends, for the job's per-phase timings.

    `native`: map and deduplicate plain documents by Spark expressions (`transforms.native_mapping`), the others by
    the mapper in their key's group; the same winners, no Python shuffle (a document only the mapper can key, rare,
    costs one: `_native_winners`).

    `known_timeless` (a broadcast set of `content_digest`s, or None where the target keeps no record of them): a
    run with a window keys each line it cannot place in any interval (`TIMELESS_REASONS`) by its content; those an
    earlier run quarantined are counted (`timeless_known`) and dropped, the others rejected and listed in
    `timeless` for the job to record.
    """
    from pyspark import StorageLevel

    from transforms.source_text import content_digest, printable

    tuples = RowTuples(mapper.entities.values())

    def map_one(index: int, seq: int, text: str, where: str | None, from_source: bool
                ) -> tuple[tuple[Any, Any], Any] | None:
        known = None if known_timeless is None or mapper.window.is_full else known_timeless.value
        m = mapper.map_line(text, windowed=from_source)
        if isinstance(m, Mapped):
            return (m.entity, m.key), item(m, text, where, from_source, tuples)
        if m is None:
            return None
        if known is not None and from_source and m.reason in TIMELESS_REASONS:  # keyed by its content too
            digest = content_digest(text, mapper.window_field)
            return (None, (index, seq, digest)), ((KNOWN_TIMELESS, None, "", "", where) if digest in known
                                                  else (m.reason, m.entity, m.detail, printable(text), where))
        # a reject: a key no document shares, so it passes the shuffle alone
        return (None, (index, seq)), (m.reason, m.entity, m.detail, printable(text), where)

    def one_partition(index: int, items: Iterable[Any]) -> Iterator[tuple[tuple[Any, Any], Any]]:
        for seq, doc in enumerate(items):
            text, where, from_source = (*doc, True)[:3] if isinstance(doc, tuple) else (doc, None, True)
            if (kv := map_one(index, seq, text, where, from_source)) is not None:
                yield kv

    sc = docs.context
    partitions = partitions or sc.defaultParallelism * 4
    entity_names = frozenset(e.name for e in mapper.entities.values() if not e.is_relationship)
    cap = 2 * broadcast_keys // partitions  # keys a partition may gather; hash-partitioned winners are even

    def counted(rdd: RDD) -> tuple[Counter, set | None]:
        """`rdd`'s counts and its absent keys (`reference_check.absent_keys`), in one pass."""
        parts = rdd.mapPartitions(lambda items: with_key_sets(items, _tally, entity_names, cap, PK, REFS)).collect()
        return sum((c for c, _ in parts), Counter()), absent_keys([k for _, k in parts])

    entities = native_entities(mapper) if native else ()
    if entities:
        native_winners, alone = _native_winners(docs, mapper, entities, partitions, map_one, tuples)
        winners = native_winners.persist(StorageLevel.MEMORY_AND_DISK)  # `alone` is known once it has been read
        tally, absent = counted(winners)
        if alone.value:  # a document only the mapper could key was mapped: merge it with its key's winner, if any
            unmerged = winners
            winners = dedup(unmerged, partitions)
            tally, absent = counted(winners)
            unmerged.unpersist()
    else:
        winners = dedup(docs.mapPartitionsWithIndex(one_partition), partitions)
        tally, absent = counted(winners)
    if timer:
        timer("read, map and dedup")

    mapped = winners.filter(lambda kv: kv[0][0] is not None)

    def existing_by_name(entity: str, keys: list[str]) -> set[str]:
        return existing(mapper.entities[entity], keys)

    def ref_markers(kv: tuple[tuple[str, str], Any]) -> list[tuple[tuple[str, str], Any]]:
        """An entity row says "this key exists" (None); a relationship row names each key it points at."""
        (entity, key), item = kv
        if entity in entity_names:
            return [((entity, item[PK]), None)]
        return [(ref, _referrer(kv)) for ref in item[REFS]]

    # Which referenced keys no entity row of the load has: gathered with the counts while few enough (a clean load
    # needs no further pass), else a join of keys across the cluster, never of rows.
    referring = sum(n for (kind, name), n in tally.items()
                    if kind in ("winners", "parked_winners") and name not in entity_names)
    if not referring:  # no relationship row in this load: nothing to check
        orphan_marks: dict[Any, Any] = {}
    elif absent is not None:
        absent_refs = sc.broadcast(absent) if absent else None
        orphan_marks = {} if absent_refs is None else orphans_of(
            mapped.filter(lambda kv: kv[0][0] not in entity_names).flatMap(
                lambda kv: [(ref, _referrer(kv)) for ref in kv[1][REFS] if ref in absent_refs.value]),
            existing_by_name)
    else:
        orphan_marks = orphans_of(mapped.flatMap(ref_markers).combineByKey(
            referrers, add_referrer, merge_referrers, partitions).flatMap(unanswered), existing_by_name)
    # orphans of this source (rejected now, parked) and orphans only parked documents had (still parked), counted
    # from what the check returned: each relationship key is one winner, so no further pass over the winners
    orphan_of = {(entity, key): ref for (entity, key, _), ref in orphan_marks.items()}
    orphan_counts: Counter = Counter()
    parked_orphans: Counter = Counter()
    for entity, _, of_source in orphan_marks:
        (orphan_counts if of_source else parked_orphans)[entity] += 1
    orphans = sc.broadcast(orphan_of)
    if timer:
        timer("check references")

    loadable = mapped.filter(lambda kv: kv[0] not in orphans.value)
    source_orphans = mapped.filter(lambda kv: kv[0] in orphans.value and kv[1][SOURCE_DOCS] > 0)
    orphan_rejects = source_orphans.map(lambda kv: (
        "orphan_reference", kv[0][0],
        f"{orphans.value[kv[0]][1]} ({entity_uuid(orphans.value[kv[0]][1])}) exists neither in this load nor in "
        f"the target (parked: retried by every later run)", kv[1][TEXT], kv[1][WHERE]))
    out = Classified(
        rows={name: loadable.filter(lambda kv, n=name: kv[0][0] == n).map(
            lambda kv: tuples.decode(kv[0][0], kv[1][ROW]))
              for name in mapper.entities},
        rejects=winners.filter(lambda kv: kv[0][0] is None and kv[1][0] != KNOWN_TIMELESS).values().union(
            orphan_rejects),
        timeless=winners.filter(lambda kv: kv[0][0] is None and len(kv[0][1]) == 3 and kv[1][0] != KNOWN_TIMELESS
                                ).map(lambda kv: (kv[0][1][2], kv[1][0])),
        loadable=loadable.map(lambda kv: (kv[0][0], kv[1][ROW])),
        parked=source_orphans.map(lambda kv: (kv[0][0], kv[0][1], tuples.version(kv[0][0], kv[1][ROW]),
                                              orphans.value[kv[0]][1], kv[1][TEXT], kv[1][WHERE])),
        still_parked=mapped.filter(lambda kv: kv[0] in orphans.value and not kv[1][SOURCE_DOCS]).map(
            lambda kv: (kv[0][0], kv[0][1], tuples.version(kv[0][0], kv[1][ROW]), orphans.value[kv[0]][1], kv[1][TEXT],
                        _first_where(kv[1][WHERE]))),
        orphan_keys=set(orphan_of),
    )
    for (kind, name), n in tally.items():
        if kind == "documents":
            out.documents[name] += n
        elif kind == "duplicates":
            out.duplicates[name] += n
        elif kind == "winners":
            out.unique[name] = n - orphan_counts[name]
        elif kind == "parked_winners":
            out.landed[name] = n - parked_orphans[name]
            out.still_pending[name] = parked_orphans[name]
        elif kind == "retried":
            out.retried[name] += n
        elif kind == "retried_rejected":
            out.retried[name] += n
            out.rejected[name] += n
        elif kind == "reason":
            out.reasons[name] += n
        elif kind == "unmapped":
            out.unmapped[name] += n
        else:  # "rejected": an early reject of a known entity, a document of it too
            out.rejected[name] += n
            out.documents[name] += n
    out.timeless_known = out.reasons.pop(KNOWN_TIMELESS, 0)
    for name, n in orphan_counts.items():
        out.rejected[name] += n
    if orphan_counts:
        out.reasons["orphan_reference"] += sum(orphan_counts.values())
    return out


def _native_winners(docs: RDD, mapper: DocumentMapper, entities: tuple[EntitySpec, ...], partitions: int,
                    map_one: Callable[..., tuple[tuple[Any, Any], Any] | None], tuples: RowTuples
                    ) -> tuple[RDD, Any]:
    """The winners of `docs` as `classify` keeps them, the plain documents mapped and deduplicated in the JVM
    (`transforms.native_mapping.native_groups`), the others by `map_one` with their key's group; and an accumulator
    of the documents `map_one` mapped that had no group (whose key only the mapper could read)."""
    from pyspark.sql import SparkSession

    from transforms.native_mapping import LINE_SCHEMA, line_row, native_groups

    spark = SparkSession.builder.getOrCreate()
    # The plan's one stage generates a method longer than HotSpot compiles (8,000 bytes of bytecode): run
    # interpreted, it is several times slower. Spark's documented setting for HotSpot splits it instead.
    spark.conf.set("spark.sql.codegen.hugeMethodLimit", "8000")
    alone = docs.context.accumulator(0)
    lines = spark.createDataFrame(docs.map(line_row), LINE_SCHEMA, verifySchema=False)
    groups = native_groups(lines, mapper, entities, partitions)

    def resolve(index: int, rows: Iterable[Any]) -> Iterator[tuple[tuple[Any, Any], Any]]:
        return resolve_groups(index, (row[0] for row in rows), mapper, map_one, alone.add, tuples)

    return groups.rdd.mapPartitionsWithIndex(resolve), alone


def resolve_groups(index: int, groups: Iterable[str], mapper: DocumentMapper, map_one: Callable[..., Any],
                   alone: Callable[[int], None], tuples: RowTuples | None = None
                   ) -> Iterator[tuple[tuple[Any, Any], Any]]:
    """The winners and rejects of one partition of `native_groups`' JSON texts: a group's plain winner made a row
    (`native_mapping.plain_mapped`, encoded by `tuples` as `map_one` encodes its rows), merged with what `map_one`
    makes of the group's other documents; `alone(1)` for each document mapped that had no group (only the mapper
    could read its key)."""
    seq = 0
    for text in groups:
        g = json.loads(text)
        entity, gkey, merged = g["entity"], g["gkey"], None
        if g["n"]:
            m = plain_mapped(mapper, entity, gkey, g["pk"], g["pk_id"], g["sk_id"], g["oid"], g["vals"])
            row = m.row if tuples is None else tuples.encode(m.entity, m.row)
            merged = ((m.entity, m.key), (m.order, g["text"], g["where"], g["n"], 0, m.pk, m.refs, row, m.unmapped))
        for other in g["others"]:
            raw = other["raw"]
            doc = line_text(other["text"], None if raw is None else base64.b64decode(raw))
            kv = map_one(index, seq, doc, other["where"], other["source"])
            seq += 1
            if kv is None or kv[0][0] is None:  # outside the window, or a reject
                if kv is not None:
                    yield kv
            elif entity is None:
                alone(1)
                yield kv
            elif kv[0] != (entity, gkey):
                raise RuntimeError(f"the mapper keyed a document of {entity} {gkey!r} as {kv[0]!r}: "
                                   "transforms.native_mapping reads its keys otherwise")
            else:
                merged = kv if merged is None else (kv[0], merge(merged[1], kv[1]))
        if merged is not None:
            yield merged


def _referrer(kv: tuple[tuple[str, str], Any]) -> tuple[str, str, bool]:
    """A relationship row as the orphan check names it: its key, and whether the source holds it (else only a
    parked document does)."""
    (entity, key), item = kv
    return entity, key, item[SOURCE_DOCS] > 0


def _first_where(where: str | None) -> str | None:
    """Where a parked document was first read, from the `where` it is read back with (`PARKED_WHERE…)`)."""
    if where and where.startswith(PARKED_WHERE) and where.endswith(")"):
        return where[len(PARKED_WHERE):-1]
    return where


def _tally(items: Iterable[tuple[tuple[Any, Any], Any]]) -> Iterator[Counter]:
    """One partition's counts: documents of the source, duplicates and winners per entity; of keys only parked
    documents have, the documents retried and the winners (`parked_winners`); early rejects per reason/entity.
    A parked document whose key the source holds again is neither retried nor a duplicate: the source's documents
    decide that key as if nothing had been parked (so a rerun reports what the first run did)."""
    c: Counter = Counter()
    for (entity, _), v in items:
        if entity is None:
            c["reason", v[0]] += 1
            if v[1] is not None:  # a parked document rejected when mapped again (the spec changed) was retried
                c["rejected" if not str(v[4]).startswith(PARKED_WHERE) else "retried_rejected", v[1]] += 1
        else:
            c["documents", entity] += v[SOURCE_DOCS]
            for path in v[UNMAPPED]:
                c["unmapped", (entity, path)] += 1
            if v[SOURCE_DOCS]:  # the source decides the key again; a parked document of it is simply replaced
                c["duplicates", entity] += v[SOURCE_DOCS] - 1
                c["winners", entity] += 1
            else:
                c["retried", entity] += v[PARKED_DOCS]
                c["duplicates", entity] += v[PARKED_DOCS] - 1
                c["parked_winners", entity] += 1
    yield c


def entity_counts(c: Classified, entities: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per-entity counts for the run report; documents == unique + duplicates + rejected always holds, and with
    parked documents retried, documents + retried == unique + landed + still_pending + duplicates + rejected
    (`transforms.validation.count_checks`)."""
    out = {e: {"documents": c.documents[e], "unique": c.unique[e], "duplicates": c.duplicates[e],
               "rejected": c.rejected[e]} for e in entities}
    for e in entities:  # only where parked documents were retried: a load without any reports as it always did
        if c.retried[e] or c.landed[e] or c.still_pending[e]:
            out[e].update(retried=c.retried[e], landed=c.landed[e], still_pending=c.still_pending[e])
    return out
