"""Progress lines of a Spark job: counters from the executors, phases, and a line at least every interval."""

from __future__ import annotations

import time

import pytest

from connectors.progress import PREFIX, Progress

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
