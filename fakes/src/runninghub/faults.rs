//! Scripted failures of the fake RunningHub's endpoints.
//!
//! Clients must survive HTTP 5xx, servers that never answer, broken JSON and business
//! errors; tests queue such faults per endpoint and the next calls consume them. A fault
//! of a v2 endpoint answers in the legacy envelope, which the v2 client reads too.

/// An endpoint of the fake RunningHub, for fault injection and call counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /task/openapi/upload`
    Upload,
    /// `POST /task/openapi/create`
    Create,
    /// `POST /task/openapi/ai-app/run` (a task of a published AI app)
    AppRun,
    /// `POST /openapi/v2/run/ai-app/{id}` and `/openapi/v2/run/workflow/{id}`
    V2Run,
    /// `POST /openapi/v2/query`
    V2Query,
    /// `POST /openapi/v2/media/upload/binary`
    V2Upload,
    /// `POST /task/openapi/outputs`
    Outputs,
    /// `POST /task/openapi/status`
    Status,
    /// `POST /task/openapi/cancel`
    Cancel,
    /// `POST /uc/openapi/accountStatus`
    AccountStatus,
    /// `GET /files/{name}` (result download)
    Download,
}

/// What a faulty call gets instead of its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with a Spring-style error body.
    Http500,
    /// Never answers: the request is held until the client gives up (or the fake stops;
    /// bounded at 10 minutes).
    Hang,
    /// HTTP 200 with a truncated JSON body.
    MalformedJson,
    /// HTTP 200 with `{"code": code, "msg": msg, "data": null}`.
    Code(i64, String),
    /// Answers normally, but only after this long (a slow provider).
    Slow(std::time::Duration),
    /// HTTP 504 from a gateway, before the call reached the service.
    Http504,
    /// The call does its work (a create makes its task), then the answer is lost as the
    /// inner fault says (`Hang`, `Http504`): the client cannot know what happened.
    AnswerLost(Box<Fault>),
}
