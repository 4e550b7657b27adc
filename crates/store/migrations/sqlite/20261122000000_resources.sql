-- One row per stored JSON resource. The row is the whole record: body, version, entity-tag and
-- modification date are written by one statement, so a reader never sees a partly written record.
-- `body` is the exact JSON text the entity-tag was computed from (TEXT, not parsed), so the bytes
-- served are the bytes the strong entity-tag names.
CREATE TABLE IF NOT EXISTS resources (
    collection    TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    etag          TEXT    NOT NULL,
    last_modified INTEGER NOT NULL CHECK (last_modified >= 0),
    body          TEXT    NOT NULL,
    PRIMARY KEY (collection, id)
) STRICT;
