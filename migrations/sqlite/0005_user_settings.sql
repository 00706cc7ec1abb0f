-- Each user's choices from /settings (an OutputFormat name for now).
CREATE TABLE user_settings (
    user_id    INTEGER PRIMARY KEY,
    format     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
