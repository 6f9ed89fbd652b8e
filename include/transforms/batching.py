"""Cut a stream of rows into transactions that fit Aurora DSQL's per-transaction limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def row_size(row: Any) -> int:
    """A conservative estimate of a row's bytes on the wire: its values as text, plus per-value overhead."""
    values = row.values() if isinstance(row, dict) else row
    return sum(len(str(v).encode("utf-8")) + 8 for v in values)


def batches(rows: Iterable[T], max_rows: int, max_bytes: int, size_of: Callable[[T], int] = row_size
            ) -> Iterator[list[T]]:
    """Yield lists of at most `max_rows` rows and `max_bytes` estimated bytes, in input order.

    A single row larger than `max_bytes` can never be committed, so it raises instead of being dropped.
    """
    if max_rows < 1 or max_bytes < 1:
        raise ValueError("max_rows and max_bytes must be positive")
    batch: list[T] = []
    size = 0
    for row in rows:
        n = size_of(row)
        if n > max_bytes:
            raise ValueError(f"a row of ~{n} bytes exceeds the {max_bytes}-byte transaction limit")
        if batch and (len(batch) >= max_rows or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += n
    if batch:
        yield batch
