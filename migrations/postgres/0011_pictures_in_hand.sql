-- Pictures a handler is taking and has not answered yet (see migrations/sqlite/0011): a
-- replica that dies meanwhile leaves the row, and whoever takes it over asks the user to
-- send the picture again.
CREATE TABLE pictures_in_hand (
    chat_id    BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    language   TEXT   NOT NULL,
    replica    TEXT,
    taken_at   BIGINT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX pictures_in_hand_by_replica ON pictures_in_hand (replica);
