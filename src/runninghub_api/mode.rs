//! Which of RunningHub's APIs the client speaks, and what a task runs.
//!
//! An operator may have the product workflow as a plain workflow (run by workflow id), as
//! a published AI app (run by app id with the same node list), or reach either through
//! RunningHub's v2 API (a Bearer key, its own paths and flat answers). The engine and the
//! queue do not care: only the wire requests differ, so the choice lives in the client
//! ([`ApiMode`]) and in the account ([`Target`]). `docs/runninghub-modes.md` has the wire
//! formats and their sources.

use std::str::FromStr;

/// The API a client speaks (`RUNNINGHUB_API_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiMode {
    /// The legacy openapi with the workflow id: `/task/openapi/create`.
    #[default]
    Workflow,
    /// The legacy openapi with an AI app id: `/task/openapi/ai-app/run`; results through
    /// the same outputs, status and cancel calls.
    App,
    /// The v2 API: `Authorization: Bearer`, `/openapi/v2/run/...`, `/openapi/v2/query`,
    /// `/openapi/v2/media/upload/binary`; runs the account's app if it has one, else its
    /// workflow.
    V2,
}

impl ApiMode {
    /// Whether requests go to the v2 paths with the key in a Bearer header.
    pub fn is_v2(self) -> bool {
        self == Self::V2
    }

    /// Whether every account must name an AI app (`RUNNINGHUB_APP_ID_N`).
    pub fn needs_app(self) -> bool {
        self == Self::App
    }
}

impl FromStr for ApiMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "workflow" => Ok(Self::Workflow),
            "app" => Ok(Self::App),
            "v2" => Ok(Self::V2),
            _ => Err("must be workflow, app or v2".into()),
        }
    }
}

/// What one task runs: a workflow or a published AI app, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Workflow(&'a str),
    App(&'a str),
}

impl<'a> Target<'a> {
    /// The account's app if it has one, else its workflow.
    pub fn of(workflow_id: &'a str, app_id: Option<&'a str>) -> Self {
        match app_id {
            Some(app) => Self::App(app),
            None => Self::Workflow(workflow_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_leniently_and_refuse_the_rest() {
        assert_eq!(" V2 ".parse::<ApiMode>(), Ok(ApiMode::V2));
        assert_eq!("app".parse::<ApiMode>(), Ok(ApiMode::App));
        assert_eq!("Workflow".parse::<ApiMode>(), Ok(ApiMode::Workflow));
        assert!("v3".parse::<ApiMode>().is_err());
        assert_eq!(ApiMode::default(), ApiMode::Workflow);
    }

    #[test]
    fn an_app_wins_over_the_workflow() {
        assert_eq!(Target::of("1", Some("2")), Target::App("2"));
        assert_eq!(Target::of("1", None), Target::Workflow("1"));
    }
}
