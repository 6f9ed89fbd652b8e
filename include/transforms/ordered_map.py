"""A function mapped over a long stream in order, across this machine's CPUs once the stream proves long; and one
call run beside it (`aside`).

The reconciliation re-maps every document of a source (`transforms.dsql_expected`), about 40 µs a document in
Python: on one core a million documents take a minute, on every core of the worker a fraction of it. Short
streams never start a process. Forked workers inherit the function, so it need not pickle; at most two chunks
per worker are in flight, so memory stays bounded however long the stream.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

SERIAL = 20_000  # items mapped in this process before workers are worth their start
CHUNK = 2_000  # items a worker maps per round trip

_fn: Callable[[Any], Any] | None = None  # what forked workers call: set just before the pool forks
_side: Callable[[], Any] | None = None  # what `aside`'s forked process calls


def _apply(chunk: list[Any]) -> list[Any]:
    assert _fn is not None
    return [_fn(x) for x in chunk]


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None,
                serial: int | None = None, chunk: int | None = None) -> Iterator[R]:
    """`fn(x)` for each item, in the items' order. The first `serial` items (default `SERIAL`) are mapped in this
    process; the rest, if any, by `workers` forked processes (default: `cpus()`), `chunk` items at a time (default
    `CHUNK`). With one worker, or where processes cannot fork, every item is mapped here."""
    global _fn
    it = iter(items)
    yield from map(fn, islice(it, SERIAL if serial is None else serial))
    workers = cpus() if workers is None else workers
    chunk = CHUNK if chunk is None else chunk
    first = list(islice(it, chunk))
    if not first:
        return
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(fn, chain(first, it))
        return
    _fn = fn
    chunks = chain([first], iter(lambda: list(islice(it, chunk)), []))
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_plain_exit)
    try:
        pending: deque[Any] = deque()
        for c in chunks:
            pending.append(pool.apply_async(_apply, (c,)))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
    except BaseException:  # an error, or a consumer that stopped early (GeneratorExit): the workers end now
        pool.terminate()
        pool.join()
        raise
    pool.close()  # done: the workers finish their loop and exit
    pool.join()


class Aside(Generic[R]):
    """`fn()` started in a forked process as this is made; `result()` waits for its value (or raises its error),
    `cancel()` ends it unfinished. The caller goes on with other work meanwhile: a database scan beside a mapping
    that keeps the other CPUs busy. Where processes cannot fork, `fn` runs when its result is asked for."""

    def __init__(self, fn: Callable[[], R]) -> None:
        global _side
        self._fn: Callable[[], R] | None = None
        if "fork" not in multiprocessing.get_all_start_methods():
            self._fn = fn
            return
        _side = fn
        self._pool = multiprocessing.get_context("fork").Pool(1, initializer=_plain_exit)
        self._pending = self._pool.apply_async(_call_side)
        self._pool.close()

    def result(self) -> R:
        if self._fn is not None:
            return self._fn()
        try:
            value = self._pending.get()
        except BaseException:
            self.cancel()
            raise
        self._pool.join()  # done: the process ends its loop and exits
        return value

    def cancel(self) -> None:
        if self._fn is None:
            self._pool.terminate()
            self._pool.join()


def _call_side() -> Any:
    assert _side is not None
    return _side()


def _plain_exit() -> None:
    """A worker ends as the pool tells it to: the handlers it was forked with (Airflow's task runner's, coverage's)
    are the task's, not a worker's. A worker that has left its loop (the pool's sentinel came first) finishes its
    exit with SIGTERM held back: a `terminate()` racing it would cut short what runs at exit (coverage saving its
    data left an empty file there, about once a run of the error test)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the task, which ends the pool
    multiprocessing.util.Finalize(None, signal.pthread_sigmask, args=(signal.SIG_BLOCK, {signal.SIGTERM}),
                                  exitpriority=100)
