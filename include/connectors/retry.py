"""The one retry loop: a call that may be asked again (a DSQL transaction that met a conflict, a DynamoDB batch that
came back throttled or partly unprocessed) is, after an exponential backoff with full jitter, as AWS advises.

`retry` calls a function until it returns; `drain` sends a batch until nothing of it is left, on top of `retry`.
No boto3 or psycopg here: the callers say what may be retried. Shipped to EMR and Glue in the job bundle.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
BASE_DELAY_S = 0.05
MAX_DELAY_S = 5.0


def backoff(attempt: int, *, base_delay_s: float = BASE_DELAY_S, max_delay_s: float = MAX_DELAY_S,
            rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, …): uniform in [0, min(max, base × 2^(attempt-1)))."""
    return rng() * min(max_delay_s, base_delay_s * 2 ** (attempt - 1))


def retry(fn: Callable[[], T], *, retryable: Callable[[BaseException], bool], attempts: int,
          base_delay_s: float = BASE_DELAY_S, max_delay_s: float = MAX_DELAY_S,
          sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random,
          on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """`fn()`; an exception `retryable` accepts waits `backoff` and calls again, at most `attempts` calls in all
    (then the last exception is raised); any other is raised at once. `on_retry(attempt, exc, delay_s)` is called
    before each wait (to log)."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - `retryable` decides; everything else is raised as it was
            if not retryable(exc) or attempt == attempts:
                raise
            delay = backoff(attempt, base_delay_s=base_delay_s, max_delay_s=max_delay_s, rng=rng)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class Unfinished(Exception):
    """`drain` gave up: `remaining` requests still not done after `attempts` sends."""

    def __init__(self, remaining: list[Any], attempts: int) -> None:
        super().__init__(f"{len(remaining)} request(s) not done after {attempts} attempt(s)")
        self.remaining = remaining
        self.attempts = attempts


def drain(send: Callable[[list[Any]], list[Any]], pending: list[Any], *, attempts: int,
          throttled: Callable[[BaseException], bool] = lambda exc: False, **kwargs: Any) -> int:
    """Send `pending`, then whatever `send` returns as not done (DynamoDB's unprocessed items or keys), until nothing
    is left; a send that raises an error `throttled` accepts is made again whole. Returns the sends made; raises
    `Unfinished` after `attempts` sends with requests left. `kwargs`: `retry`'s backoff, sleep and rng."""
    left, sends = list(pending), 0

    def once() -> None:
        nonlocal left, sends
        sends += 1
        left = send(left)
        if left:
            raise Unfinished(left, sends)

    try:
        retry(once, retryable=lambda exc: isinstance(exc, Unfinished) or throttled(exc), attempts=attempts, **kwargs)
    except Unfinished:
        raise
    except Exception as exc:
        if throttled(exc):  # the last send was throttled whole: nothing of it is done
            raise Unfinished(left, sends) from exc
        raise
    return sends
