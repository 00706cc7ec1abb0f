//! Fake Telegram Bot API (work in progress).
pub struct FakeTelegram; pub struct FakeUser; pub struct Call; pub struct BotMessage; pub enum MessageKind{} pub enum TgFault{}
