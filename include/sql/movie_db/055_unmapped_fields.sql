-- The fields of each document (or array element) that the spec maps nowhere, kept as json (`unmapped: keep`, the
-- default): no source value is dropped. ALTER, not part of the CREATE TABLEs above, so a schema deployed before
-- gains the column too. DSQL: one DDL statement per transaction (the deployer commits each on its own).
ALTER TABLE movie_db.movies ADD COLUMN IF NOT EXISTS _extra json;
ALTER TABLE movie_db.actors ADD COLUMN IF NOT EXISTS _extra json;
ALTER TABLE movie_db.directors ADD COLUMN IF NOT EXISTS _extra json;
ALTER TABLE movie_db.movie_actors ADD COLUMN IF NOT EXISTS _extra json;
ALTER TABLE movie_db.movie_directors ADD COLUMN IF NOT EXISTS _extra json;
