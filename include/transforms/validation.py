"""Reconciliation rules and the run report, as pure functions over plain dicts.

Operators gather the numbers (source, job report, target) and rows; these functions decide whether
they reconcile and render the result, so the rules are tested without Airflow, AWS or a database.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any

from transforms.adjacency import entity_uuid
from transforms.checks import Check
from transforms.reconcile import Reconciliation, render_diffs


def count_checks(source: dict[str, int], job: dict[str, Any], target_keyed: dict[str, int],
                 source_total: int, quarantined: int | None) -> list[Check]:
    """Source documents vs the job's accounting vs the target rows of this run's keys, per entity and in total.

    `source` counts documents per entity read independently of the job; `job` is the job's report;
    `target_keyed` counts, per entity, the target rows whose primary key is one of the keys this run's source
    loads (`target_key` of every source document that maps), which must be the `unique` rows the job wrote;
    `quarantined` the quarantine records.
    """
    checks = [Check("source documents = job documents", source_total, job["documents"])]
    for name, c in job["entities"].items():
        # documents parked by earlier runs and retried by this one (0 in reports from before there were any)
        retried, landed, still = (c.get(k, 0) for k in ("retried", "landed", "still_pending"))
        checks += [
            Check("source documents = job documents", source.get(name, 0), c["documents"], name),
            Check("documents + retried = unique + landed + still pending + duplicates + rejected"
                  if retried else "documents = unique + duplicates + rejected", c["documents"] + retried,
                  c["unique"] + landed + still + c["duplicates"] + c["rejected"], name),
        ]
        if name in target_keyed:
            checks.append(Check("target rows with this run's keys = unique documents", c["unique"],
                                target_keyed[name], name))
    if quarantined is not None:
        checks.append(Check("quarantined documents = rejects", sum(job["rejects"].values()), quarantined))
    return checks


def target_key(entity: Any, pk: str, sk: str, pk_prefixes: dict[str, str]) -> tuple[str, ...]:
    """The target primary key of the row a document with `PK`/`SK` becomes, from those source keys alone.

    Entity tables: the uuid derived from the PK (`transforms.adjacency.entity_uuid`); relationship tables: per
    key column, the uuid of the entity the PK or SK names (`pk_prefixes`: each entity's PK prefix by name).
    """
    if not entity.is_relationship:
        return (entity_uuid(pk),)
    ids = {"pk": entity.pk.id_of(pk), "sk": entity.sk.id_of(sk)}
    return tuple(entity_uuid(f"{pk_prefixes[r.entity]}{ids[r.key]}") for r in entity.refs)


def sample_hash(key: str) -> str:
    """Deterministic, well-spread order for sampling: the same keys are sampled on every run."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeySample:
    """Keeps the `size` keys with the smallest hash and, per key, the item with the greatest order.

    Streams any number of documents in O(size) memory, so a sample of a large collection is cheap.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[tuple[str, str]] = []  # (-ish) max-heap of (hash, key) via negated compare
        self.items: dict[str, tuple[Any, Any]] = {}

    def offer(self, key: str, order: Any, item: Any) -> None:
        if self.size <= 0:
            return
        if key in self.items:
            if order > self.items[key][0]:
                self.items[key] = (order, item)
            return
        h = sample_hash(key)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, _Rev(h, key))
        elif h < self._heap[0].h:
            evicted = heapq.heapreplace(self._heap, _Rev(h, key))
            del self.items[evicted.key]
        else:
            return
        self.items[key] = (order, item)

    def values(self) -> list[Any]:
        return [self.items[k][1] for k in sorted(self.items, key=sample_hash)]


class _Rev:
    """Heap entry ordered by descending hash, so the heap's top is the largest kept hash."""

    __slots__ = ("h", "key")

    def __init__(self, h: str, key: str) -> None:
        self.h, self.key = h, key

    def __lt__(self, other: _Rev) -> bool:
        return self.h > other.h


def build_report(*, dag_id: str, run_id: str, entities: dict[str, dict[str, int]], rejects: dict[str, int],
                 checks: list[Check], sample: dict[str, Any], dry_run: bool = False,
                 failure: dict[str, str] | None = None, not_run: list[str] | None = None,
                 notes: dict[str, dict[str, Any]] | None = None,
                 reconciliation: dict[str, dict[str, Any]] | None = None, window: dict[str, Any] | None = None,
                 pending: dict[str, Any] | None = None, children: dict[str, dict[str, Any]] | None = None,
                 conservation: list[dict[str, Any]] | None = None, source: str | None = None,
                 loads: dict[str, Any] | None = None, timeless: dict[str, int] | None = None) -> dict[str, Any]:
    """The run report: `status` is `passed` only when no task failed and every check, every fully reconciled
    table and every sampled row reconciles.

    `failure` is the first failed task of the run and its error; `not_run` the validations that could not
    run because of it; `notes` what the source showed that is reported, never failed (name → count and
    example keys); `reconciliation` each table's full reconciliation (`transforms.reconcile.Reconciliation`
    as a dict), with its first differing keys; `window` the records the run loaded (`runtime.run_window`: start,
    end, which rule chose them); `pending` the job's parked-document counts (retried, parked, released);
    `children` per child table the source's array elements, the target rows of this run's parents and the job's;
    `conservation` per entity and source path, the values in the source and where they were found; `source` what
    the run read; `loads` the intervals of that source the target holds around this run's (`intervals.coverage`)
    and whether the target equals the source up to the latest; `timeless` the lines with no time this run
    quarantined and those an earlier run did (`connectors.timeless`).
    """
    failed = [c for c in checks if not c.passed]
    unreconciled = [name for name, r in (reconciliation or {}).items() if not r.get("passed")]
    status = ("passed" if not failed and not unreconciled and not sample.get("mismatches") and failure is None
              else "failed")
    return {"status": status, "dag_id": dag_id, "run_id": run_id, "dry_run": dry_run, "entities": entities,
            "rejects": rejects, "checks": [c.as_dict() for c in checks], "sample": sample,
            "reconciliation": reconciliation or {}, "failure": failure, "not_run": not_run or [],
            "notes": notes or {}, "window": window, "pending": pending, "children": children or {},
            "conservation": conservation or [], "source": source, "loads": loads, "timeless": timeless}


def _failure_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    if report.get("failure"):
        f = report["failure"]
        lines.append(f"first failure: `{f['task_id']}`: {f['error']}")
    lines += [f"- NOT RUN {v}" for v in report.get("not_run", [])]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """A summary a person reads in the task log."""
    lines = [f"## {report['dag_id']} — {report['status'].upper()}", "", f"run `{report['run_id']}`", ""]
    if window := report.get("window"):
        covers = ("every record" if not (window.get("start") or window.get("end"))
                  else f"[{window.get('start') or '-∞'}, {window.get('end') or '+∞'})")
        lines += [f"covers: {covers} ({window.get('source', 'full')}); validated: this interval's counts and "
                  f"rows, and the target against the source up to the latest end loaded", ""]
    if pending := report.get("pending"):
        lines += [f"pending links (parked until their ends land): {pending.get('retried', 0)} retried, "
                  f"{pending.get('released', 0)} landed and released, {pending.get('parked')} parked by this run",
                  ""]
    if report.get("failure") or report.get("not_run"):
        lines += [*_failure_lines(report), ""]
    lines += ["| entity | source | target | rejected | duplicates |", "|---|---:|---:|---:|---:|"]
    for name, e in report["entities"].items():
        lines.append(f"| {name} | {e.get('source', '')} | {e.get('target', '')} | {e.get('rejected', '')} | "
                     f"{e.get('duplicates', '')} |")
    if report.get("children"):
        lines += ["", "| child table | source elements | target | written | parents a newer row holds |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {c.get('source')} | {c.get('target')} | {c.get('written')} | "
                  f"{c.get('superseded_parents', 0)} |"
                  for name, c in report["children"].items()]
    if report["rejects"]:
        lines += ["", "| reject reason | documents |", "|---|---:|"]
        lines += [f"| {reason} | {n} |" for reason, n in report["rejects"].items()]
    failed = [c for c in report["checks"] if not c["passed"]]
    sample = report.get("sample", {})
    lines += ["", f"checks: {len(report['checks']) - len(failed)}/{len(report['checks'])} passed; "
              f"sampled rows: {sample.get('compared', 0)} compared, {len(sample.get('mismatches', []))} differ"]
    for c in failed:
        lines.append(f"- FAILED {c['entity'] or 'all'}: {c['name']}: expected {c['expected']}, found {c['actual']}")
    for m in sample.get("mismatches", [])[:20]:
        lines.append(f"- ROW {m['entity']} {m['key']}: {'; '.join(m['diffs'])}")
    lines += _reconciliation_lines(report.get("reconciliation") or {})
    if conservation := report.get("conservation"):
        bad = [r for r in conservation if r["status"] not in ("ok", "ignored")]
        lines += ["", f"value conservation (every source value by path, found in the target, the quarantine or a "
                      f"superseded document): {len(conservation) - len(bad)}/{len(conservation)} paths found",
                  "", "| entity | path | source | target | quarantined | superseded | status |",
                  "|---|---|---:|---:|---:|---:|---|"]
        lines += [f"| {r['entity']} | `{r['path']}` | {r['source']} | {r['target']} | {r['quarantined']} | "
                  f"{r['superseded']} | {r['status']} |"
                  for r in sorted(conservation, key=lambda r: r["status"] == "ok")]
    if report.get("notes"):
        lines += ["", "source notes (reported, not failed):"]
        lines += [f"- {name}: {n['count']}" + (f" (e.g. {', '.join(map(str, n['examples']))})"
                                                if n.get("examples") else "")
                  for name, n in report["notes"].items()]
    return "\n".join(lines)


def _reconciliation_lines(reconciliation: dict[str, dict[str, Any]]) -> list[str]:
    """Full reconciliation: one line per table, and the first differing keys with their columns side by side."""
    if not reconciliation:
        return []
    recs = [Reconciliation.from_dict(r) for r in reconciliation.values()]
    rows = sum(r.rows_actual for r in recs)
    lines = ["", f"full reconciliation (every row, hash per bucket of keys): {rows} target rows, "
                 f"{sum(r.diff_count for r in recs)} differing keys"]
    for rec in recs:
        lines += render_diffs(rec)
    return lines


def _reconciled(report: dict[str, Any]) -> str:
    recs = (report.get("reconciliation") or {}).values()
    if not recs:
        return ""
    return (f"; all {sum(r['rows_actual'] for r in recs)} rows reconciled in full" if all(r["passed"] for r in recs)
            else f"; {sum(r['diff_count'] for r in recs)} keys differ in full reconciliation")


NOTE_MAX_CHARS = 1000  # Airflow keeps a DAG run note in 1,000 characters


def render_note(report: dict[str, Any]) -> str:
    """The run's summary as a DAG run note (Markdown): status, counts per entity, rejects, failed checks.

    Blocks are separated by blank lines, so the UI renders each as its own paragraph, table or list.
    """
    status = report["status"].upper() + (" (dry run)" if report.get("dry_run") else "")
    blocks = [f"**{status}**: {report['dag_id']}" + (f" from `{report['source']}`" if report.get("source") else "")]
    if report.get("failure"):
        f = report["failure"]
        blocks.append(f"First failure: `{f['task_id']}`: {f['error'][:300]}")
    if report["entities"]:
        blocks.append("\n".join(["| entity | source | target | rejected |", "|---|---:|---:|---:|"] + [
            f"| {n} | {e.get('source', '')} | {e.get('target', '')} | {e.get('rejected', '')} |"
            for n, e in report["entities"].items()]))
    failed = [c for c in report["checks"] if not c["passed"]]
    sample = report.get("sample") or {}
    items = [f"- checks: {len(report['checks']) - len(failed)}/{len(report['checks'])} passed; "
             f"{sample.get('compared', 0)} rows compared, {len(sample.get('mismatches', []))} differ"
             f"{_reconciled(report)}"]
    rejects = {r: n for r, n in report["rejects"].items() if n}
    if rejects:
        items.append("- rejects: " + ", ".join(f"{r} {n}" for r, n in rejects.items()))
    timeless = report.get("timeless") or {}
    if timeless.get("quarantined") or timeless.get("met_again"):
        items.append(f"- no time: {timeless.get('quarantined', 0)} line(s) quarantined by this run, once for the "
                     f"source; {timeless.get('met_again', 0)} quarantined by an earlier run, skipped")
    parked = (report.get("pending") or {}).get("parked")
    if parked:  # counted as orphan_reference above, but not lost: every later run retries them
        items.append(f"- parked: {parked} link(s) wait for their other end; every later run retries them")
    loads = report.get("loads")
    if loads:  # what the target holds of the source, around this run's window
        state = ("target differs from the source" if not loads.get("equal")
                 else f"target = source up to {loads['up_to_text']}" if loads.get("up_to")
                 else "target = the whole source")
        items.append(f"- {state}; {loads['summary']}")
    items += [f"- failed: {c['entity'] or 'all'} {c['name']}" for c in failed[:5]]
    items += [f"- not run: {v}" for v in report.get("not_run", [])[:3]]
    items += [f"- note: {name} {n['count']}" for name, n in (report.get("notes") or {}).items()]
    blocks.append("\n".join(items))
    text = "\n\n".join(blocks)
    return text if len(text) <= NOTE_MAX_CHARS else text[:NOTE_MAX_CHARS - 2] + " …"


def threshold_checks(documents: int | None, rejected: int, *, max_reject_ratio: float, min_documents: int
                     ) -> list[Check]:
    """The spec's limits on a run, whatever else reconciles: a run that read too few source records, or rejected
    more than `max_reject_ratio` of them, fails (one that writes nothing is never `passed`). `documents` is None
    when the counts could not be taken; the count checks then report why."""
    if documents is None:
        return []
    ratio = rejected / documents if documents else 0.0
    return [Check(f"source records >= min_documents ({min_documents})", True, documents >= min_documents),
            Check(f"rejected share <= max_reject_ratio ({max_reject_ratio:.2%}): {rejected} of {documents} "
                  f"is {ratio:.2%}", True, ratio <= max_reject_ratio)]


def report_of_run(*, dag_id: str, run_id: str, run: dict[str, Any] | None, counts: dict[str, Any],
                  sample: dict[str, Any], checked: list[dict[str, Any]], limits: dict[str, Any] | None = None,
                  failure: dict[str, str] | None = None, not_run: list[str] | None = None) -> dict[str, Any]:
    """The report of a run from what its validators pushed: the count task's result (`counts`), the sampled
    comparison (`sample`) and further results with `checks` and maybe `reconciliation` and `notes` (`checked`);
    an empty result is a validator that did not run. The spec's `limits` (`max_reject_ratio`, `min_documents`;
    needed once there are counts) are checked on the counts: an interval
    may rightly be empty (a quiet day), and links parked until a later interval brings their parent are pending,
    not lost, so the minimum and the parked links count for loads of everything only; lines with no time belong
    to no interval (quarantined once per source), so an interval's reject ratio is of what it could place."""
    checks = [Check.from_dict(c) for result in (counts, *checked) for c in result.get("checks", [])]
    if counts:
        documents = counts.get("documents")
        if documents is None:  # relational sources: the source rows of every item type
            documents = sum(int(e.get("source") or 0) for e in counts.get("entities", {}).values())
        windowed = ((run or {}).get("window") or {}).get("source", "full") != "full"
        rejected = sum(counts.get("rejects", {}).values())
        if windowed:  # held to what the interval could place: not its parked links, nor lines with no time
            timeless = int((counts.get("timeless") or {}).get("quarantined") or 0)
            rejected -= int((counts.get("pending") or {}).get("parked") or 0) + timeless
            documents -= timeless
        if limits is None:
            raise ValueError("a run with counts is held to its spec's limits: pass them")
        checks += threshold_checks(documents, rejected, max_reject_ratio=limits["max_reject_ratio"],
                                   min_documents=0 if windowed else limits["min_documents"])
    results = (counts, sample, *checked)
    # each validator's notes and full reconciliations (table → its `transforms.reconcile` dict), merged
    notes = {k: v for result in results for k, v in result.get("notes", {}).items()}
    reconciliation = {k: v for result in results for k, v in result.get("reconciliation", {}).items()}
    conservation = [row for result in results for row in result.get("conservation", [])]
    loads = next((result["loads"] for result in results if result.get("loads")), None)
    source = (run or {}).get("source_uri") or (
        f"{run['source_conn_id']} schema {run['source_schema']}" if run and run.get("source_conn_id") else None)
    return build_report(dag_id=dag_id, run_id=run_id, entities=counts.get("entities", {}),
                        rejects=counts.get("rejects", {}), checks=checks, sample=sample,
                        dry_run=bool(run and run["dry_run"]), failure=failure, not_run=not_run, notes=notes,
                        reconciliation=reconciliation, window=(run or {}).get("window"),
                        pending=counts.get("pending"), children=counts.get("children"), conservation=conservation,
                        source=source, loads=loads, timeless=counts.get("timeless"))
