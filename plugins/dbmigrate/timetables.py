"""The migration DAGs' schedules: cron timetables that never start a load nobody asked for.

Airflow's `CronTriggerTimetable` without catchup schedules the most recent period at once when a DAG is unpaused
(its `run_immediately` only governs a DAG's very first run, and the latest period is always a candidate): an
unpaused daily migration would load yesterday with the trigger form's defaults, and a backfill over those days
then skips that date as "already exists". Here, without catchup, the next run is the next period's end still to
come: after a run that is the period right after it, as usual; after a pause, or on a first unpause, the first
end after now. Missed periods are loaded by asking for them (a backfill), never implied. Registered by the plugin
(`dbmigrate.plugin`) so the scheduler can deserialize it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import timezone
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable


class NextPeriodTimetable(CronTriggerTimetable):
    """`CronTriggerTimetable` whose runs without catchup are never in the past when they are planned."""

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        if restriction.catchup:
            return super().next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                            restriction=restriction)
        now = timezone.coerce_datetime(timezone.utcnow())
        after: Any = self._align_to_next(now)
        if last_automated_data_interval is not None:  # the period after it, unless that one is already past
            after = max(after, self._get_next(last_automated_data_interval.end))
        if restriction.earliest is not None:
            after = max(after, self._align_to_next(restriction.earliest))
        if restriction.latest is not None and restriction.latest < after:
            return None
        return DagRunInfo.interval(timezone.coerce_datetime(after - self._interval), after)


class NextPeriodCronTimetable(CronDataIntervalTimetable):
    """`CronDataIntervalTimetable` (a spec's five-field cron) whose first run without catchup, and whose first run
    after a pause, is the period now is in, run at its end, never the last complete one at once."""

    def _skip_to_latest(self, earliest: Any) -> Any:
        current = self._align_to_prev(timezone.coerce_datetime(timezone.utcnow()))  # ends after now
        return current if earliest is None else max(current, self._align_to_next(earliest))
