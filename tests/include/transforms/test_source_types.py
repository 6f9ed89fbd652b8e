"""Which declared source types may hold integer ids, and how one value becomes the exact integer it holds
(GitHub issue 8: AWS's PostgreSQL port of dms_sample declares ids DOUBLE PRECISION and NUMERIC)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from transforms.source_types import coerce_integral, integral_source_type

POSTGRES_INTEGRAL = ["smallint", "integer", "bigint", "int2", "int4", "int8", "numeric", "numeric(3,0)",
                     "numeric(10,0)", "decimal", "double precision", "float8", "real", "float"]
SQLSERVER_INTEGRAL = ["int", "bigint", "smallint", "tinyint", "numeric", "decimal", "float"]
GLUE_INTEGRAL = ["int", "bigint", "smallint", "tinyint", "double", "float", "decimal(38,0)", "decimal"]
NOT_INTEGRAL = ["varchar", "varchar(30)", "character varying(60)", "text", "string", "timestamp",
                "timestamp without time zone", "date", "bit", "boolean"]


@pytest.mark.parametrize("type_name", sorted({*POSTGRES_INTEGRAL, *SQLSERVER_INTEGRAL, *GLUE_INTEGRAL}))
def test_integer_and_numeric_types_may_hold_ids(type_name: str) -> None:
    assert integral_source_type(type_name) is True


@pytest.mark.parametrize("type_name", ["DOUBLE PRECISION", "Double Precision", "NUMERIC(3,0)", "BIGINT", "Int",
                                       "TINYINT", "FLOAT8", "Decimal(10,0)", "DOUBLE"])
def test_type_names_are_case_insensitive(type_name: str) -> None:
    assert integral_source_type(type_name) is True


@pytest.mark.parametrize("type_name", [*NOT_INTEGRAL, *(t.upper() for t in NOT_INTEGRAL)])
def test_text_time_and_boolean_types_do_not(type_name: str) -> None:
    assert integral_source_type(type_name) is False


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3),
    (0, 0),
    (-7, -7),
    (2**63 - 1, 2**63 - 1),
    (3.0, 3),
    (Decimal("3"), 3),
    (Decimal("3.000"), 3),
    (1e18, 1_000_000_000_000_000_000),
    (4000000021.0, 4000000021),
])
def test_integral_values_become_exact_ints(value: object, expected: int) -> None:
    got = coerce_integral(value)
    assert got == expected
    assert type(got) is int


def test_an_int_is_returned_unchanged() -> None:
    big = 2**70
    assert coerce_integral(big) is big


@pytest.mark.parametrize("value", [3.5, 4.5, -0.25, Decimal("3.5"), Decimal("3.0001"), float("nan"), float("inf"),
                                   float("-inf"), Decimal("NaN"), Decimal("Infinity")])
def test_non_integral_values_raise_naming_the_value_never_round(value: object) -> None:
    with pytest.raises(ValueError) as err:
        coerce_integral(value)
    assert str(value) in str(err.value)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_an_integer(value: bool) -> None:
    with pytest.raises(ValueError):
        coerce_integral(value)
