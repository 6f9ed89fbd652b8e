"""Property-based: no document, however odd, raises out of the per-document path (`DocumentMapper.map_line`).

Random Extended JSON documents (every wrapper, odd strings with NUL and lone surrogates, deep and wide
values, keys shaped like the spec's and not), random bytes and random text all come back as a `Mapped`
row, a `Rejected` with one of `REJECT_REASONS`, or None for a blank line.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import SPEC_DIR
from transforms.adjacency import REJECT_REASONS, DocumentMapper, Mapped, Rejected
from transforms.source_text import decode_line, printable
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
MAPPER = DocumentMapper.for_spec(SPEC)
FIELDS = sorted({c.source.split(".")[0] for e in SPEC.entities for c in e.columns} | {"details"})

odd_text = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF,
                                          blacklist_categories=()), max_size=30)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), odd_text,
    st.builds(lambda s: {"$oid": s}, st.text(alphabet="0123456789abcdefXYZ", max_size=26)),
    st.builds(lambda v: {"$date": v}, st.one_of(st.text(max_size=30), st.integers(-(2**64), 2**64),
                                                st.builds(lambda n: {"$numberLong": n}, st.text(max_size=22)))),
    st.builds(lambda v: {"$numberInt": v}, st.one_of(st.text(max_size=12), st.integers())),
    st.builds(lambda v: {"$numberLong": v}, st.text(max_size=22)),
    st.builds(lambda v: {"$numberDouble": v}, st.sampled_from(["1.5", "NaN", "-Infinity", "x", "1e400"])),
    st.builds(lambda v: {"$numberDecimal": v}, st.sampled_from(["1.25", "NaN", "1E+9999", "", "-0"])),
    st.builds(lambda v: {"$binary": {"base64": v, "subType": "00"}}, st.text(max_size=8)),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(odd_text, inner, max_size=4)),
                      max_leaves=20)
keys = st.one_of(st.sampled_from(["MOVIE#", "ACTOR#", "DIRECTOR#", "METADATA", ""]).flatmap(
    lambda p: st.builds(lambda s: p + s, odd_text)), values)
documents = st.fixed_dictionaries(
    {"_id": st.one_of(scalars, values), "PK": keys, "SK": keys,
     "type": st.one_of(st.sampled_from([e.doc_type for e in SPEC.entities]), values)},
    optional={f: values for f in FIELDS})


def _check(result: Any) -> None:
    assert result is None or isinstance(result, Mapped | Rejected)
    if isinstance(result, Rejected):
        assert result.reason in REJECT_REASONS and result.detail
        printable(result.detail).encode("utf-8")  # a detail can always be written to the quarantine


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_extended_json_documents_never_raise(doc: dict[str, Any]) -> None:
    line = json.dumps(doc, ensure_ascii=True, allow_nan=True)
    _check(MAPPER.map_line(line))
    _check(MAPPER.map_line(json.dumps(doc, ensure_ascii=False, allow_nan=True)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(MAPPER.map_line(decode_line(raw, first=True)))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["[", '{"a":']))
def test_any_nesting_depth_never_raises(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + "1" + closer * depth
    _check(MAPPER.map_line(inner))
    _check(MAPPER.map_line(json.dumps({"_id": 1, "PK": "MOVIE#tt1", "SK": "METADATA", "type": "movie",
                                       "title": "t"})[:-1] + f', "details": {inner}}}'))
