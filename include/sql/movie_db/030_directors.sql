-- One row per `director` document.
CREATE TABLE IF NOT EXISTS movie_db.directors (
    director_id      uuid PRIMARY KEY,
    source_id        text NOT NULL,
    name             text NOT NULL,
    birth_date       date,
    source_doc_id    text,
    migration_run_id text,
    migrated_at      timestamptz
);
