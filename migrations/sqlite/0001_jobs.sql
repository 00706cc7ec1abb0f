-- Every accepted job, from the moment the user is told it was accepted.
-- File names (product_path, background_path, result_path) are relative to DATA_DIR/jobs/<id>/
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL,
    chat_id           INTEGER NOT NULL,
    language          TEXT    NOT NULL,
    -- The Telegram message that shows the job's state, once sent.
    status_message_id INTEGER,
    -- queued | running | done | failed | cancelled
    state             TEXT    NOT NULL,
    engine            TEXT    NOT NULL,
    -- The lane (RunningHub account number) of the current or last attempt.
    lane              INTEGER,
    -- The provider's task: once set, a restart polls it and never creates another.
    remote_task_id    TEXT,
    product_path      TEXT    NOT NULL,
    background_path   TEXT    NOT NULL,
    result_path       TEXT,
    -- A short machine-readable failure kind (for statistics) and its text.
    error_kind        TEXT,
    error             TEXT,
    -- How many times the job was started on a lane.
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- The job this one repeats (Regenerate, Retry).
    parent_id         INTEGER,
    -- Unix milliseconds.
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    delivered_at      INTEGER,
    files_deleted_at  INTEGER
);

CREATE INDEX jobs_by_state ON jobs (state);
CREATE INDEX jobs_by_created ON jobs (created_at);

-- Where each chat is in the conversation (the product photo already sent, ...).
CREATE TABLE dialogues (
    chat_id    INTEGER PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
