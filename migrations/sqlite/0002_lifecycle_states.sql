-- The job lifecycle's states (src/job/state.rs, StateName):
-- queued | uploading | running | downloading | delivering | delivered | failed | cancelled.
-- 'done' split in two: delivered when the user got the result, delivering until then.
UPDATE jobs SET state = 'delivered' WHERE state = 'done' AND delivered_at IS NOT NULL;
UPDATE jobs SET state = 'delivering' WHERE state = 'done';
-- A running job without a provider task had not got past its upload.
UPDATE jobs SET state = 'uploading' WHERE state = 'running' AND remote_task_id IS NULL;
