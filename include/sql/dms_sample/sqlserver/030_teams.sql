-- Teams (home_field_id -> sport_location.id) and their players.
IF OBJECT_ID(N'dbo.sport_team', N'U') IS NULL
CREATE TABLE dbo.sport_team (
    id                        int         NOT NULL,
    name                      varchar(30) NOT NULL,
    abbreviated_name          varchar(10) NULL,
    home_field_id             int         NULL,
    sport_type_name           varchar(15) NOT NULL,
    sport_league_short_name   varchar(10) NOT NULL,
    sport_division_short_name varchar(10) NULL,
    CONSTRAINT sport_team_pk PRIMARY KEY (id)
);
GO

IF OBJECT_ID(N'dbo.player', N'U') IS NULL
CREATE TABLE dbo.player (
    id            int         NOT NULL,
    sport_team_id int         NOT NULL,
    last_name     varchar(30) NULL,
    first_name    varchar(30) NULL,
    full_name     varchar(30) NULL,
    CONSTRAINT player_pk PRIMARY KEY (id)
);
GO
