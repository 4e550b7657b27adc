-- Enough to tell two changes within one second apart (RFC 9110 §8.8.2.2), see src/stamp.rs:
-- the microseconds within `last_modified`, and whether an earlier state of the resource may have
-- been sent with the same Last-Modified second. Rows written before this migration did not record
-- that, so they get the safe value: they may share their second. They are then sent with
-- Last-Modified one second later than before, and an If-Unmodified-Since carrying their old date
-- fails once (the client re-reads and retries) instead of possibly confirming an older version.
ALTER TABLE resources ADD COLUMN last_modified_us INTEGER NOT NULL DEFAULT 0
    CHECK (last_modified_us >= 0 AND last_modified_us < 1000000);
ALTER TABLE resources ADD COLUMN shares_second INTEGER NOT NULL DEFAULT 1
    CHECK (shares_second IN (0, 1));

-- One row per recently deleted resource: when it was deleted, stamped like a version, so that a
-- resource created again continues from it (a delete and a re-creation within one second are two
-- changes in that second). Removed when the resource is created again; older than the store's
-- tombstone retention, removed by later deletes, a batch at a time (hence the index).
CREATE TABLE IF NOT EXISTS resource_tombstones (
    collection    TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    deleted_at    INTEGER NOT NULL CHECK (deleted_at >= 0),
    deleted_at_us INTEGER NOT NULL CHECK (deleted_at_us >= 0 AND deleted_at_us < 1000000),
    shares_second INTEGER NOT NULL CHECK (shares_second IN (0, 1)),
    PRIMARY KEY (collection, id)
) STRICT;
CREATE INDEX IF NOT EXISTS resource_tombstones_by_age ON resource_tombstones (deleted_at);
