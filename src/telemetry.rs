//! The names of the metrics Backdrop records, in one place: recorded through the `metrics`
//! facade where things happen (queue, runner, provider clients, the bot), rendered by
//! `monitoring`. A leaf module, so that recording a metric pulls in no server.

/// Jobs that ended, by how: `succeeded`, `failed`, `cancelled` (counter).
pub const JOBS_TOTAL: &str = "backdrop_jobs_total";
/// Jobs waiting for a slot (gauge, read at each scrape).
pub const QUEUE_DEPTH: &str = "backdrop_queue_depth";
/// Task slots in use per account (gauge).
pub const SLOTS_BUSY: &str = "backdrop_slots_busy";
/// Task slots per account (gauge).
pub const SLOTS_TOTAL: &str = "backdrop_slots_total";
/// From a job's start on a slot to its end (histogram, seconds).
pub const JOB_DURATION: &str = "backdrop_job_duration_seconds";
/// From a job's arrival in the queue to its start on a slot (histogram, seconds).
pub const QUEUE_WAIT: &str = "backdrop_queue_wait_seconds";
/// Provider HTTP calls by endpoint and answer code (counter).
pub const PROVIDER_REQUESTS: &str = "backdrop_provider_requests_total";
/// Provider HTTP call latency by endpoint (histogram, seconds).
pub const PROVIDER_LATENCY: &str = "backdrop_provider_request_seconds";
/// Telegram calls that failed, by method (counter).
pub const TELEGRAM_ERRORS: &str = "backdrop_telegram_errors_total";
/// Result deliveries tried again (counter).
pub const DELIVERY_RETRIES: &str = "backdrop_delivery_retries_total";
