-- One row per `actor` document, keyed like movies by a uuid derived from the MongoDB PK.
CREATE TABLE IF NOT EXISTS movie_db.actors (
    actor_id         uuid PRIMARY KEY,
    source_id        text NOT NULL,
    name             text NOT NULL,
    birth_date       date,
    birth_place      text,
    source_doc_id    text,
    migration_run_id text,
    migrated_at      timestamptz
);
