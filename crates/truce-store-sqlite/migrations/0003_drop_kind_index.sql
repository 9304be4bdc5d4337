-- No query reads entries by kind (the state is rebuilt by replaying the log in order), and the
-- index cost every append a B-tree insert.
DROP INDEX IF EXISTS entries_kind;
