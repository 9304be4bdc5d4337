-- truce embedded store, schema v1.
--
-- `entries` is the transparency log: one row per leaf, indexed densely from 0,
-- append-only. The triggers below enforce that in the database itself, so that
-- no code path (a bug, an ad-hoc `sqlite3` session using the ordinary SQL
-- statements) can rewrite history: only inserts at the end, with a new
-- entry_id, are accepted. Tampering with the file itself (dropping triggers,
-- editing pages) is out of reach of a schema; the Merkle tree over
-- `leaf_hash`, its signed checkpoints and the witnesses detect it, and the
-- store refuses to open when the triggers are missing.
--
-- STRICT tables: SQLite enforces the declared column types.

CREATE TABLE entries (
    idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
    entry_id  TEXT    NOT NULL UNIQUE,
    kind      TEXT    NOT NULL,
    signer    TEXT    NOT NULL,
    time_ms   INTEGER NOT NULL,
    leaf      BLOB    NOT NULL,
    leaf_hash BLOB    NOT NULL CHECK (length(leaf_hash) = 32)
) STRICT;

CREATE INDEX entries_kind ON entries (kind);

-- Dense, append-only inserts. A BEFORE INSERT trigger runs before any
-- conflict resolution, so `INSERT OR REPLACE` and upserts cannot replace an
-- existing row either (a REPLACE would otherwise delete it without firing the
-- DELETE trigger, since recursive triggers are off by default).
CREATE TRIGGER entries_insert_at_end BEFORE INSERT ON entries
BEGIN
    SELECT RAISE(ABORT, 'entries are dense: idx must equal the log size')
    WHERE NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries);
    SELECT RAISE(ABORT, 'entries are append-only: duplicate entry_id')
    WHERE EXISTS (SELECT 1 FROM entries WHERE entry_id = NEW.entry_id);
END;

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'entries are append-only: UPDATE is not allowed');
END;

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'entries are append-only: DELETE is not allowed');
END;

-- Content-addressed blobs (evidence media, geometry, attachments), keyed by
-- the SHA-256 of `bytes`. A key's bytes never change; deleting a blob stays
-- possible (e.g. a court-ordered takedown: the log keeps only its hash).
CREATE TABLE blobs (
    sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),
    bytes  BLOB NOT NULL
) STRICT;

CREATE TRIGGER blobs_no_update BEFORE UPDATE ON blobs
BEGIN
    SELECT RAISE(ABORT, 'blobs are content-addressed: UPDATE is not allowed');
END;
