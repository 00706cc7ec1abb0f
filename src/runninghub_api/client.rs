//! The HTTP client of the RunningHub workflow API: one method per endpoint.
//!
//! One client speaks one [`ApiMode`]: the legacy openapi (a workflow or an AI app, the key
//! in each body) or the v2 API (the key in a Bearer header, its own run, query and upload
//! paths, flat answers read through [`Envelope::from_v2`]). The calls and their retry
//! rules are the same in every mode; only the requests and the answers' shapes differ.
//!
//! Each call is retried on transient errors (see [`RetryPolicy`]) except where repeating
//! it could cost money: `create` may only be repeated when the first request certainly
//! did not start a task. Keys are passed per call (one client serves every account) and
//! only ever go into request bodies (in v2 mode, into an `Authorization` header marked
//! sensitive); errors never contain a body, a header or a key.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::multipart::{Form, Part};
use serde::Serialize;
use tracing::{debug, warn};

use super::error::{ErrorAction, RhError, code_from_msg};
use super::mode::{ApiMode, Target};
use super::progress::TaskProgress;
use super::wire::{
    AccountStatusData, AccountStatusRequest, AppRunRequest, CreateData, CreateRequest, Envelope, NodeInfo,
    PromptTips, TaskRequest, UploadData, V2QueryRequest, V2RunRequest, V2Task, V2UploadData,
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
    mode: ApiMode,
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
        Ok(Self {
            http,
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            options,
            mode: ApiMode::default(),
        })
    }

    /// The same client speaking `mode` (the legacy workflow API unless told otherwise).
    pub fn with_mode(mut self, mode: ApiMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn mode(&self) -> ApiMode {
        self.mode
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Uploads an input image; returns the `fileName` to put into a LoadImage node.
    #[tracing::instrument(skip(self, key, image), fields(bytes = image.len()))]
    pub async fn upload(&self, key: &Secret, image: Bytes, file_name: &str) -> Result<String, RhError> {
        let v2 = self.mode.is_v2();
        let url = self.url(if v2 { "/openapi/v2/media/upload/binary" } else { "/task/openapi/upload" });
        let mime = mime_of(file_name);
        let bearer = self.bearer(key)?;
        let envelope = self
            .retrying(Safety::Idempotent, || async {
                let part = Part::stream_with_length(reqwest::Body::from(image.clone()), image.len() as u64)
                    .file_name(file_name.to_owned())
                    .mime_str(mime)
                    .map_err(|e| Failure::from(RhError::Config(RhError::from_reqwest(e).to_string())))?;
                // v2 takes the file alone; the key is in the header.
                let form = match v2 {
                    true => Form::new().part("file", part),
                    false => Form::new()
                        .text("apiKey", key.expose().to_owned())
                        .text("fileType", "image")
                        .part("file", part),
                };
                let request = self.http.post(&url).multipart(form).timeout(self.options.transfer_timeout);
                self.send(authorize(request, &bearer), key).await
            })
            .await?;
        ok_or_api(&envelope, key)?;
        let file_name = match v2 {
            true => {
                let data: V2UploadData = decode_data(&envelope)?;
                debug!(has_url = data.download_url.is_some(), "uploaded");
                data.file_name
            }
            false => {
                let data: UploadData = decode_data(&envelope)?;
                debug!(file_type = data.file_type.as_deref(), "uploaded");
                data.file_name
            }
        };
        if file_name.trim().is_empty() {
            return Err(RhError::Decode("upload answer without fileName".into()));
        }
        Ok(file_name)
    }

    /// Starts the workflow through the legacy create, whatever the mode (the engine calls
    /// [`Self::run_task`], which follows the mode). Retried only when no task can have been
    /// created (connection refused, HTTP 500 or 503, code 500). An answer lost after the
    /// body was sent (a timeout, 502, 504, a broken body) is [`RhError::Unconfirmed`]: the
    /// task may exist, and a second one would be paid for too.
    #[tracing::instrument(skip(self, key, nodes, webhook_url), fields(nodes = nodes.len()))]
    pub async fn create_task(
        &self,
        key: &Secret,
        workflow_id: &str,
        nodes: &[NodeInput],
        webhook_url: Option<&str>,
    ) -> Result<RemoteTaskId, RhError> {
        let body = CreateRequest {
            api_key: key.expose(),
            workflow_id,
            node_info_list: node_infos(nodes),
            webhook_url,
        };
        let envelope = self.send_create("/task/openapi/create", &body, key).await?;
        let data: CreateData = decode_data(&envelope).map_err(|e| RhError::Unconfirmed(Box::new(e)))?;
        accepted(RemoteTaskId(data.task_id), &data.prompt_tips, data.task_status.as_deref())
    }

    /// Starts a task of `target` in this client's mode: the legacy create or AI app run,
    /// or the v2 run of the workflow or app. Retried and reported as [`Self::create_task`].
    #[tracing::instrument(skip(self, key, nodes, webhook_url), fields(nodes = nodes.len(), mode = ?self.mode))]
    pub async fn run_task(
        &self,
        key: &Secret,
        target: Target<'_>,
        nodes: &[NodeInput],
        webhook_url: Option<&str>,
    ) -> Result<RemoteTaskId, RhError> {
        match (self.mode.is_v2(), target) {
            (false, Target::Workflow(workflow_id)) => {
                self.create_task(key, workflow_id, nodes, webhook_url).await
            }
            (false, Target::App(webapp_id)) => {
                let body = AppRunRequest {
                    webapp_id,
                    api_key: key.expose(),
                    node_info_list: node_infos(nodes),
                    webhook_url,
                };
                let envelope = self.send_create("/task/openapi/ai-app/run", &body, key).await?;
                // The same answer as a create.
                let data: CreateData =
                    decode_data(&envelope).map_err(|e| RhError::Unconfirmed(Box::new(e)))?;
                accepted(RemoteTaskId(data.task_id), &data.prompt_tips, data.task_status.as_deref())
            }
            (true, target) => {
                // The id goes into the path: only ids that cannot change it are sent.
                let (kind, id) = match target {
                    Target::Workflow(id) => ("workflow", id),
                    Target::App(id) => ("ai-app", id),
                };
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(RhError::Config(format!("the {kind} id is not a RunningHub id")));
                }
                let body = V2RunRequest { node_info_list: node_infos(nodes), webhook_url };
                let path = format!("/openapi/v2/run/{kind}/{id}");
                let envelope = self.send_create(&path, &body, key).await?;
                let data: V2Task = decode_data(&envelope).map_err(|e| RhError::Unconfirmed(Box::new(e)))?;
                let task = data.task_id.ok_or_else(|| {
                    RhError::Unconfirmed(Box::new(RhError::Decode("run answer without taskId".into())))
                })?;
                accepted(RemoteTaskId(task), &data.prompt_tips, data.status.as_deref())
            }
        }
    }

    /// Where the task is; the source of truth for completion.
    #[tracing::instrument(skip(self, key), fields(task = %task))]
    pub async fn outputs(&self, key: &Secret, task: &RemoteTaskId) -> Result<TaskProgress, RhError> {
        if self.mode.is_v2() {
            let url = self.url("/openapi/v2/query");
            let body = V2QueryRequest { task_id: &task.0 };
            let envelope = self.post_idempotent(&url, &body, key).await?;
            return TaskProgress::from_v2(&envelope).map_err(|e| redact(e, key));
        }
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
        let envelope = self.post_idempotent(&url, &body, key).await?;
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

    /// `{apiKey, taskId}` calls, which are all safe to repeat. In v2 mode the key also
    /// goes in the Bearer header (the v2 API has no documented cancel of its own).
    async fn task_call(&self, path: &str, key: &Secret, task: &RemoteTaskId) -> Result<Envelope, RhError> {
        let url = self.url(path);
        let body = TaskRequest { api_key: key.expose(), task_id: &task.0 };
        self.post_idempotent(&url, &body, key).await
    }

    /// A JSON call that is safe to repeat.
    async fn post_idempotent(
        &self,
        url: &str,
        body: &impl Serialize,
        key: &Secret,
    ) -> Result<Envelope, RhError> {
        let bearer = self.bearer(key)?;
        self.retrying(Safety::Idempotent, || {
            let request = self.http.post(url).json(body).timeout(self.options.request_timeout);
            self.send(authorize(request, &bearer), key)
        })
        .await
    }

    /// Sends a call that starts a task and returns its successful envelope, retried only
    /// while no task can exist; a failure after that is [`RhError::Unconfirmed`].
    async fn send_create(
        &self,
        path: &str,
        body: &impl Serialize,
        key: &Secret,
    ) -> Result<Envelope, RhError> {
        let url = self.url(path);
        let bearer = self.bearer(key)?;
        // Whether the last failed attempt proved that no task exists.
        let no_task = AtomicBool::new(true);
        let envelope = self
            .retrying(Safety::CreatesTask, || async {
                let request = self.http.post(&url).json(body).timeout(self.options.request_timeout);
                let answer = self.send(authorize(request, &bearer), key).await;
                if let Err(failure) = &answer {
                    // A key refused at the door (401, 403) started nothing either.
                    let refused = matches!(failure.error, RhError::Http { status: 401 | 403 });
                    no_task.store(refused || Safety::CreatesTask.allows_retry(failure), Ordering::Relaxed);
                }
                answer
            })
            .await
            .map_err(|e| match no_task.load(Ordering::Relaxed) {
                true => e,
                false => RhError::Unconfirmed(Box::new(e)),
            })?;
        ok_or_api(&envelope, key)?;
        Ok(envelope)
    }

    /// The `Authorization` header of v2 calls (marked sensitive so it is never logged);
    /// `None` in the legacy modes, where the key travels in the body.
    fn bearer(&self, key: &Secret) -> Result<Option<HeaderValue>, RhError> {
        if !self.mode.is_v2() {
            return Ok(None);
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| RhError::Config("the API key cannot be sent in a header".into()))?;
        value.set_sensitive(true);
        Ok(Some(value))
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
        let envelope: Envelope = match self.mode.is_v2() {
            // Flat answers or envelopes: `from_v2` reads both.
            true => serde_json::from_slice(&body)
                .map_err(|e| RhError::from_json(&e))
                .and_then(|value| Envelope::from_v2(value).map_err(RhError::Decode))
                .map_err(Failure::from)?,
            false => serde_json::from_slice(&body).map_err(|e| Failure::from(RhError::from_json(&e)))?,
        };
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
    // Runs of an app or a v2 task count as creates; the v2 path ends in an id.
    if path.starts_with("/openapi/v2/run/") || path.ends_with("/ai-app/run") {
        return "create";
    }
    match path.rsplit('/').next().unwrap_or_default() {
        "upload" | "binary" => "upload",
        "create" => "create",
        "outputs" | "query" => "outputs",
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

/// The request with the v2 Bearer header, if there is one.
fn authorize(request: reqwest::RequestBuilder, bearer: &Option<HeaderValue>) -> reqwest::RequestBuilder {
    match bearer {
        Some(value) => request.header(AUTHORIZATION, value.clone()),
        None => request,
    }
}

fn node_infos(nodes: &[NodeInput]) -> Vec<NodeInfo<'_>> {
    nodes
        .iter()
        .map(|n| NodeInfo { node_id: &n.node_id, field_name: &n.field_name, field_value: &n.field_value })
        .collect()
}

/// The created task, unless ComfyUI's validation (`promptTips`) rejected the inputs.
fn accepted(
    task: RemoteTaskId,
    prompt_tips: &serde_json::Value,
    status: Option<&str>,
) -> Result<RemoteTaskId, RhError> {
    match PromptTips::from_value(prompt_tips) {
        Ok(tips) => {
            if let Some(rejection) = tips.rejection() {
                warn!(%task, %rejection, "the workflow rejected the inputs");
                return Err(RhError::Rejected(rejection));
            }
        }
        // The task exists: an unreadable hint must not orphan it.
        Err(e) => warn!(%task, error = %RhError::from_json(&e), "unreadable promptTips"),
    }
    debug!(%task, status, "task created");
    Ok(task)
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
    fn every_path_has_a_fixed_metrics_name() {
        assert_eq!(endpoint_of("/openapi/v2/run/ai-app/1877265245566922753"), "create");
        assert_eq!(endpoint_of("/openapi/v2/run/workflow/1"), "create");
        assert_eq!(endpoint_of("/task/openapi/ai-app/run"), "create");
        assert_eq!(endpoint_of("/openapi/v2/query"), "outputs");
        assert_eq!(endpoint_of("/openapi/v2/media/upload/binary"), "upload");
        assert_eq!(endpoint_of("/task/openapi/create"), "create");
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
