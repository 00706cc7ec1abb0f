-- The OutputFormat name the user chose for the job (NULL: the original frame), so that a
-- job carried on after a restart still comes out in it.
ALTER TABLE jobs ADD COLUMN output_format TEXT;
