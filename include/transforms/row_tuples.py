"""A mapped row as the tuple of its values, in its table's column order, from the shuffle to the writer.

Every pass after the dedup shuffle unpickles every winner. A row dict unpickles about 2.5× slower than a tuple of
the same values (each key is rebuilt and hashed again), and it is the largest part of a winner, so the job carries
each row as `RowTuples.encode` makes it: its values in `target_columns` order, which is the order the writer binds
them in (`connectors.dsql_writer` takes such a tuple as it is). An entity with child tables keeps its row dict:
its child rows hang under `transforms.batching.CHILDREN`, which the writer reads by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from transforms.adjacency import VERSION_COLUMN, target_columns
from transforms.spec import EntitySpec


class RowTuples:
    """Encodes and decodes the rows of the entities of one spec (each without child tables: a tuple)."""

    def __init__(self, entities: Iterable[EntitySpec]) -> None:
        self.columns = {e.name: tuple(target_columns(e)) for e in entities if not e.children}
        self._get = {name: itemgetter(*cols) for name, cols in self.columns.items()}
        self._version_at = {name: cols.index(VERSION_COLUMN) for name, cols in self.columns.items()}

    def encode(self, entity: str, row: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """`row` of `entity` as the job carries it; a row holding a column its table does not have is a bug, and
        raises rather than losing the value."""
        get = self._get.get(entity)
        if get is None:
            return row
        if len(row) != len(self.columns[entity]):
            extra = sorted(set(row) - set(self.columns[entity]))
            raise RuntimeError(f"a {entity} row holds {extra or 'fewer columns'} beside its table's columns")
        return get(row)

    def decode(self, entity: str, row: tuple[Any, ...] | dict[str, Any]) -> dict[str, Any]:
        """The row dict `encode` was given."""
        return row if isinstance(row, dict) else dict(zip(self.columns[entity], row, strict=True))

    def version(self, entity: str, row: tuple[Any, ...] | dict[str, Any]) -> Any:
        """The row's `source_version`."""
        return row[VERSION_COLUMN] if isinstance(row, dict) else row[self._version_at[entity]]
