-- See migrations/sqlite/0012.
ALTER TABLE pictures_in_hand ADD COLUMN product_kept BIGINT NOT NULL DEFAULT 0;
