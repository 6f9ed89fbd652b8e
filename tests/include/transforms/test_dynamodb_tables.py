"""TableSpec validation, CreateTable arguments and drift detection (pure: canned DescribeTable responses)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.fixtures.design_tables import CONFIG, TICKET_SALES
from transforms.dynamodb_tables import (
    GsiSpec,
    KeyAttr,
    TableSpec,
    create_table_kwargs,
    drift,
)


def described(spec: TableSpec) -> dict[str, Any]:
    """What DescribeTable reports for a table created from `spec` (the parts `drift` reads)."""
    kwargs = create_table_kwargs(spec)
    table: dict[str, Any] = {
        "TableName": spec.name, "TableStatus": "ACTIVE", "KeySchema": kwargs["KeySchema"],
        "AttributeDefinitions": kwargs["AttributeDefinitions"],
        "BillingModeSummary": {"BillingMode": spec.billing_mode}, "LocalSecondaryIndexes": [],
    }
    if spec.gsis:
        table["GlobalSecondaryIndexes"] = [{**g, "IndexStatus": "ACTIVE"} for g in kwargs["GlobalSecondaryIndexes"]]
    return table


def with_changes(d: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(d)
    out.update(changes)
    return out


class TestTableSpecFromDict:
    def test_design_tables(self) -> None:
        ticket_sales = TableSpec.from_dict(TICKET_SALES)
        assert ticket_sales.partition_key == KeyAttr("sporting_event_ticket_id", "N")
        assert ticket_sales.sort_key == KeyAttr("ticket_status_owner", "S")
        assert [g.name for g in ticket_sales.gsis] == [
            "owner_index", "available_index", "transferred_from_index", "transferred_to_index"]
        assert ticket_sales.gsis[0] == GsiSpec("owner_index", KeyAttr("current_owner_id", "N"),
                                               KeyAttr("sporting_event_date", "S"), "ALL")
        config = TableSpec.from_dict(CONFIG)
        assert config.gsis == (GsiSpec("descriptive_name_index", KeyAttr("descriptive_name", "S"),
                                       KeyAttr("data_type", "S")),)
        assert all(TableSpec.from_dict(t).billing_mode == "PAY_PER_REQUEST" for t in (TICKET_SALES, CONFIG))

    def test_minimal_spec_has_defaults(self) -> None:
        spec = TableSpec.from_dict({"name": "t_min", "partition_key": {"name": "id", "type": "N"}})
        assert spec == TableSpec("t_min", KeyAttr("id", "N"), None, (), "PAY_PER_REQUEST")

    @pytest.mark.parametrize(("change", "message"), [
        ({"name": None}, "table name"),
        ({"name": "ab"}, "table name"),
        ({"name": "bad name!"}, "table name"),
        ({"partition_key": None}, "partition_key: expected a mapping"),
        ({"partition_key": {"name": "id"}}, "partition_key: missing type"),
        ({"partition_key": {"name": "id", "type": "X"}}, "type must be one of S, N, B"),
        ({"partition_key": {"name": "id", "type": "S", "typo": 1}}, "unknown field(s) 'typo'"),
        ({"sort_key": {"name": "sporting_event_ticket_id", "type": "N"}}, "partition and sort key are both"),
        ({"billing_mode": "PROVISIONED"}, "billing_mode must be one of"),
        ({"gsis": {"name": "x"}}, "gsis must be a list"),
        ({"gsis": [{"partition_key": {"name": "a", "type": "S"}}]}, "gsis[0]: missing name"),
        ({"gsis": [{"name": "idx", "partition_key": {"name": "a", "type": "S"}, "projection": "INCLUDE"}]},
         "projection must be one of"),
        ({"gsis": [{"name": "idx", "partition_key": {"name": "a", "type": "Q"}}]},
         "gsis[0] ('idx') partition_key"),
        ({"gsis": [{"name": "idx", "partition_key": {"name": "a", "type": "S"}}] * 2}, "defined twice"),
        ({"gsis": [{"name": "idx", "partition_key": {"name": "ticket_status_owner", "type": "N"}}]},
         "attribute 'ticket_status_owner' is S in the table key but N in GSI 'idx'"),
        ({"extra": True}, "unknown field(s) 'extra'"),
    ])
    def test_errors(self, change: dict[str, Any], message: str) -> None:
        d = with_changes(TICKET_SALES, **change)
        with pytest.raises(ValueError, match="^table") as err:
            TableSpec.from_dict(d)
        assert message in str(err.value)

    def test_missing_partition_key_and_not_a_mapping(self) -> None:
        with pytest.raises(ValueError, match="table 'x_table': missing partition_key"):
            TableSpec.from_dict({"name": "x_table"})
        with pytest.raises(ValueError, match="table spec must be a mapping"):
            TableSpec.from_dict(["x_table"])
        with pytest.raises(ValueError, match="table spec: missing name"):
            TableSpec.from_dict({"partition_key": {"name": "id", "type": "S"}})

    def test_too_many_gsis(self) -> None:
        gsis = [{"name": f"idx_{i}", "partition_key": {"name": f"a{i}", "type": "S"}} for i in range(21)]
        with pytest.raises(ValueError, match="21 GSIs, DynamoDB allows 20"):
            TableSpec.from_dict(with_changes(CONFIG, gsis=gsis))


class TestCreateTableKwargs:
    def test_ticket_sales(self) -> None:
        kwargs = create_table_kwargs(TableSpec.from_dict(TICKET_SALES))
        assert kwargs["TableName"] == "ticket_sales"
        assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
        assert kwargs["KeySchema"] == [{"AttributeName": "sporting_event_ticket_id", "KeyType": "HASH"},
                                       {"AttributeName": "ticket_status_owner", "KeyType": "RANGE"}]
        # transaction_date is the sort key of two GSIs but is defined once
        assert kwargs["AttributeDefinitions"] == [
            {"AttributeName": n, "AttributeType": t} for n, t in [
                ("sporting_event_ticket_id", "N"), ("ticket_status_owner", "S"), ("current_owner_id", "N"),
                ("sporting_event_date", "S"), ("available_key", "S"), ("seat_key", "S"),
                ("transferred_from_id", "N"), ("transaction_date", "S"), ("transferred_to_id", "N")]]
        assert kwargs["GlobalSecondaryIndexes"][3] == {
            "IndexName": "transferred_to_index",
            "KeySchema": [{"AttributeName": "transferred_to_id", "KeyType": "HASH"},
                          {"AttributeName": "transaction_date", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }

    def test_config_shares_data_type_between_key_and_gsi(self) -> None:
        kwargs = create_table_kwargs(TableSpec.from_dict(CONFIG))
        assert [a["AttributeName"] for a in kwargs["AttributeDefinitions"]] == [
            "data_type", "data_id", "descriptive_name"]

    def test_no_gsis_and_no_sort_key(self) -> None:
        kwargs = create_table_kwargs(TableSpec("t_min", KeyAttr("id", "N")))
        assert "GlobalSecondaryIndexes" not in kwargs
        assert kwargs["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


class TestDrift:
    spec = TableSpec.from_dict(TICKET_SALES)

    @pytest.mark.parametrize("d", [TICKET_SALES, CONFIG])
    def test_identical_table_has_no_drift(self, d: dict[str, Any]) -> None:
        spec = TableSpec.from_dict(d)
        assert drift(spec, described(spec)) == []

    def test_gsi_order_does_not_matter(self) -> None:
        table = described(self.spec)
        table["GlobalSecondaryIndexes"].reverse()
        assert drift(self.spec, table) == []

    def test_different_sort_key(self) -> None:
        other = TableSpec.from_dict(with_changes(TICKET_SALES, sort_key={"name": "status", "type": "S"}))
        assert drift(self.spec, described(other)) == [
            "table key: sort key is 'status' (S), spec wants 'ticket_status_owner' (S)"]

    def test_missing_and_unexpected_sort_key(self) -> None:
        no_sort = TableSpec.from_dict(with_changes(CONFIG, sort_key=None, gsis=[]))
        assert drift(TableSpec.from_dict(with_changes(CONFIG, gsis=[])), described(no_sort)) == [
            "table key: sort key is none, spec wants 'data_id' (S)"]
        assert drift(no_sort, described(TableSpec.from_dict(with_changes(CONFIG, gsis=[])))) == [
            "table key: sort key is 'data_id' (S), spec has no sort key"]

    def test_different_partition_key_type(self) -> None:
        other = TableSpec.from_dict(with_changes(
            TICKET_SALES, partition_key={"name": "sporting_event_ticket_id", "type": "S"}))
        assert drift(self.spec, described(other)) == [
            "table key: partition key 'sporting_event_ticket_id' has type S, spec wants N"]

    def test_missing_and_extra_gsi(self) -> None:
        d = copy.deepcopy(TICKET_SALES)
        d["gsis"][1] = {"name": "legacy_index", "partition_key": {"name": "legacy", "type": "S"}}
        assert drift(self.spec, described(TableSpec.from_dict(d))) == [
            "GSI 'available_index' is missing (spec: partition 'available_key' (S), sort 'seat_key' (S))",
            "GSI 'legacy_index' exists but is not in the spec"]

    def test_gsi_keys_types_and_projection(self) -> None:
        d = copy.deepcopy(TICKET_SALES)
        d["gsis"][0]["sort_key"] = {"name": "transaction_date", "type": "S"}
        d["gsis"][2]["projection"] = "KEYS_ONLY"
        d["gsis"][3]["partition_key"] = {"name": "transferred_to_id", "type": "S"}
        assert drift(self.spec, described(TableSpec.from_dict(d))) == [
            "GSI 'owner_index': sort key is 'transaction_date' (S), spec wants 'sporting_event_date' (S)",
            "GSI 'transferred_from_index': projection is KEYS_ONLY, spec wants ALL",
            "GSI 'transferred_to_index': partition key 'transferred_to_id' has type S, spec wants N"]

    def test_billing_mode_and_lsi(self) -> None:
        table = described(self.spec)
        table["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
        table["LocalSecondaryIndexes"] = [{"IndexName": "by_price"}]
        assert drift(self.spec, table) == [
            "local secondary index 'by_price' exists but is not in the spec",
            "billing mode is PROVISIONED, spec wants PAY_PER_REQUEST"]

    def test_missing_billing_mode_summary_means_provisioned(self) -> None:
        table = described(self.spec)
        del table["BillingModeSummary"]
        assert drift(self.spec, table) == ["billing mode is PROVISIONED, spec wants PAY_PER_REQUEST"]

    def test_every_difference_is_listed(self) -> None:
        table = described(TableSpec.from_dict(with_changes(CONFIG, name="ticket_sales")))
        assert len(drift(self.spec, table)) == 2 + 4 + 1  # both keys, four missing GSIs, one extra
