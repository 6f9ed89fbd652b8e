-- Movie ↔ actor links. DSQL has no foreign keys: the validation step checks that both ends exist.
CREATE TABLE IF NOT EXISTS movie_db.movie_actors (
    movie_id         uuid,
    actor_id         uuid,
    character_name   text,
    billing_order    int,
    source_doc_id    text,
    source_version   text,            -- the `_id` order: a row is only replaced by an equal or newer document
    migration_run_id text,
    migrated_at      timestamptz,
    PRIMARY KEY (movie_id, actor_id)
);
