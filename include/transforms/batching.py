"""Cut a stream of rows into transactions that fit Aurora DSQL's per-transaction limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, Generic, TypeVar
from uuid import UUID

T = TypeVar("T")


# A parent row's child rows (`transforms.adjacency`: child table name → rows), written in the parent's transaction.
CHILDREN = "_children"


def rows_in(row: Any) -> int:
    """Rows a transaction modifies for `row`: itself and its child rows."""
    children = row.get(CHILDREN) if isinstance(row, dict) else None
    return 1 + sum(len(rows) for rows in children.values()) if children else 1


# A row's estimate (`row_size`) from a text of n characters is below TEXT_GROWTH × n + VALUE_TEXT per value: a value
# read from the text is at most 4 UTF-8 bytes a character of it (the unmapped json, a float written out: `1e15`
# prints as 18 characters), and one made from it (a uuid, a version, a number quantized to its scale, a date) at
# most 56 characters, plus the estimate's 8 per value. Far below the limits, no measure.
TEXT_GROWTH = 12
VALUE_TEXT = 64


def may_exceed(text_chars: int | None, values: int, bound: int) -> bool:
    """Whether a row of `values` values made from a text `text_chars` long (None: not made from a text) may be
    estimated over `bound` bytes: only such a row is worth measuring."""
    return text_chars is None or TEXT_GROWTH * text_chars + VALUE_TEXT * values > bound


# The text of these types has one width whatever the value (`str(uuid)`, `str(date)` with its 4-digit year, `None`):
# no text made for them per row, the same estimate.
_TEXT_WIDTH: dict[type, int] = {UUID: 36, date: 10, type(None): 4}


def row_size(row: Any) -> int:
    """A conservative estimate of a row's bytes on the wire: its values as text, plus per-value overhead; with
    its child rows, theirs too."""
    if isinstance(row, dict) and CHILDREN in row:
        return row_size({k: v for k, v in row.items() if k != CHILDREN}) + sum(
            row_size(r) for rows in row[CHILDREN].values() for r in rows)
    values = row.values() if isinstance(row, dict) else row
    size = 8 * len(values)
    for v in values:
        kind = type(v)
        if kind is str:
            size += len(v) if v.isascii() else len(v.encode("utf-8"))
        elif (width := _TEXT_WIDTH.get(kind)) is not None:
            size += width
        else:
            text = str(v)
            size += len(text) if text.isascii() else len(text.encode("utf-8"))
    return size


class Batcher(Generic[T]):
    """Collects rows into batches of at most `max_rows` rows and `max_bytes` estimated bytes, in input order.

    `add` returns the full batch a row did not fit in (or None), `flush` what is left: a writer that routes rows
    of several tables keeps one batcher per table. A single row larger than `max_bytes` can never be committed,
    so it raises instead of being dropped.
    """

    def __init__(self, max_rows: int, max_bytes: int, size_of: Callable[[T], int] = row_size,
                 rows_of: Callable[[T], int] | None = None) -> None:
        if max_rows < 1 or max_bytes < 1:
            raise ValueError("max_rows and max_bytes must be positive")
        self.max_rows, self.max_bytes, self.size_of, self.rows_of = max_rows, max_bytes, size_of, rows_of
        self._batch: list[T] = []
        self._size = 0
        self._rows = 0

    def add(self, row: T) -> list[T] | None:
        n = self.size_of(row)
        if n > self.max_bytes:
            raise ValueError(f"a row of ~{n} bytes exceeds the {self.max_bytes}-byte transaction limit")
        k = 1 if self.rows_of is None else self.rows_of(row)
        if k > self.max_rows:
            raise ValueError(f"a row with its child rows is {k} rows; a transaction holds at most {self.max_rows}")
        full = None
        if self._batch and (self._rows + k > self.max_rows or self._size + n > self.max_bytes):
            full = self.flush()
        self._batch.append(row)
        self._size += n
        self._rows += k
        return full

    def flush(self) -> list[T] | None:
        batch, self._batch, self._size, self._rows = self._batch, [], 0, 0
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
