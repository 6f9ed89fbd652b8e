-- Every sale (transferred_from_id NULL) and transfer (transferred_from_id = previous owner) of a ticket;
-- purchased_by_id is the new owner. The latest row of a ticket names its current ticketholder_id.
IF OBJECT_ID(N'dbo.ticket_purchase_hist', N'U') IS NULL
CREATE TABLE dbo.ticket_purchase_hist (
    sporting_event_ticket_id bigint        NOT NULL,
    purchased_by_id          int           NOT NULL,
    transaction_date_time    datetime2(3)  NOT NULL,
    transferred_from_id      int           NULL,
    purchase_price           numeric(8, 2) NOT NULL,
    CONSTRAINT ticket_purchase_hist_pk
        PRIMARY KEY (sporting_event_ticket_id, purchased_by_id, transaction_date_time)
);
GO
