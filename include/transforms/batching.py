"""Cut a stream of rows into transactions that fit Aurora DSQL's per-transaction limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def row_size(row: Any) -> int:
    """A conservative estimate of a row's bytes on the wire: its values as text, plus per-value overhead."""
    values = row.values() if isinstance(row, dict) else row
    size = 8 * len(values)
    for v in values:
        text = v if type(v) is str else str(v)
        size += len(text) if text.isascii() else len(text.encode("utf-8"))
    return size


class Batcher(Generic[T]):
    """Collects rows into batches of at most `max_rows` rows and `max_bytes` estimated bytes, in input order.

    `add` returns the full batch a row did not fit in (or None), `flush` what is left: a writer that routes rows
    of several tables keeps one batcher per table. A single row larger than `max_bytes` can never be committed,
    so it raises instead of being dropped.
    """

    def __init__(self, max_rows: int, max_bytes: int, size_of: Callable[[T], int] = row_size) -> None:
        if max_rows < 1 or max_bytes < 1:
            raise ValueError("max_rows and max_bytes must be positive")
        self.max_rows, self.max_bytes, self.size_of = max_rows, max_bytes, size_of
        self._batch: list[T] = []
        self._size = 0

    def add(self, row: T) -> list[T] | None:
        n = self.size_of(row)
        if n > self.max_bytes:
            raise ValueError(f"a row of ~{n} bytes exceeds the {self.max_bytes}-byte transaction limit")
        full = None
        if self._batch and (len(self._batch) >= self.max_rows or self._size + n > self.max_bytes):
            full = self.flush()
        self._batch.append(row)
        self._size += n
        return full

    def flush(self) -> list[T] | None:
        batch, self._batch, self._size = self._batch, [], 0
        return batch or None


def batches(rows: Iterable[T], max_rows: int, max_bytes: int, size_of: Callable[[T], int] = row_size
            ) -> Iterator[list[T]]:
    """Yield lists of at most `max_rows` rows and `max_bytes` estimated bytes, in input order (see `Batcher`)."""
    batcher = Batcher(max_rows, max_bytes, size_of)
    for row in rows:
        if (full := batcher.add(row)) is not None:
            yield full
    if (rest := batcher.flush()) is not None:
        yield rest
