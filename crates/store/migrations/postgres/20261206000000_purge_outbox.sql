-- The purge outbox (src/outbox.rs): the edges to purge after writes, and one row per purge and edge
-- still to deliver. A write inserts its rows in its own transaction, so a purge is recorded exactly
-- when the write commits, and any node can deliver it later.
--
-- One row per edge ever registered. `active = false`: taken out of the configuration (its rows were
-- deleted); registering it again sets `purge_all`, since it may hold versions older than purges it
-- missed. `purge_all`: the edge's next delivery starts with a purge of every URL (after missed or
-- dropped purges). A node delivering to an edge holds its row `FOR UPDATE` (taken with SKIP LOCKED
-- by the others) until the edge answered; the lock dies with the node's connection.
CREATE TABLE IF NOT EXISTS purge_edges (
    edge      TEXT    NOT NULL PRIMARY KEY,
    active    BOOLEAN NOT NULL DEFAULT TRUE,
    purge_all BOOLEAN NOT NULL DEFAULT FALSE
);
-- One row per purge still owed to one edge, deleted once the edge acknowledged it. `seq` orders them;
-- `created_at_us` is the writer's clock, for the lag and age metrics.
CREATE TABLE IF NOT EXISTS purge_outbox (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    edge          TEXT   NOT NULL,
    url           TEXT   NOT NULL,
    created_at_us BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS purge_outbox_by_edge ON purge_outbox (edge, seq);
-- Wakes idle nodes (LISTEN revalidate_purges): sent when the inserting transaction commits, once per
-- transaction however many rows it inserted.
CREATE OR REPLACE FUNCTION revalidate_purge_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('revalidate_purges', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER purge_outbox_notify AFTER INSERT ON purge_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION revalidate_purge_notify();
