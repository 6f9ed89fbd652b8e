-- One row per finished load (connectors.load_log): the window of records it loaded (NULL: unbounded). The
-- validators compare the target with the source up to the latest end loaded, so rerunning an old interval
-- after newer ones is checked against everything the target holds. Not a migrated table.
CREATE TABLE IF NOT EXISTS movie_db.dbmigrate_loads (
    run_id           text PRIMARY KEY,
    dag_id           text NOT NULL,
    source_uri       text NOT NULL,   -- loads of other sources into a shared schema do not count
    window_start     timestamptz,
    window_end       timestamptz,
    loaded_at        timestamptz NOT NULL
);
