//! Health and metrics for operators on `METRICS_LISTEN` (off when unset).
//!
//! `GET /healthz` answers 200 while the process runs; `GET /readyz` 200 only once Telegram
//! accepted the bot token and while the store answers, 503 otherwise; `GET /metrics` the
//! Prometheus text format. Counters and histograms are recorded where things happen,
//! through the `metrics` facade (names in `telemetry`); the queue's depth and each
//! account's slots are read from the queue at every scrape. Accounts are labelled by
//! their number, never by their key.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::queue::JobQueue;
use crate::store::Store;
use crate::telemetry::{JOB_DURATION, PROVIDER_LATENCY, QUEUE_DEPTH, QUEUE_WAIT, SLOTS_BUSY, SLOTS_TOTAL};

/// Buckets for job and queue times (seconds): a local cut-out takes a second, a provider
/// task a minute, a long queue an hour.
const JOB_BUCKETS: &[f64] = &[0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];
/// Buckets for provider calls (seconds).
const CALL_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Why the endpoints could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("cannot listen for metrics on {address} (METRICS_LISTEN): {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("the metrics recorder could not be installed: {0}")]
    Recorder(String),
}

/// What `/readyz` looks at.
#[derive(Clone, Default)]
pub struct Readiness {
    token_accepted: Arc<AtomicBool>,
}

impl Readiness {
    /// Telegram accepted the bot token (`getMe` answered).
    pub fn token_accepted(&self) {
        self.token_accepted.store(true, Ordering::Relaxed);
    }
}

/// The process-wide recorder: installed once, shared by every caller (tests start several
/// bots in one process).
fn handle() -> Result<PrometheusHandle, MonitoringError> {
    static HANDLE: std::sync::OnceLock<Result<PrometheusHandle, String>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(JOB_DURATION.into()), JOB_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(QUEUE_WAIT.into()), JOB_BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(PROVIDER_LATENCY.into()), CALL_BUCKETS))
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(MonitoringError::Recorder)
}

#[derive(Clone)]
struct Endpoints {
    metrics: PrometheusHandle,
    queue: JobQueue,
    store: Store,
    readiness: Readiness,
}

/// Binds `address` and serves the three endpoints until `stop` resolves.
pub async fn serve(
    address: SocketAddr,
    queue: JobQueue,
    store: Store,
    readiness: Readiness,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr, MonitoringError> {
    let metrics = handle()?;
    let tcp = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| MonitoringError::Listen { address, source })?;
    let bound = tcp.local_addr().map_err(|source| MonitoringError::Listen { address, source })?;
    let endpoints = Endpoints { metrics, queue, store, readiness };
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(scrape))
        .with_state(endpoints);
    tracing::info!(address = %bound, "serving /healthz, /readyz and /metrics");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(tcp, routes).with_graceful_shutdown(stop).await {
            tracing::error!(%error, "the metrics server stopped");
        }
    });
    Ok(bound)
}

async fn ready(State(endpoints): State<Endpoints>) -> (StatusCode, &'static str) {
    if !endpoints.readiness.token_accepted.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "the bot token is not accepted yet\n");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), endpoints.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "the job store does not answer\n"),
    }
}

async fn scrape(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    metrics::gauge!(QUEUE_DEPTH).set(endpoints.queue.waiting() as f64);
    for lane in endpoints.queue.lanes() {
        let account = lane.id.to_string();
        metrics::gauge!(SLOTS_BUSY, "account" => account.clone()).set(lane.running as f64);
        metrics::gauge!(SLOTS_TOTAL, "account" => account).set(lane.capacity as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], endpoints.metrics.render())
}
