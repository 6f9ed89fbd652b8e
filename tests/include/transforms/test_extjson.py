"""`mongoexport --jsonFormat=canonical` and `--jsonFormat=relaxed` write the same collection differently (`5` vs
`{"$numberInt": "5"}`, an ISO `$date` vs a millisecond count); the migration must not care which one it was given.
Each row below is one BSON value written both ways: both must decode to the same Python value of the same type, at
the top and nested three levels deep, and `to_plain` must hand back JSON that reads back to that value. Wrappers the
decoder does not translate (`$binary`, `$timestamp`, ...) are documented by pinning the dict it keeps.

How decoded values map to columns is tested in test_adjacency.py; `bson_order` in test_intervals.py and
test_adjacency.py::test_documents_order_by_bson_id.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from bson import Binary, Code, DBRef, Decimal128, Int64, MaxKey, MinKey, Regex, Timestamp, json_util
from bson import ObjectId as BsonObjectId

from transforms.extjson import BadValue, ObjectId, loads, to_plain

OID = "57e193d7a9cc81b4027498b5"
AT = datetime(2012, 12, 24, 12, 15, 30, 501000, tzinfo=UTC)  # 1356351330501 ms
NAN, INF = float("nan"), float("inf")

# (id, canonical text, relaxed text, expected value); a relaxed text equal to the canonical one is what the spec
# (and pymongo, mongoexport) write in relaxed mode for that value
BOTH_WAYS = [
    ("int32", '{"$numberInt": "42"}', "42", 42),
    ("int32-min", '{"$numberInt": "-2147483648"}', "-2147483648", -2147483648),
    ("int64-past-2^53", '{"$numberLong": "9007199254740993"}', "9007199254740993", 2**53 + 1),
    ("int64-max", '{"$numberLong": "9223372036854775807"}', "9223372036854775807", 2**63 - 1),
    ("int64-min", '{"$numberLong": "-9223372036854775808"}', "-9223372036854775808", -(2**63)),
    ("int64-negative", '{"$numberLong": "-1"}', "-1", -1),
    ("double", '{"$numberDouble": "1.5"}', "1.5", 1.5),
    ("double-integral", '{"$numberDouble": "1.0"}', "1.0", 1.0),
    ("double-exponent", '{"$numberDouble": "1.0E+20"}', "1e+20", 1e20),
    ("double-neg-exponent", '{"$numberDouble": "-1.23456789012345677E+18"}', "-1.2345678901234568e+18",
     -1.2345678901234568e18),
    ("double-tiny", '{"$numberDouble": "5E-324"}', "5e-324", 5e-324),
    ("double-minus-zero", '{"$numberDouble": "-0.0"}', "-0.0", -0.0),
    ("double-nan", '{"$numberDouble": "NaN"}', '{"$numberDouble": "NaN"}', NAN),
    ("double-inf", '{"$numberDouble": "Infinity"}', '{"$numberDouble": "Infinity"}', INF),
    ("double-minus-inf", '{"$numberDouble": "-Infinity"}', '{"$numberDouble": "-Infinity"}', -INF),
    *((f"decimal-{d}", f'{{"$numberDecimal": "{d}"}}', f'{{"$numberDecimal": "{d}"}}', Decimal(d)) for d in (
        "1.10", "-0", "1E+3", "NaN", "-Infinity", "0.1", "12345678901234567890", "0.12345678901234567891",
        "12345678901234567890.123456789", "9.999999999999999999999999999999999E+6144", "1E-6176")),
    ("date", '{"$date": {"$numberLong": "1356351330501"}}', '{"$date": "2012-12-24T12:15:30.501Z"}', AT),
    ("date-epoch", '{"$date": {"$numberLong": "0"}}', '{"$date": "1970-01-01T00:00:00Z"}',
     datetime(1970, 1, 1, tzinfo=UTC)),
    ("date-plus-offset", '{"$date": {"$numberLong": "1356351330501"}}', '{"$date": "2012-12-24T13:15:30.501+01:00"}',
     AT),
    ("date-minus-offset", '{"$date": {"$numberLong": "1356351330501"}}', '{"$date": "2012-12-24T07:45:30.501-04:30"}',
     AT),
    ("date-year-9999", '{"$date": {"$numberLong": "253402300799999"}}', '{"$date": "9999-12-31T23:59:59.999Z"}',
     datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    # relaxed mode writes dates before 1970 in the canonical form; other writers use ISO, which must agree
    ("date-pre-1970", '{"$date": {"$numberLong": "-284643869501"}}', '{"$date": "1960-12-24T12:15:30.499Z"}',
     datetime(1960, 12, 24, 12, 15, 30, 499000, tzinfo=UTC)),
    ("date-1ms-before-epoch", '{"$date": {"$numberLong": "-1"}}', '{"$date": {"$numberLong": "-1"}}',
     datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ("oid", f'{{"$oid": "{OID}"}}', f'{{"$oid": "{OID}"}}', ObjectId(OID)),
    ("oid-upper-hex", f'{{"$oid": "{OID}"}}', f'{{"$oid": "{OID.upper()}"}}', ObjectId(OID)),  # parsers accept both
    # only a wrapper makes a type: a string shaped like a date or an ObjectId stays a string
    ("iso-string", '"2012-12-24T12:15:30.501Z"', '"2012-12-24T12:15:30.501Z"', "2012-12-24T12:15:30.501Z"),
    ("hex-string", f'"{OID}"', f'"{OID}"', OID),
    ("bool", "true", "true", True),
    ("null", "null", "null", None),
    # kept as the dicts they are (no column reads them), identical in both modes
    ("binary", '{"$binary": {"base64": "AQID", "subType": "00"}}', '{"$binary": {"base64": "AQID", "subType": "00"}}',
     {"$binary": {"base64": "AQID", "subType": "00"}}),
    ("binary-uuid", '{"$binary": {"base64": "c//SZESzTGmQ6OfR38A11A==", "subType": "04"}}',
     '{"$binary": {"base64": "c//SZESzTGmQ6OfR38A11A==", "subType": "04"}}',
     {"$binary": {"base64": "c//SZESzTGmQ6OfR38A11A==", "subType": "04"}}),
    ("timestamp", '{"$timestamp": {"t": 1356351330, "i": 7}}', '{"$timestamp": {"t": 1356351330, "i": 7}}',
     {"$timestamp": {"t": 1356351330, "i": 7}}),
    ("regex", '{"$regularExpression": {"pattern": "^a", "options": "i"}}',
     '{"$regularExpression": {"pattern": "^a", "options": "i"}}',
     {"$regularExpression": {"pattern": "^a", "options": "i"}}),
    ("minkey", '{"$minKey": 1}', '{"$minKey": 1}', {"$minKey": 1}),
    ("maxkey", '{"$maxKey": 1}', '{"$maxKey": 1}', {"$maxKey": 1}),
    ("symbol", '{"$symbol": "s"}', '{"$symbol": "s"}', {"$symbol": "s"}),
    ("undefined", '{"$undefined": true}', '{"$undefined": true}', {"$undefined": True}),
    ("code-with-scope", '{"$code": "f", "$scope": {"n": {"$numberInt": "1"}}}', '{"$code": "f", "$scope": {"n": 1}}',
     {"$code": "f", "$scope": {"n": 1}}),
    ("dbref", f'{{"$ref": "c", "$id": {{"$oid": "{OID}"}}}}', f'{{"$ref": "c", "$id": {{"$oid": "{OID}"}}}}',
     {"$ref": "c", "$id": ObjectId(OID)}),
]

# (payload text, BadValue.raw): an unreadable wrapper is a BadValue, never an exception
BAD = [
    ('{"$numberInt": "x"}', "x"),
    ('{"$numberInt": 5}', 5),
    ('{"$numberLong": "1.5"}', "1.5"),
    ('{"$numberDouble": "one"}', "one"),
    ('{"$numberDecimal": "1,5"}', "1,5"),
    ('{"$date": "1999-13-45"}', "1999-13-45"),
    ('{"$date": "yesterday"}', "yesterday"),
    ('{"$date": true}', True),
    ('{"$date": {"$numberLong": "1.5"}}', "1.5"),
    ('{"$date": {"$numberLong": "253402300800000"}}', 253402300800000),  # year 10000: past Python's datetime
    ('{"$oid": "xyz"}', "xyz"),
    (f'{{"$oid": "{OID[:-1]}g"}}', f"{OID[:-1]}g"),
    ('{"$oid": 5}', 5),
]


def exact(value: Any) -> Any:
    """`value` with every leaf as (type, repr): tells 1 from 1.0 and True, -0.0 from 0.0, Decimal 1.10 from 1.1,
    ObjectId from str, and makes NaN equal to NaN."""
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    return type(value).__name__, repr(value)


def nested(text: str) -> str:
    return '{"a": [{"b": [{"c": ' + text + '}]}], "k": 1}'


def dig(doc: dict[str, Any]) -> Any:
    return doc["a"][0]["b"][0]["c"]


def reread(value: Any) -> Any:
    """`to_plain(value)` as JSON text, read back by `loads`, re-wrapped where plain JSON has no such type: a date
    comes back as its relaxed-mode ISO text, an ObjectId as its hex, a Decimal as a JSON number (or its text)."""
    plain = json.loads(json.dumps(to_plain(value)))
    wrapper = {datetime: "$date", ObjectId: "$oid", Decimal: "$numberDecimal"}.get(type(value))
    return loads(json.dumps(plain if wrapper is None else {wrapper: str(plain)}))


@pytest.mark.parametrize(("canonical", "relaxed", "expected"), [row[1:] for row in BOTH_WAYS],
                         ids=[row[0] for row in BOTH_WAYS])
def test_canonical_and_relaxed_decode_to_the_same_value(canonical: str, relaxed: str, expected: Any) -> None:
    for text in (canonical, relaxed):
        got = loads(text)
        assert exact(got) == exact(expected)
        if expected == expected:  # NaN is unequal to itself; exact() has compared it
            assert got == expected
        assert exact(dig(loads(nested(text)))) == exact(expected)
    plain = {json.dumps(to_plain(loads(nested(text)))) for text in (canonical, relaxed)}
    assert len(plain) == 1


@pytest.mark.parametrize("value", [row[3] for row in BOTH_WAYS], ids=[row[0] for row in BOTH_WAYS])
def test_to_plain_reads_back_to_the_same_value(value: Any) -> None:
    back = reread(value)
    if isinstance(value, Decimal):  # its value, not its scale: 1.10 comes back as 1.1
        assert type(back) is Decimal and (back == value or back.is_nan() and value.is_nan())
    elif isinstance(value, dict) and "$id" in value:  # an ObjectId inside a kept wrapper comes back as its hex
        assert back == value and type(back["$id"]) is str
    else:
        assert exact(back) == exact(value)
    if not (isinstance(value, float) and not math.isfinite(value)):  # these stay floats: adjacency rejects them
        json.dumps(to_plain(value), allow_nan=False)  # standard JSON, which a json column can hold


def test_legacy_binary_is_kept_as_its_own_dict() -> None:
    """mongoexport before 4.2 wrote `$binary` as a string beside `$type`; neither form is decoded, so the two stay
    different dicts (no target column reads binary data)."""
    legacy = loads('{"$binary": "AQID", "$type": "00"}')
    assert legacy == {"$binary": "AQID", "$type": "00"}
    assert legacy != loads('{"$binary": {"base64": "AQID", "subType": "00"}}')


@pytest.mark.parametrize(("text", "raw"), BAD, ids=[row[0] for row in BAD])
def test_an_unreadable_wrapper_is_a_bad_value(text: str, raw: Any) -> None:
    for got in (loads(text), dig(loads(nested(text)))):
        assert isinstance(got, BadValue) and exact(got.raw) == exact(raw) and got.why
        assert json.dumps(to_plain(got), allow_nan=False) == json.dumps(raw)
    doc = loads(nested(text))
    assert doc["k"] == 1  # the rest of the document still decodes


def test_bson_values_through_pymongo_decode_alike_in_every_mode() -> None:
    """The same BSON document written by pymongo's own encoder, canonical, relaxed and legacy, decodes alike
    (legacy only differs in the `$binary` and `$regex` wrappers, which stay as written)."""
    oid = BsonObjectId(OID)
    doc = {"i": 5, "l": Int64(-(2**62) - 3), "big": Int64(2**53 + 1), "d": 1e20, "z": -0.0, "nan": NAN, "inf": -INF,
           "x": Decimal128("1.10"), "xn": Decimal128("NaN"), "dt": AT, "pre": datetime(1960, 1, 1, tzinfo=UTC),
           "o": oid, "b": Binary(b"\x01\x02", 0), "t": Timestamp(1, 2), "r": Regex("^a", "i"), "mi": MinKey(),
           "ma": MaxKey(), "c": Code("f", {"n": 1}), "ref": DBRef("c", oid), "deep": [{"a": [{"b": Int64(7)}]}]}
    decoded = [loads(json_util.dumps(doc, json_options=options)) for options in (
        json_util.CANONICAL_JSON_OPTIONS, json_util.RELAXED_JSON_OPTIONS, json_util.LEGACY_JSON_OPTIONS)]
    canonical, relaxed, legacy = (exact(d) for d in decoded)
    assert canonical == relaxed
    assert {k: v for k, v in legacy.items() if k not in ("b", "r")} == {
        k: v for k, v in canonical.items() if k not in ("b", "r")}
    assert exact(decoded[0]) == exact({
        "i": 5, "l": -(2**62) - 3, "big": 2**53 + 1, "d": 1e20, "z": -0.0, "nan": NAN, "inf": -INF,
        "x": Decimal("1.10"), "xn": Decimal("NaN"), "dt": AT, "pre": datetime(1960, 1, 1, tzinfo=UTC),
        "o": ObjectId(OID), "b": {"$binary": {"base64": "AQI=", "subType": "00"}},
        "t": {"$timestamp": {"t": 1, "i": 2}}, "r": {"$regularExpression": {"pattern": "^a", "options": "i"}},
        "mi": {"$minKey": 1}, "ma": {"$maxKey": 1}, "c": {"$code": "f", "$scope": {"n": 1}},
        "ref": {"$ref": "c", "$id": ObjectId(OID)}, "deep": [{"a": [{"b": 7}]}]})
