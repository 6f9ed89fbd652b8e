-- One row per `director` document.
CREATE TABLE IF NOT EXISTS movie_db.directors (
    director_id      uuid PRIMARY KEY,
    source_id        text NOT NULL,
    name             text NOT NULL,
    birth_date       date,
    source_doc_id    text,
    source_version   text,            -- the `_id` order: a row is only replaced by an equal or newer document
    migration_run_id text,
    migrated_at      timestamptz
);
