-- Set once a product photo in hand is kept and the dialogue waits for its background: a
-- stop after that point asks the user for the background, not for the photo again. (A
-- timestamp comparison with the dialogue's update could not tell, since teloxide writes a
-- new chat's default dialogue in the same millisecond.)
ALTER TABLE pictures_in_hand ADD COLUMN product_kept INTEGER NOT NULL DEFAULT 0;
