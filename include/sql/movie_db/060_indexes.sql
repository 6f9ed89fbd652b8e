-- DSQL builds indexes only asynchronously (progress in sys.jobs); the deployer waits for the jobs.
-- Reverse lookups for the link tables (the primary keys already lead with movie_id).
CREATE INDEX ASYNC IF NOT EXISTS movie_actors_actor_id_idx ON movie_db.movie_actors (actor_id);
CREATE INDEX ASYNC IF NOT EXISTS movie_directors_director_id_idx ON movie_db.movie_directors (director_id);

-- Lineage lookups: which rows a given run wrote last (operators' audits; validation counts by key).
CREATE INDEX ASYNC IF NOT EXISTS movies_migration_run_id_idx ON movie_db.movies (migration_run_id);
CREATE INDEX ASYNC IF NOT EXISTS actors_migration_run_id_idx ON movie_db.actors (migration_run_id);
CREATE INDEX ASYNC IF NOT EXISTS directors_migration_run_id_idx ON movie_db.directors (migration_run_id);
CREATE INDEX ASYNC IF NOT EXISTS movie_actors_migration_run_id_idx ON movie_db.movie_actors (migration_run_id);
CREATE INDEX ASYNC IF NOT EXISTS movie_directors_migration_run_id_idx
    ON movie_db.movie_directors (migration_run_id);
