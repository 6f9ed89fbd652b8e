-- One row per target lock (dbmigrate.hooks.migration_lock.DsqlLockHook): the run that may write to this
-- schema and until when. A run takes it after this DDL is deployed and before it writes; it deletes it when it
-- ends. A crashed run's row is taken over once expires_at has passed. Not a migrated table: never validated.
CREATE TABLE IF NOT EXISTS movie_db.dbmigrate_lock (
    lock_name      text PRIMARY KEY,
    holder_dag_id  text NOT NULL,
    holder_run_id  text NOT NULL,
    acquired_at    timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
