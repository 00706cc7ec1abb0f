//! `backdrop check`: is this installation ready to serve? Configuration (already parsed),
//! the data directory, each RunningHub key and the bot token.

use std::fmt;

use teloxide::requests::Requester;

use crate::config::{Settings, WebhookConfig};
use crate::runninghub_api::{ClientOptions, RunningHubClient};
use crate::store::{Store, StoreError};

/// The outcome of one check, for one line of the report.
#[derive(Debug)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", if self.ok { "ok  " } else { "FAIL" }, self.what, self.detail)
    }
}

/// Runs every check that applies to `settings`. Never prints or returns a secret.
pub async fn run(settings: &Settings) -> Vec<Check> {
    let mut checks = vec![Check {
        what: "configuration".into(),
        ok: true,
        detail: format!(
            "engine {:?}, {} RunningHub account(s)",
            settings.engine,
            settings.runninghub.accounts.len()
        ),
    }];
    checks.push(match Store::open(&settings.database_url, &settings.data_dir).await {
        Ok(store) => {
            store.close().await;
            Check { what: "data directory".into(), ok: true, detail: settings.data_dir.display().to_string() }
        }
        // A running bot holds it: the directory is evidently usable.
        Err(StoreError::InUse { holder, .. }) => Check {
            what: "data directory".into(),
            ok: true,
            detail: format!(
                "{} (in use by a running Backdrop{})",
                settings.data_dir.display(),
                holder.map(|pid| format!(", pid {pid}")).unwrap_or_default()
            ),
        },
        Err(e) => Check { what: "data directory".into(), ok: false, detail: e.to_string() },
    });
    if !settings.runninghub.accounts.is_empty() {
        match RunningHubClient::new(&settings.runninghub.api_url, ClientOptions::default()) {
            Ok(client) => {
                // The same API as the engine will speak (v2 sends its Bearer header).
                let client = client.with_mode(settings.runninghub.api_mode);
                for account in &settings.runninghub.accounts {
                    let what = format!("RunningHub account {}", account.number);
                    checks.push(match client.account_status(&account.api_key).await {
                        Ok(status) => Check {
                            what,
                            ok: true,
                            detail: format!(
                                "{} coins left, {} task(s) running, limit {}",
                                status.remain_coins.map_or("?".into(), |c| c.to_string()),
                                status.current_task_counts.map_or("?".into(), |c| c.to_string()),
                                account.max_jobs
                            ),
                        },
                        Err(e) => Check { what, ok: false, detail: e.to_string() },
                    });
                }
            }
            Err(e) => checks.push(Check { what: "RunningHub".into(), ok: false, detail: e.to_string() }),
        }
    }
    if settings.comfyui.url.is_some() {
        let what = "ComfyUI".to_owned();
        checks.push(match crate::app::comfyui_engine(settings) {
            Ok(engine) => match engine.client().queue().await {
                Ok(_) => Check { what, ok: true, detail: "server reachable, workflow valid".into() },
                Err(e) => Check { what, ok: false, detail: e.to_string() },
            },
            Err(e) => Check { what, ok: false, detail: e.to_string() },
        });
    }
    if let Some(token) = &settings.bot_token {
        let check = {
            let bot = teloxide::Bot::new(token.expose()).set_api_url(settings.telegram_api_url.clone());
            match bot.get_me().await {
                Ok(me) => {
                    if let Some(hook) = &settings.webhook {
                        checks.push(webhook(&bot, hook).await);
                    }
                    Check { what: "bot token".into(), ok: true, detail: format!("@{}", me.username()) }
                }
                Err(teloxide::RequestError::Api(e)) => {
                    Check { what: "bot token".into(), ok: false, detail: format!("Telegram refused it: {e}") }
                }
                // Network errors carry the request URL, which holds the token: say less.
                Err(_) => Check {
                    what: "bot token".into(),
                    ok: false,
                    detail: "Telegram could not be reached".into(),
                },
            }
        };
        checks.push(check);
    }
    checks
}

/// Webhook mode: what Telegram says of the webhook (the bot registers it when it starts).
async fn webhook(bot: &teloxide::Bot, hook: &WebhookConfig) -> Check {
    let what = "webhook".to_owned();
    let wanted = hook.telegram_url();
    match bot.get_webhook_info().await {
        Ok(info) => match (info.url, info.last_error_message) {
            (Some(url), Some(error)) if url == wanted => Check {
                what,
                ok: false,
                detail: format!("Telegram's last delivery to {url} failed: {error}"),
            },
            (Some(url), None) if url == wanted => Check {
                what,
                ok: true,
                detail: format!("{url} registered, {} update(s) waiting", info.pending_update_count),
            },
            _ => Check {
                what,
                ok: true,
                detail: format!("the bot registers {wanted} when it starts (serving on {})", hook.listen),
            },
        },
        Err(_) => Check { what, ok: false, detail: "Telegram could not be asked about the webhook".into() },
    }
}
