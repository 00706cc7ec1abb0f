//! The HTTP client of a ComfyUI server: one method per endpoint, plus the two composite
//! questions the engine asks ("where is my prompt?", "stop my prompt").
//!
//! Calls are retried on transient errors with the project's [`RetryPolicy`], except
//! `POST /prompt`: repeating it after the request went out could queue the workflow twice
//! (a GPU busy for nothing), so it is repeated only when the request never left.

use std::future::Future;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::error::ComfyError;
use super::progress::{PromptOutcome, PromptState};
use super::wire::{
    HistoryEntry, ImageRef, PromptAccepted, PromptRejection, PromptRequest, QueueSnapshot, UploadedImage,
    history_entry, node_errors_text,
};
use crate::job::RemoteTaskId;
use crate::provider_http::{self, ClientOptions, ProviderError, mime_of, read_limited, success};

/// `/queue` and `/history` carry whole workflows; anything past this is not ComfyUI.
const MAX_JSON_BYTES: usize = 64 * 1024 * 1024;

/// What a cancel did on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The prompt was waiting: it was removed from the queue.
    Deleted,
    /// The prompt was executing: it was interrupted.
    Interrupted,
    /// The prompt was in neither queue (already ended, or unknown): nothing to do.
    NotQueued,
}

/// Talks to one ComfyUI server.
#[derive(Clone, Debug)]
pub struct ComfyUiClient {
    http: reqwest::Client,
    /// Without a trailing slash; may carry a path prefix (a reverse proxy's).
    base_url: String,
    options: ClientOptions,
}

/// Whether a call may be repeated after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Safety {
    /// Repeating changes nothing (reads, uploads with overwrite, delete, interrupt).
    Idempotent,
    /// Repeating could queue the workflow a second time.
    QueuesPrompt,
}

type Failure = provider_http::Failure<ComfyError>;

impl Safety {
    /// Whether a call of this kind may be repeated after `failure`.
    fn allows_retry(self, failure: &Failure) -> bool {
        match self {
            Self::Idempotent => failure.error.is_transient(),
            // 503: a proxy or the server said it did not take the request.
            Self::QueuesPrompt => failure.before_sending || failure.error == ComfyError::Http { status: 503 },
        }
    }
}

impl ComfyUiClient {
    /// A client for `base_url` (`http://127.0.0.1:8188`); checks the URL.
    pub fn new(base_url: &reqwest::Url, options: ClientOptions) -> Result<Self, ComfyError> {
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(ComfyError::Config("COMFYUI_URL must be http or https".into()));
        }
        let http = provider_http::http_client(options.request_timeout)
            .map_err(|e| ComfyError::Config(ComfyError::from_reqwest(e).to_string()))?;
        Ok(Self { http, base_url: base_url.as_str().trim_end_matches('/').to_owned(), options })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// `POST /upload/image` into the input folder, replacing a file of the same name.
    /// Returns where the server put it.
    #[tracing::instrument(skip(self, image), fields(bytes = image.len()))]
    pub async fn upload_image(&self, image: Bytes, file_name: &str) -> Result<UploadedImage, ComfyError> {
        let url = self.url("/upload/image");
        let mime = mime_of(file_name);
        let body = self
            .retrying(Safety::Idempotent, || async {
                let part = Part::stream_with_length(reqwest::Body::from(image.clone()), image.len() as u64)
                    .file_name(file_name.to_owned())
                    .mime_str(mime)
                    .map_err(|e| {
                        Failure::from(ComfyError::Config(ComfyError::from_reqwest(e).to_string()))
                    })?;
                let form = Form::new().part("image", part).text("type", "input").text("overwrite", "true");
                let request = self.http.post(&url).multipart(form).timeout(self.options.transfer_timeout);
                self.send_json(request).await
            })
            .await?;
        let uploaded: UploadedImage = serde_json::from_value(body).map_err(|e| ComfyError::from_json(&e))?;
        if uploaded.name.trim().is_empty() {
            return Err(ComfyError::Decode("upload answer without a name".into()));
        }
        debug!(name = %uploaded.name, "uploaded");
        Ok(uploaded)
    }

    /// `POST /prompt`: queues the workflow. An invalid workflow is
    /// [`ComfyError::Rejected`] with the server's reasons.
    #[tracing::instrument(skip(self, workflow), fields(nodes = workflow.as_object().map_or(0, |o| o.len())))]
    pub async fn queue_prompt(&self, workflow: &Value, client_id: &str) -> Result<RemoteTaskId, ComfyError> {
        let url = self.url("/prompt");
        let body = PromptRequest { prompt: workflow, client_id };
        let answer = self
            .retrying(Safety::QueuesPrompt, || async {
                let request = self.http.post(&url).json(&body).timeout(self.options.request_timeout);
                let response = request.send().await.map_err(Failure::from_reqwest)?;
                if response.status() == reqwest::StatusCode::BAD_REQUEST {
                    let raw = read_limited(response, MAX_JSON_BYTES).await?;
                    let rejection: PromptRejection = serde_json::from_slice(&raw).unwrap_or_default();
                    return Err(ComfyError::Rejected(rejection.describe()).into());
                }
                read_json(response).await
            })
            .await?;
        let accepted: PromptAccepted =
            serde_json::from_value(answer).map_err(|e| ComfyError::from_json(&e))?;
        if accepted.prompt_id.trim().is_empty() {
            return Err(ComfyError::Decode("prompt answer without a prompt_id".into()));
        }
        // Errors of some outputs while others stay valid: the prompt runs anyway.
        if let Some(partial) = node_errors_text(&accepted.node_errors) {
            warn!(prompt = %accepted.prompt_id, %partial, "the server dropped some outputs of the workflow");
        }
        info!(prompt = %accepted.prompt_id, number = ?accepted.number, "prompt queued");
        Ok(RemoteTaskId(accepted.prompt_id))
    }

    /// `GET /history/{prompt_id}`: the entry once the prompt ended, `None` before.
    #[tracing::instrument(skip(self), fields(prompt = %prompt))]
    pub async fn history(&self, prompt: &RemoteTaskId) -> Result<Option<HistoryEntry>, ComfyError> {
        let url = self.url(&format!("/history/{}", path_segment(&prompt.0)));
        let body = self
            .retrying(Safety::Idempotent, || {
                self.send_json(self.http.get(&url).timeout(self.options.request_timeout))
            })
            .await?;
        history_entry(&body, &prompt.0).map_err(|e| ComfyError::from_json(&e))
    }

    /// `GET /queue`: the ids of the running and pending prompts.
    #[tracing::instrument(skip(self))]
    pub async fn queue(&self) -> Result<QueueSnapshot, ComfyError> {
        let url = self.url("/queue");
        let body = self
            .retrying(Safety::Idempotent, || {
                self.send_json(self.http.get(&url).timeout(self.options.request_timeout))
            })
            .await?;
        QueueSnapshot::from_value(&body).map_err(ComfyError::Decode)
    }

    /// Where the prompt is: history first (the common "not yet" is a tiny `{}`), then the
    /// queue, then history again, because the prompt may end between the first two calls.
    #[tracing::instrument(skip(self), fields(prompt = %prompt))]
    pub async fn state(&self, prompt: &RemoteTaskId) -> Result<PromptState, ComfyError> {
        if let Some(entry) = self.history(prompt).await? {
            return Ok(PromptState::Finished(PromptOutcome::from_history(&entry)));
        }
        let queue = self.queue().await?;
        if queue.running.contains(&prompt.0) {
            return Ok(PromptState::Running);
        }
        if queue.pending.contains(&prompt.0) {
            return Ok(PromptState::Pending);
        }
        Ok(match self.history(prompt).await? {
            Some(entry) => PromptState::Finished(PromptOutcome::from_history(&entry)),
            None => PromptState::Unknown,
        })
    }

    /// Stops the prompt: removes it from the queue if it waits, interrupts it if it runs.
    /// Only a prompt seen running is interrupted, since old servers ignore the prompt id
    /// and would stop whatever runs.
    #[tracing::instrument(skip(self), fields(prompt = %prompt))]
    pub async fn cancel(&self, prompt: &RemoteTaskId) -> Result<CancelOutcome, ComfyError> {
        let queue = self.queue().await?;
        if queue.pending.contains(&prompt.0) {
            self.delete_pending(prompt).await?;
            // It may have started between the two calls.
            let after = self.queue().await?;
            if !after.running.contains(&prompt.0) {
                return Ok(CancelOutcome::Deleted);
            }
        } else if !queue.running.contains(&prompt.0) {
            return Ok(CancelOutcome::NotQueued);
        }
        self.interrupt(prompt).await?;
        Ok(CancelOutcome::Interrupted)
    }

    /// `POST /queue {"delete": [id]}`: removes a pending prompt (a no-op otherwise).
    #[tracing::instrument(skip(self), fields(prompt = %prompt))]
    pub async fn delete_pending(&self, prompt: &RemoteTaskId) -> Result<(), ComfyError> {
        self.post_empty("/queue", json!({ "delete": [prompt.0] })).await
    }

    /// `POST /interrupt {"prompt_id": id}`: stops the prompt if it is the one running.
    #[tracing::instrument(skip(self), fields(prompt = %prompt))]
    pub async fn interrupt(&self, prompt: &RemoteTaskId) -> Result<(), ComfyError> {
        self.post_empty("/interrupt", json!({ "prompt_id": prompt.0 })).await
    }

    /// `GET /view`: an output file, streaming, refusing anything over `max_bytes`.
    #[tracing::instrument(skip(self, image), fields(file = %image.filename))]
    pub async fn download(&self, image: &ImageRef, max_bytes: usize) -> Result<Bytes, ComfyError> {
        let url = self.url("/view");
        let query = [
            ("filename", image.filename.as_str()),
            ("subfolder", image.subfolder.as_str()),
            ("type", image.kind.as_str()),
        ];
        self.retrying(Safety::Idempotent, || async {
            let response = self
                .http
                .get(&url)
                .query(&query)
                .timeout(self.options.transfer_timeout)
                .send()
                .await
                .map_err(Failure::from_reqwest)?;
            let status = response.status();
            if !status.is_success() {
                return Err(ComfyError::Http { status: status.as_u16() }.into());
            }
            read_limited(response, max_bytes).await
        })
        .await
    }

    // ---- plumbing ------------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A POST whose answer is only a status (`/queue`, `/interrupt`).
    async fn post_empty(&self, path: &str, body: Value) -> Result<(), ComfyError> {
        let url = self.url(path);
        self.retrying(Safety::Idempotent, || async {
            let response = self
                .http
                .post(&url)
                .json(&body)
                .timeout(self.options.request_timeout)
                .send()
                .await
                .map_err(Failure::from_reqwest)?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(ComfyError::Http { status: status.as_u16() }.into())
            }
        })
        .await
    }

    async fn send_json(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let response = request.send().await.map_err(Failure::from_reqwest)?;
        read_json(response).await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy's attempts are used.
    async fn retrying<T, F, Fut>(&self, safety: Safety, attempt: F) -> Result<T, ComfyError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        provider_http::retrying(self.options.retry, |failure| safety.allows_retry(failure), attempt).await
    }
}

/// A 2xx answer's JSON body, else the status as an error.
async fn read_json(response: reqwest::Response) -> Result<Value, Failure> {
    let body = read_limited(success(response)?, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| Failure::from(ComfyError::from_json(&e)))
}

/// Percent-encodes a prompt id for a path (server ids are UUIDs; a resumed id comes from
/// our own store, but is treated as untrusted text all the same).
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queueing_is_only_repeated_when_the_request_never_left() {
        let f = |error, before_sending| Failure { error, before_sending };
        assert!(Safety::QueuesPrompt.allows_retry(&f(ComfyError::Transport("refused".into()), true)));
        assert!(!Safety::QueuesPrompt.allows_retry(&f(ComfyError::Timeout, false)));
        assert!(!Safety::QueuesPrompt.allows_retry(&f(ComfyError::Http { status: 500 }, false)));
        assert!(Safety::QueuesPrompt.allows_retry(&f(ComfyError::Http { status: 503 }, false)));
        assert!(!Safety::QueuesPrompt.allows_retry(&f(ComfyError::Rejected("x".into()), false)));
        assert!(Safety::Idempotent.allows_retry(&f(ComfyError::Timeout, false)));
        assert!(!Safety::Idempotent.allows_retry(&f(ComfyError::Http { status: 404 }, false)));
    }

    fn url(raw: &str) -> reqwest::Url {
        reqwest::Url::parse(raw).unwrap()
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(matches!(
            ComfyUiClient::new(&url("file:///x"), ClientOptions::default()),
            Err(ComfyError::Config(_))
        ));
        assert!(matches!(
            ComfyUiClient::new(&url("ftp://x"), ClientOptions::default()),
            Err(ComfyError::Config(_))
        ));
        let c = ComfyUiClient::new(&url("http://127.0.0.1:8188/"), ClientOptions::default()).unwrap();
        assert_eq!(c.url("/prompt"), "http://127.0.0.1:8188/prompt");
    }

    #[test]
    fn prompt_ids_are_encoded_for_paths() {
        assert_eq!(path_segment("3f1c-9a_b"), "3f1c-9a_b");
        assert_eq!(path_segment("../x y"), "..%2Fx%20y");
    }
}
