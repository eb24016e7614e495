-- Leases let one replica at a time run a periodic job (key rotation,
-- purging soft-deleted secrets); another takes over once expires_at (unix
-- nanoseconds) has passed without renewal.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
