"""connectors.dynamodb_scan against the moto server: every item exactly once whatever the segments and page
size, errors raised to the consumer, threads gone when the consumer stops early; BatchGetItem by key."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from connectors.dynamodb_scan import batch_get_items, scan_items, scan_pages

N_ITEMS = 600


@pytest.fixture(scope="module")
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def table(client: Any) -> Iterator[str]:
    """A table of `N_ITEMS` items: 200 partition keys with 3 sort keys each."""
    name = f"scan_{uuid.uuid4().hex[:10]}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])
    for i in range(N_ITEMS):
        client.put_item(TableName=name, Item={"pk": {"N": str(i // 3)}, "sk": {"S": f"s{i % 3}"},
                                              "v": {"S": f"value {i}"}})
    yield name
    client.delete_table(TableName=name)


def keys(items: Iterator[dict[str, Any]]) -> Counter:
    return Counter((int(i["pk"]["N"]), i["sk"]["S"]) for i in items)


def scan_threads(table: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"dynamodb-scan-{table}-")]


@pytest.mark.parametrize("segments,page_size", [(1, None), (4, None), (7, 25), (8, 1000)])
def test_every_item_exactly_once(client: Any, table: str, segments: int, page_size: int | None) -> None:
    got = keys(scan_items(table, client=client, segments=segments, page_size=page_size))
    assert got == Counter({(i // 3, f"s{i % 3}"): 1 for i in range(N_ITEMS)})
    assert not scan_threads(table)


def test_pages_are_bounded_by_page_size(client: Any, table: str) -> None:
    pages = [len(p) for p in scan_pages(table, client=client, segments=3, page_size=40)]
    assert sum(pages) == N_ITEMS and max(pages) <= 40 and len(pages) >= N_ITEMS // 40


def test_projection_passes_through(client: Any, table: str) -> None:
    items = list(scan_items(table, client=client, segments=2, ProjectionExpression="pk"))
    assert len(items) == N_ITEMS and all(set(i) == {"pk"} for i in items)


def test_stopping_early_ends_the_threads(client: Any, table: str) -> None:
    it = scan_items(table, client=client, segments=4, page_size=10)
    first = [next(it) for _ in range(5)]
    assert len(first) == 5
    it.close()
    assert not scan_threads(table)


def test_a_failing_segment_raises(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        list(scan_items(f"missing_{uuid.uuid4().hex[:8]}", client=client, segments=3))


def test_bad_segments() -> None:
    with pytest.raises(ValueError, match="segments must be >= 1"):
        list(scan_items("t", client=None, segments=0))


def test_batch_get_items(client: Any, table: str) -> None:
    wanted = [{"pk": {"N": str(i)}, "sk": {"S": "s1"}} for i in range(0, 200, 2)]  # 100 keys...
    wanted += [{"pk": {"N": str(i)}, "sk": {"S": "s2"}} for i in range(50)]  # ...then a second batch
    wanted.append({"pk": {"N": "999999"}, "sk": {"S": "s0"}})  # no such item
    got = keys(batch_get_items(table, wanted, client=client))
    assert got == Counter({(int(k["pk"]["N"]), k["sk"]["S"]): 1 for k in wanted[:-1]})


class _Unprocessing:
    """A client whose BatchGetItem leaves the last key unprocessed `times` times (DynamoDB does under load)."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times, self.calls = client, times, 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        (table, request), = RequestItems.items()
        if self.times <= 0 or len(request["Keys"]) == 0:
            return self.client.batch_get_item(RequestItems=RequestItems)
        self.times -= 1
        *done, held_back = request["Keys"]
        response = self.client.batch_get_item(RequestItems={table: {**request, "Keys": done}}) if done else {}
        return {**response, "UnprocessedKeys": {table: {**request, "Keys": [held_back]}}}


def test_batch_get_items_retries_unprocessed_keys(client: Any, table: str) -> None:
    wanted = [{"pk": {"N": str(i)}, "sk": {"S": "s0"}} for i in range(3)]
    flaky = _Unprocessing(client, times=2)
    got = keys(batch_get_items(table, wanted, client=flaky, sleep=lambda _: None))
    assert got == Counter({(i, "s0"): 1 for i in range(3)}) and flaky.calls == 3
    with pytest.raises(RuntimeError, match="still unprocessed after 2 BatchGetItem attempts"):
        list(batch_get_items(table, wanted, client=_Unprocessing(client, times=5), max_attempts=2,
                             sleep=lambda _: None))
