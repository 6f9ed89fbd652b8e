"""Progress of a Spark job, printed by the driver every few seconds while the job runs.

Executors count into Spark accumulators (`counted`); a daemon thread on the driver prints, every
`interval_s`, the counters, their rate and the tasks of the running stages (`SparkStatusTracker`). Spark
merges accumulator updates when a task ends, so counters move task by task, and the stage line shows how
far the current phase is. The lines go to stdout, unbuffered: the local spark-submit operator streams them
into the Airflow task log, and on EMR and Glue they land in the step's or job run's driver log.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

PREFIX = "dbmigrate progress"


class Progress:
    """Counters and a ticker for one job run; use as a context manager around the job's work."""

    def __init__(self, spark: Any, label: str, *, interval_s: float = 10.0,
                 emit: Callable[[str], None] | None = None) -> None:
        self.sc = spark.sparkContext
        self.label = label
        self.interval_s = interval_s
        self.emit = emit or (lambda line: print(line, file=sys.stdout, flush=True))
        self.counters: dict[str, Any] = {}
        self.phase = "starting"
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="dbmigrate-progress", daemon=True)

    def counter(self, name: str) -> Any:
        """A named accumulator, created on first use (driver side only)."""
        if name not in self.counters:
            self.counters[name] = self.sc.accumulator(0)
        return self.counters[name]

    def counted(self, name: str) -> Callable[[Iterable[Any]], Iterator[Any]]:
        """A `mapPartitions` function that passes items through and adds their number to counter `name`."""
        acc = self.counter(name)

        def count(items: Iterable[Any]) -> Iterator[Any]:
            n = 0
            for item in items:
                n += 1
                yield item
            acc.add(n)

        return count

    def set_phase(self, phase: str) -> None:
        """Name what the job does now; it also becomes the Spark job description in the Spark UI."""
        self.phase = phase
        self.sc.setJobDescription(f"{self.label}: {phase}")
        self.emit(self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        counts = "; ".join(f"{name} {acc.value:,} ({acc.value / elapsed:,.0f}/s)"
                           for name, acc in self.counters.items()) or "no counts yet"
        return f"{PREFIX} {self.label} [{elapsed:,.0f}s] {self.phase}: {counts}{self._stages()}"

    def _stages(self) -> str:
        try:
            tracker = self.sc.statusTracker()
            infos = [tracker.getStageInfo(i) for i in tracker.getActiveStageIds()]
        except Exception:  # the context is stopping; the counters still say enough
            return ""
        parts = [f"stage {s.stageId} {s.numCompletedTasks}/{s.numTasks} tasks" for s in infos if s is not None]
        return f"; {', '.join(parts)}" if parts else ""

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.emit(self.line())

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s)
        self.phase = "failed" if exc[0] is not None else "done"
        self.emit(self.line())


class PhaseTimer:
    """Seconds per phase of a job, each from the end of the one before: for the run report and `make bench`.

    Spark evaluates lazily, so a phase is the time until the action that ends it returns (e.g. the counts that
    materialize the deduplicated documents end "read, map and dedup").
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = {}
        self._last = clock()

    def end(self, phase: str) -> None:
        now = self.clock()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._last, 3)
        self._last = now
