"""Source bytes as text, judged one way wherever they are read (the Spark job, the validators, the checks).

A line is decoded as UTF-8 with `surrogateescape`: valid text comes out unchanged and every invalid byte
becomes one code point U+DC80..U+DCFF, so nothing is replaced with U+FFFD and the document can still be
quarantined byte for byte (`printable`). Such a line is a `bad_encoding` reject, never loaded.
Pure Python: ships to EMR and Glue in the job bundle.
"""

from __future__ import annotations

import hashlib
import re

BOM = "\ufeff"
JSON_WHITESPACE = " \t\r\n"
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class CollectionText(str):
    """A document's text that knows its collection: a migration of several collections reads them as one stream,
    and a document's entity is that of its collection (`transforms.spec.DocumentShape.type_of`)."""

    __slots__ = ("collection",)

    def __new__(cls, text: str, collection: str) -> CollectionText:
        self = super().__new__(cls, text)
        self.collection = collection
        return self

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickled to Spark's Python workers with its collection
        return CollectionText, (str(self), self.collection)


def collection_of(text: str) -> str | None:
    """The collection a document's text came from, None for a migration of one collection."""
    return getattr(text, "collection", None)


def content_digest(text: str, field: str) -> str:
    """A line's identity for `connectors.timeless`: sha256 of the interval field it was judged by, its collection
    and its text (escaped bytes as themselves). The same line in another collection, or judged by another field
    (the spec changed), is another line."""
    body = "\n".join((field, collection_of(text) or "", str(text)))
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def decode_line(raw: bytes, *, first: bool = False) -> str:
    """One line's bytes (without its `\\n`) as text: a trailing `\\r` (CRLF files) and, on a file's first
    line, a UTF-8 byte order mark are dropped; invalid bytes are kept as escaped code points."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    text = raw.decode("utf-8", "surrogateescape")
    return text[1:] if first and text.startswith(BOM) else text


def is_blank(text: str) -> bool:
    """Nothing but JSON whitespace: not a document (a blank line, or a BOM-only first line)."""
    return not text.strip(JSON_WHITESPACE)


def invalid_utf8_at(text: str) -> int | None:
    """Character offset of the first byte that was not valid UTF-8 in the decoded `text`, or None."""
    if text.isascii():  # the usual line: no escaped byte can be in it (they are U+DC80..U+DCFF)
        return None
    m = _ESCAPED_BYTE.search(text)
    return m.start() if m else None


def holds_surrogates(text: str) -> bool:
    """Whether `text` holds an invalid byte or a lone surrogate (neither can be encoded as UTF-8 as it is)."""
    return _SURROGATE.search(text) is not None


def printable(text: str) -> str:
    """`text` safe to write anywhere (UTF-8 JSON, logs): an invalid byte as `\\xNN`, a lone surrogate as `\\udNNN`."""
    if not _SURROGATE.search(text):
        return text
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
                   else f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text)


def text_problem(value: str) -> str | None:
    """Why a decoded string value cannot be stored as PostgreSQL text (NUL, lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character, which PostgreSQL text cannot store"
    if value.isascii():  # no surrogate in it: the usual value, without a regular expression's scan
        return None
    m = _SURROGATE.search(value)
    if m:
        return f"contains a lone surrogate U+{ord(m.group()):04X}, which is not valid Unicode"
    return None


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def nesting_exceeds(text: str, limit: int) -> bool:
    """True when the JSON `text` nests objects/arrays deeper than `limit`, judged before parsing it.

    Parsers give up at interpreter-dependent depths (a `RecursionError`), so the limit is checked here, the
    same way on every machine. Cheap for ordinary documents: only a text with more than `limit` brackets is
    scanned, strings skipped.
    """
    if text.count("{") + text.count("[") <= limit:
        return False
    depth = 0
    for m in _STRUCTURE.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
    return False
