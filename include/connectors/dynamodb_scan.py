"""Read every item of a DynamoDB table with a parallel Scan (one thread per segment, each with its own
paginator), and given items by key with BatchGetItem.

A single Scan reads one partition after another; `TotalSegments` splits the table so `segments` threads read
at once, which is how a full reconciliation stays within the cost of one scan. Pages come back through a
bounded queue, so memory holds a few pages, never the table; the consumer sees items in no particular order.
Closing the iterator early stops the threads after their current page. boto3 clients are thread-safe (one
client is shared); the caller passes it (`DynamoDBTablesHook.conn` in Airflow). No Airflow imports.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from connectors.retry import Unfinished, drain

__all__ = ["BATCH_GET_SIZE", "DEFAULT_SEGMENTS", "THROTTLING_ERRORS", "batch_get_items", "scan_items", "scan_pages",
           "throttled"]

DEFAULT_SEGMENTS = 4
BATCH_GET_SIZE = 100  # BatchGetItem's limit
# what DynamoDB answers when a partition or the account is over its rate: the request may be sent again as it was
THROTTLING_ERRORS = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                               "RequestLimitExceeded"})


def throttled(exc: BaseException) -> bool:
    """Whether `exc` is DynamoDB refusing a whole request for its rate (`THROTTLING_ERRORS`)."""
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in THROTTLING_ERRORS
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer is gone


class _Done:
    """A segment's end marker; `error` when the segment failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def scan_pages(table: str, *, client: Any, segments: int = DEFAULT_SEGMENTS, consistent_read: bool = True,
               page_size: int | None = None, **scan_kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """Every page (its `Items`) of a parallel Scan of `table`, as the segments deliver them.

    :param segments: parallel segments, each read by its own thread and paginator.
    :param consistent_read: strongly consistent reads, so items written just before are seen. Default True.
    :param page_size: items per Scan request (`Limit`); default DynamoDB's 1 MB pages.
    :param scan_kwargs: further Scan arguments (`ProjectionExpression`, `FilterExpression`, ...).
    A failing segment's error is raised here, once the pages before it are consumed.
    """
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    request: dict[str, Any] = {"TableName": table, "TotalSegments": segments, "ConsistentRead": consistent_read,
                               **scan_kwargs}
    if page_size:
        request["PaginationConfig"] = {"PageSize": page_size}
    pages: queue.Queue[Any] = queue.Queue(maxsize=2 * segments)
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                pages.put(value, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def read(segment: int) -> None:
        try:
            for page in client.get_paginator("scan").paginate(**request, Segment=segment):
                if not put(page.get("Items", [])):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Done(err))
            return
        put(_Done())

    threads = [threading.Thread(target=read, args=(s,), name=f"dynamodb-scan-{table}-{s}", daemon=True)
               for s in range(segments)]
    for t in threads:
        t.start()
    try:
        done = 0
        while done < segments:
            got = pages.get()
            if isinstance(got, _Done):
                if got.error is not None:
                    raise got.error
                done += 1
            else:
                yield got
    finally:
        stop.set()
        for t in threads:
            t.join()


def scan_items(table: str, *, client: Any, segments: int = DEFAULT_SEGMENTS, consistent_read: bool = True,
               page_size: int | None = None, **scan_kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of `table` (low-level attribute-value maps), read by a parallel Scan (`scan_pages`)."""
    for page in scan_pages(table, client=client, segments=segments, consistent_read=consistent_read,
                           page_size=page_size, **scan_kwargs):
        yield from page


def batch_get_items(table: str, keys: Sequence[dict[str, dict]], *, client: Any, consistent_read: bool = True,
                    max_attempts: int = 10, sleep: Callable[[float], None] = time.sleep) -> Iterator[dict[str, Any]]:
    """The items of `keys` that exist, 100 keys per BatchGetItem; `UnprocessedKeys` (and a request throttled whole)
    are asked again with full-jitter backoff (`connectors.retry.drain`), at most `max_attempts` times per batch
    (then RuntimeError)."""
    for i in range(0, len(keys), BATCH_GET_SIZE):
        found: list[dict[str, Any]] = []

        def send(pending: list[dict[str, dict]], found: list[dict[str, Any]] = found) -> list[dict[str, dict]]:
            response = client.batch_get_item(RequestItems={table: {"Keys": pending,
                                                                   "ConsistentRead": consistent_read}})
            found.extend(response.get("Responses", {}).get(table, []))
            return (response.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", [])

        try:
            drain(send, list(keys[i:i + BATCH_GET_SIZE]), attempts=max_attempts, throttled=throttled, sleep=sleep)
        except Unfinished as left:
            raise RuntimeError(f"{len(left.remaining)} key(s) of {table} still unprocessed after {left.attempts} "
                               "BatchGetItem attempts") from None
        yield from found
