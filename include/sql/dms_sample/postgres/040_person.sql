-- Ticket buyers. first_name is NULL for people known by one name (full_name = last_name then).
CREATE TABLE IF NOT EXISTS dms_sample.person (
    id         int         NOT NULL PRIMARY KEY,
    full_name  varchar(60) NOT NULL,
    last_name  varchar(30),
    first_name varchar(30)
);
