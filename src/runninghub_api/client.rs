//! The HTTP client of the RunningHub workflow API: one method per endpoint.
//!
//! Each call is retried on transient errors (see [`RetryPolicy`]) except where repeating
//! it could cost money: `create` may only be repeated when the first request certainly
//! did not start a task. Keys are passed per call (one client serves every account) and
//! only ever go into request bodies; errors never contain a body or a key.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use tracing::{debug, warn};

use super::error::{ErrorAction, RhError, code_from_msg};
use super::progress::TaskProgress;
use super::wire::{
    AccountStatusData, AccountStatusRequest, CreateData, CreateRequest, Envelope, NodeInfo, PromptTips,
    TaskRequest, UploadData,
};
use crate::job::RemoteTaskId;
use crate::provider_http::{self, ClientOptions, ProviderError, mime_of, read_limited, success};
use crate::secret::Secret;
use crate::telemetry;

/// No JSON answer of this API comes near this size; anything larger is not RunningHub.
const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

/// One value to set in the workflow: `fieldName` of node `nodeId` becomes `fieldValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInput {
    pub node_id: String,
    pub field_name: String,
    pub field_value: String,
}

/// An account's balance and load, from `/uc/openapi/accountStatus`.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountStatus {
    pub remain_coins: Option<f64>,
    pub current_task_counts: Option<u64>,
    /// `NORMAL`, ...
    pub api_type: Option<String>,
}

/// Talks to one RunningHub host (`.ai` or `.cn`) for any number of accounts.
#[derive(Clone, Debug)]
pub struct RunningHubClient {
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: String,
    options: ClientOptions,
}

/// Whether a call may be repeated after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Safety {
    /// Repeating changes nothing (polls, cancel, uploads of the same file).
    Idempotent,
    /// Repeating could start a second, paid task.
    CreatesTask,
}

type Failure = provider_http::Failure<RhError>;

impl Safety {
    /// Whether a call of this kind may be repeated after `failure`.
    fn allows_retry(self, failure: &Failure) -> bool {
        match self {
            Self::Idempotent => failure.error.action() == ErrorAction::Retry,
            Self::CreatesTask => {
                failure.before_sending
                    || match &failure.error {
                        // A gateway's 502 or 504 may hide a task the server did create.
                        RhError::Http { status } => *status >= 500 && !matches!(status, 502 | 504),
                        // Code 500: the server answered that it failed; no task.
                        RhError::Api { .. } => failure.error.action() == ErrorAction::Retry,
                        _ => false,
                    }
            }
        }
    }
}

impl RunningHubClient {
    /// A client for `base_url` (`https://www.runninghub.ai`); checks the URL.
    pub fn new(base_url: &reqwest::Url, options: ClientOptions) -> Result<Self, RhError> {
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(RhError::Config("base URL must be http or https".into()));
        }
        let http = provider_http::http_client(options.request_timeout)
            .map_err(|e| RhError::Config(RhError::from_reqwest(e).to_string()))?;
        Ok(Self { http, base_url: base_url.as_str().trim_end_matches('/').to_owned(), options })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Uploads an input image; returns the `fileName` to put into a LoadImage node.
    #[tracing::instrument(skip(self, key, image), fields(bytes = image.len()))]
    pub async fn upload(&self, key: &Secret, image: Bytes, file_name: &str) -> Result<String, RhError> {
        let url = self.url("/task/openapi/upload");
        let mime = mime_of(file_name);
        let envelope = self
            .retrying(Safety::Idempotent, || async {
                let part = Part::stream_with_length(reqwest::Body::from(image.clone()), image.len() as u64)
                    .file_name(file_name.to_owned())
                    .mime_str(mime)
                    .map_err(|e| Failure::from(RhError::Config(RhError::from_reqwest(e).to_string())))?;
                let form = Form::new()
                    .text("apiKey", key.expose().to_owned())
                    .text("fileType", "image")
                    .part("file", part);
                let request = self.http.post(&url).multipart(form).timeout(self.options.transfer_timeout);
                self.send(request, key).await
            })
            .await?;
        ok_or_api(&envelope, key)?;
        let data: UploadData = decode_data(&envelope)?;
        if data.file_name.trim().is_empty() {
            return Err(RhError::Decode("upload answer without fileName".into()));
        }
        debug!(file_type = data.file_type.as_deref(), "uploaded");
        Ok(data.file_name)
    }

    /// Starts the workflow. Retried only when no task can have been created (connection
    /// refused, HTTP 500 or 503, code 500). An answer lost after the body was sent (a
    /// timeout, 502, 504, a broken body) is [`RhError::Unconfirmed`]: the task may exist,
    /// and a second one would be paid for too.
    #[tracing::instrument(skip(self, key, nodes, webhook_url), fields(nodes = nodes.len()))]
    pub async fn create_task(
        &self,
        key: &Secret,
        workflow_id: &str,
        nodes: &[NodeInput],
        webhook_url: Option<&str>,
    ) -> Result<RemoteTaskId, RhError> {
        let url = self.url("/task/openapi/create");
        let body = CreateRequest {
            api_key: key.expose(),
            workflow_id,
            node_info_list: nodes
                .iter()
                .map(|n| NodeInfo {
                    node_id: &n.node_id,
                    field_name: &n.field_name,
                    field_value: &n.field_value,
                })
                .collect(),
            webhook_url,
        };
        // Whether the last failed attempt proved that no task exists.
        let no_task = AtomicBool::new(true);
        let envelope = self
            .retrying(Safety::CreatesTask, || async {
                let request = self.http.post(&url).json(&body).timeout(self.options.request_timeout);
                let answer = self.send(request, key).await;
                if let Err(failure) = &answer {
                    no_task.store(Safety::CreatesTask.allows_retry(failure), Ordering::Relaxed);
                }
                answer
            })
            .await
            .map_err(|e| match no_task.load(Ordering::Relaxed) {
                true => e,
                false => RhError::Unconfirmed(Box::new(e)),
            })?;
        ok_or_api(&envelope, key)?;
        let data: CreateData = decode_data(&envelope).map_err(|e| RhError::Unconfirmed(Box::new(e)))?;
        let task = RemoteTaskId(data.task_id);
        match PromptTips::from_value(&data.prompt_tips) {
            Ok(tips) => {
                if let Some(rejection) = tips.rejection() {
                    warn!(%task, %rejection, "the workflow rejected the inputs");
                    return Err(RhError::Rejected(rejection));
                }
            }
            // The task exists: an unreadable hint must not orphan it.
            Err(e) => warn!(%task, error = %RhError::from_json(&e), "unreadable promptTips"),
        }
        debug!(%task, status = data.task_status.as_deref(), "task created");
        Ok(task)
    }

    /// Where the task is; the source of truth for completion.
    #[tracing::instrument(skip(self, key), fields(task = %task))]
    pub async fn outputs(&self, key: &Secret, task: &RemoteTaskId) -> Result<TaskProgress, RhError> {
        let envelope = self.task_call("/task/openapi/outputs", key, task).await?;
        TaskProgress::from_envelope(&envelope).map_err(|e| redact(e, key))
    }

    /// Cancels the task; a task the provider no longer knows counts as cancelled.
    #[tracing::instrument(skip(self, key), fields(task = %task))]
    pub async fn cancel(&self, key: &Secret, task: &RemoteTaskId) -> Result<(), RhError> {
        let envelope = self.task_call("/task/openapi/cancel", key, task).await?;
        match ok_or_api(&envelope, key) {
            Err(e) if e.action() == ErrorAction::TaskNotFound => Ok(()),
            other => other,
        }
    }

    /// The account's balance and running tasks (and whether the key works at all).
    #[tracing::instrument(skip(self, key))]
    pub async fn account_status(&self, key: &Secret) -> Result<AccountStatus, RhError> {
        let url = self.url("/uc/openapi/accountStatus");
        let body = AccountStatusRequest { apikey: key.expose() };
        let envelope = self
            .retrying(Safety::Idempotent, || {
                let request = self.http.post(&url).json(&body).timeout(self.options.request_timeout);
                self.send(request, key)
            })
            .await?;
        ok_or_api(&envelope, key)?;
        let data: AccountStatusData = decode_data(&envelope)?;
        Ok(AccountStatus {
            remain_coins: data.remain_coins,
            current_task_counts: data.current_task_counts,
            api_type: data.api_type,
        })
    }

    /// Downloads an output file, streaming, refusing anything over `max_bytes`.
    #[tracing::instrument(skip(self, url), fields(host = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned))))]
    pub async fn download(&self, url: &str, max_bytes: usize) -> Result<Bytes, RhError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| RhError::Decode("output URL is not a URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RhError::Decode("output URL is not http(s)".into()));
        }
        self.retrying(Safety::Idempotent, || async {
            let response = self
                .http
                .get(parsed.clone())
                .timeout(self.options.transfer_timeout)
                .send()
                .await
                .map_err(Failure::from_reqwest)?;
            read_limited(success(response)?, max_bytes).await
        })
        .await
    }

    // ---- plumbing ------------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `{apiKey, taskId}` calls, which are all safe to repeat.
    async fn task_call(&self, path: &str, key: &Secret, task: &RemoteTaskId) -> Result<Envelope, RhError> {
        let url = self.url(path);
        let body = TaskRequest { api_key: key.expose(), task_id: &task.0 };
        self.retrying(Safety::Idempotent, || {
            let request = self.http.post(&url).json(&body).timeout(self.options.request_timeout);
            self.send(request, key)
        })
        .await
    }

    /// Sends one request and reads the envelope. Answers whose code asks for a retry
    /// (500, 808) come back as failures so that [`Self::retrying`] repeats them.
    async fn send(&self, request: reqwest::RequestBuilder, key: &Secret) -> Result<Envelope, Failure> {
        let (client, request) = request.build_split();
        let request = request.map_err(Failure::from_reqwest)?;
        let endpoint = endpoint_of(request.url().path());
        let started = std::time::Instant::now();
        let answer = self.read_envelope(client.execute(request).await, key).await;
        metrics::histogram!(telemetry::PROVIDER_LATENCY, "endpoint" => endpoint).record(started.elapsed());
        metrics::counter!(telemetry::PROVIDER_REQUESTS, "endpoint" => endpoint, "code" => code_label(&answer))
            .increment(1);
        answer
    }

    async fn read_envelope(
        &self,
        response: Result<reqwest::Response, reqwest::Error>,
        key: &Secret,
    ) -> Result<Envelope, Failure> {
        let response = response.map_err(Failure::from_reqwest)?;
        let body = read_limited(success(response)?, MAX_JSON_BYTES).await?;
        let envelope: Envelope =
            serde_json::from_slice(&body).map_err(|e| Failure::from(RhError::from_json(&e)))?;
        if envelope.code != 0 || code_from_msg(envelope.msg()).is_some() {
            let error = api_error(&envelope, key);
            if error.action() == ErrorAction::Retry {
                return Err(error.into());
            }
        }
        Ok(envelope)
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy's attempts are used.
    async fn retrying<T, F, Fut>(&self, safety: Safety, attempt: F) -> Result<T, RhError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        provider_http::retrying(self.options.retry, |failure| safety.allows_retry(failure), attempt).await
    }
}

/// The endpoint's name for metrics, from a fixed set (no path parameter reaches a label).
fn endpoint_of(path: &str) -> &'static str {
    match path.rsplit('/').next().unwrap_or_default() {
        "upload" => "upload",
        "create" => "create",
        "outputs" => "outputs",
        "status" => "status",
        "cancel" => "cancel",
        "accountStatus" => "accountStatus",
        _ => "other",
    }
}

/// The answer's code for metrics: the envelope's code, or what went wrong before one.
fn code_label(answer: &Result<Envelope, Failure>) -> String {
    match answer {
        Ok(envelope) => envelope.code.to_string(),
        Err(failure) => match &failure.error {
            RhError::Api { code, .. } => code.to_string(),
            RhError::Http { status } => format!("http_{status}"),
            RhError::Timeout => "timeout".into(),
            RhError::Transport(_) => "transport".into(),
            RhError::Decode(_) => "decode".into(),
            _ => "other".into(),
        },
    }
}

/// `Ok` for a success envelope (`code 0` and no error `msg`), else the business error.
fn ok_or_api(envelope: &Envelope, key: &Secret) -> Result<(), RhError> {
    if envelope.code == 0 && code_from_msg(envelope.msg()).is_none() {
        Ok(())
    } else {
        Err(api_error(envelope, key))
    }
}

fn api_error(envelope: &Envelope, key: &Secret) -> RhError {
    redact(RhError::Api { code: envelope.code, msg: envelope.msg().to_owned() }, key)
}

/// Removes the key from a server-provided message, in case a server ever echoes it.
fn redact(error: RhError, key: &Secret) -> RhError {
    match error {
        RhError::Api { code, msg } if !key.expose().is_empty() && msg.contains(key.expose()) => {
            RhError::Api { code, msg: msg.replace(key.expose(), "***") }
        }
        other => other,
    }
}

fn decode_data<T: serde::de::DeserializeOwned>(envelope: &Envelope) -> Result<T, RhError> {
    serde_json::from_value(envelope.data.clone()).map_err(|e| RhError::from_json(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_only_retried_when_no_task_can_exist() {
        let f = |error, before_sending| Failure { error, before_sending };
        assert!(Safety::CreatesTask.allows_retry(&f(RhError::Transport("refused".into()), true)));
        assert!(Safety::CreatesTask.allows_retry(&f(RhError::Timeout, true)));
        assert!(!Safety::CreatesTask.allows_retry(&f(RhError::Timeout, false)));
        assert!(!Safety::CreatesTask.allows_retry(&f(RhError::Transport("reset".into()), false)));
        assert!(!Safety::CreatesTask.allows_retry(&f(RhError::Decode("eof".into()), false)));
        assert!(!Safety::CreatesTask.allows_retry(&f(RhError::Http { status: 502 }, false)));
        assert!(Safety::CreatesTask.allows_retry(&f(RhError::Http { status: 503 }, false)));
        assert!(!Safety::CreatesTask.allows_retry(&f(RhError::Http { status: 504 }, false)));
        assert!(Safety::CreatesTask.allows_retry(&f(RhError::Api { code: 500, msg: String::new() }, false)));
        assert!(!Safety::CreatesTask.allows_retry(&f(RhError::Api { code: 421, msg: String::new() }, false)));
        // Idempotent calls retry every transient error.
        assert!(Safety::Idempotent.allows_retry(&f(RhError::Timeout, false)));
        assert!(Safety::Idempotent.allows_retry(&f(RhError::Decode("eof".into()), false)));
        assert!(!Safety::Idempotent.allows_retry(&f(RhError::Http { status: 404 }, false)));
    }

    #[test]
    fn keys_are_redacted_from_server_messages() {
        let key = Secret::new("k-123456");
        let env: Envelope = serde_json::from_str(r#"{"code":802,"msg":"bad key k-123456"}"#).unwrap();
        let e = api_error(&env, &key);
        assert!(!format!("{e} {e:?}").contains("k-123456"));
    }

    fn url(raw: &str) -> reqwest::Url {
        reqwest::Url::parse(raw).unwrap()
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(matches!(
            RunningHubClient::new(&url("mailto:a@b.c"), ClientOptions::default()),
            Err(RhError::Config(_))
        ));
        assert!(matches!(
            RunningHubClient::new(&url("ftp://x"), ClientOptions::default()),
            Err(RhError::Config(_))
        ));
        assert!(RunningHubClient::new(&url("https://www.runninghub.ai/"), ClientOptions::default()).is_ok());
    }
}
