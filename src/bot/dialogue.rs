//! Where each chat is in the conversation, and where that is kept.
//!
//! The state lives behind teloxide's `Storage` trait (erased); the bot keeps it in the job
//! store ([`crate::store::DurableDialogues`]), so a restart does not make a seller send the
//! product photo again.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::{Dialogue, ErasedStorage};

/// A product photo that passed intake, saved on disk until its background arrives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingProduct(pub PathBuf);

/// The conversation state of one chat. Serializable, so a durable `Storage` (the job
/// store's) can keep it across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Waiting for a product photo.
    #[default]
    Start,
    /// Have the product; waiting for the background.
    AwaitingBackground { product: PendingProduct },
    /// Have several products (an album); waiting for the background they all go into.
    AwaitingBackgroundForMany { products: Vec<PendingProduct> },
}

impl Step {
    /// The product photos waiting for a background, if any.
    pub fn pending_products(&self) -> Vec<PendingProduct> {
        match self {
            Self::Start => Vec::new(),
            Self::AwaitingBackground { product } => vec![product.clone()],
            Self::AwaitingBackgroundForMany { products } => products.clone(),
        }
    }
}

/// The storage the dispatcher and the handlers share.
pub type DialogueStorage = ErasedStorage<Step>;

/// One chat's dialogue handle, as handlers receive it.
pub type BotDialogue = Dialogue<Step, DialogueStorage>;
