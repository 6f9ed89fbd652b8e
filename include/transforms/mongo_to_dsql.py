"""The Spark side of MongoDB adjacency list → relational tables: classify, dedupe, check references.

Takes an RDD of documents (mongoexport lines or decoded dicts) and returns lazily evaluated RDDs of
rows per table and of rejects, plus the counts the run report needs. No I/O here: the job script reads
the source and writes the target, and the one lookup that needs the target (do referenced rows exist
from an earlier load?) is passed in as a function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transforms.adjacency import DocumentMapper, Mapped, Rejected, entity_uuid
from transforms.spec import EntitySpec

if TYPE_CHECKING:  # pyspark is there when the job runs, not where Airflow imports this bundle
    from pyspark import RDD

# (entity, [source keys]) → the keys among them that already exist in the target
ExistingKeys = Callable[[EntitySpec, list[str]], set[str]]


@dataclass
class Classified:
    """The outcome of one load, before writing. RDDs are cached; counts are filled by `count()`."""

    rows: dict[str, RDD]  # entity name → RDD[dict] (one winning row per key)
    rejects: RDD  # RDD[tuple[reason, entity | None, detail, document text, where in the source | None]]
    documents: Counter = field(default_factory=Counter)  # per entity (by `type`), all documents
    duplicates: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)  # per entity
    reasons: Counter = field(default_factory=Counter)  # per reject reason
    unique: Counter = field(default_factory=Counter)  # rows to write per entity


# One document through the pipeline: (its text, where it is in the source or None, what it maps to).
Item = tuple[str, "str | None", Mapped | Rejected | None]


def _winner(a: Item, b: Item) -> Item:
    """Greatest `_id` wins; identical `_id`s (a re-exported document) fall back to the text, for determinism."""
    assert isinstance(a[2], Mapped) and isinstance(b[2], Mapped)
    return a if (a[2].order, a[0]) >= (b[2].order, b[0]) else b


def classify(docs: RDD, mapper: DocumentMapper, existing: ExistingKeys) -> Classified:
    """Map every document, keep one winner per key, and reject relationship rows whose ends exist nowhere.

    `docs` holds document texts (`connectors.documents`), each alone or as `(text, where in the source)`.
    Rejects keep the document's text, made printable (`transforms.source_text.printable`: invalid bytes as
    `\\xNN`), and where it was.
    """
    from transforms.source_text import printable

    def one(doc: Any) -> Item:
        text, where = doc if isinstance(doc, tuple) else (doc, None)
        return text, where, mapper.map_line(text)

    mapped_all = docs.map(one).filter(lambda t: t[2] is not None).cache()
    early_rejects = mapped_all.filter(lambda t: isinstance(t[2], Rejected)).map(
        lambda t: (t[2].reason, t[2].entity, t[2].detail, printable(t[0]), t[1]))
    ok = mapped_all.filter(lambda t: isinstance(t[2], Mapped))
    winners = ok.map(lambda t: ((t[2].entity, t[2].key), t)).reduceByKey(_winner).cache()

    entity_names = {e.name for e in mapper.entities.values() if not e.is_relationship}
    known = winners.filter(lambda kv: kv[0][0] in entity_names).map(lambda kv: ((kv[0][0], kv[1][2].pk), True))
    refs = winners.filter(lambda kv: kv[0][0] not in entity_names).flatMap(
        lambda kv: [(ref, kv[0]) for ref in kv[1][2].refs])
    missing = refs.subtractByKey(known).cache()
    # Only references missing from this load are looked up in the target: usually few, so batched on the driver.
    wanted: dict[str, list[str]] = {}
    for ent, key in missing.keys().distinct().collect():
        wanted.setdefault(ent, []).append(key)
    found = {(ent, k) for ent, keys in wanted.items() for k in existing(mapper.entities[ent], keys)}
    orphan_keys = missing.filter(lambda kv: kv[0] not in found).map(lambda kv: (kv[1], kv[0])).reduceByKey(
        lambda a, b: min(a, b))
    orphans = winners.join(orphan_keys).map(lambda kv: (
        "orphan_reference", kv[0][0],
        f"{kv[1][1][1]} ({entity_uuid(kv[1][1][1])}) exists neither in this load nor in the target",
        kv[1][0][0], kv[1][0][1]))
    loadable = winners.subtractByKey(orphan_keys)

    out = Classified(
        rows={name: loadable.filter(lambda kv, n=name: kv[0][0] == n).map(lambda kv: kv[1][2].row)
              for name in mapper.entities},
        rejects=early_rejects.union(orphans).cache(),
    )
    for (entity,), n in _count(ok.map(lambda t: (t[2].entity,))).items():
        out.documents[entity] += n
        out.duplicates[entity] += n
    for (entity,), n in _count(winners.map(lambda kv: (kv[0][0],))).items():
        out.duplicates[entity] -= n
    for (entity,), n in _count(loadable.map(lambda kv: (kv[0][0],))).items():
        out.unique[entity] = n
    for (reason, entity), n in _count(out.rejects.map(lambda r: (r[0], r[1]))).items():
        out.reasons[reason] += n
        if entity is not None:
            out.rejected[entity] += n
            # orphans were counted as mapped documents above; every other reject is only counted here
            if reason != "orphan_reference":
                out.documents[entity] += n
    return out


def _count(rdd: RDD) -> dict[Any, int]:
    return dict(rdd.map(lambda k: (k, 1)).reduceByKey(lambda a, b: a + b).collect())


def entity_counts(c: Classified, entities: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per-entity counts for the run report; documents == unique + duplicates + rejected always holds."""
    return {e: {"documents": c.documents[e], "unique": c.unique[e], "duplicates": c.duplicates[e],
                "rejected": c.rejected[e]} for e in entities}
