//! A scripted HTTP server: answers each request as a test's function says, by path and
//! call number, and keeps every request. For wire-level client tests that need answers no
//! stateful fake gives (malformed JSON, odd status codes, a server that never answers).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::server::ServerHandle;

/// What the server answers to one request.
pub enum Reply {
    Json(Value),
    Status(u16),
    /// A 200 whose body is not the JSON it claims to be.
    Raw(&'static str),
    /// Never answers (well, after a minute).
    Hang,
    Png(Vec<u8>),
}

/// Each request's path, body and `Authorization` header.
type Hits = Arc<Mutex<Vec<(String, Bytes, Option<String>)>>>;

/// A running scripted server: its base URL and every request it received. Stops when
/// dropped.
pub struct ScriptedServer {
    base: String,
    hits: Hits,
    _server: ServerHandle,
}

impl ScriptedServer {
    /// Starts a server that answers `script(path, n, body)`, `n` counting calls per path
    /// from 1.
    pub async fn start(script: impl Fn(&str, usize, &[u8]) -> Reply + Send + Sync + 'static) -> Self {
        let hits: Hits = Arc::default();
        let script = Arc::new(script);
        let recorded = hits.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            let script = script.clone();
            async move {
                let path = uri.path().to_owned();
                let n = {
                    let mut hits = recorded.lock().unwrap_or_else(PoisonError::into_inner);
                    let auth =
                        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    hits.push((path.clone(), body.clone(), auth));
                    hits.iter().filter(|(p, _, _)| *p == path).count()
                };
                let response: Response = match script(&path, n, &body) {
                    Reply::Json(v) => axum::Json(v).into_response(),
                    Reply::Status(s) => {
                        StatusCode::from_u16(s).unwrap_or(StatusCode::IM_A_TEAPOT).into_response()
                    }
                    Reply::Raw(s) => ([(header::CONTENT_TYPE, "application/json")], s).into_response(),
                    Reply::Hang => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        StatusCode::OK.into_response()
                    }
                    Reply::Png(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
                };
                response
            }
        });
        let (listener, addr) = ServerHandle::bind().await;
        let (stop, _) = tokio::sync::watch::channel(false);
        let server = ServerHandle::serve(listener, app, stop);
        Self { base: format!("http://{addr}"), hits, _server: server }
    }

    /// The base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// How many requests reached `path`.
    pub fn count(&self, path: &str) -> usize {
        self.hits.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|(p, _, _)| p == path).count()
    }

    /// The bodies of the requests to `path`, in order.
    pub fn bodies(&self, path: &str) -> Vec<Bytes> {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.iter().filter(|(p, _, _)| p == path).map(|(_, b, _)| b.clone()).collect()
    }

    /// The `Authorization` headers of the requests to `path`, in order.
    pub fn authorizations(&self, path: &str) -> Vec<Option<String>> {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.iter().filter(|(p, _, _)| p == path).map(|(_, _, a)| a.clone()).collect()
    }
}
