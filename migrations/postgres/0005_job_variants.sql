-- A job that is one variant of a request: its index (0 is the engine's usual picture), its
-- provider seed, and the first job of its set (its own id on that first job), so that a
-- job carried on after a restart keeps its look and its set still arrives as one album.
-- All NULL for a job that is the only one of its request.
ALTER TABLE jobs ADD COLUMN variant_index INTEGER;
ALTER TABLE jobs ADD COLUMN variant_seed BIGINT;
ALTER TABLE jobs ADD COLUMN variant_set BIGINT;
