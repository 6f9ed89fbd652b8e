"""Prove that no source value was left behind: per source path, the values in the source against those found.

Independent of the mapping (`transforms.conservation`): the source's documents are walked leaf by leaf, and the
target's tables (columns, json, `_extra`, child rows) are read back and walked the same way. Of the run's window,
a document whose `_id` a target row carries was loaded: all its values must be found in the rows of that `_id`;
one the run quarantined has its values in the quarantine; any other was superseded (a duplicate, an older version
of its key; the count checks prove how many). A path whose values are not all accounted for fails the run, named.

Also reported, never failed: the values kept in `_extra` (fields the spec maps nowhere) and the natural keys several
documents of the source hold (a reference to such a key links the document with the smallest `_id`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from connectors import dsql_reads as reads
from dbmigrate import run_files
from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.operators.validate_dsql import RESULT_KEY, _MongoToDsqlValidation
from transforms.checks import Check
from transforms.conservation import (
    compare,
    failures,
    held_counts,
    holders,
    source_counts,
    target_count_from_number,
    target_counts,
    target_sql,
)
from transforms.extjson import loads
from transforms.source_text import collection_of


class ValidateMongoToDsqlValuesOperator(_MongoToDsqlValidation):
    """Count every source value by path and find it in the target (or the quarantine): value conservation."""

    def execute(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        if self.run["dry_run"]:
            result: dict[str, Any] = {"checks": [], "skipped": "dry run: nothing was written"}
            context["ti"].xcom_push(key=RESULT_KEY, value=result)
            return result
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        loaded = {e.name: reads.source_doc_ids(hook.get_records, spec.target_schema, e.table) for e in spec.entities}
        quarantined_ids = self._quarantined(spec)
        by_type = {e.doc_type: e for e in spec.entities}
        naturals = {(r.entity, r.by) for e in spec.entities for r in e.references if r.by} | {
            (c.element_entity, c.element_by) for e in spec.entities for c in e.children if c.element_by}
        source: dict[str, Counter] = {}
        distinct: dict[str, Counter] = {}
        quarantined: dict[str, Counter] = {}
        superseded: dict[str, Counter] = {}
        counted: dict[str, set[str]] = {e.name: set() for e in spec.entities}
        keys: dict[tuple[str, str, str], list[str]] = {}  # natural key → the `_id`s of the documents holding it
        # one `_id` twice (a re-exported document): the job keeps the greater text, so the values to find are its
        repeated = _repeated(_documents(self._lines(spec, self._window()), spec, by_type))
        ties: dict[tuple[str, str], tuple[str, Counter]] = {}
        for line, entity, doc in _documents(self._lines(spec, self._window()), spec, by_type):
            doc_id = str(doc["_id"])
            counts, once = source_counts(spec, entity.name, doc)
            source.setdefault(entity.name, Counter()).update(counts)
            distinct.setdefault(entity.name, Counter()).update(once)
            if doc_id in quarantined_ids.get(entity.name, ()):
                quarantined.setdefault(entity.name, Counter()).update(held_counts(spec, entity.name, counts, once))
            elif doc_id in loaded[entity.name] and (entity.name, doc_id) in repeated:
                counted[entity.name].add(doc_id)
                held = ties.get((entity.name, doc_id))
                mine = (str(line), held_counts(spec, entity.name, counts, once))
                loser = min(held, mine, key=lambda t: t[0]) if held else None
                ties[(entity.name, doc_id)] = max(held, mine, key=lambda t: t[0]) if held else mine
                if loser is not None:
                    superseded.setdefault(entity.name, Counter()).update(loser[1])
            elif doc_id in loaded[entity.name]:
                counted[entity.name].add(doc_id)
            else:  # a duplicate or older version of its key: the count checks prove how many
                superseded.setdefault(entity.name, Counter()).update(held_counts(spec, entity.name, counts, once))
            for e, by in naturals:
                if e == entity.name and isinstance(doc.get(by), str | int) and not isinstance(doc.get(by), bool):
                    keys.setdefault((e, by, str(doc[by])), []).append(doc_id)
        target: dict[str, Counter] = {}
        for h in holders(spec):
            ids = sorted(counted[h.entity])
            if not ids:
                continue
            statement = target_sql(spec.target_schema, h, "source_doc_id = ANY(%s)")
            rows = reads.by_batches(hook.get_records, statement, ids)  # counts add up: a row is one document's
            number = h.kind in ("rows", "value", "distinct")
            found = (target_count_from_number(h, sum(int(r[0]) for r in rows)) if number
                     else target_counts(h, (r[0] for r in rows)))
            target.setdefault(h.entity, Counter()).update(found)
            if h.kind == "extra":
                kept = target.setdefault(f"{h.entity}:extra", Counter())
                kept.update(found)
        results = compare(spec, source, distinct, target, quarantined, superseded)
        missing = failures(results)
        checks = [Check(f"every source value found in the target, the quarantine or a superseded document "
                        f"({len(results)} paths)", 0, len(missing))]
        notes = {f"{e}: {path} kept in _extra (mapped nowhere)": {"count": n, "examples": []}
                 for e, kept in ((k.split(":")[0], v) for k, v in target.items() if k.endswith(":extra"))
                 for path, n in sorted(kept.items())}
        notes.update({f"{e}.{by} {value!r}: held by {len(ids)} documents (references link the smallest _id)":
                      {"count": len(ids), "examples": sorted(ids)[:5]}
                      for (e, by, value), ids in sorted(keys.items()) if len(ids) > 1})
        result = {"checks": [c.as_dict() for c in checks], "notes": notes,
                  "conservation": [{"entity": r.entity, "path": r.path, "source": r.source, "target": r.target,
                                    "quarantined": r.quarantined, "superseded": r.superseded,
                                    "status": r.status} for r in results]}
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        for r in results:
            self.log.info("%-8s %s.%s: source %d, target %d, quarantined %d, superseded %d", r.status, r.entity,
                          r.path, r.source, r.target, r.quarantined, r.superseded)
        if missing:
            raise AirflowFailException(f"{len(missing)} source path(s) not all found: " + "; ".join(missing[:20]))
        return {"paths": len(results)}

    def _quarantined(self, spec: Any) -> dict[str, set[str]]:
        """The `_id`s of the documents this run quarantined, per entity (the quarantine's own answer)."""
        out: dict[str, set[str]] = {}
        for line in run_files.quarantined_lines(self.run["quarantine_uri"], self.aws_conn_id):
            row = json.loads(line)
            try:
                doc = loads(row.get("document") or "")
            except (ValueError, RecursionError):
                continue
            if row.get("entity") and isinstance(doc, dict) and doc.get("_id") is not None:
                out.setdefault(row["entity"], set()).add(str(doc["_id"]))
        return out


def _documents(lines: Iterable[str], spec: Any, by_type: dict[str, Any]) -> Iterator[tuple[str, Any, dict]]:
    """(text, entity, decoded document) of each readable document of an entity with an `_id`; the others are
    quarantined whole (or counted by the count checks), with no values to follow."""
    for line in lines:
        try:
            doc = loads(line)
        except (ValueError, RecursionError):
            continue
        entity = by_type.get(spec.shape.type_of(doc, spec.entities, collection_of(line)) or "") \
            if isinstance(doc, dict) else None
        if entity is not None and doc.get("_id") is not None:
            yield line, entity, doc


def _repeated(documents: Iterable[tuple[str, Any, dict]]) -> set[tuple[str, str]]:
    """(entity, `_id`) held by more than one document."""
    seen: set[tuple[str, str]] = set()
    twice: set[tuple[str, str]] = set()
    for _, entity, doc in documents:
        key = (entity.name, str(doc["_id"]))
        (twice if key in seen else seen).add(key)
    return twice
