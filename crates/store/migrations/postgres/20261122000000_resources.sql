-- One row per stored JSON resource. The row is the whole record: body, version, entity-tag and
-- modification date are written by one statement, so a reader never sees a partly written record.
-- `body` is TEXT rather than JSONB on purpose: JSONB reorders keys and drops whitespace, and the
-- bytes served must be exactly the bytes the strong entity-tag was computed from.
CREATE TABLE IF NOT EXISTS resources (
    collection    TEXT   NOT NULL,
    id            TEXT   NOT NULL,
    version       BIGINT NOT NULL CHECK (version >= 1),
    etag          TEXT   NOT NULL,
    last_modified BIGINT NOT NULL CHECK (last_modified >= 0),
    body          TEXT   NOT NULL,
    PRIMARY KEY (collection, id)
);
