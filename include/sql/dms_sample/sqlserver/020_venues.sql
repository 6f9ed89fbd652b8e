-- Venues and their seats. `sections` is the number of sections on each level; `levels` may be NULL.
IF OBJECT_ID(N'dbo.sport_location', N'U') IS NULL
CREATE TABLE dbo.sport_location (
    id               int         NOT NULL,
    name             varchar(60) NOT NULL,
    city             varchar(60) NOT NULL,
    seating_capacity int         NULL,
    levels           int         NULL,
    sections         int         NULL,
    CONSTRAINT sport_location_pk PRIMARY KEY (id)
);
GO

-- seat and seat_row are strings: a seat '01' is not the seat '1'.
IF OBJECT_ID(N'dbo.seat', N'U') IS NULL
CREATE TABLE dbo.seat (
    sport_location_id int         NOT NULL,
    seat_level        numeric(1)  NOT NULL,
    seat_section      varchar(15) NOT NULL,
    seat_row          varchar(10) NOT NULL,
    seat              varchar(10) NOT NULL,
    seat_type         varchar(15) NULL,
    CONSTRAINT seat_pk PRIMARY KEY (sport_location_id, seat_level, seat_section, seat_row, seat)
);
GO
