-- Pictures a handler is taking (downloading, checking, storing) and has not answered yet:
-- a process killed meanwhile leaves the row, and the next start asks the user to send the
-- picture again instead of leaving them without an answer.
CREATE TABLE pictures_in_hand (
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    language   TEXT    NOT NULL,
    -- The replica taking it (PostgreSQL); NULL with SQLite.
    replica    TEXT,
    taken_at   INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
