"""Progress lines of a Spark job: counters from the executors, phases, and a line at least every interval."""

from __future__ import annotations

import time

import pytest

from connectors.progress import PREFIX, PhaseTimer, Progress

pytestmark = pytest.mark.spark


def test_counts_from_executors_and_ticks_while_running(spark) -> None:
    lines: list[str] = []
    with Progress(spark, "demo", interval_s=0.2, emit=lines.append) as progress:
        progress.set_phase("count")
        rdd = spark.sparkContext.parallelize(range(1000), 4).mapPartitions(progress.counted("documents read"))
        assert rdd.map(lambda x: x * 2).sum() == 999_000
        time.sleep(0.5)  # idle: the ticker still reports
    assert all(line.startswith(f"{PREFIX} demo [") for line in lines)
    assert "count: documents read 1,000 (" in lines[-2]
    assert lines[-1].split("] ", 1)[1].startswith("done: documents read 1,000")
    assert len(lines) >= 4  # the phase line, at least two ticks, the final line


def test_failed_run_says_so(spark) -> None:
    lines: list[str] = []
    with pytest.raises(ZeroDivisionError), Progress(spark, "demo", interval_s=5, emit=lines.append):
        1 / 0  # noqa: B018
    assert "] failed: no counts yet" in lines[-1]


# `counted`'s function runs in Spark's Python workers, which coverage does not trace: called here directly.


def test_counted_passes_items_through_and_adds_their_number(spark) -> None:
    """The mapPartitions function yields every item unchanged, then adds how many to the named counter."""
    progress = Progress(spark, "demo", emit=lambda line: None)
    count = progress.counted("rows")
    items = [("a", 1), None, {"k": 2}]
    assert list(count(iter(items))) == items
    assert progress.counter("rows").value == 3
    assert list(progress.counted("rows")(iter(range(4)))) == [0, 1, 2, 3]  # the same counter, added to
    assert list(count(iter([]))) == []
    assert progress.counter("rows").value == 7
    assert "] starting: rows 7 (" in progress.line()


class _StoppedContext:
    """A SparkContext that is shutting down: its status tracker is gone (the session's real one cannot be
    stopped mid-suite)."""

    def statusTracker(self) -> None:  # noqa: N802 - SparkContext's name
        raise RuntimeError("SparkContext has been shutdown")


class _StoppedSession:
    sparkContext = _StoppedContext()  # noqa: N815 - SparkSession's name


def test_line_without_a_status_tracker_still_reports() -> None:
    """While the context stops, the line drops the stage part instead of failing the job's last report."""
    progress = Progress(_StoppedSession(), "demo", emit=lambda line: None)
    line = progress.line()
    assert line.startswith(f"{PREFIX} demo [") and line.endswith("] starting: no counts yet")


def test_phase_timer_adds_the_time_since_the_last_phase() -> None:
    """Each phase takes the time since the previous one ended; a phase ended twice adds up."""
    ticks = iter([10.0, 12.5, 13.0, 20.25])
    timer = PhaseTimer(clock=lambda: next(ticks))
    timer.end("read")
    timer.end("write")
    timer.end("read")
    assert timer.seconds == {"read": 9.75, "write": 0.5}
