"""References by natural key: which document holds each key value, decided the same way by the job and the checks.

A reference can name another entity by a value of its field (`placed_by: a@x` → the customer whose `email` is
`a@x`) instead of its id. The job indexes the whole source's keys first (`DocumentMapper.natural_keys`), and a key
several documents hold links the one with the smallest `_id`. Pure Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def natural_text(value: Any) -> str | None:
    """A natural key's value as text (a string, an ObjectId or a whole number), None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def natural_index(pairs: Iterable[tuple[tuple[str, str, str], tuple[tuple[int, Any], str]]]
                  ) -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str, str], int]]:
    """From `DocumentMapper.natural_keys` of every document: each natural key → the uuid of the document with the
    smallest `_id` holding it (the deterministic choice when several do), and the keys several documents hold,
    with how many (an anomaly the run reports)."""
    best: dict[tuple[str, str, str], tuple[tuple[int, Any], str]] = {}
    holders: dict[tuple[str, str, str], int] = {}
    for key, (order, uuid_) in pairs:
        holders[key] = holders.get(key, 0) + 1
        if key not in best or (order, uuid_) < best[key]:
            best[key] = (order, uuid_)
    return {k: v[1] for k, v in best.items()}, {k: n for k, n in holders.items() if n > 1}


