"""What the mapper makes of one document: a `Mapped` row, or a `Rejected` with its reason.

Their own module: the general mapper (`transforms.adjacency`) and its shortcut (`transforms.fast_mapper`) both make
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mapped:
    """A document that maps cleanly: its entity, dedup key, `_id` order, target row and references."""

    entity: str
    key: str  # "<PK>|<SK>": documents with the same key are duplicates of one row
    pk: str
    order: tuple[int, Any]
    row: dict[str, Any]
    refs: tuple[tuple[str, str], ...] = ()  # (entity name, source key) this row points at
    unmapped: tuple[str, ...] = ()  # the folded path of each value the spec maps nowhere (kept in `_extra`)


@dataclass(frozen=True)
class Rejected:
    """A document that cannot be loaded; `reason` is one of `transforms.adjacency.REJECT_REASONS`."""

    reason: str
    entity: str | None
    detail: str
