-- truce embedded store, schema v2: the Merkle tree's stored hashes and the checkpoints.
--
-- `tree_hashes` holds the RFC 6962 tree in the stored-hash layout of Go's sumdb/tlog (position
-- i is a hash at some level, in the order they become known). Like `entries`, it is dense and
-- append-only; a batch's entries, hashes and checkpoint are written in one transaction.

CREATE TABLE tree_hashes (
    idx  INTEGER PRIMARY KEY CHECK (idx >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TRIGGER tree_hashes_insert_at_end BEFORE INSERT ON tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are dense: idx must equal the hash count')
    WHERE NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM tree_hashes);
END;

CREATE TRIGGER tree_hashes_no_update BEFORE UPDATE ON tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only: UPDATE is not allowed');
END;

CREATE TRIGGER tree_hashes_no_delete BEFORE DELETE ON tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only: DELETE is not allowed');
END;

-- One signed checkpoint per committed batch, by tree size. Never rewritten.
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    note BLOB    NOT NULL
) STRICT;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are never rewritten');
END;

-- Checkpoints with witness cosignatures, as collected (a later note of the same size may carry
-- more cosignatures and replaces the earlier one).
CREATE TABLE cosigned_checkpoints (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    note BLOB    NOT NULL
) STRICT;
