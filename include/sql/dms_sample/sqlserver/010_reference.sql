-- Reference data: sports, leagues, divisions and seat types.
IF OBJECT_ID(N'dbo.sport_type', N'U') IS NULL
CREATE TABLE dbo.sport_type (
    name        varchar(15)  NOT NULL,
    description varchar(120) NULL,
    CONSTRAINT sport_type_pk PRIMARY KEY (name)
);
GO

IF OBJECT_ID(N'dbo.sport_league', N'U') IS NULL
CREATE TABLE dbo.sport_league (
    sport_type_name varchar(15)  NOT NULL,
    short_name      varchar(10)  NOT NULL,
    long_name       varchar(60)  NOT NULL,
    description     varchar(120) NULL,
    CONSTRAINT sport_league_pk PRIMARY KEY (short_name)
);
GO

IF OBJECT_ID(N'dbo.sport_division', N'U') IS NULL
CREATE TABLE dbo.sport_division (
    sport_type_name         varchar(15)  NOT NULL,
    sport_league_short_name varchar(10)  NOT NULL,
    short_name              varchar(10)  NOT NULL,
    long_name               varchar(60)  NULL,
    description             varchar(120) NULL,
    CONSTRAINT sport_division_pk PRIMARY KEY (sport_type_name, sport_league_short_name, short_name)
);
GO

-- relative_quality: 5 = best (luxury) ... 1 = worst (obstructed).
IF OBJECT_ID(N'dbo.seat_type', N'U') IS NULL
CREATE TABLE dbo.seat_type (
    name             varchar(15)  NOT NULL,
    description      varchar(120) NULL,
    relative_quality int          NULL,
    CONSTRAINT seat_type_pk PRIMARY KEY (name)
);
GO
