"""DynamoDB table definitions as typed specs: validation, CreateTable arguments and drift detection.

Pure Python (no boto3, no Airflow): the operator that creates tables, the Glue job that writes them and
the tests all read the same `TableSpec`. A spec comes from the YAML migration spec as a dict::

    {"name": "config", "billing_mode": "PAY_PER_REQUEST",
     "partition_key": {"name": "data_type", "type": "S"}, "sort_key": {"name": "data_id", "type": "S"},
     "gsis": [{"name": "descriptive_name_index", "partition_key": {"name": "descriptive_name", "type": "S"},
               "sort_key": {"name": "data_type", "type": "S"}, "projection": "ALL"}]}

`drift` compares a spec with a DescribeTable `Table` description and lists every difference in words;
nothing here ever changes a table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

AttrType = Literal["S", "N", "B"]
ATTR_TYPES: frozenset[str] = frozenset({"S", "N", "B"})
# INCLUDE needs NonKeyAttributes, which the spec does not carry; PROVISIONED needs throughput settings.
PROJECTIONS: frozenset[str] = frozenset({"ALL", "KEYS_ONLY"})
BILLING_MODES: frozenset[str] = frozenset({"PAY_PER_REQUEST"})
# What ImportTable reads (`import_table_kwargs`): one `{"Item": {...}}` a line, gzipped (`connectors.dynamodb_import`)
IMPORT_FORMAT = "DYNAMODB_JSON"
MAX_GSIS = 20
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")

_TABLE_KEYS = frozenset({"name", "partition_key", "sort_key", "gsis", "billing_mode"})
_GSI_KEYS = frozenset({"name", "partition_key", "sort_key", "projection"})
_ATTR_KEYS = frozenset({"name", "type"})


@dataclass(frozen=True)
class KeyAttr:
    """A key attribute: its name and scalar type (`S` string, `N` number, `B` binary)."""

    name: str
    type: AttrType

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name.encode("utf-8")) <= 255:
            raise ValueError(f"key attribute name must be a string of 1-255 bytes, got {self.name!r}")
        if self.type not in ATTR_TYPES:
            raise ValueError(f"key attribute {self.name!r}: type must be one of S, N, B, got {self.type!r}")

    @classmethod
    def from_dict(cls, d: Any, where: str) -> KeyAttr:
        """Build from `{name, type}`; `where` names the key in error messages."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a mapping with 'name' and 'type', got {d!r}")
        _reject_unknown(d, _ATTR_KEYS, where)
        missing = sorted(_ATTR_KEYS - d.keys())
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        try:
            return cls(name=d["name"], type=d["type"])
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def describe(self) -> str:
        return f"{self.name!r} ({self.type})"


@dataclass(frozen=True)
class GsiSpec:
    """A global secondary index: name, keys and projection type (`ALL` or `KEYS_ONLY`)."""

    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    projection: str = "ALL"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"index name must be 3-255 characters of A-Z a-z 0-9 _ . -, got {self.name!r}")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"index {self.name!r}: projection must be one of {sorted(PROJECTIONS)}, "
                             f"got {self.projection!r}")
        if self.sort_key is not None and self.sort_key.name == self.partition_key.name:
            raise ValueError(f"index {self.name!r}: partition and sort key are both {self.partition_key.name!r}")

    @classmethod
    def from_dict(cls, d: Any, where: str) -> GsiSpec:
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {d!r}")
        _reject_unknown(d, _GSI_KEYS, where)
        for required in ("name", "partition_key"):
            if required not in d:
                raise ValueError(f"{where}: missing {required}")
        where = f"{where} ({d['name']!r})"
        sort_key = d.get("sort_key")
        try:
            return cls(
                name=d["name"],
                partition_key=KeyAttr.from_dict(d["partition_key"], f"{where} partition_key"),
                sort_key=None if sort_key is None else KeyAttr.from_dict(sort_key, f"{where} sort_key"),
                projection=d.get("projection", "ALL"),
            )
        except ValueError as err:
            raise ValueError(str(err) if str(err).startswith(where) else f"{where}: {err}") from None

    @property
    def key_attrs(self) -> tuple[KeyAttr, ...]:
        return (self.partition_key,) if self.sort_key is None else (self.partition_key, self.sort_key)


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table: keys, global secondary indexes and billing mode, checked when created."""

    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    gsis: tuple[GsiSpec, ...] = ()
    billing_mode: str = "PAY_PER_REQUEST"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"table name must be 3-255 characters of A-Z a-z 0-9 _ . -, got {self.name!r}")
        if self.billing_mode not in BILLING_MODES:
            raise ValueError(f"table {self.name!r}: billing_mode must be one of {sorted(BILLING_MODES)}, "
                             f"got {self.billing_mode!r}")
        if self.sort_key is not None and self.sort_key.name == self.partition_key.name:
            raise ValueError(f"table {self.name!r}: partition and sort key are both {self.partition_key.name!r}")
        if len(self.gsis) > MAX_GSIS:
            raise ValueError(f"table {self.name!r}: {len(self.gsis)} GSIs, DynamoDB allows {MAX_GSIS}")
        seen: set[str] = set()
        for gsi in self.gsis:
            if gsi.name in seen:
                raise ValueError(f"table {self.name!r}: GSI {gsi.name!r} is defined twice")
            seen.add(gsi.name)
        types: dict[str, tuple[str, str]] = {}
        for owner, attr in self._all_key_attrs():
            if attr.name in types and types[attr.name][0] != attr.type:
                first_type, first_owner = types[attr.name]
                raise ValueError(f"table {self.name!r}: attribute {attr.name!r} is {first_type} in {first_owner} "
                                 f"but {attr.type} in {owner}")
            types.setdefault(attr.name, (attr.type, owner))

    def _all_key_attrs(self) -> list[tuple[str, KeyAttr]]:
        attrs = [("the table key", self.partition_key)]
        if self.sort_key is not None:
            attrs.append(("the table key", self.sort_key))
        attrs += [(f"GSI {g.name!r}", a) for g in self.gsis for a in g.key_attrs]
        return attrs

    @property
    def key_attrs(self) -> tuple[KeyAttr, ...]:
        return (self.partition_key,) if self.sort_key is None else (self.partition_key, self.sort_key)

    @property
    def attribute_definitions(self) -> dict[str, str]:
        """Every key attribute of the table and its GSIs, once each: name -> type, in first-use order."""
        return {a.name: a.type for _, a in self._all_key_attrs()}

    @classmethod
    def from_dict(cls, d: Any) -> TableSpec:
        """Build and validate a spec from its YAML form; raises `ValueError` naming the table and field."""
        if not isinstance(d, Mapping):
            raise ValueError(f"table spec must be a mapping, got {type(d).__name__}")
        name = d.get("name")
        where = f"table {name!r}" if name is not None else "table spec"
        _reject_unknown(d, _TABLE_KEYS, where)
        for required in ("name", "partition_key"):
            if required not in d:
                raise ValueError(f"{where}: missing {required}")
        gsis = d.get("gsis") or []
        if not isinstance(gsis, list | tuple):
            raise ValueError(f"{where}: gsis must be a list, got {type(gsis).__name__}")
        sort_key = d.get("sort_key")
        return cls(
            name=cast(str, name),
            partition_key=KeyAttr.from_dict(d["partition_key"], f"{where} partition_key"),
            sort_key=None if sort_key is None else KeyAttr.from_dict(sort_key, f"{where} sort_key"),
            gsis=tuple(GsiSpec.from_dict(g, f"{where} gsis[{i}]") for i, g in enumerate(gsis)),
            billing_mode=d.get("billing_mode", "PAY_PER_REQUEST"),
        )


def _reject_unknown(d: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(sorted(allowed))}")


def _key_schema(partition_key: KeyAttr, sort_key: KeyAttr | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key.name, "KeyType": "HASH"}]
    if sort_key is not None:
        schema.append({"AttributeName": sort_key.name, "KeyType": "RANGE"})
    return schema


def create_table_kwargs(spec: TableSpec) -> dict[str, Any]:
    """The keyword arguments of `DynamoDB.Client.create_table` for `spec`."""
    kwargs: dict[str, Any] = {
        "TableName": spec.name,
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t}
                                 for n, t in spec.attribute_definitions.items()],
        "BillingMode": spec.billing_mode,
    }
    if spec.gsis:
        kwargs["GlobalSecondaryIndexes"] = [
            {"IndexName": g.name, "KeySchema": _key_schema(g.partition_key, g.sort_key),
             "Projection": {"ProjectionType": g.projection}}
            for g in spec.gsis
        ]
    return kwargs


def import_table_kwargs(spec: TableSpec, uri: str, token: str) -> dict[str, Any]:
    """The keyword arguments of `DynamoDB.Client.import_table`: the gzipped DynamoDB JSON objects under the S3 prefix
    `uri` (`connectors.dynamodb_import`) into a new table created as `create_table_kwargs` would; `token` (at most
    36 characters) makes a repeated request within 8 hours join the first import instead of starting another."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return {"S3BucketSource": {"S3Bucket": bucket, "S3KeyPrefix": prefix.rstrip("/") + "/"},
            "InputFormat": IMPORT_FORMAT, "InputCompressionType": "GZIP",
            "TableCreationParameters": create_table_kwargs(spec), "ClientToken": token[:36]}


def _keys_of(key_schema: list[dict[str, str]] | None) -> tuple[str | None, str | None]:
    """(partition key name, sort key name) of a described KeySchema."""
    by_type = {k["KeyType"]: k["AttributeName"] for k in key_schema or []}
    return by_type.get("HASH"), by_type.get("RANGE")


def _compare_keys(what: str, want: tuple[KeyAttr, KeyAttr | None], have: tuple[str | None, str | None],
                  types: Mapping[str, str]) -> list[str]:
    diffs = []
    for role, want_attr, have_name in (("partition", want[0], have[0]), ("sort", want[1], have[1])):
        if want_attr is None and have_name is None:
            continue
        have_desc = "none" if have_name is None else f"{have_name!r} ({types.get(have_name, '?')})"
        if want_attr is None:
            diffs.append(f"{what}: sort key is {have_desc}, spec has no sort key")
        elif have_name != want_attr.name:
            diffs.append(f"{what}: {role} key is {have_desc}, spec wants {want_attr.describe()}")
        elif types.get(have_name) != want_attr.type:
            diffs.append(f"{what}: {role} key {have_name!r} has type {types.get(have_name, '?')}, "
                         f"spec wants {want_attr.type}")
    return diffs


def drift(spec: TableSpec, table: Mapping[str, Any]) -> list[str]:
    """Every difference between `spec` and an existing table, as sentences; [] when they match.

    `table` is the `Table` of a DescribeTable response. Compared: table key schema and attribute types,
    GSIs (missing, extra, keys, key types, projection), local secondary indexes (the spec has none) and
    billing mode. Throughput, streams, TTL and tags are not part of the spec and are ignored.
    """
    diffs: list[str] = []
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions") or []}
    diffs += _compare_keys("table key", (spec.partition_key, spec.sort_key), _keys_of(table.get("KeySchema")),
                           types)

    existing = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes") or []}
    for gsi in spec.gsis:
        have = existing.get(gsi.name)
        if have is None:
            diffs.append(f"GSI {gsi.name!r} is missing (spec: partition {gsi.partition_key.describe()}"
                         + (f", sort {gsi.sort_key.describe()}" if gsi.sort_key else "") + ")")
            continue
        what = f"GSI {gsi.name!r}"
        diffs += _compare_keys(what, (gsi.partition_key, gsi.sort_key), _keys_of(have.get("KeySchema")), types)
        projection = (have.get("Projection") or {}).get("ProjectionType")
        if projection != gsi.projection:
            diffs.append(f"{what}: projection is {projection}, spec wants {gsi.projection}")
    wanted = {g.name for g in spec.gsis}
    diffs += [f"GSI {name!r} exists but is not in the spec" for name in sorted(existing) if name not in wanted]
    diffs += [f"local secondary index {lsi['IndexName']!r} exists but is not in the spec"
              for lsi in table.get("LocalSecondaryIndexes") or []]

    # Tables created as PROVISIONED before BillingModeSummary existed do not report it.
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    if billing != spec.billing_mode:
        diffs.append(f"billing mode is {billing}, spec wants {spec.billing_mode}")
    return diffs
