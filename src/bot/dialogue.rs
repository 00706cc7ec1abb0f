//! Where each chat is in the conversation, and where that is kept.
//!
//! The state lives behind teloxide's `Storage` trait (erased), so the in-memory storage
//! used now can be swapped for a durable one without touching the handlers.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::{Dialogue, ErasedStorage, InMemStorage, Storage};

/// A product photo that passed intake, saved on disk until its background arrives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingProduct(pub PathBuf);

/// The conversation state of one chat. Serializable, so a durable `Storage` (the job
/// store's) can keep it across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Waiting for a product photo.
    #[default]
    Start,
    /// Have the product; waiting for the background.
    AwaitingBackground { product: PendingProduct },
}

/// The storage the dispatcher and the handlers share.
pub type DialogueStorage = ErasedStorage<State>;

/// One chat's dialogue handle, as handlers receive it.
pub type BotDialogue = Dialogue<State, DialogueStorage>;

/// The storage used today: in memory, lost on restart.
pub fn in_memory() -> Arc<DialogueStorage> {
    InMemStorage::<State>::new().erase()
}
