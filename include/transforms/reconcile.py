"""Full-content reconciliation of a source and a target, in the manner of Google's Data Validation Tool.

Each side streams `(key, row)` pairs. Pass 1 folds every row into a per-bucket count and an order-independent
sum of 64-bit row digests (memory O(buckets), never O(rows)), so a full comparison costs one scan of each side.
Only when buckets differ does pass 2 scan again, keep the rows of (the first few) differing buckets and diff
them by key, so the report can name the keys and show their columns side by side. Pure: the callers supply the
rows (re-mapped source documents, a database cursor, DynamoDB scan segments).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from transforms.checks import Check, normalize

Key = tuple[Any, ...]
Rows = Callable[[], Iterable[tuple[Key, Mapping[str, Any]]]]
DEFAULT_BUCKETS = 1024
KINDS = ("missing", "extra", "changed", "duplicate")
_MASK = (1 << 64) - 1
_SIMPLE = (str, int, bool, type(None))  # canonical as they are (a str unless it holds JSON)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode
# The same encoding without `JSONEncoder.encode`'s per-call set-up: the row digest's hot path.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_row = (_c_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True)
               if _c_encoder is not None else None)


def _row_json(values: list[Any]) -> str:
    return "".join(_encode_row(values, 0)) if _encode_row is not None else _dumps(values)


def _number(value: Decimal | float) -> Any:
    """Numbers compare by value whatever their type: 1 == 1.0 == Decimal('1.00'); 1.5 == Decimal('1.50')."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value.normalize())


def _nested(value: Any) -> Any:
    """Canonical form inside a JSON document: numbers by value, containers recursively; strings stay text."""
    if isinstance(value, dict):
        return {str(k): _nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nested(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    return canonical(value)


def canonical(value: Any) -> Any:
    """One comparable, JSON-able form of a value from either side (`transforms.checks.normalize` first).

    Decimal('1.50') == Decimal('1.5') == 1.5, a uuid == its text, JSON text == the parsed document, dates and
    datetimes as ISO text (aware datetimes in UTC, so the session time zone does not matter), bytes as hex.
    DynamoDB's typed values ({"S": ...}) are not unwrapped: that is the caller's mapping.
    """
    if isinstance(value, str):
        return _nested(normalize(value)) if value[:1] in "[{" else value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Decimal | float):
        return _number(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        if isinstance(value, set | frozenset):
            return sorted((_nested(v) for v in value), key=_dumps)
        return _nested(value)
    return normalize(value)  # uuid → text, date/datetime → ISO text


def canonical_key(key: Key) -> Key:
    """A key both sides agree on (a uuid from the driver == its text from the mapping)."""
    return tuple(k if type(k) is str else canonical(k) for k in key)


def _digest_bytes(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def canonical_row(values: Iterable[Any]) -> list[Any]:
    """`canonical` of each value, with the common plain values (text, whole numbers, NULL) passed through and
    the common typed ones (dates, numbers) converted directly: the digest's hot path."""
    out = []
    append = out.append
    for v in values:
        t = type(v)
        if t is str:
            append(v if v[:1] not in "[{" else _json_text(v))
        elif t is int or v is None:
            append(v)
        else:
            f = _BY_TYPE.get(t)
            append(f(v) if f is not None else canonical(v))
    return out


# JSON text (`canonical` parses it and makes its numbers canonical): a json column's few distinct values (a list of
# genres, a tag set) come again and again, so each is made canonical once. Read, never changed, by every caller.
_json_text = functools.lru_cache(maxsize=4096)(canonical)
_BY_TYPE: dict[type, Callable[[Any], Any]] = {date: date.isoformat, Decimal: _number, float: _number,
                                              bool: bool}


def canonical_values(row: Mapping[str, Any], columns: Sequence[str]) -> list[Any]:
    """The row's columns in canonical form, in `columns` order (absent columns are None)."""
    return canonical_row(row.get(c) for c in columns)


def values_digest(values: Iterable[Any]) -> int:
    """`row_digest` of values already in column order (a database row tuple): no dict to build."""
    return _digest_bytes(_row_json(canonical_row(values)).encode("utf-8"))


def row_digest(row: Mapping[str, Any], columns: Sequence[str]) -> int:
    """64-bit blake2b of the canonical JSON of the row's `columns`: equal content, equal digest."""
    return values_digest([row.get(c) for c in columns])


def bucket_of(key: Key, buckets: int) -> int:
    """The bucket a key falls in: blake2b of its canonical form, the same in every process and on every machine."""
    if all(type(p) is str for p in key):
        return _digest_bytes("\x1f".join(key).encode("utf-8")) % buckets
    k = canonical_key(key)
    text = "\x1f".join(k) if all(type(p) is str for p in k) else _dumps(list(k))
    return _digest_bytes(text.encode("utf-8")) % buckets


@dataclass
class BucketTotals:
    """One side's aggregate: per bucket a row count and the sum of row digests mod 2**64 (order-independent)."""

    buckets: int = DEFAULT_BUCKETS
    counts: list[int] = field(default_factory=list)
    sums: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * self.buckets
        self.sums = self.sums or [0] * self.buckets

    def add(self, key: Key, digest: int) -> None:
        b = bucket_of(key, self.buckets)
        self.counts[b] += 1
        self.sums[b] = (self.sums[b] + digest) & _MASK

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def merge(self, other: BucketTotals) -> BucketTotals:
        """Totals of two partial scans (e.g. parallel segments) of one side."""
        if other.buckets != self.buckets:
            raise ValueError(f"cannot merge {other.buckets} buckets into {self.buckets}")
        for b in range(self.buckets):
            self.counts[b] += other.counts[b]
            self.sums[b] = (self.sums[b] + other.sums[b]) & _MASK
        return self


def differing_buckets(expected: BucketTotals, actual: BucketTotals) -> list[int]:
    """Buckets whose count or digest sum differ: each holds at least one key that does not reconcile."""
    if expected.buckets != actual.buckets:
        raise ValueError(f"bucket counts differ: {expected.buckets} vs {actual.buckets}")
    return [b for b in range(expected.buckets)
            if expected.counts[b] != actual.counts[b] or expected.sums[b] != actual.sums[b]]


@dataclass(frozen=True)
class KeyDiff:
    """One key that does not reconcile; `columns` maps a column to (expected, actual), canonical values.

    `kind`: missing (in the source, not the target), extra (in the target, not the source), changed (only the
    differing columns), duplicate (the key more than once on one side; (expected, actual) are occurrence counts
    under the column "(rows)").
    """

    key: Key
    kind: str
    columns: dict[str, tuple[Any, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"key": list(self.key), "kind": self.kind,
                "columns": {c: [e, a] for c, (e, a) in self.columns.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KeyDiff:
        return cls(tuple(d["key"]), d["kind"], {c: (v[0], v[1]) for c, v in d["columns"].items()})


@dataclass
class Reconciliation:
    """The outcome for one table: row counts of both sides, the buckets that differ and the first differing keys.

    `diff_count` counts the differing keys found in the drilled buckets plus one per bucket not drilled (each
    holds at least one), so it is exact unless `truncated` and never 0 when something differs.
    """

    name: str
    rows_expected: int
    rows_actual: int
    buckets: int
    differing_buckets: list[int]
    diffs: list[KeyDiff]
    diff_count: int
    truncated: bool

    @property
    def passed(self) -> bool:
        return not self.differing_buckets and self.diff_count == 0

    def checks(self) -> list[Check]:
        return [Check("target rows (full scan) = expected rows", self.rows_expected, self.rows_actual, self.name),
                Check("every row reconciles (hash per bucket): differing keys", 0, self.diff_count, self.name)]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "rows_expected": self.rows_expected,
                "rows_actual": self.rows_actual, "buckets": self.buckets,
                "differing_buckets": list(self.differing_buckets), "diff_count": self.diff_count,
                "truncated": self.truncated, "diffs": [d.as_dict() for d in self.diffs]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reconciliation:
        """A reconciliation as `as_dict` wrote it (an XCom, report.json)."""
        return cls(d["name"], d["rows_expected"], d["rows_actual"], d["buckets"], list(d["differing_buckets"]),
                   [KeyDiff.from_dict(x) for x in d["diffs"]], d["diff_count"], d["truncated"])


def totals(rows: Iterable[tuple[Key, Mapping[str, Any]]], columns: Sequence[str],
           buckets: int = DEFAULT_BUCKETS) -> BucketTotals:
    """Pass 1 over one side: every row into its bucket's count and digest sum."""
    t = BucketTotals(buckets)
    counts, sums = t.counts, t.sums
    for key, row in rows:
        b = bucket_of(key, buckets)
        counts[b] += 1
        sums[b] = (sums[b] + row_digest(row, columns)) & _MASK
    return t


def _collect(rows: Iterable[tuple[Key, Mapping[str, Any]]], columns: Sequence[str], drill: set[int],
             buckets: int) -> tuple[dict[Key, list[Any]], dict[Key, int]]:
    """Pass 2 over one side: the canonical rows of the drilled buckets by key, and how often each key came."""
    kept: dict[Key, list[Any]] = {}
    seen: dict[Key, int] = {}
    for key, row in rows:
        if bucket_of(key, buckets) in drill:
            k = canonical_key(key)
            seen[k] = seen.get(k, 0) + 1
            kept.setdefault(k, canonical_values(row, columns))
    return kept, seen


def _sort_key(key: Key) -> str:
    return _dumps(list(key))


def diff_rows(expected: Mapping[Key, list[Any]], actual: Mapping[Key, list[Any]], columns: Sequence[str],
              expected_seen: Mapping[Key, int] | None = None, actual_seen: Mapping[Key, int] | None = None
              ) -> list[KeyDiff]:
    """Key-by-key differences of two sides' canonical rows (in key order, so reports are stable)."""
    out: list[KeyDiff] = []
    for k in sorted(expected.keys() | actual.keys(), key=_sort_key):
        ne, na = (expected_seen or {}).get(k, 1), (actual_seen or {}).get(k, 1)
        e, a = expected.get(k), actual.get(k)
        if e is not None and a is not None and (ne > 1 or na > 1):
            out.append(KeyDiff(k, "duplicate", {"(rows)": (ne, na)}))
        elif a is None:
            out.append(KeyDiff(k, "duplicate", {"(rows)": (ne, 0)}) if ne > 1 else
                       KeyDiff(k, "missing", {c: (v, None) for c, v in zip(columns, e, strict=True)}))
        elif e is None:
            out.append(KeyDiff(k, "duplicate", {"(rows)": (0, na)}) if na > 1 else
                       KeyDiff(k, "extra", {c: (None, v) for c, v in zip(columns, a, strict=True)}))
        elif e != a:
            changed = {c: (x, y) for c, x, y in zip(columns, e, a, strict=True) if x != y}
            out.append(KeyDiff(k, "changed", changed))
    return out


def reconcile(name: str, expected: Rows, actual: Rows, columns: Sequence[str], *, buckets: int = DEFAULT_BUCKETS,
              max_diffs: int = 20, max_drill_buckets: int = 64) -> Reconciliation:
    """Compare every row of two sides by content; `expected()`/`actual()` each start a fresh scan.

    Pass 1 scans each side once into `BucketTotals`. Pass 2 runs only if buckets differ: it scans both again,
    keeps the rows of the first `max_drill_buckets` differing buckets and diffs them by key (`diff_rows`);
    the first `max_diffs` differences are kept.
    """
    exp, act = totals(expected(), columns, buckets), totals(actual(), columns, buckets)
    return drill_down(name, exp, act, expected, actual, columns, max_diffs=max_diffs,
                      max_drill_buckets=max_drill_buckets)


def drill_down(name: str, exp: BucketTotals, act: BucketTotals, expected: Rows, actual: Rows,
               columns: Sequence[str], *, max_diffs: int = 20, max_drill_buckets: int = 64) -> Reconciliation:
    """Pass 2 of `reconcile`, for callers that computed both sides' totals their own way (in parallel, say)."""
    differ = differing_buckets(exp, act)
    diffs: list[KeyDiff] = []
    if differ:
        drill = set(differ[:max_drill_buckets])
        e_rows, e_seen = _collect(expected(), columns, drill, exp.buckets)
        a_rows, a_seen = _collect(actual(), columns, drill, exp.buckets)
        diffs = diff_rows(e_rows, a_rows, columns, e_seen, a_seen)
    undrilled = max(len(differ) - max_drill_buckets, 0)
    return Reconciliation(name, exp.rows, act.rows, exp.buckets, differ, diffs[:max_diffs],
                          len(diffs) + undrilled, bool(undrilled) or len(diffs) > max_diffs)


def _cell(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else _dumps(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[:width - 1] + "…"


def render_diffs(rec: Reconciliation, limit: int = 10) -> list[str]:
    """Markdown: a summary line, then a table of the first `limit` differing keys, their columns side by side."""
    if rec.passed:
        return [f"- {rec.name}: all {rec.rows_actual} rows reconcile ({rec.buckets} buckets)"]
    more = " (at least)" if rec.truncated else ""
    lines = [f"- {rec.name}: {rec.diff_count}{more} differing keys in {len(rec.differing_buckets)} of "
             f"{rec.buckets} buckets; expected {rec.rows_expected} rows, found {rec.rows_actual}"]
    if not rec.diffs:
        return lines
    lines += ["", "| table | key | kind | column | expected | actual |", "|---|---|---|---|---|---|"]
    for d in rec.diffs[:limit]:
        key = ", ".join(map(str, d.key))
        shown = d.columns if d.kind in ("changed", "duplicate") else dict(list(d.columns.items())[:3])
        for i, (col, (e, a)) in enumerate(shown.items()):
            lines.append(f"| {rec.name if i == 0 else ''} | {key if i == 0 else ''} | {d.kind if i == 0 else ''} | "
                         f"{col} | {_cell(e)} | {_cell(a)} |")
        if len(shown) < len(d.columns):
            lines.append(f"| | | | … {len(d.columns) - len(shown)} more columns | | |")
    if len(rec.diffs) > limit or rec.diff_count > len(rec.diffs):
        lines.append(f"\n… and {rec.diff_count - min(limit, len(rec.diffs))} more differing keys")
    return lines
