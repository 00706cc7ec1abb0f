//! Each user's choices from `/settings`, kept so that they outlast a restart and reach
//! every process of a shared store. Stored as the names the bot gives them; a choice never
//! made is `NULL` (the format, `NOT NULL` since its first migration, is `''` then).

use super::{Store, StoreError, now_ms};

impl Store {
    /// The output format `user` chose, by name; `None` if they never chose.
    pub async fn output_format(&self, user: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT NULLIF(format, '') FROM user_settings WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    pub async fn set_output_format(&self, user: i64, format: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_settings (user_id, format, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET format = excluded.format, updated_at = excluded.updated_at",
        )
        .bind(user)
        .bind(format)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many variants a request of `user` makes; `None` if they never chose.
    pub async fn variants(&self, user: i64) -> Result<Option<u8>, StoreError> {
        let n: Option<Option<i32>> =
            sqlx::query_scalar("SELECT variants FROM user_settings WHERE user_id = $1")
                .bind(user)
                .fetch_optional(&self.pool)
                .await?;
        Ok(n.flatten().and_then(|n| u8::try_from(n).ok()))
    }

    pub async fn set_variants(&self, user: i64, variants: u8) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_settings (user_id, format, variants, updated_at) VALUES ($1, '', $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET variants = excluded.variants, updated_at = excluded.updated_at",
        )
        .bind(user)
        .bind(i32::from(variants))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The language code `user` picked; `None`: answer in their Telegram language.
    pub async fn language(&self, user: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT language FROM user_settings WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    /// Keeps the language `user` picked; `None` goes back to their Telegram language.
    pub async fn set_language(&self, user: i64, code: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_settings (user_id, format, language, updated_at) VALUES ($1, '', $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET language = excluded.language, updated_at = excluded.updated_at",
        )
        .bind(user)
        .bind(code)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
