"""The seeded `movie_collection` generator: mongoexport-shaped, deterministic, and honest about bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from generators import movie_collection as mc

ROOT = Path(__file__).resolve().parents[2]
ENTITY_TYPES = set(mc.ENTITIES)
OID = re.compile(r"^[0-9a-f]{24}$")
MOVIE_ID = re.compile(r"^tt\d{7}$")
PERSON_ID = re.compile(r"^nm\d{7}$")


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return text[:-1].split("\n")


def _parse(lines: list[str]) -> tuple[list[tuple[int, dict[str, Any]]], list[int], list[int]]:
    """(index, document) for every JSON line, indices of lines json.loads rejects, indices of blank lines."""
    docs, broken, blank = [], [], []
    for i, line in enumerate(lines):
        if not line:
            blank.append(i)
            continue
        try:
            docs.append((i, json.loads(line)))
        except ValueError:
            broken.append(i)
    return docs, broken, blank


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("clean") / "movie_collection.json"
    return path, mc.write(path, 300, seed=7)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("bad") / "movie_collection.json"
    return path, mc.write(path, 300, seed=7, bad_input=True)


# ------------------------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("bad_input", [False, True])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, bad_input: bool) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    assert mc.write(a, 120, seed=3, bad_input=bad_input) == mc.write(b, 120, seed=3, bad_input=bad_input)
    mc.write(c, 120, seed=4, bad_input=bad_input)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_generate_matches_the_written_file(clean: tuple[Path, dict[str, Any]]) -> None:
    path, _ = clean
    items = list(mc.generate(300, seed=7))
    assert all(isinstance(item, dict) for item in items)
    assert [mc.to_line(item) for item in items] == _lines(path)


def test_bad_input_yields_raw_lines_for_malformed_and_blank() -> None:
    items = list(mc.generate(50, seed=1, bad_input=True))
    raw = [item for item in items if isinstance(item, mc.RawLine)]
    assert sum(1 for r in raw if r == "") == 3
    assert sum(1 for r in raw if r != "") == 4
    assert all(isinstance(item, dict | mc.RawLine) for item in items)


def test_too_few_movies_is_an_error() -> None:
    with pytest.raises(ValueError):
        list(mc.generate(0))
    with pytest.raises(ValueError):
        list(mc.generate(mc.MIN_BAD_INPUT_MOVIES - 1, bad_input=True))


# ------------------------------------------------------------------------------------------ clean shape

def test_clean_file_parses_and_has_the_documented_shape(clean: tuple[Path, dict[str, Any]]) -> None:
    path, expected = clean
    docs, broken, blank = _parse(_lines(path))
    assert broken == [] and blank == []
    by_type = Counter(d["type"] for _, d in docs)
    assert by_type["movie"] == 300
    assert by_type["actor"] == 150
    assert by_type["director"] == 30
    for _, d in docs:
        assert set(d) >= {"_id", "PK", "SK", "type"}
        assert OID.match(d["_id"]["$oid"])
        kind, _, ident = d["PK"].partition("#")
        if d["type"] in ("movie", "actor", "director"):
            assert d["SK"] == "METADATA" and kind == d["type"].upper()
            assert (MOVIE_ID if d["type"] == "movie" else PERSON_ID).match(ident)
        if d["type"] == "movie":
            assert isinstance(d["title"], str) and d["title"]
            assert isinstance(d["genres"], list) and all(g in mc.GENRES for g in d["genres"])
        if d["type"] in ("actor", "director"):
            assert isinstance(d["name"], str) and d["name"]
    assert expected["rejects"] == dict.fromkeys(mc.REJECT_REASONS, 0)
    assert expected["winners"] == {}
    for entity, counts in expected["entities"].items():
        assert counts == {"documents": by_type[entity], "unique": by_type[entity], "duplicates": 0, "rejected": 0}


def test_object_ids_increase_in_file_order(bad: tuple[Path, dict[str, Any]]) -> None:
    path, _ = bad
    docs, _, _ = _parse(_lines(path))
    oids = [d["_id"]["$oid"] for _, d in docs if "_id" in d]
    assert all(OID.match(o) for o in oids)
    assert oids == sorted(oids) and len(set(oids)) == len(oids)


def test_clean_keys_unique_and_every_reference_exists(clean: tuple[Path, dict[str, Any]]) -> None:
    path, _ = clean
    docs = [d for _, d in _parse(_lines(path))[0]]
    keys = Counter((d["PK"], d["SK"]) for d in docs)
    assert max(keys.values()) == 1
    entities = {d["PK"] for d in docs if d["SK"] == "METADATA"}
    cast: dict[str, list[int]] = defaultdict(list)
    crew: Counter[str] = Counter()
    for d in docs:
        if d["type"] == "movie_actor":
            assert d["PK"] in entities and d["SK"] in entities and d["SK"].startswith("ACTOR#")
            order = d["billing_order"]
            cast[d["PK"]].append(int(next(iter(order.values()))) if isinstance(order, dict) else order)
        elif d["type"] == "movie_director":
            assert d["PK"] in entities and d["SK"] in entities and d["SK"].startswith("DIRECTOR#")
            crew[d["PK"]] += 1
    movies = {d["PK"] for d in docs if d["type"] == "movie"}
    assert set(cast) == movies and set(crew) == movies
    assert all(sorted(orders) == list(range(1, len(orders) + 1)) and 3 <= len(orders) <= 8
               for orders in cast.values())
    assert all(1 <= n <= 2 for n in crew.values())


def test_types_are_interleaved(clean: tuple[Path, dict[str, Any]]) -> None:
    path, _ = clean
    first = [d["type"] for _, d in _parse(_lines(path)[:60])[0]]
    assert {"movie", "movie_actor"} <= set(first)


def test_unicode_quotes_and_both_extended_json_modes(clean: tuple[Path, dict[str, Any]]) -> None:
    path, _ = clean
    text = path.read_text(encoding="utf-8")
    for needle in ("José", "Zoë", "Björk", "Seo-yeon", "Søren", "王伟", "Don't Look Back", r'The \"Last\" Stand',
                   "L'Été", "O'Brien"):
        assert needle in text, needle
    for wrapper in ('{"$numberInt":', '{"$numberLong":', '{"$numberDecimal":', '{"$numberDouble":',
                    '{"$date":"19', '{"$date":{"$numberLong":"-'):
        assert wrapper in text, wrapper
    docs = [d for _, d in _parse(_lines(path))[0]]
    movies = [d for d in docs if d["type"] == "movie"]
    assert any(isinstance(d.get("year"), int) for d in movies)
    assert any(isinstance(d.get("rating"), float) for d in movies)
    assert any(d.get("runtime_minutes", 0) is None for d in movies)
    assert any(set(d) & {"imdb_votes", "_class"} for d in movies)
    assert any("details" in d for d in movies) and any("details" not in d for d in movies)
    actors = [d for d in docs if d["type"] == "actor"]
    assert any("birth_place" not in d for d in actors) and any(d["birth_date"] is None for d in actors)


# -------------------------------------------------------------------------------------------- bad input

def test_every_line_is_json_except_the_malformed_ones(bad: tuple[Path, dict[str, Any]]) -> None:
    path, expected = bad
    lines = _lines(path)
    docs, broken, blank = _parse(lines)
    assert len(broken) == expected["rejects"]["malformed_json"] >= 3
    assert len(blank) == expected["blank_lines"] >= 1
    assert expected["documents"] == len(lines) - len(blank) == len(docs) + len(broken)
    assert all(isinstance(d, dict) for _, d in docs)


def test_counts_add_up(bad: tuple[Path, dict[str, Any]]) -> None:
    path, expected = bad
    docs, broken, _ = _parse(_lines(path))
    by_type = Counter(d.get("type") for _, d in docs)
    no_entity = len(broken) + sum(n for t, n in by_type.items() if t not in ENTITY_TYPES)
    entities = expected["entities"]
    assert set(entities) == ENTITY_TYPES and set(expected["rejects"]) == set(mc.REJECT_REASONS)
    for name, c in entities.items():
        assert c["documents"] == by_type[name] == c["unique"] + c["duplicates"] + c["rejected"]
        assert c["duplicates"] >= 1 and c["rejected"] >= 1
    assert sum(c["documents"] for c in entities.values()) + no_entity == expected["documents"]
    assert sum(expected["rejects"].values()) == sum(c["rejected"] for c in entities.values()) + no_entity
    assert all(expected["rejects"][r] >= 3 for r in mc.GENERATED_REASONS), expected["rejects"]
    assert entities["movie"]["unique"] == 300


def test_bad_input_leaves_the_clean_entities_loadable(bad: tuple[Path, dict[str, Any]],
                                                       clean: tuple[Path, dict[str, Any]]) -> None:
    _, with_bad = bad
    _, without = clean
    for name in ("movie", "actor", "director"):
        assert with_bad["entities"][name]["unique"] == without["entities"][name]["unique"]


def test_each_bad_input_class_is_present(bad: tuple[Path, dict[str, Any]]) -> None:
    path, _ = bad
    docs = [d for _, d in _parse(_lines(path))[0]]

    def some(pred: Any) -> int:
        return sum(1 for d in docs if pred(d))

    assert some(lambda d: d.get("type") == "movie" and "title" not in d)
    assert some(lambda d: d.get("type") == "actor" and "name" in d and d["name"] is None)
    assert some(lambda d: "type" not in d)
    assert some(lambda d: "PK" not in d) and some(lambda d: "SK" not in d) and some(lambda d: "_id" not in d)
    assert some(lambda d: d.get("year") == "nineteen") and some(lambda d: d.get("year") == 1994.5)
    assert some(lambda d: d.get("runtime_minutes") is True) and some(lambda d: d.get("rating") == 123.4)
    assert some(lambda d: d.get("rating") == {"$numberDouble": "NaN"})
    assert some(lambda d: d.get("genres") == "Drama") and some(lambda d: d.get("genres") == ["Drama", 5])
    assert some(lambda d: d.get("release_date") == "not a date")
    assert some(lambda d: isinstance(d.get("details"), dict) and d["details"].get("budget") == "lots")
    assert some(lambda d: d.get("billing_order") == "first")
    assert some(lambda d: d.get("birth_date") == {"$date": "1999-13-45T00:00:00Z"})
    assert some(lambda d: d.get("type") == "producer" and d["PK"].startswith("PRODUCER#"))
    assert some(lambda d: d.get("type") == "movie" and str(d.get("PK")).startswith("FILM#"))
    assert some(lambda d: d.get("PK") in ("MOVIE#", "ACTOR#", "DIRECTOR#") and d["SK"] == "METADATA") == 3
    assert some(lambda d: len(str(d.get("PK", ""))) > 255 + len("ACTOR#")) == 2
    assert some(lambda d: d.get("type") == "movie_actor" and d.get("SK") == "ACTOR#") == 2


def test_bad_documents_are_spread_through_the_file(bad: tuple[Path, dict[str, Any]]) -> None:
    path, _ = bad
    lines = _lines(path)
    docs, broken, blank = _parse(lines)
    odd = set(broken) | set(blank)
    odd |= {i for i, d in docs if re.search(r"#(tt|nm)99\d{5}$|#p\d$|#$|^FILM#", str(d.get("PK")))}
    odd |= {i for i, d in docs if "PK" not in d or "type" not in d or "_id" not in d}
    assert min(odd) < len(lines) * 0.1 and max(odd) > len(lines) * 0.9
    thirds = Counter(3 * i // len(lines) for i in odd)
    assert min(thirds[t] for t in range(3)) >= len(odd) // 6


def test_winners_are_the_greatest_id_of_their_duplicate_group(bad: tuple[Path, dict[str, Any]]) -> None:
    path, expected = bad
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, d in _parse(_lines(path))[0]:
        if isinstance(d.get("PK"), str) and isinstance(d.get("SK"), str) and "_id" in d:
            groups[f"{d['PK']}|{d['SK']}"].append(d)
    dup_groups = {k: g for k, g in groups.items() if len(g) > 1}
    assert set(expected["winners"]) <= set(dup_groups)
    assert sum(len(g) - 1 for g in dup_groups.values()) == sum(
        c["duplicates"] for c in expected["entities"].values())
    assert sum(1 for k in expected["winners"] if k.endswith("|METADATA") and k.startswith("MOVIE#")) == 2
    assert any(len(dup_groups[k]) == 3 for k in expected["winners"])
    for key, value in expected["winners"].items():
        group = sorted(dup_groups[key], key=lambda d: d["_id"]["$oid"])
        field = {"movie": "title", "actor": "name", "director": "name", "movie_actor": "character_name"}[
            group[0]["type"]]
        assert group[-1][field] == value
        assert len({d[field] for d in group}) == len(group)  # every copy differs, so the winner is observable


def test_outcome_matches_the_reader_rules(bad: tuple[Path, dict[str, Any]]) -> None:
    """Contract check against the migration's own per-document mapper (pure Python, no Spark)."""
    adjacency = pytest.importorskip("transforms.adjacency")
    spec_mod = pytest.importorskip("transforms.spec")
    spec = spec_mod.load_spec(ROOT / "include" / "specs" / "movie_collection_to_dsql.yaml")
    mapper = adjacency.DocumentMapper(spec.entities)
    path, expected = bad
    documents, rejected, reasons, winners = Counter(), Counter(), Counter(), {}
    total = 0
    for line in _lines(path):
        result = mapper.map_line(line)
        if result is None:
            continue
        total += 1
        if isinstance(result, adjacency.Rejected):
            reasons[result.reason] += 1
            if result.entity:
                documents[result.entity] += 1
                rejected[result.entity] += 1
            continue
        documents[result.entity] += 1
        best = winners.get((result.entity, result.key))
        if best is None or result.order > best.order:
            winners[(result.entity, result.key)] = result
    loaded = {(e, m.pk) for (e, _), m in winners.items() if e in ("movie", "actor", "director")}
    unique = Counter()
    for (entity, _), m in winners.items():
        if all(ref in loaded for ref in m.refs):
            unique[entity] += 1
        else:
            reasons["orphan_reference"] += 1
            rejected[entity] += 1
    assert total == expected["documents"]
    assert {r: reasons[r] for r in mc.REJECT_REASONS} == expected["rejects"]
    for name, c in expected["entities"].items():
        assert (documents[name], unique[name], rejected[name]) == (c["documents"], c["unique"], c["rejected"])
    for key, value in expected["winners"].items():
        row = next(m.row for (_, k), m in winners.items() if k == key)
        assert value in (row.get("title"), row.get("name"), row.get("character_name"))


# --------------------------------------------------------------------------------------------------- CLI

def test_cli_writes_the_file_and_its_expected_outcome(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "movies.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    outputs = []
    for hash_seed in ("1", "2"):  # set/dict iteration must not leak into the output
        run = subprocess.run(
            [sys.executable, "-m", "generators.movie_collection", "--movies", "40", "--seed", "5", "--out", str(out),
             "--bad-input"], env={**env, "PYTHONHASHSEED": hash_seed}, capture_output=True, text=True, check=True)
        assert str(out) in run.stdout
        outputs.append((out.read_bytes(), mc.expected_path(out).read_bytes()))
    assert outputs[0] == outputs[1]
    expected = json.loads(mc.expected_path(out).read_text(encoding="utf-8"))
    assert expected == mc.write(tmp_path / "again.json", 40, seed=5, bad_input=True)
    assert (tmp_path / "again.json").read_bytes() == out.read_bytes()

    refused = subprocess.run(
        [sys.executable, "-m", "generators.movie_collection", "--movies", "5", "--out", str(out), "--bad-input"],
        env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "at least" in refused.stderr


def test_the_cli_spreads_times_and_splits_the_export_by_day(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--start/--days` spread the ObjectId times over the days and `--split-daily` writes what daily exports
    would hold: the day files together are the whole export, in order, and a line without an ObjectId `_id`
    goes to `undated.json` instead of being lost."""
    out = tmp_path / "movies.json"
    assert mc.main(["--movies", "30", "--seed", "5", "--out", str(out), "--start", "2024-01-01", "--days", "2",
                    "--split-daily", str(tmp_path / "days")]) == 0
    assert json.loads(mc.expected_path(out).read_text())["rejects"] == dict.fromkeys(mc.REJECT_REASONS, 0)
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    days = sorted((tmp_path / "days").glob("*.json"))
    assert [d.name for d in days] == ["2024-01-01.json", "2024-01-02.json"]
    assert sorted(line for d in days for line in d.read_text(encoding="utf-8").splitlines(keepends=True)) == \
        sorted(lines)
    assert "wrote " in capsys.readouterr().out
    with out.open("a", encoding="utf-8", newline="\n") as f:
        f.write('{"_id": "not-an-objectid", "type": "movie"}\n')
    counts = mc.split_by_day(out, tmp_path / "again")
    assert counts["undated"] == 1 and sum(counts.values()) == len(lines) + 1
