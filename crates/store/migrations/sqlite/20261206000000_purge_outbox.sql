-- The purge outbox (src/outbox.rs): the edges to purge after writes, and one row per purge and edge
-- still to deliver. A write inserts its rows in its own transaction, so a purge is recorded exactly
-- when the write commits, and any node can deliver it later.
--
-- One row per edge ever registered. `active = 0`: taken out of the configuration (its rows were
-- deleted); registering it again sets `purge_all`, since it may hold versions older than purges it
-- missed. `purge_all`: the edge's next delivery starts with a purge of every URL (after missed or
-- dropped purges). `lease_until`/`lease_owner`: which process is delivering to the edge until when
-- (microseconds since the epoch), so that two processes sharing the file do not send one batch
-- twice at once.
CREATE TABLE IF NOT EXISTS purge_edges (
    edge        TEXT    NOT NULL PRIMARY KEY,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    purge_all   INTEGER NOT NULL DEFAULT 0 CHECK (purge_all IN (0, 1)),
    lease_until INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT    NOT NULL DEFAULT ''
) STRICT;
-- One row per purge still owed to one edge, deleted once the edge acknowledged it. `seq` orders them
-- (AUTOINCREMENT: never reused); `created_at_us` is the writer's clock, for the lag and age metrics.
CREATE TABLE IF NOT EXISTS purge_outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    edge          TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS purge_outbox_by_edge ON purge_outbox (edge, seq);
