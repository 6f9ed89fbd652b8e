-- One ticket per seat per event. ticketholder_id NULL = unsold; ticket_price is the list price.
IF OBJECT_ID(N'dbo.sporting_event_ticket', N'U') IS NULL
CREATE TABLE dbo.sporting_event_ticket (
    id                bigint        NOT NULL,
    sporting_event_id bigint        NOT NULL,
    sport_location_id int           NOT NULL,
    seat_level        numeric(1)    NOT NULL,
    seat_section      varchar(15)   NOT NULL,
    seat_row          varchar(10)   NOT NULL,
    seat              varchar(10)   NOT NULL,
    ticketholder_id   int           NULL,
    ticket_price      numeric(8, 2) NOT NULL,
    CONSTRAINT sporting_event_ticket_pk PRIMARY KEY (id)
);
GO
