"""The one retry loop (`connectors.retry`), as each caller uses it: a call asked again, a batch drained."""

from __future__ import annotations

import pytest

from connectors.retry import Unfinished, backoff, drain, retry


class Busy(Exception):
    pass


def test_backoff_is_full_jitter_capped() -> None:
    assert [backoff(a, rng=lambda: 1.0) for a in (1, 2, 3)] == [0.05, 0.1, 0.2]
    assert backoff(30, rng=lambda: 1.0) == 5.0 and backoff(3, rng=lambda: 0.0) == 0.0


def test_retry_calls_again_what_may_be_retried_and_nothing_else() -> None:
    calls, waits, told = [], [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Busy
        return "done"

    assert retry(flaky, retryable=lambda e: isinstance(e, Busy), attempts=5, sleep=waits.append, rng=lambda: 1.0,
                 on_retry=lambda a, e, d: told.append(a)) == "done"
    assert len(calls) == 3 and waits == [0.05, 0.1] and told == [1, 2]
    with pytest.raises(Busy):  # the last attempt's error
        retry(lambda: (_ for _ in ()).throw(Busy()), retryable=lambda e: True, attempts=2, sleep=lambda _: None)
    with pytest.raises(KeyError):  # not retryable: raised at once
        retry(lambda: {}["x"], retryable=lambda e: isinstance(e, Busy), attempts=5, sleep=pytest.fail)
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        retry(lambda: 1, retryable=lambda e: True, attempts=0)


def test_drain_sends_what_is_left_until_nothing_is() -> None:
    sent: list[list[int]] = []

    def send(batch: list[int]) -> list[int]:  # half of each batch comes back unprocessed, then a throttled call
        sent.append(batch)
        if len(sent) == 2:
            raise Busy
        return batch[len(batch) // 2:] if len(batch) > 1 else []

    assert drain(send, [1, 2, 3, 4], attempts=10, throttled=lambda e: isinstance(e, Busy), sleep=lambda _: None) == 4
    assert sent == [[1, 2, 3, 4], [3, 4], [3, 4], [4]]  # the throttled call is made again whole
    with pytest.raises(Unfinished) as stuck:  # never done: what is left, after how many sends
        drain(lambda b: b, [1, 2], attempts=3, sleep=lambda _: None)
    assert stuck.value.remaining == [1, 2] and stuck.value.attempts == 3
    with pytest.raises(Unfinished) as throttled_last:  # throttled to the end: nothing of it is done
        drain(lambda b: (_ for _ in ()).throw(Busy()), [7], attempts=2, throttled=lambda e: True, sleep=lambda _: None)
    assert throttled_last.value.remaining == [7]
