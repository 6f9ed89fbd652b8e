"""transforms.dynamo_items: Python values ⇄ DynamoDB attribute values, and item sizes."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from transforms.dynamo_items import from_item, item_size_bytes, to_attribute, to_item


class TestToAttribute:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (5, {"N": "5"}),
            (-7, {"N": "-7"}),
            (2**31 + 1, {"N": "2147483649"}),
            (2**63 + 1, {"N": "9223372036854775809"}),
            (Decimal("45.50"), {"N": "45.50"}),
            (Decimal("0.10"), {"N": "0.10"}),
            (Decimal("-0.01"), {"N": "-0.01"}),
            (Decimal("1"), {"N": "1"}),
            (Decimal("1E+2"), {"N": "100"}),
            (Decimal("1.5E-7"), {"N": "0.00000015"}),
            (1.5, {"N": "1.5"}),
            (0.1, {"N": "0.1"}),
            ("01", {"S": "01"}),
            ("", {"S": ""}),
            ("Zoë", {"S": "Zoë"}),
            (True, {"BOOL": True}),
            (False, {"BOOL": False}),
            (datetime(2024, 3, 1, 10, 15, 30, 123000), {"S": "2024-03-01T10:15:30.123000"}),
            (datetime(2024, 3, 1, 10, 15, 30), {"S": "2024-03-01T10:15:30"}),
            (datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC), {"S": "2024-03-01T10:15:30+00:00"}),
            (date(2024, 3, 1), {"S": "2024-03-01"}),
            ([1, "a", None], {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}]}),
            ({"a": 1, "b": None}, {"M": {"a": {"N": "1"}}}),
        ],
    )
    def test_mapping(self, value, expected):
        assert to_attribute(value) == expected

    def test_none_means_omit(self):
        assert to_attribute(None) is None

    def test_bool_is_not_a_number(self):
        assert to_attribute(True) != {"N": "1"}

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("Infinity")])
    def test_non_finite_numbers_rejected(self, value):
        with pytest.raises(ValueError, match="finite"):
            to_attribute(value)

    def test_more_than_38_significant_digits_rejected(self):
        assert to_attribute(Decimal("1" * 38)) == {"N": "1" * 38}
        with pytest.raises(ValueError, match="38 significant digits"):
            to_attribute(Decimal("1" * 39))

    def test_unmapped_type_rejected(self):
        with pytest.raises(TypeError, match="object"):
            to_attribute(object())


class TestToItem:
    def test_nulls_omitted(self):
        row = {"id": 1, "first_name": None, "last_name": "Smith", "seat": "01", "price": Decimal("45.50")}
        assert to_item(row) == {"id": {"N": "1"}, "last_name": {"S": "Smith"}, "seat": {"S": "01"},
                                "price": {"N": "45.50"}}

    def test_all_nulls_give_an_empty_item(self):
        assert to_item({"a": None, "b": None}) == {}

    def test_never_null_type_at_top_level(self):
        item = to_item({"a": None, "b": 0, "c": "", "d": False})
        assert "a" not in item
        assert all("NULL" not in v for v in item.values())
        assert item == {"b": {"N": "0"}, "c": {"S": ""}, "d": {"BOOL": False}}


class TestFromItem:
    def test_round_trip(self):
        row = {"id": 2**40, "price": Decimal("45.50"), "seat": "01", "flag": True, "tags": ["x", 1],
               "nested": {"n": Decimal("1.25")}}
        assert from_item(to_item(row)) == row

    def test_integral_numbers_become_int(self):
        out = from_item({"a": {"N": "42"}, "b": {"N": "-3"}, "c": {"N": "9223372036854775809"}})
        assert out == {"a": 42, "b": -3, "c": 9223372036854775809}
        assert all(type(v) is int for v in out.values())

    def test_fractional_numbers_keep_scale(self):
        price = from_item({"p": {"N": "45.50"}})["p"]
        assert isinstance(price, Decimal)
        assert str(price) == "45.50"

    def test_exponent_numbers_become_decimal(self):
        assert from_item({"x": {"N": "1e+20"}})["x"] == Decimal("1E+20")

    def test_other_types(self):
        item = {"s": {"S": ""}, "n": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}}
        assert from_item(item) == {"s": "", "n": None, "ss": {"a", "b"}, "ns": {1, Decimal("2.5")}}

    def test_malformed_attribute_rejected(self):
        with pytest.raises(ValueError, match="exactly one type key"):
            from_item({"a": {"S": "x", "N": "1"}})
        with pytest.raises(ValueError, match="unknown"):
            from_item({"a": {"X": "x"}})


class TestItemSizeBytes:
    @pytest.mark.parametrize(
        ("item", "size"),
        [
            ({}, 0),
            ({"a": {"S": "abc"}}, 1 + 3),
            ({"é": {"S": "é"}}, 2 + 2),  # UTF-8 bytes, not characters
            ({"flag": {"BOOL": True}}, 4 + 1),
            ({"n": {"NULL": True}}, 1 + 1),
            ({"n": {"N": "7"}}, 1 + 2),  # 1 digit → 1 + 1
            ({"n": {"N": "45.50"}}, 1 + 3),  # trailing zero trimmed: 455 → 2 + 1
            ({"n": {"N": "0.00000015"}}, 1 + 2),  # leading zeros trimmed: 15 → 1 + 1
            ({"n": {"N": "2147483649"}}, 1 + 6),  # 10 digits → 5 + 1
            ({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}, 1 + 3 + (1 + 2) + (1 + 2)),
            ({"m": {"M": {"k": {"S": "v"}}}}, 1 + 3 + (1 + 1 + 1)),
            ({"ss": {"SS": ["ab", "c"]}}, 2 + 3),
        ],
    )
    def test_rules(self, item, size):
        assert item_size_bytes(item) == size

    def test_sums_names_and_values(self):
        item = to_item({"ticket_status_owner": "Purchased|1|2024-03-01T10:15:30.123", "ticket_price": Decimal("45.50")})
        expected = len("ticket_status_owner") + len("Purchased|1|2024-03-01T10:15:30.123") + len("ticket_price") + 3
        assert item_size_bytes(item) == expected


def test_spark_rows_map_exactly(spark):
    """Values as Spark hands them to Python (DecimalType, LongType, strings) keep their exact text."""
    df = spark.createDataFrame(
        [(2**31 + 5, Decimal("45.5"), "01", None, Decimal(1))],
        "id BIGINT, price DECIMAL(8,2), seat STRING, first_name STRING, seat_level DECIMAL(1,0)",
    )
    (item,) = df.rdd.map(lambda r: to_item(r.asDict())).collect()
    assert item == {"id": {"N": "2147483653"}, "price": {"N": "45.50"}, "seat": {"S": "01"},
                    "seat_level": {"N": "1"}}
