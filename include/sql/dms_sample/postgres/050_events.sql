-- Games. ids can exceed 2^31. sold_out is 0/1 (bit on SQL Server).
CREATE TABLE IF NOT EXISTS dms_sample.sporting_event (
    id              bigint      NOT NULL PRIMARY KEY,
    sport_type_name varchar(15) NOT NULL,
    home_team_id    int         NOT NULL,
    away_team_id    int         NOT NULL,
    location_id     int         NOT NULL,
    start_date_time timestamp   NOT NULL,
    start_date      date        NOT NULL,
    sold_out        smallint    NOT NULL DEFAULT 0
);
