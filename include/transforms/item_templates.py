"""Key and attribute templates of a `sql_to_dynamodb` spec: `CUSTOMER#${id}`, `${placed_at}`, `${n:06}`.

A template is literal text and `${column}` references (a base-table column, `alias.column` of a joined table, or
a derived column); `${column:0N}` pads a whole number with zeros to N digits. The value of a template is None as
soon as one referenced value is None (so a key with a missing part is a reject, an attribute is omitted). A
template that is one reference and nothing else keeps the value's type (a number stays a number).

Values render as text one way, on both sides of a migration: here in Python (`render`, what the validators build
their expected items with from rows the source database returns) and as Spark columns
(`transforms.design_plan`, what the job writes). Whole numbers and decimals as digits (a decimal keeps its
scale: `12.50`), booleans `true`/`false`, dates `yyyy-MM-dd`, timestamps by their `format` (Spark's pattern
letters, default `TIMESTAMP_FORMAT`: microseconds, so nothing is lost). Pure Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["DATE_FORMAT", "TIMESTAMP_FORMAT", "Ref", "Template", "check_format", "format_instant",
           "parse_template", "render_text"]

TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
DATE_FORMAT = "yyyy-MM-dd"
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)(?::0(\d{1,2}))?\}")
# Spark pattern letters this module renders in Python too (and quoted literals: 'T')
_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_PATTERN = re.compile(r"'[^']*'|yyyy|MM|dd|HH|mm|ss|S{1,6}|[^'yMdHmsS]+")


@dataclass(frozen=True)
class Ref:
    """One `${name}` (or `${name:0N}`) of a template."""

    name: str
    pad: int | None = None


@dataclass(frozen=True)
class Template:
    """Literal text and references, in order (`parts`: str or Ref)."""

    source: str
    parts: tuple[str | Ref, ...]

    @property
    def refs(self) -> tuple[Ref, ...]:
        return tuple(p for p in self.parts if isinstance(p, Ref))

    @property
    def single(self) -> Ref | None:
        """The reference when the template is exactly one, unpadded (its value keeps its type)."""
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], Ref) and \
            self.parts[0].pad is None else None

    def render(self, row: dict[str, Any], formats: dict[str, str] | None = None) -> Any:
        """The template's value for `row` (column → value): a lone reference's value as it is (timestamps and
        dates as text), else text; None when a referenced value is None. KeyError: a name the row lacks."""
        formats = formats or {}
        if self.single is not None:
            value = row[self.single.name]
            if isinstance(value, date):
                return format_instant(value, formats.get(self.single.name))
            return value
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = row[part.name]
            if value is None:
                return None
            text = render_text(value, formats.get(part.name))
            out.append(text.rjust(part.pad, "0") if part.pad else text)
        return "".join(out)


def parse_template(text: Any, where: str) -> Template:
    """`text` as a Template; ValueError naming `where` for anything else (an unclosed `${`, a bad name)."""
    if not isinstance(text, str) or text == "":
        raise ValueError(f"{where}: a template must be a non-empty string, got {text!r}")
    parts: list[str | Ref] = []
    pos = 0
    for m in _REF.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(Ref(m.group(1), int(m.group(2)) if m.group(2) else None))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    for p in parts:
        if isinstance(p, str) and "${" in p:
            raise ValueError(f"{where}: {text!r} has a reference that is not `${{column}}`, "
                             "`${alias.column}` or `${column:0N}`")
    return Template(text, tuple(parts))


def render_text(value: Any, fmt: str | None = None) -> str:
    """One value as template text (the job's Spark columns give the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return format_instant(value, fmt)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def format_instant(value: date, fmt: str | None = None) -> str:
    """A date or timestamp by a Spark datetime pattern (`yyyy MM dd HH mm ss S…` and quoted literals)."""
    if fmt is None:
        fmt = TIMESTAMP_FORMAT if isinstance(value, datetime) else DATE_FORMAT
    out = []
    for token in _PATTERN.findall(fmt):
        if token.startswith("'"):
            out.append(token[1:-1])
        elif token in _TOKENS:
            out.append(value.strftime(_TOKENS[token]))
        elif token.startswith("S"):
            micro = value.microsecond if isinstance(value, datetime) else 0
            out.append(f"{micro:06d}"[:len(token)])
        else:
            out.append(token)
    return "".join(out)


def check_format(fmt: Any, where: str) -> str:
    """A `format:` the Python side renders exactly as Spark's `date_format` does."""
    if not isinstance(fmt, str) or not fmt:
        raise ValueError(f"{where}: format must be a non-empty Spark datetime pattern, got {fmt!r}")
    if re.search(r"[A-Za-z']", re.sub(r"'[^']*'|yyyy|MM|dd|HH|mm|ss|S{1,6}", "", fmt)):
        raise ValueError(f"{where}: format {fmt!r} may use only yyyy MM dd HH mm ss S..SSSSSS and 'quoted' text")
    return fmt
