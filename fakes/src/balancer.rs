//! A round-robin HTTP load balancer in front of several replicas of the bot.
//!
//! Exists so that tests of several `backdrop bot` processes reach them the way production
//! does: one public URL (Telegram's webhook, RunningHub's callbacks) spread over every
//! replica, and a replica that is down skipped (a refused connection is tried on the next
//! one, as a proxy with health checks would). The request's path, query, headers and body
//! are passed on unchanged, and the first answer comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::server::ServerHandle;

struct Shared {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    /// Requests answered by each backend, in the order of `backends`.
    served: Vec<AtomicUsize>,
    http: reqwest::Client,
}

/// The balancer; dropping it stops it.
pub struct LoadBalancer {
    url: String,
    shared: Arc<Shared>,
    _server: ServerHandle,
}

impl LoadBalancer {
    /// Listens on `127.0.0.1:0` in front of `backends` (which may not be up yet).
    pub async fn start(backends: Vec<SocketAddr>) -> LoadBalancer {
        let (listener, addr) = ServerHandle::bind().await;
        let served = backends.iter().map(|_| AtomicUsize::new(0)).collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client for the balancer");
        let shared = Arc::new(Shared { backends, next: AtomicUsize::new(0), served, http });
        let router = Router::new().fallback(forward).with_state(Arc::clone(&shared));
        let (stop, _) = watch::channel(false);
        let server = ServerHandle::serve(listener, router, stop);
        LoadBalancer { url: format!("http://{addr}"), shared, _server: server }
    }

    /// The public base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests each backend answered.
    pub fn served(&self) -> Vec<usize> {
        self.shared.served.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let n = shared.backends.len();
    let first = shared.next.fetch_add(1, Ordering::Relaxed);
    for i in 0..n {
        let index = (first + i) % n;
        let url = format!("http://{}{path}", shared.backends[index]);
        let mut request = shared.http.request(method.clone(), &url).body(body.clone());
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(answer) => {
                shared.served[index].fetch_add(1, Ordering::Relaxed);
                let status =
                    StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let bytes = answer.bytes().await.unwrap_or_default();
                return (status, bytes).into_response();
            }
            // Down (refused) or dead mid-request: the next replica gets it.
            Err(_) => continue,
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}
