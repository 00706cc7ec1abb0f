//! Fake RunningHub and Telegram Bot API servers for Backdrop's integration tests and
//! benchmarks.
//!
//! Both fakes are real HTTP servers on `127.0.0.1:0` speaking the real wire format, so the
//! production clients (reqwest for RunningHub, teloxide for Telegram) are exercised end to
//! end, without network access and with deterministic, scriptable behaviour.

pub mod image_bytes;
pub mod runninghub;
mod rng;
mod server;
pub mod telegram;
mod wait;

pub use runninghub::{
    Endpoint, Fault, FakeRunningHub, NodeInput, Outcome, TaskEnd, TaskRecord, TaskScript,
    WebhookDelivery,
};
pub use telegram::{BotMessage, Call, FakeTelegram, FakeUser, MessageKind, TgFault, WebhookPush};
