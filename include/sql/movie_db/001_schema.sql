-- The movie_db schema: target of the movie_collection_to_dsql migration (include/specs).
-- Every statement is idempotent; the deployer runs each one in its own transaction.
CREATE SCHEMA IF NOT EXISTS movie_db;
