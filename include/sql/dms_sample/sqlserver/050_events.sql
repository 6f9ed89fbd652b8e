-- Games. ids can exceed 2^31, hence bigint.
IF OBJECT_ID(N'dbo.sporting_event', N'U') IS NULL
CREATE TABLE dbo.sporting_event (
    id              bigint      NOT NULL,
    sport_type_name varchar(15) NOT NULL,
    home_team_id    int         NOT NULL,
    away_team_id    int         NOT NULL,
    location_id     int         NOT NULL,
    start_date_time datetime2   NOT NULL,
    start_date      date        NOT NULL,
    sold_out        bit         NOT NULL CONSTRAINT sporting_event_sold_out_df DEFAULT 0,
    CONSTRAINT sporting_event_pk PRIMARY KEY (id)
);
GO
