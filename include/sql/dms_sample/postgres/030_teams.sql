-- Teams (home_field_id → sport_location.id) and their players.
CREATE TABLE IF NOT EXISTS dms_sample.sport_team (
    id                        int         NOT NULL PRIMARY KEY,
    name                      varchar(30) NOT NULL,
    abbreviated_name          varchar(10),
    home_field_id             int,
    sport_type_name           varchar(15) NOT NULL,
    sport_league_short_name   varchar(10) NOT NULL,
    sport_division_short_name varchar(10)
);

CREATE TABLE IF NOT EXISTS dms_sample.player (
    id            int         NOT NULL PRIMARY KEY,
    sport_team_id int         NOT NULL,
    last_name     varchar(30),
    first_name    varchar(30),
    full_name     varchar(30)
);
