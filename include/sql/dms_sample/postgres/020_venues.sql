-- Venues and their seats. `sections` is the number of sections on each level; `levels` may be NULL.
CREATE TABLE IF NOT EXISTS dms_sample.sport_location (
    id               int         NOT NULL PRIMARY KEY,
    name             varchar(60) NOT NULL,
    city             varchar(60) NOT NULL,
    seating_capacity int,
    levels           int,
    sections         int
);

-- seat and seat_row are strings: a seat "01" is not the seat "1".
CREATE TABLE IF NOT EXISTS dms_sample.seat (
    sport_location_id int         NOT NULL,
    seat_level        numeric(1)  NOT NULL,
    seat_section      varchar(15) NOT NULL,
    seat_row          varchar(10) NOT NULL,
    seat              varchar(10) NOT NULL,
    seat_type         varchar(15),
    PRIMARY KEY (sport_location_id, seat_level, seat_section, seat_row, seat)
);
