//! Pictures a handler is taking and has not answered yet (`pictures_in_hand`).
//!
//! Telegram's update is acknowledged before it is handled, so a process killed while it
//! downloads, checks and stores a picture would leave its user without any answer. A row
//! is written when a handler takes a picture and removed once it answered; what a killed
//! process left is found at the next start (or by the replica that takes it over), and
//! those users are asked to send the picture again.

use super::{Store, StoreError, now_ms};

/// A picture whose handler never answered, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unanswered {
    pub chat_id: i64,
    pub language: String,
    pub got_to: GotTo,
}

/// How far a handler that never answered got with its picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GotTo {
    /// Nothing of it was kept: the user is to send it again.
    Nothing,
    /// It was kept as a product waiting for its background: the user is to be asked for
    /// the background.
    ProductKept,
    /// A job was accepted on it: its status message tells the rest.
    JobAccepted,
}

impl Store {
    /// A handler takes the picture of message `message_id` in `chat_id`.
    pub async fn picture_in_hand(
        &self,
        chat_id: i64,
        message_id: i32,
        language: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pictures_in_hand (chat_id, message_id, language, replica, taken_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id, message_id) DO NOTHING",
        )
        .bind(chat_id)
        .bind(i64::from(message_id))
        .bind(language)
        .bind(self.claimer())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The handler answered (a job accepted, a question asked, a refusal explained).
    pub async fn picture_answered(&self, chat_id: i64, message_id: i32) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pictures_in_hand WHERE chat_id = $1 AND message_id = $2")
            .bind(chat_id)
            .bind(i64::from(message_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The product photo of message `message_id` is kept and its dialogue waits for the
    /// background.
    pub async fn picture_product_kept(&self, chat_id: i64, message_id: i32) -> Result<(), StoreError> {
        sqlx::query("UPDATE pictures_in_hand SET product_kept = 1 WHERE chat_id = $1 AND message_id = $2")
            .bind(chat_id)
            .bind(i64::from(message_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user of `chat_id` was told to send their pictures again (a stop that left their
    /// handlers behind): nothing of that chat is to be told again at the next start.
    pub async fn forget_pictures_in(&self, chat_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pictures_in_hand WHERE chat_id = $1")
            .bind(chat_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes the pictures that `replica` left unanswered (`None`: the rows no replica
    /// claimed; with SQLite, every row, since one process holds the store).
    pub(super) async fn take_unanswered(&self, replica: Option<&str>) -> Result<Vec<Unanswered>, StoreError> {
        let query = match replica {
            Some(_) => {
                "DELETE FROM pictures_in_hand WHERE replica = $1 RETURNING chat_id, language, taken_at, product_kept"
            }
            None => {
                "DELETE FROM pictures_in_hand WHERE replica IS NULL AND $1 = ''
                 RETURNING chat_id, language, taken_at, product_kept"
            }
        };
        let rows: Vec<(i64, String, i64, i64)> =
            sqlx::query_as(query).bind(replica.unwrap_or("")).fetch_all(&self.pool).await?;
        let mut left: Vec<Unanswered> = Vec::new();
        for (chat_id, language, taken_at, product_kept) in rows {
            if left.iter().any(|u| u.chat_id == chat_id) {
                continue;
            }
            let got_to = self.got_to(chat_id, taken_at, product_kept != 0).await?;
            left.push(Unanswered { chat_id, language, got_to });
        }
        left.sort_by_key(|u| u.chat_id);
        Ok(left)
    }

    /// How far a picture taken at `taken_at` got: a job of its chat accepted since, or its
    /// product kept, or nothing.
    async fn got_to(&self, chat_id: i64, taken_at: i64, product_kept: bool) -> Result<GotTo, StoreError> {
        let job: Option<i64> =
            sqlx::query_scalar("SELECT id FROM jobs WHERE chat_id = $1 AND created_at >= $2 LIMIT 1")
                .bind(chat_id)
                .bind(taken_at)
                .fetch_optional(&self.pool)
                .await?;
        Ok(if job.is_some() {
            GotTo::JobAccepted
        } else if product_kept {
            GotTo::ProductKept
        } else {
            GotTo::Nothing
        })
    }

    /// At a start with SQLite: what the last run left unanswered.
    pub async fn unanswered_pictures(&self) -> Result<Vec<Unanswered>, StoreError> {
        self.take_unanswered(None).await
    }
}
