"""Bulk writes to DynamoDB from Spark/Glue executors, and an exact item count for validation (boto3, no Airflow).

`write_items` sends BatchWriteItem requests of 25 PutRequests and resubmits `UnprocessedItems` (what
DynamoDB returns when a partition is throttled) with exponential backoff and full jitter until none are
left, optionally throttled by a `CapacityShareLimiter` so that a load uses only its share of the table's
write capacity. Items must already be in attribute-value form (`{"id": {"N": "1"}}`) and unique by key
within one batch: DynamoDB rejects a request that puts the same key twice, and so does `write_items`,
before sending anything of that batch. Pass a `WriteStats` to count the throttling a load met.

`count_items` counts with a parallel Scan (`Select=COUNT`), `count_items_by` counts every kind of item in one
Scan; DescribeTable's `ItemCount` is refreshed only about every six hours, so it cannot validate a load.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from connectors.dynamodb_scan import scan_pages, throttled
from connectors.retry import Unfinished, drain
from transforms.dynamo_items import item_size_bytes

BATCH_SIZE = 25  # BatchWriteItem's limit

Item = Mapping[str, Mapping[str, Any]]


class UnprocessedItemsError(RuntimeError):
    """DynamoDB still returned unprocessed items after the last allowed attempt."""

    def __init__(self, table: str, remaining: int, attempts: int, written: int) -> None:
        super().__init__(f"{remaining} item(s) for DynamoDB table {table} still unprocessed after {attempts} "
                         f"BatchWriteItem attempts ({written} item(s) written before); the table is being "
                         "throttled: lower the write rate or raise max_attempts")
        self.table = table
        self.remaining = remaining
        self.attempts = attempts
        self.written = written


@dataclass
class WriteStats:
    """What `write_items` met on its way, for logs and the job report; add up the stats of several writers.

    botocore retries a throttled request by itself (`sdk_retries`, from `ResponseMetadata.RetryAttempts`)
    before `write_items` sees an error; `throttled_requests` are the requests refused even so, and
    `unprocessed_items` the items DynamoDB handed back. Each of those was resubmitted.
    """

    requests: int = 0  # BatchWriteItem calls write_items made
    sdk_retries: int = 0  # retries botocore made inside those calls (throttling, 5xx)
    throttled_requests: int = 0  # calls that still ended in a throttling error
    unprocessed_items: int = 0  # items returned as UnprocessedItems

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _sdk_retries(response: Mapping[str, Any]) -> int:
    return int((response.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)


def write_units(item: Item) -> int:
    """Write capacity units one put of `item` consumes: 1 per started KiB."""
    return max(1, math.ceil(item_size_bytes(item) / 1024))


class CapacityShareLimiter:
    """Token bucket limiting writes to `share` × `write_capacity_units_per_s` WCU per second.

    Use the table's provisioned WCU, or, for an on-demand table, the rate the job may use. The bucket
    holds at most one second of tokens and starts full; a request larger than that runs into debt and
    the next one waits it off, so any request size works. Thread-safe.

    :param write_capacity_units_per_s: The table's write capacity, WCU per second (> 0).
    :param share: The fraction of it this writer may use, in (0, 1].
    :param clock: Monotonic clock in seconds. Default `time.monotonic`.
    :param sleep: Sleep function. Default `time.sleep`.
    """

    def __init__(self, write_capacity_units_per_s: float, share: float, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not write_capacity_units_per_s > 0:
            raise ValueError(f"write_capacity_units_per_s must be > 0, got {write_capacity_units_per_s}")
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.rate = write_capacity_units_per_s * share
        self._clock = clock
        self._sleep = sleep
        self._capacity = self.rate  # one second of burst
        self._tokens = self._capacity
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, units: float) -> float:
        """Take `units` WCU, sleeping first if the bucket runs short; return the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + max(0.0, now - self._last) * self.rate)
            self._last = max(self._last, now)
            self._tokens -= units
            if self._tokens >= 0:
                return 0.0
            delay = -self._tokens / self.rate
            self._sleep(delay)
            self._tokens = 0.0
            self._last += delay
            return delay


def _key_of(item: Item, key_names: tuple[str, ...]) -> tuple[Any, ...]:
    try:
        return tuple(tuple(sorted((t, str(v)) for t, v in item[k].items())) for k in key_names)
    except KeyError as err:
        raise ValueError(f"item has no key attribute {err.args[0]!r}: {dict(item)!r}"[:500]) from None


def _check_unique_keys(batch: list[Item], key_names: tuple[str, ...], table: str) -> None:
    seen: set[tuple[Any, ...]] = set()
    for item in batch:
        key = _key_of(item, key_names)
        if key in seen:
            shown = {k: dict(item[k]) for k in key_names}
            raise ValueError(f"duplicate key {shown} within one BatchWriteItem batch for table {table}; "
                             "DynamoDB rejects the whole request - deduplicate the items by key first")
        seen.add(key)


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def write_items(items: Iterable[Item], *, table: str, key_names: tuple[str, ...], client: Any = None,
                max_attempts: int = 10, base_delay_s: float = 0.05, max_delay_s: float = 5.0,
                sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random,
                rate_limiter: CapacityShareLimiter | None = None, stats: WriteStats | None = None,
                delete: bool = False) -> int:
    """Put `items` into `table` with BatchWriteItem, 25 at a time; return how many were written.

    Unprocessed items (and whole requests refused with a throttling error) are resubmitted after a
    full-jitter backoff: `rng() * min(max_delay_s, base_delay_s * 2 ** (attempt - 1))` seconds. A batch
    still not fully written after `max_attempts` calls raises `UnprocessedItemsError`. Items of one batch
    must have distinct keys (`key_names`: the table's partition and sort key names), else `ValueError`.

    :param items: Items in attribute-value form, e.g. ``{"id": {"N": "1"}, "name": {"S": "x"}}``.
    :param table: Table name.
    :param key_names: The table's key attribute names, partition key first.
    :param client: A boto3 DynamoDB client; `boto3.client("dynamodb")` if None.
    :param rate_limiter: Takes each request's write units before it is sent (resubmissions included).
    :param stats: Incremented with the requests made and the throttling met (see `WriteStats`).
    :param delete: `items` are keys to delete (DeleteRequests; deleting a missing item is not an error).
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if not key_names:
        raise ValueError("key_names must name the table's key attributes")
    if client is None:
        import boto3

        client = boto3.client("dynamodb")
    if stats is None:
        stats = WriteStats()
    request, part = ("DeleteRequest", "Key") if delete else ("PutRequest", "Item")
    written = 0
    for batch in _chunks(items, BATCH_SIZE):
        _check_unique_keys(batch, key_names, table)
        def send(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if rate_limiter is not None:
                rate_limiter.acquire(sum(write_units(r[request][part]) for r in pending))
            stats.requests += 1
            try:
                response = client.batch_write_item(RequestItems={table: pending})
            except ClientError as err:
                stats.sdk_retries += _sdk_retries(err.response)
                if throttled(err):
                    stats.throttled_requests += 1
                raise
            left = list((response.get("UnprocessedItems") or {}).get(table, []))
            stats.sdk_retries += _sdk_retries(response)
            stats.unprocessed_items += len(left)
            return left

        try:
            drain(send, [{request: {part: item}} for item in batch], attempts=max_attempts, throttled=throttled,
                  base_delay_s=base_delay_s, max_delay_s=max_delay_s, sleep=sleep, rng=rng)
        except Unfinished as left:
            raise UnprocessedItemsError(table, len(left.remaining), left.attempts,
                                        written + len(batch) - len(left.remaining)) from None
        written += len(batch)
    return written


def count_items(table: str, *, client: Any = None, segments: int = 4, filter_expression: str | None = None,
                expression_values: Mapping[str, Any] | None = None,
                expression_names: Mapping[str, str] | None = None, consistent_read: bool = True) -> int:
    """Count the items of `table` (matching `filter_expression`, if given) with a parallel COUNT Scan.

    Each of `segments` threads scans one segment and follows `LastEvaluatedKey` to its end. The scan
    reads the whole table (a filter reduces the count, not the read capacity used): to count several
    kinds of item, `count_items_by` reads the table once for all of them.

    :param filter_expression: A Scan FilterExpression, e.g. ``"item_type = :t"``.
    :param expression_values: Its ExpressionAttributeValues, e.g. ``{":t": {"S": "AVAILABLE"}}``.
    :param expression_names: Its ExpressionAttributeNames, e.g. ``{"#s": "seat"}``.
    :param consistent_read: Strongly consistent reads, so just-written items are counted. Default True.
    """
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    if client is None:
        import boto3

        client = boto3.client("dynamodb")
    base: dict[str, Any] = {"TableName": table, "Select": "COUNT", "TotalSegments": segments,
                            "ConsistentRead": consistent_read}
    if filter_expression is not None:
        base["FilterExpression"] = filter_expression
    if expression_values:
        base["ExpressionAttributeValues"] = dict(expression_values)
    if expression_names:
        base["ExpressionAttributeNames"] = dict(expression_names)

    def count_segment(segment: int) -> int:
        kwargs = {**base, "Segment": segment}
        total = 0
        while True:
            response = client.scan(**kwargs)
            total += response["Count"]
            if "LastEvaluatedKey" not in response:
                return total
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="dynamodb-count") as pool:
        return sum(pool.map(count_segment, range(segments)))


def count_items_by(table: str, attribute: str, *, client: Any, segments: int = 4,
                   consistent_read: bool = True) -> dict[str | None, int]:
    """The items of `table` counted by the value of one string attribute (None: items without it), in one
    parallel Scan (`connectors.dynamodb_scan`) that projects only that attribute: one read of the table for
    every kind of item."""
    counts: Counter = Counter()
    for page in scan_pages(table, client=client, segments=segments, consistent_read=consistent_read,
                           ProjectionExpression="#a", ExpressionAttributeNames={"#a": attribute}):
        counts.update(item.get(attribute, {}).get("S") for item in page)
    return dict(counts)
