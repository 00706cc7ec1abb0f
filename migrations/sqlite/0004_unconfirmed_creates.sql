-- Create requests sent since the job last went back to the queue whose answer never
-- came: after a restart their tasks may exist, so the job is not created again blindly.
ALTER TABLE jobs ADD COLUMN unconfirmed_creates INTEGER NOT NULL DEFAULT 0;
