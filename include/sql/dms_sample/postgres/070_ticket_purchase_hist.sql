-- Every sale (transferred_from_id NULL) and transfer (transferred_from_id = previous owner) of a ticket;
-- purchased_by_id is the new owner. The latest row of a ticket names its current ticketholder_id.
CREATE TABLE IF NOT EXISTS dms_sample.ticket_purchase_hist (
    sporting_event_ticket_id bigint        NOT NULL,
    purchased_by_id          int           NOT NULL,
    transaction_date_time    timestamp(3)  NOT NULL,
    transferred_from_id      int,
    purchase_price           numeric(8, 2) NOT NULL,
    PRIMARY KEY (sporting_event_ticket_id, purchased_by_id, transaction_date_time)
);
