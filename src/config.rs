//! Configuration, parsed once at start-up from environment variables (or a `.env` file).
//!
//! The variable names are a contract: operators move from the older Python bot with the
//! same `.env`. Every value is checked here; a malformed one stops start-up with an error
//! that names the variable and never shows a secret's value.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

use crate::engine::local::Segmenter;
use crate::engine::runninghub::SeedNode;
use crate::output::OutputFormat;
use crate::runninghub_api::ApiMode;
use crate::secret::Secret;
use crate::shutdown::ShutdownMode;
use crate::store::DatabaseUrl;

/// Which engine runs the jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    Runninghub,
    Local,
    Comfyui,
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "runninghub" => Ok(Self::Runninghub),
            "local" => Ok(Self::Local),
            "comfyui" => Ok(Self::Comfyui),
            _ => Err("must be runninghub, local or comfyui".into()),
        }
    }
}

/// One RunningHub account (`RUNNINGHUB_*_N`).
#[derive(Clone, Debug)]
pub struct AccountConfig {
    /// N, from 1: also the account's lane id, stable across restarts.
    pub number: u16,
    pub api_key: Secret,
    pub max_jobs: usize,
    /// `RUNNINGHUB_WORKFLOW_PRODUCT_N`; empty when the account runs an AI app only.
    pub workflow_id: String,
    /// `RUNNINGHUB_APP_ID_N`: the published AI app the account runs (app and v2 modes).
    pub app_id: Option<String>,
}

/// Everything about RunningHub.
#[derive(Clone, Debug)]
pub struct RunningHubConfig {
    pub api_url: Url,
    /// `RUNNINGHUB_API_MODE`: the legacy workflow API (default), AI apps, or the v2 API.
    pub api_mode: ApiMode,
    pub accounts: Vec<AccountConfig>,
    pub product_node: String,
    pub background_node: String,
    pub poll_interval: Duration,
    pub task_timeout: Duration,
    /// The workflow's seed input (`RUNNINGHUB_SEED_NODE`, `RUNNINGHUB_SEED_FIELD`).
    pub seed_node: Option<SeedNode>,
}

/// A self-hosted ComfyUI server (`COMFYUI_*`).
#[derive(Clone, Debug)]
pub struct ComfyUiConfig {
    pub url: Option<Url>,
    /// The workflow's LoadImage nodes (`COMFYUI_NODE_PRODUCT_IMAGE`,
    /// `COMFYUI_NODE_BACKGROUND_IMAGE`; by default the RunningHub workflow's).
    pub product_node: String,
    pub background_node: String,
    /// The workflow in ComfyUI's API format (a JSON file).
    pub workflow: Option<PathBuf>,
    pub max_jobs: usize,
    pub poll_interval: Duration,
}

/// Webhook mode of `backdrop bot` (`WEBHOOK_URL`, `WEBHOOK_LISTEN`): Telegram pushes
/// updates to `public_url` + `/telegram`, RunningHub its task callbacks to
/// `public_url` + `/runninghub/<secret>`; a reverse proxy forwards both to `listen`.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Base URL the outside world reaches the bot at, without a trailing slash.
    pub public_url: reqwest::Url,
    pub listen: SocketAddr,
    /// Telegram's `secret_token` and the key in RunningHub's callback path: shared by every
    /// replica (`WEBHOOK_SECRET`, else derived from `BOT_TOKEN`), never random per process.
    pub secret: Secret,
}

impl WebhookConfig {
    /// Where Telegram posts updates.
    pub fn telegram_url(&self) -> reqwest::Url {
        self.join("telegram")
    }

    /// Where RunningHub posts its task-end callbacks (it carries the secret: never log it).
    pub fn runninghub_url(&self) -> Secret {
        Secret::new(self.join(&format!("runninghub/{}", self.secret.expose())).to_string())
    }

    /// The path of [`Self::runninghub_url`] without its secret: `/…/runninghub`.
    pub fn runninghub_path(&self) -> String {
        self.join("runninghub").path().to_owned()
    }

    fn join(&self, leaf: &str) -> reqwest::Url {
        let mut url = self.public_url.clone();
        let path = format!("{}/{leaf}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }
}

/// The whole configuration of a Backdrop process.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bot_token: Option<Secret>,
    pub telegram_api_url: Url,
    pub engine: EngineKind,
    /// How the built-in engine finds the product (`LOCAL_SEGMENTER`: learned or classic).
    pub local_segmenter: Segmenter,
    /// Jobs the built-in engine runs at once (`LOCAL_WORKERS`).
    pub local_workers: usize,
    pub runninghub: RunningHubConfig,
    pub comfyui: ComfyUiConfig,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub admin_ids: Vec<i64>,
    pub on_shutdown: ShutdownMode,
    /// How long each stage of stopping may take (`SHUTDOWN_GRACE_S`), and how long an
    /// engine may take to wind down a cancelled run.
    pub shutdown_grace: Duration,
    /// Queued and running jobs one user may have (`MAX_JOBS_PER_USER`).
    pub max_jobs_per_user: usize,
    /// The operator's own preset scenes (`SCENES_DIR`: a directory of images).
    pub scenes_dir: Option<PathBuf>,
    /// The format results come out in unless a request says otherwise (`OUTPUT_FORMAT`).
    pub output_format: OutputFormat,
    /// Times one job may be sent back to the queue (`MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Incoming pictures decoded at once (`DECODE_CONCURRENCY`; by default the cores).
    pub decode_concurrency: usize,
    pub retention_days: u32,
    /// `None`: the bot uses long polling.
    pub webhook: Option<WebhookConfig>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served (`METRICS_LISTEN`); off when
    /// unset.
    pub metrics_listen: Option<SocketAddr>,
}

/// A variable whose value cannot be used. Shows the value only for non-secret variables.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { variable: variable.into(), problem: problem.into() }
    }
}

/// The variables, as read from the environment or given by a test.
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// The process environment, after loading `.env` from the working directory if there
    /// is one (variables already set win over the file).
    pub fn from_env() -> Self {
        let _ = dotenvy::dotenv();
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// A set, non-blank value (a blank line in `.env` means "not set").
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, name: &str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::new(name, format!("is {v:?}; it must be {what}"))),
        }
    }

    fn number_in<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let what = format!("a whole number from {} to {}", range.start(), range.end());
        let value = self.parse(name, default, &what)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(name, format!("is {value}; it must be {what}")))
        }
    }

    /// An http(s) URL with a host, parsed once here.
    fn url(&self, name: &str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        let refused = || ConfigError::new(name, format!("is {raw:?}; it must be an http(s) URL"));
        let parsed = Url::parse(raw).map_err(|_| refused())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(refused());
        }
        Ok(parsed)
    }
}

impl Settings {
    /// Reads the process environment (and `.env`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let bot_token = vars.get("BOT_TOKEN").map(Secret::new);
        if let Some(token) = &bot_token
            && (token.expose().contains(char::is_whitespace) || !token.expose().contains(':'))
        {
            return Err(ConfigError::new(
                "BOT_TOKEN",
                "is not a bot token (expected the form 123456:ABC... from @BotFather)",
            ));
        }
        let api_mode = vars.parse("RUNNINGHUB_API_MODE", ApiMode::Workflow, "workflow, app or v2")?;
        let accounts = accounts(vars, api_mode)?;
        let default_engine = if accounts.is_empty() { EngineKind::Local } else { EngineKind::Runninghub };
        let engine = vars.parse("ENGINE", default_engine, "runninghub, local or comfyui")?;
        if engine == EngineKind::Runninghub && accounts.is_empty() {
            return Err(ConfigError::new("RUNNINGHUB_API_KEY_1", "is not set, but ENGINE is runninghub"));
        }
        let product_node = node(vars, "WORKFLOW_NODE_PRODUCT_PRODUCT_IMAGE", "2")?;
        let background_node = node(vars, "WORKFLOW_NODE_PRODUCT_BACKGROUND_IMAGE", "32")?;
        let comfyui = ComfyUiConfig {
            url: match vars.get("COMFYUI_URL") {
                Some(_) => Some(vars.url("COMFYUI_URL", "")?),
                None => None,
            },
            product_node: node(vars, "COMFYUI_NODE_PRODUCT_IMAGE", &product_node)?,
            background_node: node(vars, "COMFYUI_NODE_BACKGROUND_IMAGE", &background_node)?,
            workflow: vars.get("COMFYUI_WORKFLOW").map(PathBuf::from),
            max_jobs: vars.number_in("COMFYUI_MAX_JOBS", 1, 1..=64)?,
            poll_interval: Duration::from_millis(vars.number_in(
                "COMFYUI_POLL_INTERVAL_MS",
                1000,
                10..=600_000,
            )?),
        };
        if engine == EngineKind::Comfyui {
            if comfyui.url.is_none() {
                return Err(ConfigError::new("COMFYUI_URL", "is not set, but ENGINE is comfyui"));
            }
            if comfyui.workflow.is_none() {
                return Err(ConfigError::new(
                    "COMFYUI_WORKFLOW",
                    "is not set, but ENGINE is comfyui (the path of the workflow in API format)",
                ));
            }
        }
        let data_dir = PathBuf::from(vars.get("DATA_DIR").unwrap_or("./data"));
        let database_url = match vars.get("DATABASE_URL") {
            Some(url) => url.parse().map_err(|why| ConfigError::new("DATABASE_URL", why))?,
            None => DatabaseUrl::sqlite_in(&data_dir),
        };
        let on_shutdown = match vars.get("ON_SHUTDOWN").map(str::to_ascii_lowercase).as_deref() {
            None | Some("keep") => ShutdownMode::Keep,
            Some("cancel") => ShutdownMode::Cancel,
            Some(other) => {
                return Err(ConfigError::new(
                    "ON_SHUTDOWN",
                    format!("is {other:?}; it must be keep or cancel"),
                ));
            }
        };
        let webhook = webhook(vars, bot_token.as_ref())?;
        Ok(Self {
            bot_token,
            telegram_api_url: vars.url("TELEGRAM_API_URL", "https://api.telegram.org")?,
            engine,
            local_segmenter: vars.parse("LOCAL_SEGMENTER", Segmenter::default(), "learned or classic")?,
            local_workers: vars.number_in("LOCAL_WORKERS", 1, 1..=64)?,
            runninghub: RunningHubConfig {
                api_url: vars.url("RUNNINGHUB_API_URL", "https://www.runninghub.ai")?,
                api_mode,
                accounts,
                product_node,
                background_node,
                poll_interval: Duration::from_millis(vars.number_in(
                    "RUNNINGHUB_POLL_INTERVAL_MS",
                    2000,
                    10..=600_000,
                )?),
                task_timeout: Duration::from_secs(vars.number_in(
                    "RUNNINGHUB_TASK_TIMEOUT_S",
                    600,
                    1..=86_400,
                )?),
                seed_node: seed_node(vars)?,
            },
            comfyui,
            data_dir,
            database_url,
            admin_ids: admin_ids(vars)?,
            on_shutdown,
            shutdown_grace: Duration::from_secs(vars.number_in("SHUTDOWN_GRACE_S", 5, 1..=300)?),
            max_jobs_per_user: vars.number_in("MAX_JOBS_PER_USER", 3, 1..=1000)?,
            scenes_dir: vars.get("SCENES_DIR").map(PathBuf::from),
            output_format: vars.parse(
                "OUTPUT_FORMAT",
                OutputFormat::Original,
                "original, square, wildberries, ozon or amazon",
            )?,
            max_attempts: vars.number_in("MAX_ATTEMPTS", 5, 1..=100)?,
            decode_concurrency: vars.number_in(
                "DECODE_CONCURRENCY",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                1..=256,
            )?,
            retention_days: vars.number_in("RETENTION_DAYS", 7, 1..=3650)?,
            webhook,
            metrics_listen: vars
                .get("METRICS_LISTEN")
                .map(|v| {
                    v.parse().map_err(|_| {
                        ConfigError::new(
                            "METRICS_LISTEN",
                            format!("is {v:?}; it must be an address and port such as 0.0.0.0:9464"),
                        )
                    })
                })
                .transpose()?,
        })
    }
}

/// `WEBHOOK_URL` turns webhook mode on; `WEBHOOK_LISTEN` is where it is served locally.
fn webhook(vars: &Vars, bot_token: Option<&Secret>) -> Result<Option<WebhookConfig>, ConfigError> {
    let listen = vars.parse(
        "WEBHOOK_LISTEN",
        SocketAddr::from(([0, 0, 0, 0], 8080)),
        "an address and port such as 0.0.0.0:8080",
    )?;
    if vars.get("WEBHOOK_URL").is_none() {
        return Ok(None);
    }
    let public_url = vars.url("WEBHOOK_URL", "")?;
    if public_url.query().is_some() || public_url.fragment().is_some() {
        return Err(ConfigError::new(
            "WEBHOOK_URL",
            format!("is {:?}; it must be a base URL without ?query or #fragment", public_url.as_str()),
        ));
    }
    let secret = match (vars.get("WEBHOOK_SECRET"), bot_token) {
        (Some(secret), _) => {
            let usable = (16..=256).contains(&secret.len())
                && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !usable {
                return Err(ConfigError::new(
                    "WEBHOOK_SECRET",
                    "must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -",
                ));
            }
            Secret::new(secret)
        }
        (None, Some(token)) => derived_secret(token),
        (None, None) => {
            return Err(ConfigError::new(
                "WEBHOOK_SECRET",
                "is not set, and there is no BOT_TOKEN to derive it from",
            ));
        }
    };
    Ok(Some(WebhookConfig { public_url, listen, secret }))
}

/// The webhook secret of a bot whose operator set none: the same for every replica of
/// the bot, and no use to anyone who does not know the token.
fn derived_secret(token: &Secret) -> Secret {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"backdrop webhook secret\0")
        .chain_update(token.expose())
        .finalize();
    Secret::new(digest.iter().take(24).map(|b| format!("{b:02x}")).collect::<String>())
}

/// Accounts `_1`, `_2`, ... up to the first missing key. A missing workflow or app id
/// falls back to the previous account's (most operators run one workflow on every
/// account). Which ids are needed depends on the mode: a workflow's, an app's, or (v2)
/// either, the app winning.
fn accounts(vars: &Vars, mode: ApiMode) -> Result<Vec<AccountConfig>, ConfigError> {
    let mut accounts: Vec<AccountConfig> = Vec::new();
    for number in 1..=u16::MAX {
        let key_var = format!("RUNNINGHUB_API_KEY_{number}");
        let Some(key) = vars.get(&key_var) else { break };
        if key.contains(char::is_whitespace) || !key.is_ascii() {
            return Err(ConfigError::new(key_var, "contains spaces or non-ASCII characters"));
        }
        let max_jobs = vars.number_in(&format!("RUNNINGHUB_MAX_JOBS_{number}"), 5, 1..=1000)?;
        let workflow_var = format!("RUNNINGHUB_WORKFLOW_PRODUCT_{number}");
        let app_var = format!("RUNNINGHUB_APP_ID_{number}");
        let previous = accounts.last();
        let workflow_id = provider_id(vars, &workflow_var, "a workflow id")?
            .or_else(|| previous.map(|p| p.workflow_id.clone()).filter(|w| !w.is_empty()));
        let app_id = provider_id(vars, &app_var, "an AI app id")?
            .or_else(|| previous.and_then(|p| p.app_id.clone()))
            // The workflow mode runs workflows, whatever else is configured.
            .filter(|_| mode != ApiMode::Workflow);
        let workflow_id = match (mode, workflow_id, &app_id) {
            (ApiMode::App, _, None) => {
                return Err(ConfigError::new(
                    app_var,
                    format!("is not set, but RUNNINGHUB_API_MODE is app (the AI app id of account {number})"),
                ));
            }
            (ApiMode::Workflow, None, _) => {
                return Err(ConfigError::new(workflow_var, "is not set (the workflow id of account 1)"));
            }
            (ApiMode::V2, None, None) => {
                return Err(ConfigError::new(
                    workflow_var,
                    format!("is not set, and neither is {app_var} (what account {number} runs)"),
                ));
            }
            (_, workflow_id, _) => workflow_id.unwrap_or_default(),
        };
        accounts.push(AccountConfig { number, api_key: Secret::new(key), max_jobs, workflow_id, app_id });
    }
    Ok(accounts)
}

/// A workflow or app id (letters and digits), if set.
fn provider_id(vars: &Vars, name: &str, what: &str) -> Result<Option<String>, ConfigError> {
    match vars.get(name) {
        None => Ok(None),
        Some(id) if id.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(Some(id.to_owned())),
        Some(id) => Err(ConfigError::new(name, format!("is {id:?}; it must be {what}"))),
    }
}

fn node(vars: &Vars, name: &str, default: &str) -> Result<String, ConfigError> {
    let value = vars.get(name).unwrap_or(default);
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::new(name, format!("is {value:?}; it must be a node id such as 2")))
    }
}

/// `RUNNINGHUB_SEED_NODE` (a node id) with `RUNNINGHUB_SEED_FIELD` (its input, `seed` by
/// default); a field without a node is a mistake worth naming.
fn seed_node(vars: &Vars) -> Result<Option<SeedNode>, ConfigError> {
    let field = vars.get("RUNNINGHUB_SEED_FIELD");
    if vars.get("RUNNINGHUB_SEED_NODE").is_none() {
        return match field {
            Some(_) => {
                Err(ConfigError::new("RUNNINGHUB_SEED_FIELD", "is set, but RUNNINGHUB_SEED_NODE is not"))
            }
            None => Ok(None),
        };
    }
    let node_id = node(vars, "RUNNINGHUB_SEED_NODE", "")?;
    let field_name = field.unwrap_or("seed").trim();
    if field_name.is_empty() || field_name.contains(char::is_whitespace) {
        return Err(ConfigError::new(
            "RUNNINGHUB_SEED_FIELD",
            format!("is {field_name:?}; it must be an input name such as seed or noise_seed"),
        ));
    }
    Ok(Some(SeedNode { node_id, field_name: field_name.to_owned() }))
}

fn admin_ids(vars: &Vars) -> Result<Vec<i64>, ConfigError> {
    let Some(raw) = vars.get("ADMIN_IDS") else {
        return Ok(Vec::new());
    };
    raw.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                ConfigError::new("ADMIN_IDS", format!("has {s:?}; it must list Telegram user ids"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(&Vars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn a_fresh_install_runs_the_local_engine_with_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.engine, EngineKind::Local);
        assert_eq!(s.telegram_api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(s.runninghub.api_url.as_str(), "https://www.runninghub.ai/");
        assert_eq!(s.runninghub.product_node, "2");
        assert_eq!(s.runninghub.background_node, "32");
        assert_eq!(s.runninghub.poll_interval, Duration::from_millis(2000));
        assert_eq!(s.runninghub.task_timeout, Duration::from_secs(600));
        assert_eq!(s.database_url, DatabaseUrl::Sqlite("sqlite://./data/backdrop.db".into()));
        assert_eq!(s.on_shutdown, ShutdownMode::Keep);
        assert_eq!(s.retention_days, 7);
    }

    #[test]
    fn accounts_stop_at_the_first_missing_key() {
        let s = settings(&[
            ("RUNNINGHUB_API_KEY_1", "k1"),
            ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1871659613585305601"),
            ("RUNNINGHUB_API_KEY_2", "k2"),
            ("RUNNINGHUB_MAX_JOBS_2", "3"),
            ("RUNNINGHUB_API_KEY_4", "k4"),
        ])
        .unwrap();
        assert_eq!(s.engine, EngineKind::Runninghub);
        assert_eq!(s.runninghub.accounts.len(), 2);
        assert_eq!(s.runninghub.accounts[0].max_jobs, 5);
        assert_eq!(s.runninghub.accounts[1].max_jobs, 3);
        assert_eq!(s.runninghub.accounts[1].workflow_id, "1871659613585305601");
    }

    #[test]
    fn a_malformed_value_names_the_variable_but_never_a_secret() {
        let err = settings(&[
            ("RUNNINGHUB_API_KEY_1", "k1"),
            ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1"),
            ("RUNNINGHUB_MAX_JOBS_1", "five"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_MAX_JOBS_1");
        let err = settings(&[("RUNNINGHUB_API_KEY_1", "sec ret"), ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1")])
            .unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_API_KEY_1");
        assert!(!err.to_string().contains("sec ret"));
        let err = settings(&[("BOT_TOKEN", "nocolon-secretvalue")]).unwrap_err();
        assert!(!err.to_string().contains("secretvalue"));
        for (var, value) in [
            ("ENGINE", "gpu"),
            ("TELEGRAM_API_URL", "not a url"),
            ("RUNNINGHUB_POLL_INTERVAL_MS", "0"),
            ("RUNNINGHUB_TASK_TIMEOUT_S", "-1"),
            ("ON_SHUTDOWN", "maybe"),
            ("ADMIN_IDS", "12,abc"),
            ("RETENTION_DAYS", "x"),
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "postgres://h:port/db"),
            ("WORKFLOW_NODE_PRODUCT_PRODUCT_IMAGE", "2 3"),
        ] {
            assert_eq!(settings(&[(var, value)]).unwrap_err().variable, var, "{var}={value}");
        }
    }

    #[test]
    fn metrics_are_off_unless_an_address_is_given() {
        assert_eq!(settings(&[]).unwrap().metrics_listen, None);
        let on = settings(&[("METRICS_LISTEN", "127.0.0.1:9464")]).unwrap();
        assert_eq!(on.metrics_listen, Some(SocketAddr::from(([127, 0, 0, 1], 9464))));
        let bad = settings(&[("METRICS_LISTEN", "9464")]).unwrap_err();
        assert_eq!(bad.variable, "METRICS_LISTEN");
    }

    #[test]
    fn webhook_mode_is_on_only_with_a_public_url() {
        assert!(settings(&[]).unwrap().webhook.is_none());
        assert!(settings(&[("WEBHOOK_LISTEN", "127.0.0.1:9000")]).unwrap().webhook.is_none());
        let s =
            settings(&[("WEBHOOK_URL", "https://bot.example.com/backdrop/"), ("BOT_TOKEN", "1:t")]).unwrap();
        let hook = s.webhook.unwrap();
        assert_eq!(hook.listen, SocketAddr::from(([0, 0, 0, 0], 8080)));
        assert_eq!(hook.telegram_url().as_str(), "https://bot.example.com/backdrop/telegram");
        assert_eq!(hook.runninghub_path(), "/backdrop/runninghub");
        let root = settings(&[
            ("WEBHOOK_URL", "https://bot.example.com"),
            ("WEBHOOK_LISTEN", "127.0.0.1:9000"),
            ("BOT_TOKEN", "1:t"),
        ])
        .unwrap();
        assert_eq!(
            root.webhook.as_ref().unwrap().telegram_url().as_str(),
            "https://bot.example.com/telegram"
        );
        assert_eq!(root.webhook.unwrap().listen.port(), 9000);
        for (var, value) in [
            ("WEBHOOK_URL", "bot.example.com"),
            ("WEBHOOK_URL", "ftp://bot.example.com"),
            ("WEBHOOK_URL", "https://bot.example.com/?a=1"),
            ("WEBHOOK_LISTEN", "8080"),
            ("WEBHOOK_LISTEN", "localhost:http"),
        ] {
            let with_url = [("WEBHOOK_URL", "https://bot.example.com"), (var, value)];
            assert_eq!(settings(&with_url).unwrap_err().variable, var, "{var}={value}");
        }
    }

    #[test]
    fn comfyui_needs_a_server_and_a_workflow() {
        assert_eq!(settings(&[("ENGINE", "comfyui")]).unwrap_err().variable, "COMFYUI_URL");
        let err = settings(&[("ENGINE", "comfyui"), ("COMFYUI_URL", "http://127.0.0.1:8188")]).unwrap_err();
        assert_eq!(err.variable, "COMFYUI_WORKFLOW");
        let s = settings(&[
            ("ENGINE", "comfyui"),
            ("COMFYUI_URL", "http://127.0.0.1:8188/"),
            ("COMFYUI_WORKFLOW", "workflow.json"),
        ])
        .unwrap();
        assert_eq!(s.comfyui.url.as_ref().map(|u| u.as_str()), Some("http://127.0.0.1:8188/"));
        assert_eq!(s.comfyui.max_jobs, 1);
        assert_eq!(settings(&[("COMFYUI_MAX_JOBS", "0")]).unwrap_err().variable, "COMFYUI_MAX_JOBS");
    }

    #[test]
    fn comfyui_has_its_own_node_ids_defaulting_to_the_workflow_ones() {
        let s = settings(&[("WORKFLOW_NODE_PRODUCT_PRODUCT_IMAGE", "7")]).unwrap();
        assert_eq!((s.comfyui.product_node.as_str(), s.comfyui.background_node.as_str()), ("7", "32"));
        let s = settings(&[("COMFYUI_NODE_PRODUCT_IMAGE", "10"), ("COMFYUI_NODE_BACKGROUND_IMAGE", "11")])
            .unwrap();
        assert_eq!((s.comfyui.product_node.as_str(), s.comfyui.background_node.as_str()), ("10", "11"));
        assert_eq!(s.runninghub.product_node, "2", "RunningHub's stay its own");
        let err = settings(&[("COMFYUI_NODE_PRODUCT_IMAGE", "a b")]).unwrap_err();
        assert_eq!(err.variable, "COMFYUI_NODE_PRODUCT_IMAGE");
    }

    #[test]
    fn the_webhook_secret_is_shared_configuration_not_random() {
        let hook = |extra: &[(&str, &str)]| {
            let mut vars = vec![("WEBHOOK_URL", "https://bot.example.com/hook"), ("BOT_TOKEN", "123:abc")];
            vars.extend_from_slice(extra);
            settings(&vars).map(|s| s.webhook.expect("webhook mode"))
        };
        let (a, b) = (hook(&[]).unwrap(), hook(&[]).unwrap());
        assert_eq!(a.secret.expose(), b.secret.expose(), "every replica derives the same secret");
        assert!(a.secret.expose().len() >= 32 && !a.secret.expose().contains("abc"));
        let other = hook(&[("BOT_TOKEN", "123:other")]).unwrap();
        assert_ne!(other.secret.expose(), a.secret.expose());
        let set = hook(&[("WEBHOOK_SECRET", "an-operators-secret_0123")]).unwrap();
        assert_eq!(set.secret.expose(), "an-operators-secret_0123");
        assert!(set.runninghub_url().expose().ends_with("/hook/runninghub/an-operators-secret_0123"));
        assert_eq!(set.runninghub_path(), "/hook/runninghub");
        let err = hook(&[("WEBHOOK_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "WEBHOOK_SECRET");
        assert!(!err.to_string().contains("short"), "a secret is never shown");
    }

    #[test]
    fn the_api_mode_defaults_to_workflows_and_apps_come_per_account() {
        let base = [("RUNNINGHUB_API_KEY_1", "k1"), ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1871659613585305601")];
        let s = settings(&base).unwrap();
        assert_eq!(s.runninghub.api_mode, ApiMode::Workflow);
        assert_eq!(s.runninghub.accounts[0].app_id, None);
        // An app id means nothing to the workflow mode.
        let with_app = [base[0], base[1], ("RUNNINGHUB_APP_ID_1", "1877265245566922753")];
        assert_eq!(settings(&with_app).unwrap().runninghub.accounts[0].app_id, None);

        let s = settings(&[
            ("RUNNINGHUB_API_MODE", "app"),
            ("RUNNINGHUB_API_KEY_1", "k1"),
            ("RUNNINGHUB_APP_ID_1", "1877265245566922753"),
            ("RUNNINGHUB_API_KEY_2", "k2"),
            ("RUNNINGHUB_API_KEY_3", "k3"),
            ("RUNNINGHUB_APP_ID_3", "1937084629516193794"),
        ])
        .unwrap();
        assert_eq!(s.runninghub.api_mode, ApiMode::App);
        let apps: Vec<_> = s.runninghub.accounts.iter().map(|a| a.app_id.as_deref()).collect();
        assert_eq!(
            apps,
            [Some("1877265245566922753"), Some("1877265245566922753"), Some("1937084629516193794")]
        );
        assert_eq!(s.runninghub.accounts[0].workflow_id, "", "no workflow needed for an app");

        // v2 runs the app when there is one, else the workflow.
        let s = settings(&[("RUNNINGHUB_API_MODE", "V2"), base[0], base[1]]).unwrap();
        assert_eq!(s.runninghub.api_mode, ApiMode::V2);
        assert_eq!(s.runninghub.accounts[0].app_id, None);
        let s = settings(&[
            ("RUNNINGHUB_API_MODE", "v2"),
            base[0],
            ("RUNNINGHUB_APP_ID_1", "1877265245566922753"),
        ])
        .unwrap();
        assert_eq!(s.runninghub.accounts[0].app_id.as_deref(), Some("1877265245566922753"));
    }

    #[test]
    fn malformed_or_missing_mode_variables_name_the_variable() {
        let key = ("RUNNINGHUB_API_KEY_1", "sk-secret-value");
        let err = settings(&[("RUNNINGHUB_API_MODE", "v3"), key, ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1")])
            .unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_API_MODE");
        assert!(err.problem.contains("workflow, app or v2"), "{err}");
        let err = settings(&[("RUNNINGHUB_API_MODE", "app"), key, ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1")])
            .unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_APP_ID_1");
        let err =
            settings(&[("RUNNINGHUB_API_MODE", "app"), key, ("RUNNINGHUB_APP_ID_1", "12/../3")]).unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_APP_ID_1");
        let err = settings(&[("RUNNINGHUB_API_MODE", "v2"), key]).unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_WORKFLOW_PRODUCT_1");
        assert!(err.problem.contains("RUNNINGHUB_APP_ID_1"), "{err}");
        // Even the workflow mode refuses a malformed app id rather than ignoring a typo.
        let err = settings(&[key, ("RUNNINGHUB_WORKFLOW_PRODUCT_1", "1"), ("RUNNINGHUB_APP_ID_1", "a b")])
            .unwrap_err();
        assert_eq!(err.variable, "RUNNINGHUB_APP_ID_1");
        assert!(!err.to_string().contains("sk-secret-value"), "{err}");
    }

    #[test]
    fn runninghub_without_a_key_is_an_error() {
        assert_eq!(settings(&[("ENGINE", "runninghub")]).unwrap_err().variable, "RUNNINGHUB_API_KEY_1");
        assert_eq!(
            settings(&[("RUNNINGHUB_API_KEY_1", "k")]).unwrap_err().variable,
            "RUNNINGHUB_WORKFLOW_PRODUCT_1"
        );
    }

    #[test]
    fn blank_values_mean_unset_and_lists_parse() {
        let s = settings(&[
            ("ENGINE", " "),
            ("ADMIN_IDS", "1, 2;3"),
            ("ON_SHUTDOWN", "CANCEL"),
            ("TELEGRAM_API_URL", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        assert_eq!(s.engine, EngineKind::Local);
        assert_eq!(s.admin_ids, vec![1, 2, 3]);
        assert_eq!(s.on_shutdown, ShutdownMode::Cancel);
        assert_eq!(s.telegram_api_url.as_str(), "http://127.0.0.1:9/");
    }
}
