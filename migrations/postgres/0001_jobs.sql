-- The PostgreSQL job store: the same rows as the SQLite one (migrations/sqlite/, 0001-0004
-- folded into one), plus the jobs' images, since replicas share nothing but this database.
-- Times are Unix milliseconds.
CREATE TABLE jobs (
    id                  BIGSERIAL PRIMARY KEY,
    user_id             BIGINT  NOT NULL,
    chat_id             BIGINT  NOT NULL,
    language            TEXT    NOT NULL,
    -- The Telegram message that shows the job's state, once sent.
    status_message_id   INTEGER,
    -- A StateName of src/job/state.rs.
    state               TEXT    NOT NULL,
    engine              TEXT    NOT NULL,
    -- The lane (RunningHub account number) of the current or last attempt.
    lane                BIGINT,
    -- The provider's task: once set, a restart polls it and never creates another.
    remote_task_id      TEXT,
    -- File names, the keys of job_files and the names under DATA_DIR/jobs/<id>/.
    product_path        TEXT    NOT NULL,
    background_path     TEXT    NOT NULL,
    result_path         TEXT,
    -- A short machine-readable failure kind (for statistics) and its text.
    error_kind          TEXT,
    error               TEXT,
    -- How many times the job was started on a lane.
    attempts            BIGINT  NOT NULL DEFAULT 0,
    -- The job this one repeats (Regenerate, Retry).
    parent_id           BIGINT,
    created_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    finished_at         BIGINT,
    delivered_at        BIGINT,
    files_deleted_at    BIGINT,
    -- Retry on a failed job works once.
    retried_at          BIGINT,
    -- Create requests sent since the job last went back to the queue whose answer never
    -- came (see migrations/sqlite/0004).
    unconfirmed_creates BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX jobs_by_state ON jobs (state);
CREATE INDEX jobs_by_created ON jobs (created_at);

-- A job's images (product, background, result), by the names its row gives. DATA_DIR
-- holds a copy of those a process works on.
CREATE TABLE job_files (
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    name   TEXT   NOT NULL,
    bytes  BYTEA  NOT NULL,
    PRIMARY KEY (job_id, name)
);

-- Where each chat is in the conversation (the product photo already sent, ...).
CREATE TABLE dialogues (
    chat_id    BIGINT PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Product photos waiting for their background (DATA_DIR/incoming/<name> on the machine
-- that received them), so that the background may arrive at another replica.
CREATE TABLE pending_files (
    name       TEXT   PRIMARY KEY,
    bytes      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
