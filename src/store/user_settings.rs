//! Each user's choices from `/settings`, kept so that they outlast a restart and reach
//! every process of a shared store. Stored as the names the bot gives them.

use super::{Store, StoreError, now_ms};

impl Store {
    /// The output format `user` chose, by name; `None` if they never chose.
    pub async fn output_format(&self, user: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT format FROM user_settings WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?)
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
}
