"""A seeded, deterministic MongoDB `movie_collection` in `mongoexport` format, optionally with bad input.

The collection is an adjacency list: movies, actors, directors and the movie↔actor / movie↔director links
share one collection, keyed by `PK`/`SK` and told apart by `type`. Documents are written as MongoDB
Extended JSON, one per line, the way `mongoexport` (100.x) writes them by default (relaxed mode: plain
numbers, ISO `$date` for 1970 onwards, `{"$date": {"$numberLong": ...}}` before 1970), with some values
in canonical form (`$numberInt`, `$numberLong`, `$numberDouble`, `$numberDecimal`, millisecond dates)
so readers must handle both. Lines come in `_id` order, which interleaves the entity types.

    generate(movies, seed, bad_input)  -> the file's items in order: dicts (documents) and, with
                                          bad_input, `RawLine`s (a malformed line or a blank line)
    build(movies, seed, bad_input)     -> `Generated(items, expected)`
    write(path, movies, seed, bad_input) -> writes the file, returns `expected` (see below)

With `bad_input=True` the file also holds documents of every reject class (missing_field, bad_type,
unknown_entity, bad_key, orphan_reference, malformed_json), duplicate groups (same PK+SK; the greatest
`_id` wins) and blank lines, spread through the file. Every bad document has exactly one reason, no bad
document shares its key with another document, and no duplicate group contains an invalid document, so
the outcome under the reader's rules is unambiguous. `expected` is computed from those rules:

    {"documents": non-blank lines,
     "entities": {entity: {"documents", "unique", "duplicates", "rejected"}},   # by the document's `type`
     "rejects": {reason: count},
     "winners": {"<PK>|<SK>": winning title / name / character_name},         # duplicate groups only
     "blank_lines": blank lines}

CLI (PYTHONPATH=include): python -m generators.movie_collection --movies N --seed S --out PATH [--bad-input]
writes PATH and PATH.expected.json. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ENTITIES = ("movie", "actor", "director", "movie_actor", "movie_director")
# The reasons `--bad-input` writes documents of; the job reports three more, always 0 here (bad_encoding,
# too_large and unmappable: tests/fixtures/bad_input.py has documents of those).
GENERATED_REASONS = ("missing_field", "bad_type", "unknown_entity", "bad_key", "orphan_reference", "malformed_json")
REJECT_REASONS = (*GENERATED_REASONS, "bad_encoding", "too_large", "unmappable")
_BASE_ENTITIES = ("movie", "actor", "director")
_PREFIX = {"movie": "MOVIE#", "actor": "ACTOR#", "director": "DIRECTOR#"}
_WINNER_FIELD = {"movie": "title", "actor": "name", "director": "name", "movie_actor": "character_name"}
MAX_ID_LENGTH = 255
MIN_BAD_INPUT_MOVIES = 20
# Generated ids are "tt"/"nm" + 7 digits below this; ids for bad documents and dangling references are at or
# above it, so they can never collide with a generated entity.
_REGULAR_ID_LIMIT = 9_900_000
_EPOCH = date(1970, 1, 1)
_MS_PER_DAY = 86_400_000

GENRES = (
    "Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary", "Drama", "Family",
    "Fantasy", "Film-Noir", "History", "Horror", "Music", "Musical", "Mystery", "Romance", "Sci-Fi", "Sport",
    "Thriller", "War", "Western",
)
LANGUAGES = (
    "English", "French", "Spanish", "Japanese", "Korean", "Mandarin", "German", "Swedish", "Danish", "Hindi",
    "Italian", "Portuguese", "Yorùbá", "Íslenska",
)
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Emma", "Olivia", "Liam", "Noah",
    "Sophia", "Zoë", "Chloé", "José", "María", "Lucía", "Javier", "Sofía", "Mateo", "Joaquín", "Penélope",
    "Søren", "Astrid", "Björn", "Ingrid", "Åsa", "Mads", "Freja", "François", "Amélie", "Hélène", "Jérôme",
    "Renée", "Gaël", "Jürgen", "Günter", "Lena", "Seo-yeon", "Ji-hoon", "Min-jun", "Hye-jin", "Hiroshi",
    "Yuki", "Haruto", "Aiko", "Wei", "Mei", "Priya", "Arjun", "Ananya", "Rahul", "Aleksandr", "Natalia",
    "Dmitri", "Olga", "Chidi", "Amara", "Oluwaseun", "Fatima", "Omar", "Leila", "Youssef", "Siobhán", "Seán",
    "Niamh", "Lupita", "Zoltán", "Dorota", "Paul", "Anne-Marie", "Jean-Luc",
)
LAST_NAMES = (
    "Smith", "Johnson", "Brown", "Garcia", "Martínez", "Rodríguez", "Hernández", "López", "Müller",
    "Schröder", "Weiß", "Jensen", "Sørensen", "Nielsen", "Andersson", "Lindqvist", "Öberg", "Dubois",
    "Lefèvre", "Moreau", "Kim", "Park", "Lee", "Choi", "Tanaka", "Suzuki", "Yamamoto", "Chen", "Wang",
    "Nakamura", "Patel", "Sharma", "Gupta", "Ivanova", "Petrov", "Kowalski", "Nowak", "Okafor", "Adeyemi",
    "Haddad", "O'Brien", "O'Connor", "D'Angelo", "MacLeod", "van der Berg", "de la Cruz", "Ng", "Nguyễn",
    "Trần", "Kaur", "Novák", "Dvořák", "Szabó", "Ó Súilleabháin",
)
CJK_NAMES = (
    "王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "黄丽", "山田太郎", "佐藤花子", "鈴木一郎", "김서연", "박지훈",
)
MONONYMS = ("Björk", "Mýa", "Nandi", "Aurélie", "Kalinda")
PLACES = (
    "London, England, UK", "São Paulo, Brazil", "Zürich, Switzerland", "Seoul, South Korea", "Tokyo, Japan",
    "Reykjavík, Iceland", "Lagos, Nigeria", "Mumbai, India", "Kraków, Poland", "Malmö, Sweden",
    "Montréal, Québec, Canada", "Beijing, China", "北京, 中国", "Los Angeles, California, USA",
    "New York City, New York, USA", "Ciudad de México, México", "København, Denmark", "Paris, France",
    "Dublin, Ireland", "Hà Nội, Vietnam",
)
ADJECTIVES = (
    "Last", "Silent", "Dark", "Lost", "Hidden", "Broken", "Golden", "Eternal", "Crimson", "Midnight",
    "Forgotten", "Savage", "Electric", "Quiet", "Endless", "Burning", "Frozen", "Wild", "Secret", "Little",
    "Final", "Distant", "Pale", "Restless",
)
NOUNS = (
    "Stand", "Road", "River", "Kingdom", "Garden", "Storm", "Shadow", "Promise", "Harbor", "City", "Summer",
    "Winter", "Heart", "Machine", "Empire", "Island", "Letter", "Dream", "Witness", "Horizon", "Mirror",
    "Orchard", "Station", "Lullaby",
)
VERBS = ("Look Back", "Let Go", "Call Me", "Wake the Dead", "Tell Mother", "Stop Now", "Cry", "Forget")
PLACE_WORDS = ("Paris", "Tokyo", "Casablanca", "Reykjavík", "São Paulo", "Kraków", "Malmö", "Zürich", "Montréal",
               "Seoul", "Marrakech", "Hà Nội")
FOREIGN_TITLES = (
    "L'Été meurtrier", "La Dolce Notte", "Los Olvidados del Mar", "Das weiße Haus am See", "Smultronstället",
    "千と千尋の夜", "花样年华之后", "기생충의 밤", "Amélie à Montmartre", "Ödets Väg", "Þögn", "Żywot Briana",
)
# Placed on the first movies / actors so every file (of a reasonable size) has unicode, quotes and backslashes.
SPECIAL_TITLES = (
    "Don't Look Back", 'The "Last" Stand', "L'Été", "Zoë's Garden", "東京物語の夜", "Ctrl\\Alt\\Delete",
    "Heart 💔 Break", "Tab\tStop",
)
SPECIAL_NAMES = ("José García", "Zoë O'Brien", "Björk", "Seo-yeon Kim", "Søren Sørensen", "王伟")
NICKNAMES = ("Ace", "Doc", "Red", "Kid", "Slim", "Lucky")
ROMAN = ("II", "III", "IV", "V")
_CLASSES = ("com.example.movies.Movie", "com.example.movies.Person")


class RawLine(str):
    """A line written as-is: malformed JSON, or a blank line ("")."""

    __slots__ = ()


class _Malformed:
    """A broken line whose `@OID@` placeholder gets the ObjectId of its position in the file."""

    __slots__ = ("template",)

    def __init__(self, template: str) -> None:
        self.template = template


@dataclass
class _Meta:
    """What a reader must make of one document, by the reader's rules (see module docstring)."""

    entity: str | None  # the entity its `type` names; None for no/unknown type and malformed lines
    reason: str | None = None  # per-document reject reason; orphans are found afterwards, across documents
    key: str | None = None  # "<PK>|<SK>"
    refs: tuple[str, ...] = ()  # keys of the entities a link points at
    has_id: bool = True
    intended: str | None = None  # the reason this bad document was made for (checked against the outcome)


@dataclass(frozen=True)
class Generated:
    items: list[Any]  # dict | RawLine, in file order
    expected: dict[str, Any]


# --------------------------------------------------------------------------------------------- value forms

def _ms(d: date) -> int:
    return (d - _EPOCH).days * _MS_PER_DAY


def _date(rng: random.Random, d: date) -> dict[str, Any]:
    """`$date` as mongoexport writes it (ISO from 1970, $numberLong before), sometimes canonical."""
    r = rng.random()
    if d < _EPOCH:
        return {"$date": d.isoformat() + "T00:00:00Z"} if r < 0.15 else {"$date": {"$numberLong": str(_ms(d))}}
    if r < 0.12:
        return {"$date": {"$numberLong": str(_ms(d))}}
    if r < 0.20:
        return {"$date": d.isoformat() + "T00:00:00.000Z"}
    return {"$date": d.isoformat() + "T00:00:00Z"}


def _int(rng: random.Random, value: int) -> Any:
    r = rng.random()
    if r < 0.08:
        return {"$numberInt": str(value)}
    if r < 0.13:
        return {"$numberLong": str(value)}
    return value


def _long(rng: random.Random, value: int) -> Any:
    return {"$numberLong": str(value)} if rng.random() < 0.3 else value


def _double(rng: random.Random, value: float) -> Any:
    r = rng.random()
    if r < 0.07:
        return {"$numberDecimal": repr(value)}
    if r < 0.14:
        return {"$numberDouble": repr(value)}
    return value


def _birth(rng: random.Random, first_year: int, last_year: int) -> date:
    return date(rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28))


# ---------------------------------------------------------------------------------------------- text values

def _title(rng: random.Random) -> str:
    r = rng.random()
    a, n, n2 = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
    if r < 0.22:
        return f"The {a} {n}"
    if r < 0.36:
        return f"{n} of the {a} {n2}"
    if r < 0.46:
        return f"{a} {n}s"
    if r < 0.55:
        return f"A {n} in {rng.choice(PLACE_WORDS)}"
    if r < 0.64:
        return f"The {n}'s {n2}"
    if r < 0.71:
        return f"Don't {rng.choice(VERBS)}"
    if r < 0.79:
        return f"{a} {n}: Part {rng.choice(ROMAN)}"
    if r < 0.85:
        return f'The "{a}" {n}'
    if r < 0.93:
        return rng.choice(FOREIGN_TITLES)
    return f"{rng.choice(PLACE_WORDS)}, {rng.randint(1950, 2030)}"


def _name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.09:
        return rng.choice(CJK_NAMES)
    if r < 0.12:
        return rng.choice(MONONYMS)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if r < 0.19:
        return f"{first} {chr(rng.randint(65, 90))}. {last}"
    return f"{first} {last}"


def _character(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.10:
        return None
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if r < 0.15:
        return rng.choice(("Self", "Narrator", "Himself", "Herself", "Waiter #2", "Voice"))
    if r < 0.25:
        return f"Dr. {last}"
    if r < 0.32:
        return f"Detective {last}"
    if r < 0.39:
        return f'{first} "{rng.choice(NICKNAMES)}" {last}'
    if r < 0.45:
        return f"Young {first}"
    if r < 0.70:
        return first
    return f"{first} {last}"


# ------------------------------------------------------------------------------------------------ documents

def _movie(rng: random.Random, movie_id: str, title: str) -> dict[str, Any]:
    release = date(rng.randint(1925, 2024), rng.randint(1, 12), rng.randint(1, 28))
    doc: dict[str, Any] = {"PK": f"MOVIE#{movie_id}", "SK": "METADATA", "type": "movie", "title": title,
                           "year": _int(rng, release.year)}
    doc["genres"] = [] if rng.random() < 0.02 else rng.sample(GENRES, rng.randint(1, 3))
    r = rng.random()
    if r < 0.06:
        doc["runtime_minutes"] = None
    elif r >= 0.09:
        doc["runtime_minutes"] = _int(rng, rng.randint(62, 212))
    r = rng.random()
    if r < 0.04:
        doc["rating"] = None
    elif r >= 0.06:
        doc["rating"] = _double(rng, 10.0 if rng.random() < 0.005 else round(rng.uniform(1.0, 9.9), 1))
    doc["release_date"] = _date(rng, release)
    if rng.random() < 0.7:
        details: dict[str, Any] = {}
        if rng.random() < 0.85:
            budget = rng.randint(1, 3000) * 100_000
            details["budget"] = {"$numberLong": str(budget)} if rng.random() < 0.3 else budget
        if rng.random() < 0.8:
            details["box_office"] = None if rng.random() < 0.1 else _long(rng, rng.randint(10_000, 2_900_000_000))
        if rng.random() < 0.9:
            details["language"] = rng.choice(LANGUAGES)
        doc["details"] = details
    r = rng.random()
    if r < 0.06:
        doc["imdb_votes"] = _long(rng, rng.randint(5, 3_000_000))
    elif r < 0.10:
        doc["_class"] = _CLASSES[0]
    elif r < 0.12:
        doc["updated_at"] = _date(rng, date(rng.randint(2015, 2024), rng.randint(1, 12), rng.randint(1, 28)))
    elif r < 0.13:
        doc["poster_thumb"] = {"$binary": {"base64": "iVBORw0KGgo=", "subType": "00"}}
    return doc


def _actor(rng: random.Random, actor_id: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"PK": f"ACTOR#{actor_id}", "SK": "METADATA", "type": "actor", "name": name}
    doc["birth_date"] = None if rng.random() < 0.1 else _date(rng, _birth(rng, 1925, 2008))
    if rng.random() < 0.75:
        doc["birth_place"] = rng.choice(PLACES)
    if rng.random() < 0.04:
        doc["_class"] = _CLASSES[1]
    return doc


def _director(rng: random.Random, director_id: str, name: str, birth_date: Any = ...) -> dict[str, Any]:
    doc: dict[str, Any] = {"PK": f"DIRECTOR#{director_id}", "SK": "METADATA", "type": "director", "name": name}
    if birth_date is ...:
        birth_date = None if rng.random() < 0.08 else _date(rng, _birth(rng, 1900, 1992))
    doc["birth_date"] = birth_date
    return doc


def _cast(rng: random.Random, movie_id: str, actor_id: str, order: int) -> dict[str, Any]:
    return {"PK": f"MOVIE#{movie_id}", "SK": f"ACTOR#{actor_id}", "type": "movie_actor",
            "character_name": _character(rng), "billing_order": _int(rng, order)}


def _directed(movie_id: str, director_id: str) -> dict[str, Any]:
    return {"PK": f"MOVIE#{movie_id}", "SK": f"DIRECTOR#{director_id}", "type": "movie_director"}


def _key(doc: dict[str, Any]) -> str:
    return f"{doc['PK']}|{doc['SK']}"


def _ok(entity: str, doc: dict[str, Any]) -> _Meta:
    refs: tuple[str, ...] = ()
    if entity == "movie_actor":
        refs = (f"{doc['PK']}|METADATA", f"{doc['SK']}|METADATA")
    elif entity == "movie_director":
        refs = (f"{doc['PK']}|METADATA", f"{doc['SK']}|METADATA")
    return _Meta(entity, key=_key(doc), refs=refs)


# ---------------------------------------------------------------------------------------------- clean data

@dataclass
class _Clean:
    docs: list[tuple[dict[str, Any], _Meta]]
    movies: list[str]
    actors: list[str]
    directors: list[str]
    casts: dict[str, list[str]]  # movie id → actor ids
    crews: dict[str, list[str]]  # movie id → director ids


def _clean(rng: random.Random, n_movies: int) -> _Clean:
    n_actors, n_directors = max(1, round(n_movies / 2)), max(1, round(n_movies / 10))
    movie_ids = [f"tt{i:07d}" for i in rng.sample(range(1, _REGULAR_ID_LIMIT), n_movies)]
    person_numbers = rng.sample(range(1, _REGULAR_ID_LIMIT), n_actors + n_directors)
    actor_ids = [f"nm{i:07d}" for i in person_numbers[:n_actors]]
    docs: list[tuple[dict[str, Any], _Meta]] = []

    for i, mid in enumerate(movie_ids):
        doc = _movie(rng, mid, SPECIAL_TITLES[i] if i < len(SPECIAL_TITLES) else _title(rng))
        docs.append((doc, _ok("movie", doc)))
    actor_docs: dict[str, dict[str, Any]] = {}
    for i, aid in enumerate(actor_ids):
        doc = _actor(rng, aid, SPECIAL_NAMES[i] if i < len(SPECIAL_NAMES) else _name(rng))
        actor_docs[aid] = doc
        docs.append((doc, _ok("actor", doc)))
    # Some people both act and direct: same nm id and person under ACTOR# and DIRECTOR# (two different keys).
    director_ids: list[str] = []
    for i in range(n_directors):
        if rng.random() < 0.15:
            aid = rng.choice(actor_ids)
            if aid not in director_ids:
                director_ids.append(aid)
                a = actor_docs[aid]
                doc = _director(rng, aid, a["name"], a["birth_date"])
                docs.append((doc, _ok("director", doc)))
                continue
        did = f"nm{person_numbers[n_actors + i]:07d}"
        director_ids.append(did)
        doc = _director(rng, did, _name(rng))
        docs.append((doc, _ok("director", doc)))

    casts: dict[str, list[str]] = {}
    crews: dict[str, list[str]] = {}
    for mid in movie_ids:
        cast = rng.sample(actor_ids, min(rng.randint(3, 8), n_actors))
        casts[mid] = cast
        for order, aid in enumerate(cast, start=1):
            doc = _cast(rng, mid, aid, order)
            docs.append((doc, _ok("movie_actor", doc)))
        crew = rng.sample(director_ids, min(1 if rng.random() < 0.8 else 2, len(director_ids)))
        crews[mid] = crew
        for did in crew:
            doc = _directed(mid, did)
            docs.append((doc, _ok("movie_director", doc)))
    return _Clean(docs, movie_ids, actor_ids, director_ids, casts, crews)


# ------------------------------------------------------------------------------------------------ bad input

def _bad(rng: random.Random, clean: _Clean) -> list[tuple[Any, _Meta | None]]:
    """Documents of every reject class, duplicate copies, malformed and blank lines (not yet placed)."""
    out: list[tuple[Any, _Meta | None]] = []
    counter = iter(range(_REGULAR_ID_LIMIT, 10_000_000))

    def fresh(prefix: str) -> str:
        return f"{prefix}{next(counter):07d}"

    def add(doc: dict[str, Any], entity: str | None, reason: str, *, has_id: bool = True) -> None:
        meta = _ok(entity, doc) if entity and "PK" in doc and "SK" in doc else _Meta(entity)
        meta.reason = None if reason == "orphan_reference" else reason  # orphans are found across documents
        meta.intended, meta.has_id = reason, has_id
        out.append((doc, meta))

    def unlinked_pair() -> tuple[str, str]:
        """A (movie, actor) pair with no link yet, so a bad link never shares its key with a good one."""
        while True:
            mid = rng.choice(clean.movies)
            aid = rng.choice(clean.actors)
            if aid not in clean.casts[mid]:
                clean.casts[mid].append(aid)
                return mid, aid

    def movie() -> dict[str, Any]:
        return _movie(rng, fresh("tt"), _title(rng))

    def actor() -> dict[str, Any]:
        return _actor(rng, fresh("nm"), _name(rng))

    def director() -> dict[str, Any]:
        return _director(rng, fresh("nm"), _name(rng))

    # missing_field: a required field absent or null
    rejected_movies: list[str] = []
    for variant in range(2):
        doc = movie()
        if variant:
            doc["title"] = None
        else:
            del doc["title"]
        rejected_movies.append(doc["PK"][len("MOVIE#"):])
        add(doc, "movie", "missing_field")
        doc = actor()
        if variant:
            del doc["name"]
        else:
            doc["name"] = None
        add(doc, "actor", "missing_field")
        doc = movie()
        del doc["type"]
        add(doc, None, "missing_field")
        doc = actor()
        if variant:
            doc["PK"] = None
        else:
            del doc["PK"]
        add(doc, "actor", "missing_field")
        mid, did = rng.choice(clean.movies), rng.choice(clean.directors)
        doc = _directed(mid, did)
        del doc["SK"]
        add(doc, "movie_director", "missing_field")
        add(director(), "director", "missing_field", has_id=False)

    # bad_type: a value that cannot be read as its column's type
    movie_breakers: list[tuple[str, Any]] = [
        ("year", "nineteen"), ("year", 1994.5), ("runtime_minutes", True), ("rating", 123.4),
        ("rating", {"$numberDouble": "NaN"}), ("genres", "Drama"), ("genres", ["Drama", 5]),
        ("release_date", "not a date"), ("details.budget", "lots"),
    ]
    for variant in range(2):
        for field, value in movie_breakers:
            doc = movie()
            if field == "details.budget":
                doc["details"] = {**doc.get("details", {}), "budget": value}
            else:
                doc[field] = value
            if (field, value) == ("year", "nineteen"):
                rejected_movies.append(doc["PK"][len("MOVIE#"):])
            add(doc, "movie", "bad_type")
        mid, aid = unlinked_pair()
        doc = _cast(rng, mid, aid, 1)
        doc["billing_order"] = "first"
        add(doc, "movie_actor", "bad_type")
        doc = actor()
        doc["birth_date"] = {"$date": "1999-13-45T00:00:00Z"}
        add(doc, "actor", "bad_type")
        doc = director()
        doc["birth_date"] = {"$date": "1961-02-30T00:00:00Z"} if variant else "yesterday"
        add(doc, "director", "bad_type")

    # unknown_entity: a type no entity has, or a key whose shape does not match its type
    for variant in range(2):
        add({"PK": f"PRODUCER#p{variant + 1}", "SK": "METADATA", "type": "producer", "name": _name(rng)},
            None, "unknown_entity")
        doc = movie()
        doc["PK"] = "FILM#" + doc["PK"][len("MOVIE#"):]
        add(doc, "movie", "unknown_entity")
        doc = _directed(rng.choice(clean.movies), f"p{variant + 1}")
        doc["SK"] = f"PRODUCER#p{variant + 1}"
        add(doc, "movie_director", "unknown_entity")

    # bad_key: an empty id, or one longer than MAX_ID_LENGTH characters
    for entity, make in (("movie", movie), ("actor", actor), ("director", director)):
        doc = make()
        doc["PK"] = _PREFIX[entity]
        add(doc, entity, "bad_key")
    doc = movie()
    doc["PK"] = "MOVIE#tt" + "9" * 300
    add(doc, "movie", "bad_key")
    doc = actor()
    doc["PK"] = "ACTOR#nm" + "0" * (MAX_ID_LENGTH + 20)
    add(doc, "actor", "bad_key")
    for mid in rng.sample(clean.movies, 2):
        doc = _cast(rng, mid, "", 1)
        add(doc, "movie_actor", "bad_key")

    # orphan_reference: valid documents whose link points at an entity this file does not load
    for variant in range(2):
        mid = rng.choice(clean.movies)
        add(_cast(rng, mid, fresh("nm"), 2 + variant), "movie_actor", "orphan_reference")
        add(_directed(fresh("tt"), rng.choice(clean.directors)), "movie_director", "orphan_reference")
        add(_cast(rng, rejected_movies[variant], rng.choice(clean.actors), 1), "movie_actor", "orphan_reference")
    add(_directed(rng.choice(clean.movies), fresh("nm")), "movie_director", "orphan_reference")

    # duplicates: extra, valid copies of existing keys; the copy placed last in the file (greatest _id) wins
    by_key = {m.key: d for d, m in clean.docs}
    for mid in rng.sample(clean.movies, 2):
        original = by_key[f"MOVIE#{mid}|METADATA"]
        for suffix in (" (Director's Cut)", " (Remastered)"):
            copy = {**original, "title": original["title"] + suffix, "year": original["year"]}
            out.append((copy, _ok("movie", copy)))
    for aid in rng.sample(clean.actors, min(2, len(clean.actors))):
        original = by_key[f"ACTOR#{aid}|METADATA"]
        copy = {**original, "name": original["name"] + " Jr."}
        out.append((copy, _ok("actor", copy)))
    did = rng.choice(clean.directors)
    original = by_key[f"DIRECTOR#{did}|METADATA"]
    copy = {**original, "name": original["name"] + " (II)"}
    out.append((copy, _ok("director", copy)))
    links = [m.key for d, m in clean.docs if m.entity == "movie_actor" and d["character_name"] is not None]
    for key in rng.sample(links, min(2, len(links))):
        original = by_key[key]
        copy = {**original, "character_name": f"{original['character_name']} (voice)"}
        out.append((copy, _ok("movie_actor", copy)))
    mid = rng.choice(clean.movies)
    copy = _directed(mid, clean.crews[mid][0])
    out.append((copy, _ok("movie_director", copy)))

    # malformed_json: lines json.loads rejects; blank lines: ignored, not documents
    for template in (
        '{"_id":{"$oid":"@OID@"},"PK":"MOVIE#tt9999990","SK":"METADATA","type":"movie","title":"Trunc',
        "{'_id': ObjectId('@OID@'), 'PK': 'ACTOR#nm9999990', 'SK': 'METADATA', 'type': 'actor'}",
        '{"_id":{"$oid":"@OID@"},"PK":"MOVIE#tt9999991","SK":"METADATA","type":"movie","title":"X",}',
        '{"_id":{"$oid":"@OID@"},"PK":"ACTOR#nm9999991","SK":"METADATA","type":"actor","name":"Y"}}',
    ):
        out.append((_Malformed(template), _Meta(None, reason="malformed_json", intended="malformed_json")))
    for _ in range(3):
        out.append((RawLine(""), None))
    return out


def _spread(rng: random.Random, clean: list[Any], extra: list[Any]) -> list[Any]:
    """Insert `extra` into `clean` at positions spread evenly through the whole, in random assignment."""
    extra = list(extra)
    rng.shuffle(extra)
    total = len(clean) + len(extra)
    slots: list[int] = []
    for i in range(len(extra)):
        low, high = i * total // len(extra), (i + 1) * total // len(extra)
        slots.append(rng.randrange(low, max(low + 1, high)))
    slot_set = dict.fromkeys(slots)  # ordered, positions are strictly increasing per stratum
    out: list[Any] = []
    it_clean, it_extra = iter(clean), iter(extra)
    for pos in range(total):
        out.append(next(it_extra) if pos in slot_set else next(it_clean))
    return out


# ------------------------------------------------------------------------------------------------- outcome

def _outcome(placed: list[tuple[Any, _Meta | None]]) -> dict[str, Any]:
    """Apply the reader's rules to the placed documents: per-document rejects, orphans, greatest _id wins."""
    counts = {e: {"documents": 0, "unique": 0, "duplicates": 0, "rejected": 0} for e in ENTITIES}
    rejects = dict.fromkeys(REJECT_REASONS, 0)
    documents = blank = 0
    ok: list[tuple[int, Any, _Meta]] = []
    for index, (payload, meta) in enumerate(placed):
        if meta is None:
            blank += 1
            continue
        documents += 1
        if meta.entity is not None:
            counts[meta.entity]["documents"] += 1
        if meta.reason is not None:
            rejects[meta.reason] += 1
            if meta.entity is not None:
                counts[meta.entity]["rejected"] += 1
        else:
            ok.append((index, payload, meta))
    loaded = {m.key for _, _, m in ok if m.entity in _BASE_ENTITIES}
    groups: dict[str, list[tuple[int, Any, _Meta]]] = {}
    for index, payload, meta in ok:
        if any(ref not in loaded for ref in meta.refs):
            meta.reason = "orphan_reference"
            rejects["orphan_reference"] += 1
            counts[meta.entity]["rejected"] += 1
            continue
        assert meta.key is not None
        groups.setdefault(meta.key, []).append((index, payload, meta))
    winners: dict[str, Any] = {}
    for key, group in groups.items():
        entity = group[0][2].entity
        counts[entity]["unique"] += 1
        counts[entity]["duplicates"] += len(group) - 1
        if len(group) > 1 and entity in _WINNER_FIELD:
            winners[key] = max(group, key=lambda g: g[0])[1][_WINNER_FIELD[entity]]
    for _, meta in placed:  # every document reads exactly as it was made to: one reason, or none
        if meta is not None:
            assert meta.reason == meta.intended, f"document meant as {meta.intended} reads as {meta.reason}"
    return {"documents": documents, "entities": counts, "rejects": rejects,
            "winners": dict(sorted(winners.items())), "blank_lines": blank}


# ------------------------------------------------------------------------------------------------- API

def _object_ids(rng: random.Random, spread: tuple[int, int, int] | None = None) -> Iterator[str]:
    """Increasing ObjectIds: 4-byte timestamp, 5 random bytes (one "process"), 3-byte counter.

    `spread` = (first second, seconds, how many ids): the timestamps rise evenly over that period instead, so a
    backfill finds the documents spread over its intervals in file order."""
    ts = 1_600_000_000 + rng.randrange(100_000_000)
    process = rng.randrange(1 << 40)
    count = rng.randrange(1 << 20)
    i = 0
    while True:
        if spread is not None:
            first, seconds, n = spread
            ts = first + i * seconds // max(n, 1)
            i += 1
        yield f"{ts:08x}{process:010x}{count:06x}"
        count += 1
        if count >= 1 << 24:
            count = 0
            ts += spread is None
        elif spread is None and rng.random() < 0.02:
            ts += rng.randint(1, 90)


def build(movies: int, seed: int = 42, bad_input: bool = False,
          spread: tuple[datetime, timedelta] | None = None) -> Generated:
    """The file's items in order and what a reader must make of them; `spread` = (start, period) puts the
    ObjectId creation times evenly over that period, in file order."""
    if movies < 1:
        raise ValueError("movies must be at least 1")
    if bad_input and movies < MIN_BAD_INPUT_MOVIES:
        raise ValueError(f"bad_input needs at least {MIN_BAD_INPUT_MOVIES} movies")
    rng = random.Random(seed)
    clean = _clean(rng, movies)
    placed: list[tuple[Any, _Meta | None]] = list(clean.docs)
    rng.shuffle(placed)
    if bad_input:
        bad_rng = random.Random(f"movie_collection-bad-{seed}")
        placed = _spread(bad_rng, placed, _bad(bad_rng, clean))
    expected = _outcome(placed)

    with_id = sum(isinstance(p, _Malformed) or (not isinstance(p, RawLine) and m is not None and m.has_id)
                  for p, m in placed)
    oids = _object_ids(random.Random(f"movie_collection-oid-{seed}"), None if spread is None else (
        int(spread[0].timestamp()), int(spread[1].total_seconds()), with_id))
    items: list[Any] = []
    for payload, meta in placed:
        if isinstance(payload, _Malformed):
            items.append(RawLine(payload.template.replace("@OID@", next(oids))))
        elif isinstance(payload, RawLine):
            items.append(payload)
        elif meta is not None and meta.has_id:
            items.append({"_id": {"$oid": next(oids)}, **payload})
        else:
            items.append(payload)
    return Generated(items, expected)


def generate(movies: int, seed: int = 42, bad_input: bool = False) -> Iterator[dict[str, Any] | RawLine]:
    """The documents in file order, as Extended JSON-ready dicts; with `bad_input`, also `RawLine`s
    (malformed JSON and blank lines) to be written verbatim."""
    yield from build(movies, seed, bad_input).items


def to_line(item: dict[str, Any] | str) -> str:
    """One item as its line (without the newline), compact like mongoexport, UTF-8 left unescaped."""
    if isinstance(item, str):
        return str(item)
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def write(path: str | Path, movies: int, seed: int = 42, bad_input: bool = False,
          spread: tuple[datetime, timedelta] | None = None) -> dict[str, Any]:
    """Write the mongoexport file to `path`; return the expected outcome (what `<path>.expected.json` holds)."""
    generated = build(movies, seed, bad_input, spread)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.writelines(to_line(item) + "\n" for item in generated.items)
    return generated.expected


_OID = re.compile(r'"_id"\s*:\s*\{\s*"\$oid"\s*:\s*"([0-9a-fA-F]{24})"')


def split_by_day(path: str | Path, out_dir: str | Path) -> dict[str, int]:
    """One export file per UTC day of the ObjectId creation times (`<out_dir>/<YYYY-MM-DD>.json`), lines kept in
    order: what a daily export would have written. A line without a readable `_id` ObjectId goes to
    `undated.json`, so the union of the files is the whole export. Returns lines per file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        with Path(path).open(encoding="utf-8", newline="\n") as src:
            for line in src:
                m = _OID.search(line)
                name = datetime.fromtimestamp(int(m.group(1)[:8], 16), UTC).strftime("%Y-%m-%d") if m else "undated"
                if name not in files:
                    files[name] = (out / f"{name}.json").open("w", encoding="utf-8", newline="\n")
                files[name].write(line)
                counts[name] = counts.get(name, 0) + 1
    finally:
        for f in files.values():
            f.close()
    return dict(sorted(counts.items()))


def expected_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".expected.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.movie_collection", description=__doc__.split("\n")[0])
    parser.add_argument("--movies", type=int, required=True, help="number of movies (about N/2 actors, N/10 directors)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True, help="mongoexport file to write; PATH.expected.json is written too")
    parser.add_argument("--bad-input", action="store_true", help="add documents of every bad-input class")
    parser.add_argument("--start", default=None,
                        help="spread the ObjectId creation times evenly from this UTC date (YYYY-MM-DD) ...")
    parser.add_argument("--days", type=float, default=None, help="... over this many days (default 3)")
    parser.add_argument("--split-daily", default=None, metavar="DIR",
                        help="also write one export file per UTC day of the ObjectId times into DIR")
    args = parser.parse_args(argv)
    spread = None
    if args.start or args.days:
        start = datetime.fromisoformat(args.start or "2024-01-01").replace(tzinfo=UTC)
        spread = (start, timedelta(days=args.days or 3))
    try:
        expected = write(args.out, args.movies, args.seed, args.bad_input, spread)
    except ValueError as err:
        parser.error(str(err))
    if args.split_daily:
        for name, n in split_by_day(args.out, args.split_daily).items():
            print(f"wrote {args.split_daily}/{name}.json: {n} lines")
    exp = expected_path(args.out)
    exp.write_text(json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    per_entity = ", ".join(f"{e}={c['documents']}" for e, c in expected["entities"].items())
    print(f"wrote {args.out}: {expected['documents']} documents ({per_entity}); expected outcome in {exp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
