-- The AWS DMS sample ticketing database `dms_sample` on SQL Server: the source of the
-- sqlserver → DynamoDB migration. Tables live in schema dbo; ../postgres holds the PostgreSQL port
-- the embedded stack uses instead (same table and column names).
-- Run the files in order in one sqlcmd session, e.g.
--   sqlcmd -S localhost -U sa -P ... -i 001_schema.sql -i 010_reference.sql ... -i 070_ticket_purchase_hist.sql
-- Every batch is idempotent (IF ... IS NULL). Primary keys only; no foreign keys, so data can be bulk
-- loaded in any table order. Timestamps are datetime2 (no time zone), event and ticket ids bigint.
IF DB_ID(N'dms_sample') IS NULL
    CREATE DATABASE dms_sample;
GO

USE dms_sample;
GO
