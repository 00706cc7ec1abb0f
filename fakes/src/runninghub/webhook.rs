//! TASK_END callbacks to the client's `webhookUrl`.
//!
//! A timer per task fires at its scripted end (so the callback time is exact, not tied to
//! polling) and POSTs like RunningHub: up to 3 tries, each recorded for assertions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;
use super::state::{Phase, TaskEnd, WebhookDelivery};
use super::wire;

/// Schedules the callback of `task_id` for `at`.
pub(crate) fn schedule(shared: Arc<Shared>, task_id: String, url: String, at: Instant) {
    tokio::spawn(async move {
        let mut stop = shared.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for attempt in 1..=3u32 {
            let body = {
                let mut guard = shared.lock();
                let state = &mut *guard;
                if !state.webhooks_enabled {
                    return;
                }
                let now = Instant::now();
                let Some(&idx) = state.task_index.get(&task_id) else { return };
                let task = &state.tasks[idx];
                if task.phase(now) == Phase::Done(TaskEnd::Cancelled) {
                    return;
                }
                wire::webhook_body(&mut state.quirks, &state.base_url, task, now)
            };
            let result = shared.http.post(&url).json(&body).timeout(Duration::from_secs(5)).send().await;
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            shared.lock().webhooks.push(WebhookDelivery {
                task_id: task_id.clone(),
                url: url.clone(),
                attempt,
                status,
                at: Instant::now(),
                body,
            });
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
        }
    });
}
