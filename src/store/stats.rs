//! Usage statistics for operators (`/stats`, `backdrop stats`), computed from the store.

use std::fmt;
use std::time::Duration;

use sqlx::Row;

use super::{Store, StoreError, now_ms};
use crate::job::StateName;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Counts over one period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Period {
    pub label: &'static str,
    pub jobs: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub active_users: u64,
}

impl Period {
    /// Done among the jobs that ended with a result or a failure.
    pub fn success_rate(&self) -> Option<f64> {
        let ended = self.done + self.failed;
        (ended > 0).then(|| self.done as f64 / ended as f64)
    }
}

/// One account's share of the work.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountUsage {
    pub lane: u16,
    pub tasks: u64,
    pub failures: u64,
    /// Jobs the store has as running on this account (what a live queue started, or what
    /// the next start will resume).
    pub running_stored: u64,
    /// Running now, and capacity, when a live queue is known.
    pub load: Option<(usize, usize)>,
    pub refused: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub periods: Vec<Period>,
    /// Failures of the last 7 days by kind, most frequent first.
    pub failures_by_reason: Vec<(String, u64)>,
    /// Generation time (start to end) of the last 7 days' successful jobs: p50, p95.
    pub generation: Option<(Duration, Duration)>,
    /// Queue wait (accepted to started) of the last 7 days: p50, p95.
    pub queue_wait: Option<(Duration, Duration)>,
    pub accounts: Vec<AccountUsage>,
    pub queue_length: u64,
}

fn percentiles(mut values: Vec<i64>) -> Option<(Duration, Duration)> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let at = |p: f64| {
        let index = ((values.len() - 1) as f64 * p).round() as usize;
        Duration::from_millis(values[index.min(values.len() - 1)].max(0) as u64)
    };
    Some((at(0.50), at(0.95)))
}

impl Store {
    /// Statistics as of now, from the store alone ([`Stats::add_live_load`] adds what a
    /// running queue knows).
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let now = now_ms();
        let mut periods = Vec::new();
        // A result counts as done once stored, whether or not Telegram has taken it yet.
        let done = StateName::sql_list(&[StateName::Delivering, StateName::Delivered]);
        let (failed, cancelled) = (StateName::Failed.as_str(), StateName::Cancelled.as_str());
        let period_query = format!(
            "SELECT COUNT(*) AS jobs,
                    COALESCE(SUM(CASE WHEN state IN ({done}) THEN 1 ELSE 0 END), 0) AS done,
                    COALESCE(SUM(CASE WHEN state = '{failed}' THEN 1 ELSE 0 END), 0) AS failed,
                    COALESCE(SUM(CASE WHEN state = '{cancelled}' THEN 1 ELSE 0 END), 0) AS cancelled,
                    COUNT(DISTINCT user_id) AS users
             FROM jobs WHERE created_at >= $1"
        );
        for (label, since) in [("24 h", now - DAY_MS), ("7 days", now - 7 * DAY_MS), ("all time", i64::MIN)] {
            let row = sqlx::query(&period_query).bind(since).fetch_one(self.pool()).await?;
            periods.push(Period {
                label,
                jobs: row.get::<i64, _>("jobs") as u64,
                done: row.get::<i64, _>("done") as u64,
                failed: row.get::<i64, _>("failed") as u64,
                cancelled: row.get::<i64, _>("cancelled") as u64,
                active_users: row.get::<i64, _>("users") as u64,
            });
        }
        let week = now - 7 * DAY_MS;
        let failures_by_reason = sqlx::query(&format!(
            "SELECT COALESCE(error_kind, 'unknown') AS kind, COUNT(*) AS n FROM jobs
             WHERE state = '{failed}' AND created_at >= $1 GROUP BY kind ORDER BY n DESC, kind"
        ))
        .bind(week)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| (r.get::<String, _>("kind"), r.get::<i64, _>("n") as u64))
        .collect();
        let generation = sqlx::query_scalar(&format!(
            "SELECT finished_at - started_at FROM jobs WHERE state IN ({done}) AND created_at >= $1
             AND started_at IS NOT NULL"
        ))
        .bind(week)
        .fetch_all(self.pool())
        .await?;
        let queue_wait = sqlx::query_scalar(
            "SELECT started_at - created_at FROM jobs WHERE started_at IS NOT NULL AND created_at >= $1",
        )
        .bind(week)
        .fetch_all(self.pool())
        .await?;
        let holding =
            StateName::sql_list(&[StateName::Uploading, StateName::Running, StateName::Downloading]);
        let accounts: Vec<AccountUsage> = sqlx::query(&format!(
            "SELECT lane, COUNT(*) AS tasks, COALESCE(SUM(CASE WHEN state = '{failed}' THEN 1 ELSE 0 END), 0) AS failures,
                    COALESCE(SUM(CASE WHEN state IN ({holding}) THEN 1 ELSE 0 END), 0) AS running
             FROM jobs WHERE lane IS NOT NULL GROUP BY lane ORDER BY lane"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| AccountUsage {
            lane: r.get::<i64, _>("lane") as u16,
            tasks: r.get::<i64, _>("tasks") as u64,
            failures: r.get::<i64, _>("failures") as u64,
            running_stored: r.get::<i64, _>("running") as u64,
            load: None,
            refused: None,
        })
        .collect();
        let queued = StateName::Queued.as_str();
        let queue_length: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM jobs WHERE state = '{queued}'"))
                .fetch_one(self.pool())
                .await?;
        Ok(Stats {
            periods,
            failures_by_reason,
            generation: percentiles(generation),
            queue_wait: percentiles(queue_wait),
            accounts,
            queue_length: queue_length as u64,
        })
    }
}

impl Stats {
    /// Adds what a running queue knows of lane `lane`: its load now and whether it is out
    /// of rotation.
    pub fn add_live_load(&mut self, lane: u16, running: usize, capacity: usize, refused: Option<String>) {
        let index = match self.accounts.iter().position(|a| a.lane == lane) {
            Some(index) => index,
            None => {
                self.accounts.push(AccountUsage {
                    lane,
                    tasks: 0,
                    failures: 0,
                    running_stored: 0,
                    load: None,
                    refused: None,
                });
                self.accounts.sort_by_key(|a| a.lane);
                self.accounts.iter().position(|a| a.lane == lane).unwrap_or_default()
            }
        };
        let usage = &mut self.accounts[index];
        usage.load = Some((running, capacity));
        usage.refused = refused;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.periods {
            let rate = p.success_rate().map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
            writeln!(
                f,
                "{}: {} jobs, {} done, {} failed, {} cancelled, success {rate}, {} users",
                p.label, p.jobs, p.done, p.failed, p.cancelled, p.active_users
            )?;
        }
        let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
        match self.generation {
            Some((p50, p95)) => {
                writeln!(f, "generation time (7 days): p50 {}, p95 {}", secs(p50), secs(p95))?
            }
            None => writeln!(f, "generation time (7 days): -")?,
        }
        match self.queue_wait {
            Some((p50, p95)) => writeln!(f, "queue wait (7 days): p50 {}, p95 {}", secs(p50), secs(p95))?,
            None => writeln!(f, "queue wait (7 days): -")?,
        }
        if !self.failures_by_reason.is_empty() {
            let list: Vec<String> = self.failures_by_reason.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(f, "failures by reason (7 days): {}", list.join(", "))?;
        }
        for a in &self.accounts {
            write!(f, "account {}: {} tasks, {} failures", a.lane, a.tasks, a.failures)?;
            match a.load {
                Some((running, capacity)) => write!(f, ", running {running}/{capacity}")?,
                None => write!(f, ", running {}", a.running_stored)?,
            }
            if let Some(why) = &a.refused {
                write!(f, ", OUT OF ROTATION ({why})")?;
            }
            writeln!(f)?;
        }
        write!(f, "queue length: {}", self.queue_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_small_sample() {
        assert_eq!(percentiles(vec![]), None);
        let (p50, p95) = percentiles((1..=100).collect()).unwrap();
        assert_eq!((p50.as_millis(), p95.as_millis()), (51, 95));
    }
}
