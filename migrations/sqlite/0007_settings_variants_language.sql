-- /settings also keeps how many variants a request makes (NULL: one) and the language the
-- user picked (NULL: from Telegram's language_code). A row made by choosing one of them
-- first has no format yet: '' says so (the column is NOT NULL since 0005).
ALTER TABLE user_settings ADD COLUMN variants INTEGER;
ALTER TABLE user_settings ADD COLUMN language TEXT;
