"""The migration DAGs' timetable: unpausing a scheduled DAG never starts a load by itself."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import timezone
from airflow.timetables.base import DataInterval, TimeRestriction

from dbmigrate.dag_factory import build_dags
from dbmigrate.timetables import NextPeriodCronTimetable, NextPeriodTimetable
from tests.fixtures import SPEC_DIR

DAILY = NextPeriodTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))
NO_CATCHUP = TimeRestriction(earliest=None, latest=None, catchup=False)


def _midnight(days: int = 0) -> timezone.DateTime:
    now = timezone.coerce_datetime(timezone.utcnow())
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)


def test_a_first_unpause_waits_for_the_end_of_the_current_period() -> None:
    """Airflow's CronTriggerTimetable would plan yesterday's period (ended at today's midnight) at once."""
    info = DAILY.next_dagrun_info(last_automated_data_interval=None, restriction=NO_CATCHUP)
    assert info is not None and info.data_interval.end == _midnight(1) > timezone.utcnow()
    assert info.data_interval.start == _midnight(0)


def test_after_a_pause_the_missed_periods_are_not_run() -> None:
    long_ago = DataInterval(_midnight(-6), _midnight(-5))
    info = DAILY.next_dagrun_info(last_automated_data_interval=long_ago, restriction=NO_CATCHUP)
    assert info is not None and info.data_interval.end == _midnight(1)


def test_a_running_schedule_takes_the_period_right_after_its_last_run() -> None:
    just_run = DataInterval(_midnight(-1), _midnight(0))
    info = DAILY.next_dagrun_info(last_automated_data_interval=just_run, restriction=NO_CATCHUP)
    assert info is not None and (info.data_interval.start, info.data_interval.end) == (_midnight(0), _midnight(1))


def test_catchup_and_the_latest_bound_behave_as_airflows() -> None:
    earliest = _midnight(-3)
    info = DAILY.next_dagrun_info(last_automated_data_interval=None,
                                  restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True))
    assert info is not None and info.data_interval.end == earliest
    assert DAILY.next_dagrun_info(last_automated_data_interval=None, restriction=TimeRestriction(
        earliest=None, latest=_midnight(0), catchup=False)) is None


def test_the_daily_spec_gets_it_and_it_serializes() -> None:
    dag = build_dags(SPEC_DIR)["movie_collection_to_dsql"]
    assert isinstance(dag.timetable, NextPeriodTimetable)
    again = NextPeriodTimetable.deserialize(dag.timetable.serialize())
    assert isinstance(again, NextPeriodTimetable) and again.serialize() == dag.timetable.serialize()


def test_a_spec_cron_waits_too_and_then_follows_its_last_run() -> None:
    """A five-field cron (`CronDataIntervalTimetable`): Airflow would plan the last complete six hours at once."""
    every_6h = NextPeriodCronTimetable("0 */6 * * *", timezone="UTC")
    now = timezone.coerce_datetime(timezone.utcnow())
    first = every_6h.next_dagrun_info(last_automated_data_interval=None, restriction=NO_CATCHUP)
    assert first is not None and first.data_interval.start <= now < first.data_interval.end
    after_pause = every_6h.next_dagrun_info(last_automated_data_interval=DataInterval(
        _midnight(-5), _midnight(-5) + timedelta(hours=6)), restriction=NO_CATCHUP)
    assert after_pause is not None and after_pause.data_interval == first.data_interval
    following = every_6h.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=NO_CATCHUP)
    assert following is not None and following.data_interval.start == first.data_interval.end
