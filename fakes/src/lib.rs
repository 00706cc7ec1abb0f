//! Fake RunningHub and Telegram Bot API servers for Backdrop's integration tests and
//! benchmarks.
//!
//! Both fakes are real HTTP servers on `127.0.0.1:0` speaking the real wire format, so the
//! production clients (reqwest for RunningHub, teloxide for Telegram) are exercised end to
//! end, without network access and with deterministic, scriptable behaviour.
//! [`scripted::ScriptedServer`] answers whatever a wire-level test scripts.
//! [`rng::SplitMix64`] is the seeded generator behind their reproducible choices (and the
//! lab crate's generated test set).
//!
//! ```no_run
//! use std::time::Duration;
//! use backdrop_fakes::{FakeRunningHub, FakeTelegram, TaskScript, image_bytes::solid_png};
//!
//! # async fn demo() {
//! let rh = FakeRunningHub::start().await;
//! rh.add_account("key-1", 2);
//! rh.push_script(TaskScript::fail(Duration::from_millis(300), "CUDA out of memory"));
//! // … point RUNNINGHUB_API_URL at rh.url() and run a job …
//! assert_eq!(rh.over_limit_attempts("key-1"), 0);
//!
//! let tg = FakeTelegram::start().await;
//! let user = tg.user(42, Some("en"));
//! user.send_command("/start");
//! user.send_photo(solid_png(640, 480, [200, 200, 200]));
//! // … point TELEGRAM_API_URL at tg.url() and run the bot …
//! tg.wait_for(|t| t.last_message(42).is_some(), Duration::from_secs(5)).await;
//! # }
//! ```

pub mod balancer;
pub mod comfyui;
pub mod image_bytes;
pub mod postgres;
pub mod rng;
pub mod runninghub;
pub mod scripted;
mod server;
pub mod telegram;
mod wait;

pub use balancer::LoadBalancer;
pub use postgres::TestPostgres;
pub use runninghub::{
    Endpoint, FakeRunningHub, Fault, NodeInput, Outcome, TaskEnd, TaskRecord, TaskScript, WebhookDelivery,
};
pub use telegram::{BotMessage, Call, FakeTelegram, FakeUser, MessageKind, TgFault, WebhookPush};
