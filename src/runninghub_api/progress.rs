//! Where a RunningHub task is, read from an outputs answer (polled or pushed by webhook).
//!
//! `/task/openapi/outputs` is the source of truth and its answers are the hardest to read:
//! "still running" arrives as 804, as 813 (queued) or as `code 0` with a running `msg`;
//! failure is 805 with a ComfyUI exception; an empty list means the workflow produced
//! nothing. [`TaskProgress::from_envelope`] is the one place that reads them; the v2
//! API's `/openapi/v2/query` says the same with a `status` word, read by
//! [`TaskProgress::from_v2`].

use serde_json::Value;

use super::error::{ErrorAction, RhError, classify};
use super::wire::{Envelope, FailedData, FailedReason, OutputItem, V2ResultItem, V2Task};
use crate::provider_http::ProviderError;

/// The most characters of a provider failure reason we keep (tracebacks can be huge).
const MAX_REASON_CHARS: usize = 400;

/// One file a finished task produced.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskOutput {
    /// Where to download it; no documented lifetime, so fetch it at once.
    pub file_url: String,
    /// As the provider labels it (`png`, `jpg`, `mp4`...), lower-cased; may be empty.
    pub file_type: String,
    pub cost_time_s: Option<f64>,
    pub node_id: Option<String>,
}

impl TaskOutput {
    /// Whether this output is a picture we can deliver (by `fileType`, else by URL suffix).
    pub fn is_image(&self) -> bool {
        const IMAGE: [&str; 4] = ["png", "jpg", "jpeg", "webp"];
        if !self.file_type.is_empty() {
            return IMAGE.contains(&self.file_type.as_str());
        }
        let path = self.file_url.split(['?', '#']).next().unwrap_or("");
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        ext.is_some_and(|e| IMAGE.contains(&e.as_str()))
    }
}

/// Where a task is on the provider.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskProgress {
    Queued,
    Running,
    Succeeded(Vec<TaskOutput>),
    /// The workflow failed; a human-readable reason (exception and node).
    Failed(String),
    /// The task finished without any output file.
    NoOutput,
    /// The provider does not know the task (807, 423).
    NotFound,
}

impl TaskProgress {
    /// Reads an outputs answer. Codes that say nothing about the task (bad key, rate
    /// limit, server error) come back as [`RhError::Api`].
    pub fn from_envelope(env: &Envelope) -> Result<Self, RhError> {
        let api_error = || RhError::Api { code: env.code, msg: env.msg().to_owned() };
        match classify(env.code, env.msg()) {
            ErrorAction::KeepPolling => {
                let queued = env.msg().to_ascii_uppercase().contains("QUEUED")
                    || (env.code == 813 && !env.msg().to_ascii_uppercase().contains("RUNNING"));
                Ok(if queued { Self::Queued } else { Self::Running })
            }
            ErrorAction::TaskFailed => Ok(Self::Failed(failure_reason(&env.data))),
            ErrorAction::TaskNotFound => Ok(Self::NotFound),
            _ if env.code == 0 => Ok(Self::from_success_data(&env.data)),
            _ => Err(api_error()),
        }
    }

    /// Reads a `/openapi/v2/query` answer (made an envelope by [`Envelope::from_v2`]): an
    /// error code first (with the same table as the legacy API), then `status`.
    pub fn from_v2(env: &Envelope) -> Result<Self, RhError> {
        if env.code != 0 || super::error::code_from_msg(env.msg()).is_some() {
            return Self::from_envelope(env);
        }
        let task: V2Task = serde_json::from_value(env.data.clone()).map_err(|e| RhError::from_json(&e))?;
        let status = task.status.unwrap_or_default().trim().to_ascii_uppercase();
        Ok(match status.as_str() {
            "QUEUED" | "CREATE" => Self::Queued,
            "SUCCESS" => Self::from_v2_results(&task.results),
            "FAILED" => Self::Failed(failure_reason(&env.data)),
            // RUNNING, and anything unknown or empty: the deadline bounds the wait.
            _ => Self::Running,
        })
    }

    fn from_v2_results(results: &Value) -> Self {
        let Value::Array(items) = results else { return Self::NoOutput };
        let outputs: Vec<TaskOutput> = items
            .iter()
            .filter_map(|item| serde_json::from_value::<V2ResultItem>(item.clone()).ok())
            .filter_map(|item| {
                let file_url = item.url.filter(|u| !u.trim().is_empty())?;
                Some(TaskOutput {
                    file_url,
                    file_type: item.output_type.unwrap_or_default().trim().to_ascii_lowercase(),
                    cost_time_s: None,
                    node_id: item.node_id,
                })
            })
            .collect();
        if outputs.is_empty() { Self::NoOutput } else { Self::Succeeded(outputs) }
    }

    fn from_success_data(data: &Value) -> Self {
        let Value::Array(items) = data else {
            // `code 0` without a list (null, or an object with `netWssUrl`) is how some
            // servers say "not finished yet"; the deadline bounds the wait.
            return Self::Running;
        };
        let outputs: Vec<TaskOutput> = items
            .iter()
            .filter_map(|item| serde_json::from_value::<OutputItem>(item.clone()).ok())
            .filter_map(|item| {
                let file_url = item.file_url.filter(|u| !u.trim().is_empty())?;
                Some(TaskOutput {
                    file_url,
                    file_type: item.file_type.unwrap_or_default().trim().to_ascii_lowercase(),
                    cost_time_s: item.task_cost_time,
                    node_id: item.node_id,
                })
            })
            .collect();
        if outputs.is_empty() { Self::NoOutput } else { Self::Succeeded(outputs) }
    }
}

/// "TypeError: bad input (node 276 \"Load Image\")" from a 805's `data`.
fn failure_reason(data: &Value) -> String {
    let failed: FailedData = serde_json::from_value(data.clone()).unwrap_or_default();
    let text = match &failed.failed_reason {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        Value::Object(_) => {
            let r: FailedReason = serde_json::from_value(failed.failed_reason.clone()).unwrap_or_default();
            let mut text = match (r.exception_type, r.exception_message) {
                (Some(t), Some(m)) => format!("{t}: {}", m.trim()),
                (Some(t), None) => t,
                (None, Some(m)) => m.trim().to_owned(),
                (None, None) => "the workflow failed".to_owned(),
            };
            match (r.node_id, r.node_name) {
                (Some(id), Some(name)) => text.push_str(&format!(" (node {id} \"{name}\")")),
                (Some(id), None) => text.push_str(&format!(" (node {id})")),
                (None, Some(name)) => text.push_str(&format!(" (node \"{name}\")")),
                (None, None) => {}
            }
            text
        }
        _ => "the workflow failed (no reason given)".to_owned(),
    };
    truncate_chars(&text, MAX_REASON_CHARS)
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(json: &str) -> Result<TaskProgress, RhError> {
        let env: Envelope = serde_json::from_str(json).expect("envelope");
        TaskProgress::from_envelope(&env)
    }

    #[test]
    fn done_with_numbers_as_strings() {
        let p = progress(
            r#"{"code":0,"msg":"success","data":[{"fileUrl":"https://rh-images.example/ComfyUI_00033_.png",
            "fileType":"png","taskCostTime":"83","nodeId":"12","consumeCoins":"17"}]}"#,
        )
        .unwrap();
        let TaskProgress::Succeeded(outputs) = p else { panic!("{p:?}") };
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].file_url, "https://rh-images.example/ComfyUI_00033_.png");
        assert_eq!(outputs[0].file_type, "png");
        assert_eq!(outputs[0].cost_time_s, Some(83.0));
        assert_eq!(outputs[0].node_id.as_deref(), Some("12"));
        assert!(outputs[0].is_image());
    }

    #[test]
    fn done_with_numbers_as_numbers() {
        let p = progress(
            r#"{"code":0,"msg":"success","data":[{"fileUrl":"https://x/a.PNG","fileType":"PNG","taskCostTime":0,"nodeId":9}]}"#,
        )
        .unwrap();
        let TaskProgress::Succeeded(outputs) = p else { panic!("{p:?}") };
        assert_eq!(outputs[0].cost_time_s, Some(0.0));
        assert_eq!(outputs[0].node_id.as_deref(), Some("9"));
        assert_eq!(outputs[0].file_type, "png");
    }

    #[test]
    fn running_804_with_null_or_object_data() {
        assert_eq!(
            progress(r#"{"code":804,"msg":"APIKEY_TASK_IS_RUNNING","data":null}"#).unwrap(),
            TaskProgress::Running
        );
        assert_eq!(
            progress(r#"{"code":804,"msg":"APIKEY_TASK_IS_RUNNING","data":{"netWssUrl":"wss://x"}}"#)
                .unwrap(),
            TaskProgress::Running
        );
    }

    #[test]
    fn code_zero_with_running_msg_is_running_not_success() {
        assert_eq!(
            progress(r#"{"code":0,"msg":"APIKEY_TASK_IS_RUNNING","data":null}"#).unwrap(),
            TaskProgress::Running
        );
        // Even with an (empty) list: the message decides.
        assert_eq!(
            progress(r#"{"code":0,"msg":"APIKEY_TASK_IS_RUNNING","data":[]}"#).unwrap(),
            TaskProgress::Running
        );
    }

    #[test]
    fn queued_813() {
        assert_eq!(
            progress(r#"{"code":813,"msg":"APIKEY_TASK_IS_QUEUED","data":null}"#).unwrap(),
            TaskProgress::Queued
        );
        assert_eq!(progress(r#"{"code":"813","data":null}"#).unwrap(), TaskProgress::Queued);
    }

    #[test]
    fn failed_805_with_reason() {
        let p = progress(
            r#"{"code":805,"msg":"APIKEY_TASK_STATUS_ERROR","data":{"failedReason":{"node_id":"276",
            "node_name":"KSampler","exception_type":"TypeError","exception_message":"bad input","traceback":"..."}}}"#,
        )
        .unwrap();
        assert_eq!(p, TaskProgress::Failed("TypeError: bad input (node 276 \"KSampler\")".into()));
    }

    #[test]
    fn failed_805_without_reason_or_with_a_string() {
        let p = progress(r#"{"code":805,"msg":"APIKEY_TASK_STATUS_ERROR","data":null}"#).unwrap();
        assert!(matches!(p, TaskProgress::Failed(ref r) if r.contains("no reason")), "{p:?}");
        let p = progress(
            r#"{"code":805,"msg":"APIKEY_TASK_STATUS_ERROR","data":{"failedReason":"out of memory"}}"#,
        )
        .unwrap();
        assert_eq!(p, TaskProgress::Failed("out of memory".into()));
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = "é".repeat(5000);
        let json = format!(r#"{{"code":805,"msg":"x","data":{{"failedReason":"{long}"}}}}"#);
        let TaskProgress::Failed(r) = progress(&json).unwrap() else { panic!() };
        assert!(r.chars().count() <= MAX_REASON_CHARS + 1);
    }

    #[test]
    fn not_found_807_and_423() {
        assert_eq!(
            progress(r#"{"code":807,"msg":"APIKEY_TASK_NOT_FOUND","data":null}"#).unwrap(),
            TaskProgress::NotFound
        );
        assert_eq!(progress(r#"{"code":423,"msg":"","data":null}"#).unwrap(), TaskProgress::NotFound);
    }

    #[test]
    fn empty_list_is_no_output() {
        assert_eq!(progress(r#"{"code":0,"msg":"success","data":[]}"#).unwrap(), TaskProgress::NoOutput);
        // Items without a URL are not outputs either.
        assert_eq!(
            progress(r#"{"code":0,"msg":"success","data":[{"fileType":"png"}]}"#).unwrap(),
            TaskProgress::NoOutput
        );
    }

    #[test]
    fn code_zero_without_a_list_is_still_running() {
        assert_eq!(progress(r#"{"code":0,"msg":"success","data":null}"#).unwrap(), TaskProgress::Running);
    }

    #[test]
    fn other_codes_are_errors() {
        let err = progress(r#"{"code":802,"msg":"APIKEY_UNAUTHORIZED","data":null}"#).unwrap_err();
        assert_eq!(err, RhError::Api { code: 802, msg: "APIKEY_UNAUTHORIZED".into() });
        assert_eq!(err.action(), ErrorAction::AccountRefused);
    }

    #[test]
    fn image_detection() {
        let out = |t: &str, u: &str| TaskOutput {
            file_url: u.into(),
            file_type: t.into(),
            cost_time_s: None,
            node_id: None,
        };
        assert!(out("jpeg", "https://x/a").is_image());
        assert!(out("webp", "https://x/a").is_image());
        assert!(!out("mp4", "https://x/a.png").is_image());
        assert!(out("", "https://x/a.JPG?sig=1").is_image());
        assert!(!out("", "https://x/a.txt").is_image());
    }

    fn v2(value: serde_json::Value) -> Result<TaskProgress, RhError> {
        TaskProgress::from_v2(&Envelope::from_v2(value).expect("an object"))
    }

    #[test]
    fn v2_query_answers() {
        use serde_json::json;
        let flat = |status: &str| json!({"taskId":"1","status":status,"errorCode":"","errorMessage":"","results":null});
        assert_eq!(v2(flat("QUEUED")).unwrap(), TaskProgress::Queued);
        assert_eq!(v2(flat("RUNNING")).unwrap(), TaskProgress::Running);
        assert_eq!(v2(flat("")).unwrap(), TaskProgress::Running);
        assert_eq!(v2(flat("SUCCESS")).unwrap(), TaskProgress::NoOutput);
        let done = v2(json!({"taskId":"1","status":"SUCCESS","errorCode":"","errorMessage":"",
            "results":[{"url":"https://x/o.png","nodeId":"2","outputType":"png","text":null}]}))
        .unwrap();
        match done {
            TaskProgress::Succeeded(o) => {
                assert_eq!((o[0].file_url.as_str(), o[0].file_type.as_str()), ("https://x/o.png", "png"));
                assert_eq!(o[0].node_id.as_deref(), Some("2"));
            }
            other => panic!("{other:?}"),
        }
        let failed = v2(json!({"taskId":"1","status":"FAILED","errorCode":"805","errorMessage":"APIKEY_TASK_STATUS_ERROR",
            "failedReason":{"node_id":"3","exception_type":"RuntimeError","exception_message":"CUDA out of memory"}}))
        .unwrap();
        assert!(
            matches!(failed, TaskProgress::Failed(ref r) if r.contains("CUDA out of memory")),
            "{failed:?}"
        );
        // A FAILED status without a code still fails, with whatever reason there is.
        assert!(matches!(v2(flat("FAILED")).unwrap(), TaskProgress::Failed(_)));
        assert_eq!(
            v2(json!({"taskId":"","errorCode":"807","errorMessage":"APIKEY_TASK_NOT_FOUND"})).unwrap(),
            TaskProgress::NotFound
        );
        assert!(matches!(
            v2(json!({"taskId":"","errorCode":"802","errorMessage":"APIKEY_UNAUTHORIZED"})),
            Err(RhError::Api { code: 802, .. })
        ));
    }
}
