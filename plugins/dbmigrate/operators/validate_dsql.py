"""Prove a MongoDB → DSQL run: counts reconcile and sampled rows match, column by column.

Every row is reconciled by `dbmigrate.operators.reconcile_dsql` (hash per bucket of keys); the sample compared
here is the human-readable excerpt: the same keys on every run, each column shown expected against found.

Each validator pushes its result under the XCom key `result` before failing, so the report task
(trigger rule ALL_DONE) can still write a complete `report.json` for a failed run. Both run only when
the load succeeded: after a failed load they are `upstream_failed` and the report says why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from connectors import dsql_reads as reads
from connectors.documents import count_by_type, is_mongo, iter_lines
from dbmigrate import run_files, runtime
from dbmigrate.hooks.dsql import DsqlHook
from transforms.adjacency import VERSION_COLUMN, DocumentMapper, Mapped, target_columns
from transforms.batching import CHILDREN
from transforms.checks import Check, compare_row
from transforms.extjson import loads
from transforms.intervals import FULL, Window, newer_version, version_text
from transforms.source_text import content_digest
from transforms.validation import KeySample, count_checks, target_key

RESULT_KEY = "result"


def _timeless_of(lines: Iterable[str], mapper: DocumentMapper, found: set[str]) -> Iterator[str]:
    """`lines` unchanged; the content digest of each that the mapper's window cannot place is added to `found`."""
    for line in lines:
        if mapper.timeless(line):
            found.add(content_digest(line, mapper.window_field))
        yield line


def _without_known(lines: Iterable[str], mapper: DocumentMapper, known: set[str], met_again: Counter
                   ) -> Iterator[str]:
    """`lines` of the mapper's window, less those whose content an earlier run quarantined (counted)."""
    for line in lines:
        if mapper.outside_window(line):
            continue
        if content_digest(line, mapper.window_field) in known:
            met_again["lines"] += 1
            continue
        yield line


class _MongoToDsqlValidation(BaseOperator):
    """What both validators share: the run's spec and inputs, and the source reader.

    :param spec_dag_id: the migration spec (templated)
    :param run: the run's inputs, as the first task resolved them (templated)
    :param dsql_conn_id: Airflow connection of the DSQL cluster
    :param aws_conn_id: AWS connection (S3 sources, job report, quarantine)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "run")

    def __init__(self, *, spec_dag_id: str, run: Any, dsql_conn_id: str = "dsql_default",
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)  # a check that fails fails again; infrastructure errors say so at once
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.run = run
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id

    def _spec(self) -> Any:
        """The run's own copy of its spec (`runtime.run_spec`), the one the job ran with."""
        return runtime.run_spec(self.run, self.spec_dag_id, self.aws_conn_id)

    def _mapper(self, spec: Any, window: Window) -> DocumentMapper:
        """The job's mapper of `window`, natural keys indexed from the whole source."""
        return DocumentMapper.for_spec(spec, window, lambda: self._lines(spec))

    def _window(self) -> Window:
        """The records this run loaded (`run["window"]`; every record in runs resolved before windows)."""
        window = self.run.get("window") or {}
        return Window.parse(window.get("start"), window.get("end"))

    def _lines(self, spec: Any, window: Window = FULL, met_again: Counter | None = None) -> Any:
        """The source the run migrated: a mongoexport file, or the live collection as the job reads it (its URI,
        database and secret: `dbmigrate.hooks.mongo_source`). Of a `window`, the lines the job's mapper does not
        leave out as another interval's (`outside_window`), nor as a line with no time an earlier run of the source
        quarantined (`connectors.timeless`; counted in `met_again`)."""
        source_uri = self.run["source_uri"]
        collection = database = None
        if is_mongo(source_uri):
            from dbmigrate.hooks.mongo_source import MongoSourceHook

            database = MongoSourceHook(aws_conn_id=self.aws_conn_id).get_database(
                source_uri, spec.source_database, spec.source_secret_arn)
            collection = database[spec.source_collection] if not spec.source_collections else None
        lines = iter_lines(source_uri, collection=collection, database=database, collections=spec.source_collections,
                           s3_client=run_files.s3_client(source_uri, self.aws_conn_id))
        if window.is_full:
            return lines
        mapper = DocumentMapper.for_spec(spec, window)
        known = self._known_timeless(spec)
        if not known:
            return (line for line in lines if not mapper.outside_window(line))
        return _without_known(lines, mapper, known, Counter() if met_again is None else met_again)

    def _known_timeless(self, spec: Any) -> set[str] | None:
        """The digests of the source's lines with no time that other runs quarantined (None: no such table)."""
        from connectors.timeless import known_timeless

        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        with hook.get_conn() as conn:
            return known_timeless(conn, spec.target_schema, self.run["source_uri"], self.run["run_id"])


class ValidateMongoToDsqlCountsOperator(_MongoToDsqlValidation):
    """Reconcile source documents, the job's accounting, the target rows of this run's keys and the quarantine.

    "Rows this run wrote" are counted by key, not by the `migration_run_id` column: while reading the source
    for the document counts, every document is also mapped (the mapper the job uses), and of those that map,
    the source's own keys (`PK`/`SK`, as `transforms.validation.target_key` turns them into the target's
    primary key) are collected per entity. The target rows whose primary key is among them must be exactly the
    `unique` rows the job reports writing. Documents that do not map are left out, so a key this run
    rejected does not count even if an earlier run loaded it; relationship keys the job quarantined as
    orphans have no row (their ends exist nowhere), so they do not count either.

    Why no other run can make this fail falsely: `migration_run_id` is overwritten by whichever run upserts a
    row last, so another run loading the same keys at the same time took rows away from this run's count.
    Key presence only depends on which rows exist, and runs only ever upsert (nothing deletes rows): every
    row this run wrote stays present whoever writes it afterwards, and the keys come from this run's source,
    not from anything stored in the target. With the target lock no other run writes during this run anyway.

    The keys are held in memory (a set per entity, ~100 bytes a key) and looked up 500 at a time on the
    primary key (`connectors.dsql_reads`).
    """

    def execute(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        run = self.run
        job = json.loads(run_files.read_text(run["job_report_uri"], self.aws_conn_id))
        keys: dict[str, set[tuple[str, ...]]] = {e.name: set() for e in spec.entities}
        elements: dict[str, dict[str, tuple[Any, int | None]]] = {c.name: {} for c in spec.children}
        window = self._window()
        met_again: Counter = Counter()
        new_timeless: set[str] = set()
        lines = self._lines(spec, window, met_again)
        if "timeless" in job:
            lines = _timeless_of(lines, DocumentMapper.for_spec(spec, window), new_timeless)
        if not run["dry_run"]:
            lines = _collect_keys(lines, spec, keys, window, elements, self._mapper(spec, window))
        by_type, total = count_by_type(lines, spec.max_nesting_depth, spec.shape, spec.entities)
        source = {e.name: by_type.get(e.doc_type, 0) for e in spec.entities}
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        target_keyed: dict[str, int] = {}
        target_total: dict[str, int] = {}
        if not run["dry_run"]:
            for e in spec.entities:
                target_keyed[e.name] = reads.count_present(hook.get_records, spec.target_schema, e, keys[e.name])
                target_total[e.name] = reads.table_count(hook.get_records, spec.target_schema, e.table)
        quarantined = run_files.count_quarantined(run["quarantine_uri"], self.aws_conn_id)
        checks = count_checks(source, job, target_keyed, total, quarantined)
        if "timeless" in job:
            checks += self._timeless_checks(hook, spec, job["timeless"], met_again["lines"], new_timeless)
        children: dict[str, dict[str, int]] = {}
        if not run["dry_run"]:
            for child in spec.children:
                children[child.name], child_checks = self._child_counts(hook, spec, child, elements[child.name], job)
                checks += child_checks
        result = {
            "entities": {n: {"source": source[n], "target": target_keyed.get(n),
                             "target_total": target_total.get(n),
                             **{k: c[k] for k in ("rejected", "duplicates", "unique")}}
                         for n, c in job["entities"].items()},
            "rejects": job["rejects"], "documents": total, "checks": [c.as_dict() for c in checks],
            "window": window.as_dict(), "pending": job.get("pending"), "children": children,
            **({"timeless": job["timeless"]} if "timeless" in job else {}),
            "notes": {} if run["dry_run"] else reads.dangling_references(hook.get_records, spec),
        }
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        failed = [c for c in checks if not c.passed]
        for c in checks:
            self.log.info("%s %s: %s: expected %s, found %s", "ok  " if c.passed else "FAIL", c.entity or "all",
                          c.name, c.expected, c.actual)
        if failed:
            raise AirflowFailException(f"{len(failed)} count check(s) do not reconcile: "
                                       + "; ".join(f"{c.entity or 'all'} {c.name}" for c in failed))
        return result

    def _timeless_checks(self, hook: DsqlHook, spec: Any, job: dict[str, int], met_again: int, new: set[str]
                         ) -> list[Check]:
        """Lines with no time: those an earlier run quarantined, skipped by the job as by this count; after a load,
        each of this run's recorded once (a later interval run skips it)."""
        from connectors.timeless import recorded_by

        checks = [Check("lines with no time an earlier run quarantined, skipped", met_again, job["met_again"])]
        if not self.run["dry_run"]:
            with hook.get_conn() as conn:
                recorded = recorded_by(conn, spec.target_schema, self.run["source_uri"], self.run["run_id"])
            checks.append(Check("lines with no time this run quarantined, recorded once by content", len(new),
                                recorded))
        return checks

    def _child_counts(self, hook: DsqlHook, spec: Any, child: Any, elements: dict[str, tuple[Any, int | None]],
                      job: dict[str, Any]) -> tuple[dict[str, int], list[Check]]:
        """A child table against the source's own answer: the elements of the arrays (distinct ids for a
        junction) of this run's winning documents, against the target rows of those parents and the job's count.
        A parent whose source holds two documents of one `_id` with arrays of different lengths is left out of
        both sides (the job keeps the greater text; the count does not hold texts) and counted. A parent whose
        row a newer document already holds (an old interval run again) keeps the newer document's elements: it
        is left out of the target check and counted as superseded; the job still wrote (and the guard refused)
        its elements, so the job check keeps it."""
        counts = {p: n for p, (_, n) in elements.items() if n is not None}
        parents = sorted(counts)
        expected = sum(counts.values())
        ambiguous = len(elements) - len(parents)
        stored = reads.versions(hook.get_records, spec.target_schema, spec.entity(child.parent), VERSION_COLUMN,
                                parents)
        superseded = {p for p, v in stored.items() if newer_version(v, version_text(elements[p][0]))}
        rows = reads.child_counts(hook.get_records, spec.target_schema, child, parents)
        current = [p for p in parents if p not in superseded]
        in_target = sum(counts[p] for p in current)
        found = sum(rows.get(p, 0) for p in current)
        written = job["entities"][child.parent].get("children", {}).get(child.name)
        checks = [Check("target rows of this run's parents = source array elements", in_target, found, child.name)]
        if not ambiguous and written is not None:
            checks.append(Check("job rows written = source array elements", expected, written, child.name))
        return {"source": expected, "target": found, "written": written, "ambiguous_parents": ambiguous,
                "superseded_parents": len(superseded)}, checks


def _collect_keys(lines: Iterable[str], spec: Any, keys: dict[str, set[tuple[str, ...]]], window: Window = FULL,
                  elements: dict[str, dict[str, tuple[Any, int | None]]] | None = None,
                  mapper: DocumentMapper | None = None) -> Iterator[str]:
    """Pass `lines` through, adding the target key of every document of `window` that maps to `keys[entity]`,
    and per child table, parent uuid → (`_id` order, elements in the source's array) of the greatest `_id`
    (None: two documents of one `_id` disagree)."""
    mapper = mapper or DocumentMapper.for_spec(spec, window)
    prefixes = {e.name: e.pk.prefix or "" for e in spec.entities}
    with_children = {e.name: e.children for e in spec.entities if e.children}
    for line in lines:
        m = mapper.map_line(line)
        if isinstance(m, Mapped):
            key = target_key(spec.entity(m.entity), m.pk, m.key[len(m.pk) + 1:], prefixes)
            keys[m.entity].add(key)
            if elements is not None and m.entity in with_children:
                doc = loads(line)
                for child in with_children[m.entity]:
                    n = array_elements(doc, child.source, distinct=child.element_entity is not None)
                    held = elements[child.name].get(key[0])
                    if held is None or m.order > held[0]:
                        elements[child.name][key[0]] = (m.order, n)
                    elif m.order == held[0] and held[1] != n:
                        elements[child.name][key[0]] = (m.order, None)
        yield line


def array_elements(doc: dict[str, Any], dotted: str, *, distinct: bool) -> int:
    """How many elements the (dotted) array field of a source document holds (distinct values: ids), or entries
    its map keyed by data holds."""
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        return len(value)
    if not isinstance(value, list):
        return 0
    return len({str(v) for v in value}) if distinct else len(value)


class ValidateMongoToDsqlRowsOperator(_MongoToDsqlValidation):
    """Re-map a deterministic sample of source documents and compare them column by column with the target.

    The sample holds the run's `sample_size` keys with the smallest hash: the same keys on every run. Of an
    interval run, the keys of its interval; a row a later interval's document already replaced (a greater
    `source_version`: an old interval run again) is counted as superseded, not compared.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        size = 0 if self.run["dry_run"] else int(self.run["sample_size"])
        window = self._window()
        mapper = self._mapper(spec, window) if size else DocumentMapper.for_spec(spec, window)
        sample = KeySample(size)
        for line in self._lines(spec, window) if size else ():
            m = mapper.map_line(line)
            if isinstance(m, Mapped):
                sample.offer(f"{m.entity}|{m.key}", (m.order, str(line)), m)  # ties: the greater text, as the job
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        found = self._read_back(hook, spec, sample.values())
        mismatches, compared, orphans, superseded = [], 0, 0, 0
        for m in sample.values():
            entity = spec.entity(m.entity)
            columns = target_columns(entity)
            actual = found.rows.get((m.entity, _key(entity, m.row)))
            if actual is None and entity.is_relationship and not all(ref in found.refs for ref in m.refs):
                orphans += 1  # quarantined as orphan_reference, rightly absent from the target
                continue
            if actual is not None and newer_version(actual.get(VERSION_COLUMN), m.row[VERSION_COLUMN]):
                superseded += 1
                continue
            compared += 1
            diffs = compare_row(m.row, actual, columns)
            if diffs:
                mismatches.append({"entity": m.entity, "key": m.key, "diffs": diffs})
            for child in entity.children:
                diffs = _child_diffs(child, found.children[child.name].get(str(m.row[entity.id_column]), []),
                                     m.row[CHILDREN][child.name])
                if diffs:
                    mismatches.append({"entity": child.name, "key": m.key, "diffs": diffs})
        result = {"requested": size, "compared": compared, "orphans_skipped": orphans, "mismatches": mismatches,
                  "superseded_skipped": superseded}
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        self.log.info("Compared %d sampled rows column by column; %d differ", compared, len(mismatches))
        if mismatches:
            for m in mismatches[:20]:
                self.log.error("%s %s: %s", m["entity"], m["key"], "; ".join(m["diffs"]))
            raise AirflowFailException(f"{len(mismatches)} of {compared} sampled rows differ from the source")
        return result

    @staticmethod
    def _read_back(hook: DsqlHook, spec: Any, sample: Iterable[Mapped]) -> _ReadBack:
        """The target rows of the sampled keys, their child rows and which of the keys their references name exist:
        a few batched queries per table (`connectors.dsql_reads`), whatever the sample's size."""
        schema, query = spec.target_schema, hook.get_records
        wanted: dict[str, set[tuple[str, ...]]] = {}
        refs: dict[str, set[str]] = {}
        for m in sample:
            entity = spec.entity(m.entity)
            wanted.setdefault(m.entity, set()).add(_key(entity, m.row))
            for ent, key in m.refs:
                refs.setdefault(ent, set()).add(key)
        out = _ReadBack()
        for name, keys in wanted.items():
            entity = spec.entity(name)
            rows = reads.rows_by_key(query, schema, entity, target_columns(entity), keys)
            out.rows.update(((name, k), row) for k, row in rows.items())
            for child in entity.children:
                out.children[child.name] = reads.child_rows(query, schema, child, target_columns(child),
                                                            [k[0] for k in keys])
        for ent, keys in refs.items():
            e = spec.entity(ent)
            assert e.pk.prefix is not None
            held = reads.existing_source_ids(query, schema, e.table, [k[len(e.pk.prefix):] for k in keys])
            out.refs.update((ent, e.pk.prefix + i) for i in held)
        return out


class _ReadBack:
    """What the row validator read back: rows by (entity, key), child rows by child and parent, existing refs."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        self.children: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.refs: set[tuple[str, str]] = set()


def _key(entity: Any, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in entity.key_columns)


def _child_diffs(child: Any, rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """A sampled parent's child rows, expected against found: missing, extra and differing rows."""
    columns = target_columns(child)
    found = {tuple(str(r[k]) for k in child.key_columns): r for r in rows}
    diffs = []
    for row in expected:
        key = tuple(str(row[k]) for k in child.key_columns)
        got = found.pop(key, None)
        diffs += [f"{child.table} {key[1]}: {d}" for d in compare_row(row, got, columns)]
    diffs += [f"{child.table} {key[1]}: in the target, not in the source's array" for key in sorted(found)]
    return diffs
