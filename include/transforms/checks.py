"""One check and one compared row: what every validator and reconciliation reports, as plain values.

Kept apart from `transforms.validation` (the run report) and `transforms.reconcile` (bucket hashes), which both
use them, so that neither imports the other's caller.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Check:
    """One reconciliation: `name` of the check, what was expected and what was found."""

    name: str
    expected: Any
    actual: Any
    entity: str | None = None

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Check:
        """A check as `as_dict` wrote it (an XCom, a report)."""
        return cls(d["name"], d["expected"], d["actual"], d.get("entity"))


def normalize(value: Any) -> Any:
    """One comparable form for values that come from the mapping and from the database driver."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def compare_row(expected: dict[str, Any], actual: dict[str, Any] | None, columns: list[str]) -> list[str]:
    """Column-by-column differences between the re-mapped source row and the target row."""
    if actual is None:
        return ["row is missing from the target"]
    diffs = []
    for col in columns:
        e, a = normalize(expected.get(col)), normalize(actual.get(col))
        if isinstance(a, list | dict) and isinstance(expected.get(col), str):
            e = normalize(expected.get(col))
        if e != a:
            diffs.append(f"{col}: expected {e!r}, found {a!r}")
    return diffs
