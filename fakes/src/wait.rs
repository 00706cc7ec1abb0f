//! Bounded polling used by the fakes' `wait_until`/`wait_for` helpers.

use std::time::{Duration, Instant};

/// Re-evaluates `cond` every `step` until it holds or `timeout` passes; returns whether it
/// held. Tests use it instead of fixed sleeps so they stay fast and never hang.
pub(crate) async fn poll_until(mut cond: impl FnMut() -> bool, timeout: Duration) -> bool {
    let step = Duration::from_millis(10);
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(step.min(deadline - now)).await;
    }
}
