"""Which load interval a source record belongs to, and an `_id` order the target can compare as text.

A backfill loads a source interval by interval; a record belongs to the interval in which its incremental
field falls (`[start, end)`, UTC). For MongoDB that is by default the creation time inside the ObjectId `_id`.
A run with no window loads everything. Pure Python: shipped to EMR and Glue in the job bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from transforms.extjson import ObjectId

OBJECTID_FIELD = "_id"


class WindowError(ValueError):
    """A window that cannot be used (unparseable bounds, start not before end)."""


def parse_instant(value: Any, what: str) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string, a date or a datetime; None for None or ''."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise WindowError(f"{what}: {value!r} is not an ISO 8601 date or timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """`[start, end)` in UTC; an open side is unbounded, both open is a full load."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, start: Any = None, end: Any = None) -> Window:
        window = cls(parse_instant(start, "window start"), parse_instant(end, "window end"))
        if window.start and window.end and window.start >= window.end:
            raise WindowError(f"window start {window.start.isoformat()} is not before its end "
                              f"{window.end.isoformat()}")
        return window

    @property
    def is_full(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    def as_dict(self) -> dict[str, str | None]:
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None}



FULL = Window()  # a load without a window: every record


def covered(ends: list[datetime | None]) -> Window:
    """What loads with these window ends hold together, interval loads only ever adding records up to their
    end: from the beginning to the latest end, everything once one load had no end (or none ran: FULL)."""
    if not ends or any(end is None for end in ends):
        return FULL
    return Window(None, max(e for e in ends if e is not None))


def gaps(loaded: list[Window]) -> list[Window]:
    """What of the source up to the latest end no load covered: before the first start, and between loads
    (intervals loaded out of order: `--run-backwards`, a failed run not yet rerun). A cumulative check compares
    against the source from the beginning, so it finds whatever falls in these missing. None once a full load
    ran, or a load without a start."""
    if not loaded or any(w.is_full for w in loaded):
        return []
    holes: list[Window] = []
    reached: datetime | None = None
    for w in sorted(loaded, key=lambda w: (w.start is not None, w.start)):
        if w.start is not None and (reached is None or w.start > reached):
            holes.append(Window(reached, w.start))
        if w.end is None:
            return holes
        reached = w.end if reached is None else max(reached, w.end)
    return holes


def merged(loaded: list[Window]) -> list[Window]:
    """The loaded windows as the fewest disjoint windows, in order (touching or overlapping ones joined); one full
    window once a load had neither start nor end."""
    out: list[Window] = []
    for w in sorted(loaded, key=lambda w: (w.start is not None, w.start)):
        if w.is_full:
            return [FULL]
        last = out[-1] if out else None
        if last is not None and (last.end is None or (w.start is not None and w.start <= last.end)):
            end = None if last.end is None or w.end is None else max(last.end, w.end)
            out[-1] = Window(last.start, end)
        else:
            out.append(w)
    return out


def _at(t: datetime | None, open_side: str) -> str:
    if t is None:
        return open_side
    return t.date().isoformat() if t.time() == datetime.min.time() else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(w: Window) -> str:
    return f"[{_at(w.start, 'the beginning')}, {_at(w.end, 'the end')})"


def coverage(loaded: list[Window], this: Window) -> dict[str, Any]:
    """What the loads of a source hold, around one run's window `this` (counted as loaded): every loaded stretch,
    what no load covered between the first start and the latest end (`gaps`), whether everything from the first
    start up to `this` is loaded, what is loaded after it, and the latest end (`up_to`, None: the source's end).
    Whether the source holds records before the first start, only a pass over it can tell (the cumulative
    reconciliation does)."""
    stretches = merged([*loaded, this])
    holes = [h for h in gaps([*loaded, this]) if h.start is not None]
    end = covered([w.end for w in stretches]).end
    return {"loaded": [w.as_dict() for w in stretches], "gaps": [w.as_dict() for w in holes],
            "before_complete": not any(this.start is not None and h.end is not None and h.end <= this.start
                                       for h in holes),
            "after": [w.as_dict() for w in merged([w for w in loaded if this.end is not None and w.start is not None
                                                   and w.start >= this.end])],
            "up_to": end.isoformat() if end else None, "up_to_text": _at(end, "its end"),
            "summary": "loaded: everything (a load without a window)" if stretches == [FULL] else (
                "loaded: " + ", ".join(_text(w) for w in stretches)
                + ("; missing: " + ", ".join(_text(h) for h in holes) if holes else "; nothing missing"))}


def sql_timestamp(at: datetime) -> str:
    """`at` as naive UTC text, `YYYY-MM-DDTHH:MM:SS.ffffff`: a literal that PostgreSQL and SQL Server both read
    as a timestamp (ISO 8601 with the `T` is independent of SQL Server's DATEFORMAT), and Spark casts in UTC."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def objectid_time(oid: str) -> datetime:
    """The creation time an ObjectId holds in its first 4 bytes (seconds since the epoch)."""
    return datetime.fromtimestamp(int(oid[:8], 16), UTC)


def objectid_at(at: datetime) -> str:
    """The smallest ObjectId created at `at` (whole seconds): a bound for a server-side `_id` range."""
    return f"{int(at.timestamp()):08x}" + "0" * 16


def record_time(doc: dict[str, Any], field: str = OBJECTID_FIELD) -> datetime | None:
    """When `doc` falls for interval purposes: its `field` (dotted) as an ObjectId's creation time, a date or an
    ISO 8601 string; None when absent or unreadable (the caller rejects it, never guesses)."""
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, ObjectId) and len(value) == 24:
        try:
            return objectid_time(value)
        except ValueError:
            return None
    if isinstance(value, datetime | date) or (isinstance(value, str) and not isinstance(value, ObjectId)):
        try:
            return parse_instant(value, field)
        except WindowError:
            return None
    return None


def _decimal_text(d: Decimal) -> str:
    """Text whose byte order is the numeric order (sign, exponent, digits; negatives complemented)."""
    if d.is_zero():
        return "1"
    sign, digits, _ = d.normalize().as_tuple()
    exponent = d.normalize().adjusted()
    mantissa = "".join(map(str, digits)).rstrip("0") or "0"
    if not sign:
        return f"2{exponent + 50000:06d}{mantissa}"
    return f"0{50000 - exponent:06d}{''.join(str(9 - int(c)) for c in mantissa)}~"


def version_text(order: tuple[int, Any]) -> str:
    """`transforms.extjson.bson_order` as text that sorts the same way byte by byte (PostgreSQL `COLLATE "C"`),
    so the target can keep the row of the greatest `_id` when loads of different intervals meet."""
    kind, value = order
    body = _decimal_text(value) if isinstance(value, Decimal) else str(value).lower() if kind == 8 else str(value)
    return f"{kind}:{body}"


def newer_version(stored: str | None, mapped: str) -> bool:
    """Whether a stored row's version is greater than a mapped document's: a later document replaced it."""
    return stored is not None and stored.encode("utf-8") > mapped.encode("utf-8")
