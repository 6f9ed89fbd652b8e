"""transforms.ordered_map, and the reconciliation's source pass spread over processes by it: the same winners,
counts and orphans as in one process."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import SPEC_DIR
from tests.include.transforms.test_children import library_entities, spec_at
from transforms import ordered_map as om
from transforms.dsql_expected import expected_tables
from transforms.ordered_map import Aside
from transforms.spec import load_spec


def _pid_of(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_items_come_back_in_order_the_first_ones_mapped_here_the_rest_by_workers() -> None:
    out = list(om.ordered_map(_pid_of, range(1000), workers=2, serial=100, chunk=7))
    assert [v for v, _ in out] == [x * x for x in range(1000)]
    here = os.getpid()
    assert {p for _, p in out[:100]} == {here}
    assert here not in {p for _, p in out[100:]} and 1 <= len({p for _, p in out[100:]}) <= 2


@pytest.mark.parametrize("workers, items", [(1, 500), (2, 100), (2, 0)])
def test_one_worker_or_a_short_stream_starts_no_process(workers: int, items: int) -> None:
    out = list(om.ordered_map(_pid_of, range(items), workers=workers, serial=100, chunk=7))
    assert [v for v, _ in out] == [x * x for x in range(items)]
    assert {p for _, p in out} <= {os.getpid()}


def _fails_at_500(x: int) -> int:
    if x == 500:
        raise ValueError("item 500")
    return x


def test_an_error_in_a_worker_is_raised_here() -> None:
    with pytest.raises(ValueError, match="item 500"):
        list(om.ordered_map(_fails_at_500, range(1000), workers=2, serial=10, chunk=7))


def test_the_stream_is_read_no_further_ahead_than_the_chunks_in_flight() -> None:
    pulled = 0

    def source() -> Iterator[int]:
        nonlocal pulled
        for x in range(10_000):
            pulled += 1
            yield x

    ahead = 0
    for consumed, _ in enumerate(om.ordered_map(_pid_of, source(), workers=2, serial=10, chunk=50), start=1):
        ahead = max(ahead, pulled - consumed)
    assert ahead <= (2 * 2 + 1) * 50  # two chunks a worker in flight, and the one being handed out


def _same(a: Any, b: Any) -> None:
    assert (a.winners, a.documents, a.rejected, a.duplicates, a.orphans) == (
        b.winners, b.documents, b.rejected, b.duplicates, b.orphans)


def test_a_generated_collection_reconciles_alike_across_processes(tmp_path: Path, monkeypatch: Any) -> None:
    """The movie generator's collection with its bad input: duplicates, rejects, orphans."""
    from generators.movie_collection import write

    path = tmp_path / "movies.json"
    write(path, movies=60, seed=3, bad_input=True)
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    spec = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
    serial = expected_tables(lambda: iter(lines), spec, lambda e, ids: set(), workers=1)
    monkeypatch.setattr(om, "SERIAL", 37)
    monkeypatch.setattr(om, "CHUNK", 11)
    spread = expected_tables(lambda: iter(lines), spec, lambda e, ids: set(), workers=2)
    _same(spread, serial)
    assert serial.rejected and sum(serial.duplicates.values()) and serial.orphans


def test_child_rows_and_ties_reconcile_alike_across_processes(tmp_path: Path, monkeypatch: Any) -> None:
    """Books with child rows, re-exported (the same `_id` with another text: a tie, won by the greater text, whose
    child rows replace the others'), across the serial and the forked part of the stream."""
    spec = spec_at(tmp_path, library_entities())

    def book(oid: int, n: int, editions: list[int] | None, title: str = "t") -> str:
        doc: dict[str, Any] = {"_id": {"$oid": f"{oid:024x}"}, "type": "book", "title": title,
                               "author_id": f"a{n % 3}", "genre_ids": [f"g{n % 2}"]}
        if editions is not None:
            doc["meta"] = {"editions": [{"year": 2000 + y} for y in editions]}
        return json.dumps(doc)

    lines = [json.dumps({"_id": f"a{i}", "type": "author", "name": f"A{i}"}) for i in range(3)]
    lines += [json.dumps({"_id": f"g{i}", "type": "genre"}) for i in range(2)]
    for n in range(40):
        lines.append(book(1000 + n, n, [1, 2, 3]))
    for n in range(40):  # again: a greater text with one edition, a smaller one without editions, another book
        lines.append(book(1000 + n, n, [4], title="u") if n % 3 == 0 else book(1000 + n, n, None, title="a")
                     if n % 3 == 1 else book(2000 + n, n, [5]))
    lines.append('{"_id": {"$oid": "zz"}, "type": "book"}')  # a reject
    serial = expected_tables(lambda: iter(lines), spec, lambda e, ids: set(), workers=1)
    monkeypatch.setattr(om, "SERIAL", 50)
    monkeypatch.setattr(om, "CHUNK", 4)
    spread = expected_tables(lambda: iter(lines), spec, lambda e, ids: set(), workers=2)
    _same(spread, serial)
    assert serial.rejected == 1 and serial.duplicates["book"] == 27
    assert len(serial.winners["editions"]) == 14 * 1 + 13 * 3 + 13 * 3 + 13 * 1


def test_aside_runs_in_another_process_while_the_caller_works() -> None:
    """`Aside` starts at once in a forked process; `result()` returns its value, and the process has ended."""
    side = Aside(lambda: (os.getpid(), sum(range(1000))))
    pid, total = side.result()
    assert pid != os.getpid() and total == 499500
    assert not multiprocessing.active_children()


def test_aside_raises_its_error_and_can_be_cancelled() -> None:
    def fails() -> None:
        raise ValueError("the scan failed")

    with pytest.raises(ValueError, match="the scan failed"):
        Aside(fails).result()
    slow = Aside(lambda: time.sleep(60))
    slow.cancel()  # the caller's own work failed: the process ends unfinished
    assert not multiprocessing.active_children()
