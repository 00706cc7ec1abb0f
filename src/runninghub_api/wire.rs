//! What RunningHub sends and expects on the wire, parsed leniently.
//!
//! The provider is inconsistent across hosts and versions: `taskId` arrives as a string or
//! a number, counters and costs as strings or numbers, `eventData` and `promptTips` as JSON
//! encoded inside a string. Everything here accepts every documented variant, so the rest
//! of the client works with clean Rust types and never sees the mess.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope of every answer: `{"code": 0, "msg": "success", "data": ...}`.
///
/// `data` stays a raw [`Value`] because its shape depends on the endpoint *and* on the
/// code (805 carries `failedReason`, 804 may carry an object, success a list).
#[derive(Clone, Debug, Deserialize)]
pub struct Envelope {
    #[serde(deserialize_with = "de_code")]
    pub code: i64,
    #[serde(default, deserialize_with = "de_opt_string")]
    pub msg: Option<String>,
    #[serde(default)]
    pub data: Value,
}

impl Envelope {
    /// The message, or "" when the server sent none.
    pub fn msg(&self) -> &str {
        self.msg.as_deref().unwrap_or("")
    }
}

impl Envelope {
    /// Reads an answer of the v2 API. Its uploads answer an envelope spelled
    /// `{"code", "message", "data"}`; its runs and queries answer a flat object with
    /// `errorCode` (a string, "" for none) and `errorMessage`. Both become an envelope
    /// here (the flat object is its own `data`) so the rest of the client reads one shape
    /// and keeps the "msg first" rule.
    pub fn from_v2(value: Value) -> Result<Self, String> {
        let Value::Object(map) = &value else {
            return Err("the answer is not a JSON object".into());
        };
        let text = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(code) = map.get("code") {
            let code = value_code(code).ok_or("`code` is not an integer")?;
            let msg = text("msg").or_else(|| text("message"));
            let data = map.get("data").cloned().unwrap_or(Value::Null);
            return Ok(Self { code, msg, data });
        }
        let message = text("errorMessage").filter(|m| !m.trim().is_empty());
        let (code, msg) = match map.get("errorCode") {
            None | Some(Value::Null) => (0, message),
            Some(raw) => match value_code(raw) {
                Some(code) => (code, message),
                // An empty string means no error.
                None if raw.as_str().is_some_and(|s| s.trim().is_empty()) => (0, message),
                // A word such as "NOT_FOUND": kept in `msg`, where the table looks first.
                None => {
                    let word = raw.as_str().unwrap_or_default().trim().to_owned();
                    (-1, Some(message.map_or_else(|| word.clone(), |m| format!("{word}: {m}"))))
                }
            },
        };
        Ok(Self { code, msg, data: value })
    }
}

/// `data` of `/openapi/v2/media/upload/binary`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2UploadData {
    /// What a LoadImage node takes (`openapi/....png`).
    pub file_name: String,
    /// A public URL of the file; informative only (the node takes `fileName`).
    #[serde(default, rename = "download_url", deserialize_with = "de_opt_string")]
    pub download_url: Option<String>,
}

/// The flat answer of `/openapi/v2/run/...` and `/openapi/v2/query`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2Task {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub task_id: Option<String>,
    /// QUEUED, RUNNING, SUCCESS or FAILED.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub status: Option<String>,
    /// A JSON string (sometimes an object) with ComfyUI's validation result.
    #[serde(default)]
    pub prompt_tips: Value,
    /// The outputs of a finished task (`null` before).
    #[serde(default)]
    pub results: Value,
}

/// One item of `results` in a v2 answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V2ResultItem {
    #[serde(default, deserialize_with = "de_opt_string")]
    pub url: Option<String>,
    /// The file's extension (`png`, `mp4`, `txt`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub output_type: Option<String>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub node_id: Option<String>,
}

/// `data` of `/task/openapi/upload`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadData {
    /// What a LoadImage node takes (`api/....png`); not a URL.
    pub file_name: String,
    /// `"image"` or, on some servers, `"input"`; informative only.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub file_type: Option<String>,
}

/// `data` of `/task/openapi/create`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateData {
    #[serde(deserialize_with = "de_task_id")]
    pub task_id: String,
    /// CREATE, QUEUED, RUNNING, SUCCESS or FAILED.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub task_status: Option<String>,
    /// A JSON string (sometimes an object) with ComfyUI's validation result.
    #[serde(default)]
    pub prompt_tips: Value,
}

/// ComfyUI's prompt validation result, found (JSON-encoded) in `promptTips`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PromptTips {
    #[serde(default)]
    pub result: Option<bool>,
    #[serde(default)]
    pub error: Value,
    #[serde(default)]
    pub node_errors: Value,
}

impl PromptTips {
    /// Reads `promptTips` whether it is a JSON string, an object, empty or absent.
    pub fn from_value(value: &Value) -> Result<Self, serde_json::Error> {
        match value {
            Value::String(s) if s.trim().is_empty() => Ok(Self::default()),
            Value::String(s) => serde_json::from_str(s),
            Value::Object(_) => serde_json::from_value(value.clone()),
            _ => Ok(Self::default()),
        }
    }

    /// A short description of the rejected nodes, or `None` when the inputs were accepted.
    pub fn rejection(&self) -> Option<String> {
        let errors = match &self.node_errors {
            Value::Object(map) if !map.is_empty() => map,
            _ => return None,
        };
        let mut parts = Vec::new();
        for (node, detail) in errors {
            // ComfyUI: {"<node>": {"errors": [{"message": "...", "details": "..."}], "class_type": "..."}}
            let class = detail.get("class_type").and_then(Value::as_str).unwrap_or("?");
            let messages: Vec<&str> = detail
                .get("errors")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect())
                .unwrap_or_default();
            parts.push(format!("node {node} ({class}): {}", messages.join("; ")));
        }
        Some(parts.join(", "))
    }
}

/// One item of the `data` list of `/task/openapi/outputs` (and of the webhook's `eventData`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputItem {
    #[serde(default, deserialize_with = "de_opt_string")]
    pub file_url: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    pub file_type: Option<String>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    pub task_cost_time: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub node_id: Option<String>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    pub consume_coins: Option<f64>,
}

/// `data` of a 805 answer: why the workflow failed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedData {
    /// Usually an object (see [`FailedReason`]), sometimes a bare string.
    #[serde(default)]
    pub failed_reason: Value,
}

/// ComfyUI's execution error, as RunningHub forwards it (snake_case, unlike the rest).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FailedReason {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub node_id: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    pub exception_type: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    pub exception_message: Option<String>,
}

/// `data` of `/uc/openapi/accountStatus`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountStatusData {
    #[serde(default, deserialize_with = "de_opt_f64")]
    pub remain_coins: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_u64")]
    pub current_task_counts: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_string")]
    pub api_type: Option<String>,
}

/// The body RunningHub POSTs to `webhookUrl` when a task ends.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    #[serde(default, deserialize_with = "de_opt_string")]
    pub event: Option<String>,
    #[serde(deserialize_with = "de_task_id")]
    pub task_id: String,
    /// The outputs envelope, as a JSON string or an object.
    #[serde(default)]
    pub event_data: Value,
}

/// One entry of `nodeInfoList` in a create request.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo<'a> {
    pub node_id: &'a str,
    pub field_name: &'a str,
    pub field_value: &'a str,
}

/// The body of `/task/openapi/create`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest<'a> {
    pub api_key: &'a str,
    pub workflow_id: &'a str,
    pub node_info_list: Vec<NodeInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<&'a str>,
}

/// The body of `/task/openapi/ai-app/run`: the app's id instead of a workflow's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRunRequest<'a> {
    pub webapp_id: &'a str,
    pub api_key: &'a str,
    pub node_info_list: Vec<NodeInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<&'a str>,
}

/// The body of `/openapi/v2/run/ai-app/{id}` and `/openapi/v2/run/workflow/{id}`: the id
/// is in the path and the key in the Bearer header.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V2RunRequest<'a> {
    pub node_info_list: Vec<NodeInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<&'a str>,
}

/// The body of `/openapi/v2/query`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V2QueryRequest<'a> {
    pub task_id: &'a str,
}

/// The body of `/task/openapi/outputs`, `/status` and `/cancel`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRequest<'a> {
    pub api_key: &'a str,
    pub task_id: &'a str,
}

/// The body of `/uc/openapi/accountStatus`: the key is spelled `apikey` there.
#[derive(Serialize)]
pub struct AccountStatusRequest<'a> {
    pub apikey: &'a str,
}

// ---- lenient scalars -------------------------------------------------------------------

/// A number sent as a number or a numeric string; `None` for null, "" or garbage.
pub fn value_f64(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

/// A non-negative integer sent as a number or a string (`"3"`, `3`, `3.0`).
pub fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(f64_to_u64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| s.parse::<f64>().ok().and_then(f64_to_u64))
        }
        _ => None,
    }
}

fn f64_to_u64(f: f64) -> Option<u64> {
    // Only exact, representable integers: a counter of 2.5 is garbage, not 2.
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
}

/// An identifier sent as a string or an integer, kept as a string. Floats are refused:
/// a 19-digit id that went through a float has lost its last digits.
pub fn value_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// A business code sent as a number or a numeric string.
fn value_code(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

fn de_code<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    value_code(&v).ok_or_else(|| de::Error::custom("`code` is not an integer"))
}

fn de_task_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    value_id(&v).ok_or_else(|| de::Error::custom("`taskId` is neither a string nor an integer"))
}

fn de_opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(value_id))
}

fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(value_f64))
}

fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(value_u64))
}

/// A string field that may be null, a number, or missing.
fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(json: &str) -> Envelope {
        serde_json::from_str(json).expect("envelope")
    }

    fn data<T: serde::de::DeserializeOwned>(env: &Envelope) -> T {
        serde_json::from_value(env.data.clone()).expect("data")
    }

    #[test]
    fn upload_answer_with_either_file_type() {
        let env = envelope(
            r#"{"code":0,"msg":"success","data":{"fileName":"api/9d77b8530f8b3591edc5c4e8f3f55b2cf0960bb2a5ca6.png","fileType":"image"}}"#,
        );
        let up: UploadData = data(&env);
        assert_eq!(up.file_name, "api/9d77b8530f8b3591edc5c4e8f3f55b2cf0960bb2a5ca6.png");
        assert_eq!(up.file_type.as_deref(), Some("image"));
        let env =
            envelope(r#"{"code":0,"msg":"success","data":{"fileName":"api/a.png","fileType":"input"}}"#);
        assert_eq!(data::<UploadData>(&env).file_type.as_deref(), Some("input"));
    }

    #[test]
    fn file_too_large_answer() {
        let env = envelope(r#"{"code":809,"msg":"APIKEY_FILE_SIZE_EXCEEDED","data":null}"#);
        assert_eq!(env.code, 809);
        assert_eq!(env.msg(), "APIKEY_FILE_SIZE_EXCEEDED");
        assert!(env.data.is_null());
    }

    #[test]
    fn create_answer_with_string_task_id_and_prompt_tips_string() {
        let env = envelope(
            r#"{"code":0,"msg":"success","data":{"netWssUrl":null,"taskId":"1910246754753896450",
 "clientId":"e825","taskStatus":"QUEUED",
 "promptTips":"{\"result\": true, \"error\": null, \"outputs_to_execute\": [\"9\"], \"node_errors\": {}}"}}"#,
        );
        let created: CreateData = data(&env);
        assert_eq!(created.task_id, "1910246754753896450");
        assert_eq!(created.task_status.as_deref(), Some("QUEUED"));
        let tips = PromptTips::from_value(&created.prompt_tips).unwrap();
        assert_eq!(tips.result, Some(true));
        assert_eq!(tips.rejection(), None);
    }

    #[test]
    fn create_answer_with_numeric_task_id_keeps_every_digit() {
        let env = envelope(
            r#"{"code":0,"msg":"success","data":{"taskId":1910246754753896450,"taskStatus":"CREATE"}}"#,
        );
        let created: CreateData = data(&env);
        assert_eq!(created.task_id, "1910246754753896450");
        assert_eq!(PromptTips::from_value(&created.prompt_tips).unwrap().rejection(), None);
    }

    #[test]
    fn create_answer_without_task_id_is_refused() {
        let env = envelope(r#"{"code":0,"msg":"success","data":{"taskStatus":"QUEUED"}}"#);
        assert!(serde_json::from_value::<CreateData>(env.data).is_err());
        let env = envelope(r#"{"code":0,"msg":"success","data":{"taskId":1.5e18}}"#);
        assert!(serde_json::from_value::<CreateData>(env.data).is_err());
    }

    #[test]
    fn prompt_tips_with_node_errors() {
        let tips = Value::String(
            r#"{"result": false, "error": {"type": "prompt_outputs_failed_validation"}, "node_errors": {"2": {"errors": [{"type": "value_not_in_list", "message": "Value not in list", "details": "image: 'x.png' not in []"}], "dependent_outputs": ["9"], "class_type": "LoadImage"}}}"#
                .into(),
        );
        let tips = PromptTips::from_value(&tips).unwrap();
        let rejection = tips.rejection().expect("rejected");
        assert!(rejection.contains("node 2 (LoadImage)"), "{rejection}");
        assert!(rejection.contains("Value not in list"), "{rejection}");
        // As an object too, and empty strings mean nothing to check.
        let obj: Value =
            serde_json::from_str(r#"{"node_errors": {"32": {"errors": [], "class_type": "LoadImage"}}}"#)
                .unwrap();
        assert!(PromptTips::from_value(&obj).unwrap().rejection().is_some());
        assert_eq!(PromptTips::from_value(&Value::String(String::new())).unwrap().rejection(), None);
        assert!(PromptTips::from_value(&Value::String("{oops".into())).is_err());
    }

    #[test]
    fn queue_maxed_answer() {
        let env = envelope(r#"{"code":421,"msg":"TASK_QUEUE_MAXED","data":null}"#);
        assert_eq!((env.code, env.msg()), (421, "TASK_QUEUE_MAXED"));
    }

    #[test]
    fn account_status_with_numbers_as_strings_or_numbers() {
        let env = envelope(
            r#"{"code":0,"msg":"success","data":{"remainCoins":"177814","currentTaskCounts":"0","remainMoney":null,"currency":null,"apiType":"NORMAL"}}"#,
        );
        let s: AccountStatusData = data(&env);
        assert_eq!(s.remain_coins, Some(177814.0));
        assert_eq!(s.current_task_counts, Some(0));
        assert_eq!(s.api_type.as_deref(), Some("NORMAL"));
        let env = envelope(r#"{"code":0,"msg":"success","data":{"remainCoins":12.5,"currentTaskCounts":3}}"#);
        let s: AccountStatusData = data(&env);
        assert_eq!((s.remain_coins, s.current_task_counts), (Some(12.5), Some(3)));
        let env =
            envelope(r#"{"code":0,"msg":"success","data":{"remainCoins":"","currentTaskCounts":"n/a"}}"#);
        let s: AccountStatusData = data(&env);
        assert_eq!((s.remain_coins, s.current_task_counts), (None, None));
    }

    #[test]
    fn lenient_scalars() {
        use serde_json::json;
        assert_eq!(value_u64(&json!("7")), Some(7));
        assert_eq!(value_u64(&json!(7.0)), Some(7));
        assert_eq!(value_u64(&json!(" 7 ")), Some(7));
        assert_eq!(value_u64(&json!(-1)), None);
        assert_eq!(value_u64(&json!(2.5)), None);
        assert_eq!(value_f64(&json!("83")), Some(83.0));
        assert_eq!(value_f64(&json!("NaN")), None);
        assert_eq!(value_id(&json!(1910246754753896450u64)).as_deref(), Some("1910246754753896450"));
        assert_eq!(value_id(&json!("")), None);
        assert_eq!(value_id(&json!(null)), None);
    }

    #[test]
    fn envelope_variants() {
        assert_eq!(envelope(r#"{"code":"0","msg":null}"#).code, 0);
        assert_eq!(envelope(r#"{"code":0}"#).msg(), "");
        assert!(serde_json::from_str::<Envelope>(r#"{"msg":"success"}"#).is_err());
        assert!(serde_json::from_str::<Envelope>(r#"{"code":"zero"}"#).is_err());
    }

    #[test]
    fn status_answer_is_a_bare_string() {
        let env = envelope(r#"{"code":0,"msg":"success","data":"RUNNING"}"#);
        assert_eq!(env.data.as_str(), Some("RUNNING"));
    }

    #[test]
    fn v2_answers_become_envelopes() {
        use serde_json::json;
        let upload = Envelope::from_v2(json!({"code":0,"message":"success","data":{"type":"image",
            "download_url":"https://x/openapi/a.png","fileName":"openapi/a.png","size":"3490"}}))
        .unwrap();
        assert_eq!((upload.code, upload.msg()), (0, "success"));
        let uploaded: V2UploadData = data(&upload);
        assert_eq!(uploaded.file_name, "openapi/a.png");
        assert_eq!(uploaded.download_url.as_deref(), Some("https://x/openapi/a.png"));

        let run = Envelope::from_v2(json!({"taskId":"2013508786110730241","status":"RUNNING",
            "errorCode":"","errorMessage":"","results":null,"clientId":"f8",
            "promptTips":"{\"result\": true, \"node_errors\": {}}"}))
        .unwrap();
        assert_eq!(run.code, 0);
        let task: V2Task = data(&run);
        assert_eq!(task.task_id.as_deref(), Some("2013508786110730241"));
        assert_eq!(task.status.as_deref(), Some("RUNNING"));

        let failed = Envelope::from_v2(json!({"taskId":"1","status":"FAILED","errorCode":"805",
            "errorMessage":"APIKEY_TASK_STATUS_ERROR","failedReason":{"node_id":"3"}}))
        .unwrap();
        assert_eq!((failed.code, failed.msg()), (805, "APIKEY_TASK_STATUS_ERROR"));
        assert_eq!(failed.data["failedReason"]["node_id"], "3");

        let numeric =
            Envelope::from_v2(json!({"taskId":"","errorCode":1101,"errorMessage":"Node info error"}));
        assert_eq!(numeric.unwrap().code, 1101);
        let word = Envelope::from_v2(json!({"errorCode":"NOT_FOUND","errorMessage":"no such app"})).unwrap();
        assert_eq!((word.code, word.msg()), (-1, "NOT_FOUND: no such app"));
        assert!(Envelope::from_v2(json!([1, 2])).is_err());
        assert!(Envelope::from_v2(json!({"code":"zero"})).is_err());
    }

    #[test]
    fn app_and_v2_requests_use_the_documented_field_names() {
        let nodes = || vec![NodeInfo { node_id: "2", field_name: "image", field_value: "api/a.png" }];
        let app = AppRunRequest {
            webapp_id: "1877265245566922753",
            api_key: "k",
            node_info_list: nodes(),
            webhook_url: Some("https://h/x"),
        };
        let v = serde_json::to_value(&app).unwrap();
        assert_eq!(v["webappId"], "1877265245566922753");
        assert_eq!(v["apiKey"], "k");
        assert_eq!(v["nodeInfoList"][0]["fieldValue"], "api/a.png");
        assert_eq!(v["webhookUrl"], "https://h/x");
        let v = serde_json::to_value(V2RunRequest { node_info_list: nodes(), webhook_url: None }).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"nodeInfoList":[{"nodeId":"2","fieldName":"image","fieldValue":"api/a.png"}]})
        );
        let v = serde_json::to_value(V2QueryRequest { task_id: "1" }).unwrap();
        assert_eq!(v, serde_json::json!({"taskId": "1"}));
    }

    #[test]
    fn requests_use_the_documented_field_names() {
        let create = CreateRequest {
            api_key: "k",
            workflow_id: "1871659613585305601",
            node_info_list: vec![NodeInfo { node_id: "2", field_name: "image", field_value: "api/a.png" }],
            webhook_url: None,
        };
        let v = serde_json::to_value(&create).unwrap();
        assert_eq!(v["apiKey"], "k");
        assert_eq!(v["workflowId"], "1871659613585305601");
        assert_eq!(v["nodeInfoList"][0]["nodeId"], "2");
        assert_eq!(v["nodeInfoList"][0]["fieldName"], "image");
        assert_eq!(v["nodeInfoList"][0]["fieldValue"], "api/a.png");
        assert!(v.get("webhookUrl").is_none());
        let v = serde_json::to_value(AccountStatusRequest { apikey: "k" }).unwrap();
        assert_eq!(v, serde_json::json!({"apikey": "k"}));
        let v = serde_json::to_value(TaskRequest { api_key: "k", task_id: "1" }).unwrap();
        assert_eq!(v, serde_json::json!({"apiKey": "k", "taskId": "1"}));
    }
}
