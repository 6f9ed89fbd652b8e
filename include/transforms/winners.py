"""The winners of the dedup shuffle: one mapped document as the shuffle carries it, and the merge that keeps the
greatest of each key.

Pure functions but `dedup`, which wires them into Spark (pyspark is imported inside it: Airflow imports this bundle
where pyspark is not installed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from transforms.adjacency import Mapped
from transforms.row_tuples import RowTuples

if TYPE_CHECKING:
    from pyspark import RDD

# One mapped document through the shuffle, as a plain tuple (a dataclass unpickles ~3× slower, and every pass
# after the shuffle unpickles them all): its `_id` order, text, where it is in the source or None, how
# many documents of its key it stands for (of the source, and parked by earlier runs), what it maps to, and the
# paths of its values the spec maps nowhere. Its row as the job carries it (`transforms.row_tuples`).
Item = tuple[Any, str, "str | None", int, int, str, tuple[tuple[str, str], ...], "tuple[Any, ...] | dict[str, Any]",
             tuple[str, ...]]
ORDER, TEXT, WHERE, SOURCE_DOCS, PARKED_DOCS, PK, REFS, ROW, UNMAPPED = range(9)


def item(m: Mapped, text: str, where: str | None, from_source: bool, rows: RowTuples | None = None) -> Item:
    row = m.row if rows is None else rows.encode(m.entity, m.row)
    return m.order, text, where, int(from_source), int(not from_source), m.pk, m.refs, row, m.unmapped


def winner(a: Item, b: Item) -> Item:
    """Greatest `_id` wins; identical `_id`s (a re-exported document) fall back to the text, for determinism."""
    return a if (a[ORDER], a[TEXT]) >= (b[ORDER], b[TEXT]) else b


def dedup(items: RDD, partitions: int) -> RDD:
    """The winner of each key of `items` (`merge`), the keys hash-partitioned (`partition_of`).

    What `reduceByKey` does, without its merge before the shuffle: documents of one key rarely share a source
    partition, so that merge held each partition's every item in a dictionary to send them out as they came.
    The reduce side merges as `reduceByKey` does (PySpark's `ExternalMerger`, spilling past the worker's memory).
    """
    from pyspark.shuffle import Aggregator, ExternalMerger

    memory = items._memory_limit()

    def winners(pairs: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        merger = ExternalMerger(Aggregator(_first, merge, merge), memory)
        merger.mergeValues(pairs)
        return merger.items()

    return items.partitionBy(partitions, partition_of).mapPartitions(winners, preservesPartitioning=True)


def _first(item: Any) -> Any:
    return item


def partition_of(key: tuple[Any, Any]) -> int:
    """The shuffle partition of a dedup key `(entity, key text)`: the key text's hash alone. PySpark's default
    (`portable_hash` of the whole tuple) hashes a tuple element by element in Python, a few µs a document, and
    looks `PYTHONHASHSEED` up in the environment on every call (`_seeded` does once a worker)."""
    return hash(key[1]) if _seeded() else 0


@cache
def _seeded() -> bool:
    """`portable_hash`'s guard: a string's `hash` is the same in every worker only with one PYTHONHASHSEED."""
    if "PYTHONHASHSEED" not in os.environ:
        raise RuntimeError("Randomness of hash of string should be disabled via PYTHONHASHSEED")
    return True


def merge(a: Any, b: Any) -> Any:
    """The winner of two documents with one key (`winner`), counting the documents it stands for."""
    w = winner(a, b)
    return (w[ORDER], w[TEXT], w[WHERE], a[SOURCE_DOCS] + b[SOURCE_DOCS], a[PARKED_DOCS] + b[PARKED_DOCS], w[PK],
            w[REFS], w[ROW], w[UNMAPPED])
