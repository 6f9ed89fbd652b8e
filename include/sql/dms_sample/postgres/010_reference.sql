-- Reference data: sports, leagues, divisions and seat types.
CREATE TABLE IF NOT EXISTS dms_sample.sport_type (
    name        varchar(15)  NOT NULL PRIMARY KEY,
    description varchar(120)
);

CREATE TABLE IF NOT EXISTS dms_sample.sport_league (
    sport_type_name varchar(15)  NOT NULL,
    short_name      varchar(10)  NOT NULL PRIMARY KEY,
    long_name       varchar(60)  NOT NULL,
    description     varchar(120)
);

CREATE TABLE IF NOT EXISTS dms_sample.sport_division (
    sport_type_name         varchar(15)  NOT NULL,
    sport_league_short_name varchar(10)  NOT NULL,
    short_name              varchar(10)  NOT NULL,
    long_name               varchar(60),
    description             varchar(120),
    PRIMARY KEY (sport_type_name, sport_league_short_name, short_name)
);

-- relative_quality: 5 = best (luxury) … 1 = worst (obstructed).
CREATE TABLE IF NOT EXISTS dms_sample.seat_type (
    name             varchar(15)  NOT NULL PRIMARY KEY,
    description      varchar(120),
    relative_quality int
);
