-- Relationship documents parked because an entity they point at exists neither in their load nor in the
-- target yet (connectors.pending): a backfill may load a link's interval before its movie's, actor's or
-- director's. Every later run retries them; a document leaves as soon as it lands. Not a migrated table.
CREATE TABLE IF NOT EXISTS movie_db.dbmigrate_pending (
    entity           text,
    source_key       text,            -- "<PK>|<SK>": one document per key, the greatest `_id`
    source_version   text NOT NULL,   -- transforms.intervals.version_text of its `_id`
    missing_key      text NOT NULL,   -- the first entity key it points at that exists nowhere
    document         text NOT NULL,   -- the document as read (Extended JSON)
    source_where     text,            -- where it was read (file:byte offset)
    migration_run_id text,            -- the run that parked it last
    migrated_at      timestamptz,
    PRIMARY KEY (entity, source_key)
);
