-- Several replicas on one database (active-active): each process is a row of `replicas`
-- kept alive by its heartbeat; a job belongs to the replica that claimed it; each task
-- slot of each account is one row of `slot_leases`, held by at most one replica, so no
-- account runs more tasks than its limit across all of them. Times are Unix
-- milliseconds of the database's clock, so replicas' clocks never have to agree.
CREATE TABLE replicas (
    id          TEXT   PRIMARY KEY,
    -- Past this moment without a heartbeat the replica is dead: another takes its jobs
    -- and its leases over, in one transaction.
    alive_until BIGINT NOT NULL,
    started_at  BIGINT NOT NULL
);

-- One row per task slot (account = the lane's number, slot from 0 to its limit - 1).
CREATE TABLE slot_leases (
    account INTEGER NOT NULL,
    slot    INTEGER NOT NULL,
    -- The replica holding it; NULL: free.
    holder  TEXT,
    PRIMARY KEY (account, slot)
);
CREATE INDEX slot_leases_by_holder ON slot_leases (holder);

-- The replica carrying the job on; NULL for jobs from before replicas (taken by anyone).
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
-- Cancel pressed on a replica that does not run the job: its runner cancels it.
ALTER TABLE jobs ADD COLUMN cancel_requested_at BIGINT;
CREATE INDEX jobs_by_claimer ON jobs (claimed_by);
