-- Lines that carry no time (unreadable, or no readable interval field) belong to no interval, so every interval
-- run meets them again. Each is quarantined by the first run that meets it and recorded here by its content
-- (connectors.timeless); later interval runs of the same source skip it. Not a migrated table.
CREATE TABLE IF NOT EXISTS movie_db.dbmigrate_timeless (
    source_uri       text,
    digest           text,            -- sha256 of the interval field, the collection and the line's text
    reason           text NOT NULL,   -- the reject reason the first run gave it
    first_run        text NOT NULL,   -- the run that quarantined it
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (source_uri, digest)
);
