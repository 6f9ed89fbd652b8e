-- One row per `actor` document, keyed like movies by a uuid derived from the MongoDB PK.
CREATE TABLE IF NOT EXISTS movie_db.actors (
    actor_id         uuid PRIMARY KEY,
    source_id        text NOT NULL,
    name             text NOT NULL,
    birth_date       date,
    birth_place      text,
    source_doc_id    text,
    source_version   text,            -- the `_id` order: a row is only replaced by an equal or newer document
    migration_run_id text,
    migrated_at      timestamptz
);
