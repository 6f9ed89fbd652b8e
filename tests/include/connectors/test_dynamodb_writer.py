"""write_items / count_items / CapacityShareLimiter against the moto server.

Throttling is simulated by `ThrottlingClient`: a real boto3 client to moto whose batch_write_item writes
only part of each request for its first calls and hands the rest back as UnprocessedItems, as DynamoDB
does when a partition runs out of capacity.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from connectors.dynamodb_writer import (
    CapacityShareLimiter,
    UnprocessedItemsError,
    count_items,
    count_items_by,
    item_size_bytes,
    write_items,
    write_units,
)

KEYS = ("pk", "sk")


@pytest.fixture
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture
def table(client: Any) -> Iterator[str]:
    """A fresh on-demand table keyed (pk N, sk S), deleted afterwards."""
    name = f"writer_{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    yield name
    client.delete_table(TableName=name)


def make_items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"pk": {"N": str(i // 3)}, "sk": {"S": f"item|{i % 3}"}, "kind": {"S": "even" if i % 2 == 0 else "odd"},
             "price": {"N": f"{i}.50"}} for i in range(start, start + n)]


class ThrottlingClient:
    """Proxy of a real client: the first `throttled_calls` BatchWriteItem calls process only `keep` items."""

    def __init__(self, client: Any, throttled_calls: int, keep: int = 10) -> None:
        self._client = client
        self.throttled_calls = throttled_calls
        self.keep = keep
        self.calls: list[int] = []  # request size of every call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, *, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if len(self.calls) > self.throttled_calls:
            return self._client.batch_write_item(RequestItems=RequestItems)
        processed, unprocessed = requests[:self.keep], requests[self.keep:]
        response = self._client.batch_write_item(RequestItems={table: processed}) if processed else {}
        assert not response.get("UnprocessedItems")
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class TestWriteItems:
    def test_writes_and_counts_1000_items(self, client: Any, table: str) -> None:
        calls = ThrottlingClient(client, throttled_calls=0)
        assert write_items(make_items(1000), table=table, key_names=KEYS, client=calls) == 1000
        assert calls.calls == [25] * 40
        assert count_items(table, client=client) == 1000
        assert count_items(table, client=client, segments=1) == 1000
        assert count_items(table, client=client, segments=7, filter_expression="#k = :k",
                           expression_names={"#k": "kind"}, expression_values={":k": {"S": "odd"}}) == 500

    def test_counts_by_attribute_in_one_scan(self, client: Any, table: str) -> None:
        items = make_items(61)
        items[5] = {k: v for k, v in items[5].items() if k != "kind"}  # no kind: counted under None
        items[6]["kind"] = {"N": "1"}  # not a string: no known kind either
        write_items(items, table=table, key_names=KEYS, client=client)
        scans: list[dict[str, Any]] = []
        pages: list[int] = []

        class Paging:
            def get_paginator(self, name: str) -> Any:
                real = client.get_paginator(name)

                class Paginator:
                    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                        scans.append(kwargs)
                        for page in real.paginate(**kwargs, PaginationConfig={"PageSize": 9}):
                            pages.append(len(page["Items"]))
                            yield page

                return Paginator()

        assert count_items_by(table, "kind", client=Paging(), segments=3) == {"even": 30, "odd": 29, None: 2}
        assert {s["ProjectionExpression"] for s in scans} == {"#a"}
        assert len(pages) >= 61 // 9  # pages of every segment followed, the table read once
        assert count_items_by(table, "missing", client=client) == {None: 61}

    def test_count_follows_last_evaluated_key(self, client: Any, table: str) -> None:
        write_items(make_items(60), table=table, key_names=KEYS, client=client)
        pages: list[int] = []

        class Paging:
            def scan(self, **kwargs: Any) -> dict[str, Any]:
                response = client.scan(**kwargs, Limit=7)
                pages.append(response["Count"])
                return response

        assert count_items(table, client=Paging(), segments=2) == 60
        assert len(pages) >= 60 // 7

    def test_resubmits_unprocessed_items_with_growing_delays(self, client: Any, table: str) -> None:
        throttled = ThrottlingClient(client, throttled_calls=3, keep=5)
        sleeps = Sleeps()
        assert write_items(make_items(60), table=table, key_names=KEYS, client=throttled, sleep=sleeps,
                           rng=lambda: 1.0) == 60
        assert throttled.calls[:4] == [25, 20, 15, 10]  # 5 items get through per throttled call
        assert sleeps == [0.05, 0.1, 0.2]
        assert count_items(table, client=client) == 60

    def test_full_jitter_is_capped(self, client: Any, table: str) -> None:
        sleeps = Sleeps()
        write_items(make_items(25), table=table, key_names=KEYS, client=ThrottlingClient(client, 4, keep=1),
                    sleep=sleeps, rng=lambda: 0.5, base_delay_s=1.0, max_delay_s=3.0)
        assert sleeps == [0.5, 1.0, 1.5, 1.5]

    def test_gives_up_after_max_attempts(self, client: Any, table: str) -> None:
        sleeps = Sleeps()
        with pytest.raises(UnprocessedItemsError) as err:
            write_items(make_items(30), table=table, key_names=KEYS, client=ThrottlingClient(client, 99, keep=5),
                        sleep=sleeps, rng=lambda: 1.0, max_attempts=3)
        assert err.value.remaining == 10 and err.value.attempts == 3 and err.value.written == 15
        assert str(err.value).startswith(f"10 item(s) for DynamoDB table {table} still unprocessed after 3 "
                                         "BatchWriteItem attempts (15 item(s) written before)")
        assert sleeps == [0.05, 0.1]
        assert count_items(table, client=client) == 15

    def test_retries_a_throttled_request(self, client: Any, table: str) -> None:
        class Refusing(ThrottlingClient):
            def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
                self.calls.append(1)
                if len(self.calls) == 1:
                    raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                                 "Message": "slow down"}}, "BatchWriteItem")
                return self._client.batch_write_item(RequestItems=RequestItems)

        sleeps = Sleeps()
        assert write_items(make_items(5), table=table, key_names=KEYS, client=Refusing(client, 0), sleep=sleeps,
                           rng=lambda: 1.0) == 5
        assert sleeps == [0.05]

    def test_other_errors_propagate(self, client: Any) -> None:
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            write_items(make_items(1), table=f"missing_{uuid.uuid4().hex[:8]}", key_names=KEYS, client=client,
                        max_attempts=1)

    def test_duplicate_keys_in_a_batch(self, client: Any, table: str) -> None:
        items = make_items(30)
        items[28] = {**items[28], "pk": items[27]["pk"], "sk": items[27]["sk"]}
        with pytest.raises(ValueError, match=r"duplicate key \{'pk': \{'N': '9'\}, 'sk': \{'S': 'item\|0'\}\} "
                                             "within one BatchWriteItem batch"):
            write_items(items, table=table, key_names=KEYS, client=client)
        assert count_items(table, client=client) == 25  # the first batch was written, the second not at all

    def test_same_key_in_different_batches_is_allowed(self, client: Any, table: str) -> None:
        items = make_items(25) + make_items(1)
        assert write_items(items, table=table, key_names=KEYS, client=client) == 26
        assert count_items(table, client=client) == 25

    def test_missing_key_attribute(self, client: Any, table: str) -> None:
        with pytest.raises(ValueError, match="item has no key attribute 'sk'"):
            write_items([{"pk": {"N": "1"}}], table=table, key_names=KEYS, client=client)

    def test_rate_limiter_gets_every_request(self, client: Any, table: str) -> None:
        acquired: list[float] = []

        class Recorder(CapacityShareLimiter):
            def acquire(self, units: float) -> float:
                acquired.append(units)
                return 0.0

        big = [{**item, "blob": {"S": "x" * 1500}} for item in make_items(30)]  # 2 WCU each
        write_items(big, table=table, key_names=KEYS, client=ThrottlingClient(client, 1, keep=20),
                    rate_limiter=Recorder(100, 1), sleep=Sleeps())
        assert acquired == [50, 10, 10]  # 25 items, the 5 unprocessed ones again, then the last 5


class TestCapacityShareLimiter:
    class FakeTime:
        def __init__(self) -> None:
            self.now = 100.0
            self.sleeps: list[float] = []

        def clock(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            self.now += seconds

    def test_throttles_to_the_share(self) -> None:
        t = self.FakeTime()
        limiter = CapacityShareLimiter(100, 0.25, clock=t.clock, sleep=t.sleep)
        assert limiter.rate == 25
        for _ in range(100):
            limiter.acquire(1)
        # the first second's 25 units come from the full bucket, the other 75 at 25 per second
        assert t.now - 100 == pytest.approx(3.0)
        for _ in range(250):
            limiter.acquire(2)
        assert t.now - 100 == pytest.approx(3.0 + 500 / 25)

    def test_idle_time_refills_at_most_one_second(self) -> None:
        t = self.FakeTime()
        limiter = CapacityShareLimiter(10, 0.5, clock=t.clock, sleep=t.sleep)
        assert limiter.acquire(5) == 0
        t.now += 60  # a long pause banks only one second (5 units)
        assert limiter.acquire(5) == 0
        assert limiter.acquire(5) == pytest.approx(1.0)

    def test_request_larger_than_the_bucket(self) -> None:
        t = self.FakeTime()
        limiter = CapacityShareLimiter(10, 1, clock=t.clock, sleep=t.sleep)
        assert limiter.acquire(50) == pytest.approx(4.0)  # 10 in the bucket, 40 more at 10 per second
        assert limiter.acquire(10) == pytest.approx(1.0)

    @pytest.mark.parametrize(("capacity", "share"), [(0, 0.5), (-1, 0.5), (10, 0), (10, 1.5)])
    def test_invalid_arguments(self, capacity: float, share: float) -> None:
        with pytest.raises(ValueError):
            CapacityShareLimiter(capacity, share)


def test_item_size_and_write_units() -> None:
    item = {"id": {"N": "12345"}, "name": {"S": "héllo"}, "tags": {"SS": ["a", "bc"]}, "ok": {"BOOL": True},
            "m": {"M": {"k": {"S": "v"}}}, "l": {"L": [{"N": "1"}, {"NULL": True}]}}
    # names 2+4+4+2+1+1, N 12345 -> 3+1, S 6 bytes, SS 3, BOOL 1, M 3+1+1+1, L 3+(1+2)+(1+1)
    assert item_size_bytes(item) == 14 + 4 + 6 + 3 + 1 + 6 + 8
    assert write_units(item) == 1
    assert write_units({"id": {"S": "x" * 1024}}) == 2
    assert write_units({}) == 1
