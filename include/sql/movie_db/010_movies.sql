-- One row per `movie` document. movie_id is derived from the MongoDB PK (MOVIE#<id>), so a re-run
-- writes the same key. source_doc_id, migration_run_id and migrated_at trace each row to its source.
CREATE TABLE IF NOT EXISTS movie_db.movies (
    movie_id         uuid PRIMARY KEY,
    source_id        text NOT NULL,
    title            text NOT NULL,
    release_year     int,
    release_date     date,
    runtime_minutes  int,
    rating           numeric(3, 1),
    genres           json,
    budget           bigint,
    box_office       bigint,
    language         text,
    source_doc_id    text,
    source_version   text,            -- the `_id` order: a row is only replaced by an equal or newer document
    migration_run_id text,
    migrated_at      timestamptz
);
