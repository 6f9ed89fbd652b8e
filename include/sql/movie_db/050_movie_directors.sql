-- Movie ↔ director links; as for movie_actors, the validation step checks both ends exist.
CREATE TABLE IF NOT EXISTS movie_db.movie_directors (
    movie_id         uuid,
    director_id      uuid,
    source_doc_id    text,
    source_version   text,            -- the `_id` order: a row is only replaced by an equal or newer document
    migration_run_id text,
    migrated_at      timestamptz,
    PRIMARY KEY (movie_id, director_id)
);
