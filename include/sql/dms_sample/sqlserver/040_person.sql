-- Ticket buyers. first_name is NULL for people known by one name (full_name = last_name then).
IF OBJECT_ID(N'dbo.person', N'U') IS NULL
CREATE TABLE dbo.person (
    id         int         NOT NULL,
    full_name  varchar(60) NOT NULL,
    last_name  varchar(30) NULL,
    first_name varchar(30) NULL,
    CONSTRAINT person_pk PRIMARY KEY (id)
);
GO
