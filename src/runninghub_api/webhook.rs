//! The callback RunningHub POSTs to `webhookUrl` when a task ends.
//!
//! It carries no signature, so it is only a hint: the engine wakes the task's poller,
//! which confirms with `/task/openapi/outputs` before delivering anything.

use serde_json::Value;

use super::error::RhError;
use super::progress::TaskProgress;
use super::wire::{Envelope, WebhookBody};
use crate::job::RemoteTaskId;
use crate::provider_http::ProviderError;

/// A parsed webhook call: which task, and what the callback claims happened to it.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    pub task_id: RemoteTaskId,
    pub progress: TaskProgress,
}

/// Parses a webhook body. `eventData` may be a JSON string or an object; a missing or
/// unreadable `eventData` still yields the task id (with `Running`), since the event is
/// only used to wake the poller.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, RhError> {
    let hook: WebhookBody = serde_json::from_slice(body).map_err(|e| RhError::from_json(&e))?;
    let envelope: Option<Envelope> = match &hook.event_data {
        Value::String(s) => Some(serde_json::from_str(s).map_err(|e| RhError::from_json(&e))?),
        Value::Object(_) => {
            Some(serde_json::from_value(hook.event_data.clone()).map_err(|e| RhError::from_json(&e))?)
        }
        _ => None,
    };
    let progress = match envelope {
        Some(env) => TaskProgress::from_envelope(&env)?,
        None => TaskProgress::Running,
    };
    Ok(WebhookEvent { task_id: RemoteTaskId(hook.task_id), progress })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_as_a_string() {
        let body = br#"{"event":"TASK_END","taskId":"1904163390028185602",
 "eventData":"{\"code\":0,\"msg\":\"success\",\"data\":[{\"fileUrl\":\"https://x/o.png\",\"fileType\":\"png\",\"taskCostTime\":0,\"nodeId\":\"9\"}]}"}"#;
        let ev = parse_webhook(body).unwrap();
        assert_eq!(ev.task_id, RemoteTaskId("1904163390028185602".into()));
        let TaskProgress::Succeeded(out) = ev.progress else { panic!("{:?}", ev.progress) };
        assert_eq!(out[0].file_url, "https://x/o.png");
        assert_eq!(out[0].node_id.as_deref(), Some("9"));
    }

    #[test]
    fn event_data_as_an_object_and_numeric_task_id() {
        let body = br#"{"event":"TASK_END","taskId":1904163390028185602,
 "eventData":{"code":805,"msg":"APIKEY_TASK_STATUS_ERROR","data":{"failedReason":{"exception_type":"OOM","exception_message":"CUDA"}}}}"#;
        let ev = parse_webhook(body).unwrap();
        assert_eq!(ev.task_id.0, "1904163390028185602");
        assert_eq!(ev.progress, TaskProgress::Failed("OOM: CUDA".into()));
    }

    #[test]
    fn missing_event_data_is_only_a_wake_up() {
        let ev = parse_webhook(br#"{"taskId":"42"}"#).unwrap();
        assert_eq!(ev.progress, TaskProgress::Running);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(parse_webhook(b"not json"), Err(RhError::Decode(_))));
        assert!(matches!(parse_webhook(br#"{"event":"TASK_END"}"#), Err(RhError::Decode(_))));
        assert!(matches!(parse_webhook(br#"{"taskId":"1","eventData":"{oops"}"#), Err(RhError::Decode(_))));
    }
}
