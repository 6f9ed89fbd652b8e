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


Held = tuple[tuple[tuple[int, Any], str], int]  # (the smallest (`_id` order, uuid) holding a key, documents holding it)


def held_by(a: Held, b: Held) -> Held:
    """Two documents' claims on one key merged: the smallest `_id` wins, the holders add up. Associative and
    commutative, so the Spark job reduces with it on its executors and collects one entry per key."""
    return min(a[0], b[0]), a[1] + b[1]


def natural_index(pairs: Iterable[tuple[tuple[str, str, str], Any]], *, held: bool = False
                  ) -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str, str], int]]:
    """From `DocumentMapper.natural_keys` of every document (or, `held=True`, pairs already merged by `held_by`):
    each natural key → the uuid of the document with the smallest `_id` holding it (the deterministic choice when
    several do), and the keys several documents hold, with how many (an anomaly the run reports)."""
    merged: dict[tuple[str, str, str], Held] = {}
    for key, value in pairs:
        claim = value if held else (value, 1)
        merged[key] = held_by(merged[key], claim) if key in merged else claim
    return {k: v[0][1] for k, v in merged.items()}, {k: v[1] for k, v in merged.items() if v[1] > 1}
