"""Specs of several collections: what the loader refuses, and how a document maps by its collection, with maps keyed
by data, references by natural key and the fields the spec does not map (`unmapped:`, the `_extra` column)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from transforms.adjacency import DocumentMapper, Mapped, Rejected, entity_uuid, natural_index
from transforms.batching import CHILDREN
from transforms.paths import leaf_counts
from transforms.source_text import CollectionText
from transforms.spec import SpecError, load_spec

SPEC_PATH = Path(__file__).resolve().parents[3] / "include" / "specs" / "movie_collection_to_dsql.yaml"
TIER = "0123456789abcdef0123456789abcdef"


def shop_entities() -> dict[str, Any]:
    return {
        "account": {"collection": "accounts", "table": "accounts", "id_field": "_id", "id_column": "account_id",
                    "columns": {"account_no": {"from": "account_no", "type": "bigint", "required": True}}},
        "customer": {"collection": "customers", "table": "customers", "id_field": "_id", "id_column": "customer_id",
                     "columns": {"email": {"from": "email", "type": "text"},
                                 "city": {"from": "address.city", "type": "text"}},
                     "children": {
                         "accounts": {"table": "customer_accounts", "from": "accounts", "parent_column": "customer_id",
                                      "element": {"column": "account_id", "entity": "account", "by": "account_no"}},
                         "tiers": {"table": "customer_tiers", "from": "tiers", "parent_column": "customer_id",
                                   "key_column": "tier_key", "columns": {"tier": {"from": "tier", "type": "text"}}}}},
        "order": {"collection": "orders", "table": "orders", "id_field": "_id", "id_column": "order_id",
                  "columns": {}, "references": {
                      "customer_id": {"entity": "customer", "from": "customer_id"},
                      "placed_by": {"entity": "customer", "from": "placed_by", "by": "email"}}},
    }


def write_spec(tmp_path: Path, entities: dict[str, Any] | None = None, **source: Any) -> Path:
    raw = yaml.safe_load(SPEC_PATH.read_text())
    raw.update(dag_id="shop_to_dsql", entities=entities or shop_entities())
    raw.pop("schedule")
    raw["source"].pop("collection")
    raw["source"].update({"collections": ["accounts", "customers", "orders"], "discriminator": None, **source})
    raw["source"] = {k: v for k, v in raw["source"].items() if v is not None}
    path = tmp_path / "shop_to_dsql.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_spec_of_several_collections_loads_and_old_specs_read_one() -> None:
    assert load_spec(SPEC_PATH).collections == ("movie_collection",)


@pytest.mark.parametrize(("change", "message"), [
    (lambda e, s: e["order"].pop("collection"), "names its `collection`"),
    (lambda e, s: e["order"].update(collection="accounts"), "each of the collections"),
    (lambda e, s: s.update(collection="x"), "give `collection` or `collections`"),
    (lambda e, s: s.update(discriminator="type"), "tells the entities apart by collection"),
    (lambda e, s: e["order"]["references"]["placed_by"].update(by="name"), "no column's `from` of customer"),
    (lambda e, s: e["order"]["references"]["placed_by"].update(by="a.b"), "must be a top-level field"),
    (lambda e, s: e["customer"]["children"]["accounts"].update(key_column="k"), "not of ids"),
])
def test_the_loader_refuses_what_cannot_run(tmp_path: Path, change: Any, message: str) -> None:
    entities, source = shop_entities(), {}
    change(entities, source)
    raw = yaml.safe_load(write_spec(tmp_path, entities).read_text())
    raw["source"].update(source)
    path = tmp_path / "shop_to_dsql.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match=message):
        load_spec(path)


@pytest.mark.parametrize(("unmapped", "message"), [
    ("drop", "must be one of"), ({"contract": "keep", "ignore": ["nobody.x"]}, "the entity one of"),
    ({"contract": "keep", "other": 1}, "must be keep, fail"),
])
def test_the_unmapped_contract_is_checked(tmp_path: Path, unmapped: Any, message: str) -> None:
    raw = yaml.safe_load(write_spec(tmp_path).read_text())
    raw["unmapped"] = unmapped
    (tmp_path / "shop_to_dsql.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match=message):
        load_spec(tmp_path / "shop_to_dsql.yaml")


def line(collection: str, **doc: Any) -> CollectionText:
    return CollectionText(json.dumps(doc), collection)


def mapper(tmp_path: Path, **raw: Any) -> DocumentMapper:
    path = write_spec(tmp_path)
    if raw:
        spec = yaml.safe_load(path.read_text())
        spec.update(raw)
        path.write_text(yaml.safe_dump(spec))
    return DocumentMapper.for_spec(load_spec(path))


ACCOUNTS = [line("accounts", _id={"$oid": "65f000000000000000000002"}, account_no=7),
            line("accounts", _id={"$oid": "65f000000000000000000001"}, account_no=7),
            line("accounts", _id={"$oid": "65f000000000000000000003"}, account_no=8)]


def test_a_document_is_the_entity_of_its_collection(tmp_path: Path) -> None:
    m = mapper(tmp_path).map_line(line("orders", _id={"$oid": "65f000000000000000000009"},
                                       customer_id={"$oid": "65f0000000000000000000aa"}))
    assert isinstance(m, Mapped) and m.entity == "order"
    assert m.row["customer_id"] == entity_uuid("customer#65f0000000000000000000aa")
    plain = mapper(tmp_path).map_line(json.dumps({"_id": 1}))  # no collection: no entity
    assert isinstance(plain, Rejected) and plain.reason == "unknown_entity"


def test_natural_keys_link_the_smallest_id_and_a_missing_one_names_no_row(tmp_path: Path) -> None:
    base = mapper(tmp_path)
    index, duplicated = natural_index(p for text in ACCOUNTS for p in base.natural_keys(text))
    assert duplicated == {("account", "account_no", "7"): 2}
    assert index[("account", "account_no", "7")] == entity_uuid("account#65f000000000000000000001")
    m = base.with_natural(index).map_line(line("customers", _id={"$oid": "65f0000000000000000000aa"},
                                               accounts=[7, 8, 7, 99]))
    assert isinstance(m, Mapped)
    links = [r["account_id"] for r in m.row[CHILDREN]["accounts"]]
    assert links == [index[("account", "account_no", "7")], index[("account", "account_no", "8")],
                     entity_uuid("account#account_no=99")]  # distinct; 99 dangles, kept
    unindexed = base.map_line(line("customers", _id={"$oid": "65f0000000000000000000aa"}, accounts=[7]))
    assert isinstance(unindexed, Rejected) and unindexed.reason == "unmappable"  # never a silent wrong link


def test_a_map_keyed_by_ids_is_a_row_per_key_and_unmapped_fields_are_kept(tmp_path: Path) -> None:
    m = mapper(tmp_path).with_natural({}).map_line(line(
        "customers", _id={"$oid": "65f0000000000000000000aa"}, email="a@x", address={"city": "Oslo", "zip": "0150"},
        tiers={TIER: {"tier": "gold", "since": {"$date": "2024-01-01T00:00:00Z"}}}, gift={"note": "hi"}))
    assert isinstance(m, Mapped)
    (tier,) = m.row[CHILDREN]["tiers"]
    assert (tier["tier_key"], tier["tier"]) == (TIER, "gold")
    assert json.loads(tier["_extra"]) == {"since": "2024-01-01T00:00:00Z"}
    assert json.loads(m.row["_extra"]) == {"address": {"zip": "0150"}, "gift": {"note": "hi"}}
    assert sorted(m.unmapped) == ["address.zip", "gift.note", "tiers.*.since"]
    assert leaf_counts(json.loads(m.row["_extra"])) == {"address.zip": 1, "gift.note": 1}


def test_ignored_paths_are_neither_kept_nor_counted(tmp_path: Path) -> None:
    m = mapper(tmp_path, unmapped={"contract": "keep", "ignore": ["customer.gift"]}).with_natural({}).map_line(
        line("customers", _id={"$oid": "65f0000000000000000000aa"}, gift={"note": "hi"}))
    assert isinstance(m, Mapped) and m.row["_extra"] is None and m.unmapped == ()


def test_a_map_whose_values_are_not_objects_is_rejected(tmp_path: Path) -> None:
    m = mapper(tmp_path).with_natural({}).map_line(line("customers", _id={"$oid": "65f0000000000000000000aa"},
                                                        tiers={TIER: "gold"}))
    assert isinstance(m, Rejected) and m.reason == "bad_type" and f"tiers.{TIER}" in m.detail
