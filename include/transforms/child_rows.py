"""The child rows of a mapped document (arrays of objects or of ids, maps keyed by data) and the limits every row
and transaction must fit: the part of `transforms.adjacency.DocumentMapper` that turns what a document nests into
rows. A mixin: it reads the mapper's `_reference`, `_element_consumed` and `max_*` limits. Pure Python."""

from __future__ import annotations

import json
from typing import Any

from transforms.batching import row_size, rows_in
from transforms.conversion import Reject, convert, lookup, reject_bad_values
from transforms.entity_spec import EXTRA_COLUMN, ChildSpec, ColumnSpec
from transforms.extjson import to_plain
from transforms.paths import leaves
from transforms.source_text import printable, text_problem
from transforms.unmapped import remainder

__all__ = ["ChildRows"]


class ChildRows:
    """Child rows and size limits, mixed into `DocumentMapper`."""

    _element_consumed: dict[str, Any]
    max_txn_rows: int
    max_txn_bytes: int
    max_row_bytes: int
    max_column_bytes: int

    def _reference(self, entity: str, by: str | None, value: Any, field: str, resolve: bool = True) -> str:
        raise NotImplementedError

    def _extra_json(self, extra: dict[str, Any], where: str) -> str | None:
        """The unmapped fields as the json `_extra` holds them (None when every field is mapped)."""
        if not extra:
            return None
        reject_bad_values(extra, where or "(unmapped fields)")
        return json.dumps(to_plain(extra), ensure_ascii=False, separators=(",", ":"), default=str)

    def _child_rows(self, child: ChildSpec, doc: dict[str, Any], parent_id: str, lineage: dict[str, Any],
                    unmapped: list[str], resolve: bool = True) -> list[dict[str, Any]]:
        """The rows of one child table from the document's array or map (missing or null: none); the folded
        paths of the elements' unmapped values are added to `unmapped`."""
        array = lookup(doc, child.source)
        if array is None:
            return []
        if child.key_column is not None:
            return self._map_rows(child, array, parent_id, lineage, unmapped)
        if not isinstance(array, list):
            raise Reject("bad_type", f"{child.source}: {type(array).__name__} {printable(str(to_plain(array)))[:80]!r}"
                                      " is not an array")
        rows: list[dict[str, Any]] = []
        if child.element_entity is not None:  # ids of another entity: a junction row per distinct id
            seen: set[str] = set()
            for i, value in enumerate(array):
                if value is None:
                    raise Reject("bad_key", f"`{child.source}[{i}]` is null: it names no {child.element_entity}")
                ref = self._reference(child.element_entity, child.element_by, value, f"{child.source}[{i}]", resolve)
                if ref not in seen:
                    seen.add(ref)
                    rows.append({child.parent_column: parent_id, child.element_column: ref, **lineage})
            return rows
        for i, element in enumerate(array):
            if not isinstance(element, dict):
                raise Reject("bad_type", f"{child.source}[{i}]: {type(element).__name__} is not an object")
            rows.append(self._object_row(child, element, {child.parent_column: parent_id, ChildSpec.POSITION: i},
                                         f"{child.source}[{i}]", f"{child.source}[]", lineage, unmapped))
        return rows

    def _map_rows(self, child: ChildSpec, mapping: Any, parent_id: str, lineage: dict[str, Any],
                  unmapped: list[str]) -> list[dict[str, Any]]:
        """A map keyed by data (`{<id>: {...}, ...}`): a row per key, keyed by (parent, key)."""
        if not isinstance(mapping, dict):
            raise Reject("bad_type", f"{child.source}: {type(mapping).__name__} is not an object keyed by ids")
        rows = []
        for key, value in mapping.items():
            at = f"{child.source}.{key}"
            if problem := text_problem(key):
                raise Reject("bad_key", f"{child.source}: key {printable(key)!r} {problem}")
            if not isinstance(value, dict):
                raise Reject("bad_type", f"{at}: {type(value).__name__} is not an object")
            assert child.key_column is not None
            rows.append(self._object_row(child, value, {child.parent_column: parent_id, child.key_column: key}, at,
                                         f"{child.source}.*", lineage, unmapped))
        return rows

    def _object_row(self, child: ChildSpec, element: dict[str, Any], row: dict[str, Any], at: str, folded: str,
                    lineage: dict[str, Any], unmapped: list[str]) -> dict[str, Any]:
        """One child row read from an object (an array element or a map value), its unmapped fields in `_extra`."""
        for col in child.columns:
            value = lookup(element, col.source)
            if value is None and col.required:
                raise Reject("missing_field", f"`{at}.{col.source}` is required")
            row[col.name] = None if value is None else convert(value, col, f"{at}.{col.source}")
        extra = remainder(element, self._element_consumed[child.name])
        row[EXTRA_COLUMN] = self._extra_json(extra, at)
        unmapped += [f"{folded}.{path}" for path, _ in leaves(extra)]
        row.update(lineage)
        self._check_size(child.columns, row)
        return row

    def _check_transaction(self, row: dict[str, Any]) -> None:
        """A document and its child rows go in one transaction: they must fit one."""
        n = rows_in(row)
        if n > self.max_txn_rows:
            raise Reject("too_large", f"the document makes {n} rows with its child rows; a transaction holds at "
                                       f"most {self.max_txn_rows} (write.batch_rows)")
        size = row_size(row)
        if size > self.max_txn_bytes:
            raise Reject("too_large", f"the document and its child rows are ~{size} bytes; a transaction holds "
                                       f"at most {self.max_txn_bytes} (write.batch_bytes)")

    def _check_size(self, columns: tuple[ColumnSpec, ...], row: dict[str, Any]) -> None:
        size = row_size(row)  # counts each text's UTF-8 bytes: no column of a row within it can be larger
        for col in columns if size > self.max_column_bytes else ():
            value = row.get(col.name)
            if isinstance(value, str) and len(value) * 4 > self.max_column_bytes:  # cheap bound before encoding
                column_size = len(value.encode("utf-8"))
                if column_size > self.max_column_bytes:
                    raise Reject("too_large", f"`{col.source}` is {column_size} bytes; a column holds at most "
                                               f"{self.max_column_bytes}")
        if size > self.max_row_bytes:
            raise Reject("too_large", f"the row is ~{size} bytes; a row holds at most {self.max_row_bytes}")
