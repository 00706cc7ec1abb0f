-- Retry on a failed job works once: claimed here, so a restart does not forget it.
ALTER TABLE jobs ADD COLUMN retried_at INTEGER;
