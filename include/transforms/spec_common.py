"""What every kind of migration spec shares: the schedule and interval field, the validation limits, the common
top-level fields, `${VAR}` expansion. Pure Python: ships to EMR and Glue in the job bundle."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transforms.spec_checks import SpecError, need, number, section, text, texts, whole

SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
_CRON = re.compile(r"^\S+( \S+){4}$")


@dataclass(frozen=True)
class Incremental:
    """How runs cut the source into intervals: the DAG's `schedule` from `start_date`, each scheduled or
    backfill run loading the records whose `field` falls in its data interval. No schedule: manual runs only."""

    schedule: str | None = None
    start_date: datetime | None = None
    field: str = "_id"  # MongoDB: a (dotted) document field, `_id` meaning the ObjectId's creation time
    table: str | None = None  # relational sources: the table whose `field` cuts the intervals


@dataclass(frozen=True)
class SpecHead:
    """The fields every spec opens with (`common_fields` reads them; each kind adds its own `incremental`)."""

    dag_id: str
    description: str
    owner: str
    tags: tuple[str, ...]
    retries: int


def expand_env(value: str) -> str:
    """Expand `${VAR}` and `${VAR:-default}`; unset variables without a default are left as written."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        return os.environ.get(name, default if default is not None else m.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, value)


VALIDATION_KEYS = {"sample_size", "max_reject_ratio", "min_documents"}


def thresholds(validation: dict[str, Any], w: str) -> dict[str, Any]:
    """When a run fails however well the rest reconciles: too many rejects, too few source records."""
    ratio = number(validation.get("max_reject_ratio", 0.05), f"{w}: validation.max_reject_ratio")
    need(0 <= ratio <= 1, f"{w}: validation.max_reject_ratio", f"must be in [0, 1], got {ratio}")
    return {"max_reject_ratio": ratio,
            "min_documents": whole(validation.get("min_documents", 1), f"{w}: validation.min_documents", minimum=0)}


COMMON_KEYS = {"dag_id", "kind", "owner", "tags", "retries", "description", "schedule", "start_date", "incremental"}


def incremental_of(raw: dict[str, Any], w: str, default: Incremental) -> Incremental:
    """`schedule` (a preset or a five-field cron), `start_date` (optional: the DAG's, where it has one) and
    `incremental`."""
    inc = section(raw, "incremental", f"{w}:", {"field", "table"})
    schedule = raw.get("schedule")
    if schedule is not None:
        need(isinstance(schedule, str) and (schedule in SCHEDULE_PRESETS or bool(_CRON.match(schedule))),
              f"{w}: schedule", f"must be one of {SCHEDULE_PRESETS} or a five-field cron, got {schedule!r}")
    start = raw.get("start_date")
    if start is not None:
        from transforms.intervals import WindowError, parse_instant

        try:
            start = parse_instant(start, "start_date")
        except WindowError as err:
            raise SpecError(f"{w}: start_date: {err}") from None
    return Incremental(schedule=schedule, start_date=start,
                       field=text(inc.get("field", default.field), f"{w}: incremental.field"),
                       table=inc.get("table", default.table))


def common_fields(raw: dict[str, Any], w: str, sections: set[str], incremental: Incremental = Incremental()
            ) -> dict[str, Any]:
    """dag_id, owner, tags, retries, description, schedule and interval field, checked; unknown top-level keys
    refused."""
    unknown = set(raw) - COMMON_KEYS - sections
    need(not unknown, w, f"unknown top-level keys {sorted(unknown)}; known: {sorted(COMMON_KEYS | sections)}")
    return {"dag_id": raw["dag_id"], "owner": raw["owner"],
            "description": str(raw.get("description") or "").strip(),
            "tags": texts(raw.get("tags", []), f"{w}: tags"),
            "retries": whole(raw.get("retries", 2), f"{w}: retries", minimum=0),
            "incremental": incremental_of(raw, w, incremental)}
