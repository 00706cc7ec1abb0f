-- The columns the PostgreSQL store uses for replicas (migrations/postgres/0010), so that
-- both run the same job queries; with SQLite one process holds DATA_DIR and claims
-- nothing.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN cancel_requested_at INTEGER;
