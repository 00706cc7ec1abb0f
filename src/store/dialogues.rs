//! Each chat's place in the conversation, kept in the store so a restart does not make a
//! seller send the product photo again. Plugs into teloxide as its dialogue `Storage`.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use teloxide::dispatching::dialogue::Storage;
use teloxide::types::ChatId;

use super::{Store, StoreError};

/// Why a dialogue could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DialogueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored dialogue state is unreadable: {0}")]
    Format(#[from] serde_json::Error),
}

/// Dialogue states of type `D`, as JSON in the store's `dialogues` table.
pub struct DurableDialogues<D> {
    store: Store,
    _state: PhantomData<fn() -> D>,
}

impl<D> DurableDialogues<D> {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self { store, _state: PhantomData })
    }
}

impl<D> Storage<D> for DurableDialogues<D>
where
    D: Serialize + DeserializeOwned + Send + 'static,
{
    type Error = DialogueError;

    fn remove_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<(), DialogueError>> {
        Box::pin(async move { Ok(self.store.remove_dialogue(chat_id.0).await?) })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: D,
    ) -> BoxFuture<'static, Result<(), DialogueError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&dialogue)?;
            Ok(self.store.set_dialogue(chat_id.0, &json).await?)
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<D>, DialogueError>> {
        Box::pin(async move {
            match self.store.dialogue(chat_id.0).await? {
                None => Ok(None),
                Some(json) => match serde_json::from_str(&json) {
                    Ok(state) => Ok(Some(state)),
                    // A state from an older version: start the conversation over.
                    Err(e) => {
                        tracing::warn!(chat = chat_id.0, "dropping an unreadable dialogue state: {e}");
                        Ok(None)
                    }
                },
            }
        })
    }
}
