-- PostgreSQL port of the AWS DMS sample ticketing database (`dms_sample`, schema dbo on SQL Server): the
-- embedded stand-in for the SQL Server source of the sqlserver → DynamoDB migration.
-- The schema is written literally as `dms_sample`; generators/dms_sample.py rewrites that name when it is
-- asked for another schema, so keep it as a plain, unquoted identifier in every file.
-- Type mapping from the T-SQL in ../sqlserver: datetime2 → timestamp, datetime2(3) → timestamp(3),
-- bit → smallint (0/1, as SQL Server returns it), numeric stays numeric, varchar stays varchar.
-- Every statement is idempotent. Primary keys only, like the T-SQL; no foreign keys.
CREATE SCHEMA IF NOT EXISTS dms_sample;
