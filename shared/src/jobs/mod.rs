//! Campaign jobs: units of background work on one campaign, handed to workers with leases.
//!
//! A job is `pending` until a worker claims it, then `running` under a lease (`worker`,
//! `lease_expires_at`) that the worker extends with heartbeats, and finally `succeeded`,
//! `failed` or `cancelled`. A running job whose lease ran out is claimable again; the third time
//! a lease runs out the job fails instead. Every change that starts or ends a job's activity
//! moves its campaign's `active_job_count` in the same transaction, and the campaign refuses to
//! be deleted or moved while that count is not zero.
//!
//! The transitions are pure functions of a stored record and the time, so the store only has to
//! write them conditioned on the record's version: two claimers of one job cannot both win.

pub mod handlers;
pub mod store;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    error::{Error, Result, Violations},
    time::{self, Timestamp},
    validate::{bounded_object, trimmed_string},
};

pub const NAME_MIN: usize = 3;
pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 5000;
pub const PARAMS_MAX_BYTES: usize = 8 * 1024;
pub const RESULT_MAX_BYTES: usize = 64 * 1024;
pub const ERROR_MAX: usize = 4000;
pub const LEASE_MIN_SECONDS: i64 = 10;
pub const LEASE_MAX_SECONDS: i64 = 900;
pub const LEASE_DEFAULT_SECONDS: i64 = 300;
/// The lease that runs out this many times fails the job.
pub const MAX_LEASE_EXPIRIES: u32 = 3;
pub const LEASE_EXPIRED_ERROR: &str = "lease expired 3 times";
pub const ROLE_JOB_WORKER: &str = "job_worker";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    FetchLeads,
    SendMessages,
    ExportRecipients,
}

impl JobType {
    pub const ALL: [JobType; 3] = [
        JobType::FetchLeads,
        JobType::SendMessages,
        JobType::ExportRecipients,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::FetchLeads => "fetch_leads",
            JobType::SendMessages => "send_messages",
            JobType::ExportRecipients => "export_recipients",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        JobType::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

pub const JOB_TYPE_MESSAGE: &str = "must be fetch_leads, send_messages or export_recipients";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Pending and running jobs are active: they count on their campaign.
    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Running)
    }
}

pub const STATUS_MESSAGE: &str = "must be pending, running, succeeded, failed or cancelled";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub tenant_id: String,
    pub campaign_id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    pub job_type: JobType,
    pub params: Value,
    pub status: JobStatus,
    pub attempts: u32,
    pub worker: Option<String>,
    #[serde(with = "time::rfc3339_option")]
    pub lease_expires_at: Option<Timestamp>,
    pub result: Option<Value>,
    pub error: Option<String>,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
    #[serde(with = "time::rfc3339_option")]
    pub started_at: Option<Timestamp>,
    #[serde(with = "time::rfc3339_option")]
    pub finished_at: Option<Timestamp>,
}

/// A job as stored: the representation plus what only the API needs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job: Job,
    /// Every write is conditioned on it: the fencing token between claimers.
    pub version: u64,
    /// How many leases ran out so far.
    pub lease_expiries: u32,
    /// Unix seconds after which the job is gone (finished jobs only; DynamoDB's TTL attribute).
    pub expires_at: Option<i64>,
}

impl JobRecord {
    /// Whether the record is past its retention: such a job is never shown, even before
    /// DynamoDB's TTL deletes it (which can take days).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now.timestamp())
    }

    /// When a worker may claim it: pending jobs from their creation, running ones when their
    /// lease runs out; finished jobs never.
    pub fn claimable_from(&self) -> Option<Timestamp> {
        match self.job.status {
            JobStatus::Pending => Some(self.job.inserted_at),
            JobStatus::Running => self.job.lease_expires_at,
            _ => None,
        }
    }

    /// Whether `worker` holds the lease at `now`. `attempt`, when the worker sends it, must be
    /// the attempt it claimed: a worker process that lost the job to another process of the
    /// same client (same `sub`) is then told so too.
    pub fn held_by(&self, worker: &str, attempt: Option<u32>, now: Timestamp) -> bool {
        self.job.status == JobStatus::Running
            && self.job.worker.as_deref() == Some(worker)
            && self.job.lease_expires_at.is_some_and(|until| until > now)
            && attempt.is_none_or(|a| a == self.job.attempts)
    }

    fn touched(&self, now: Timestamp) -> JobRecord {
        let mut next = self.clone();
        next.version += 1;
        next.job.updated_at = now.max(self.job.updated_at);
        next
    }

    fn finished(
        &self,
        status: JobStatus,
        now: Timestamp,
        retention_days: u32,
        edit: impl FnOnce(&mut Job),
    ) -> JobRecord {
        let mut next = self.touched(now);
        next.job.status = status;
        next.job.worker = None;
        next.job.lease_expires_at = None;
        next.job.finished_at = Some(next.job.updated_at);
        edit(&mut next.job);
        next.expires_at = Some((next.job.updated_at + Duration::days(i64::from(retention_days))).timestamp());
        next
    }
}

/// What a claimer may do with a candidate job at `now`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimStep {
    /// Write this: the job is now the claimer's.
    Claim(JobRecord),
    /// Write this instead: the lease ran out for the last time and the job fails.
    Fail(JobRecord),
    /// The job is not claimable (anymore): the index was behind the table.
    Skip,
}

/// A claim of `record` by `worker` at `now` for `lease` seconds.
pub fn claim(record: &JobRecord, worker: &str, now: Timestamp, lease: i64, retention_days: u32) -> ClaimStep {
    let expired_lease = match record.job.status {
        JobStatus::Pending => false,
        JobStatus::Running if record.job.lease_expires_at.is_some_and(|t| t <= now) => true,
        _ => return ClaimStep::Skip,
    };
    if expired_lease && record.lease_expiries + 1 >= MAX_LEASE_EXPIRIES {
        return ClaimStep::Fail(record.finished(JobStatus::Failed, now, retention_days, |job| {
            job.error = Some(LEASE_EXPIRED_ERROR.to_owned());
        }));
    }
    let mut next = record.touched(now);
    if expired_lease {
        next.lease_expiries += 1;
    }
    next.job.status = JobStatus::Running;
    next.job.attempts += 1;
    next.job.worker = Some(worker.to_owned());
    next.job.lease_expires_at = Some(next.job.updated_at + Duration::seconds(lease));
    next.job.started_at = next.job.started_at.or(Some(next.job.updated_at));
    ClaimStep::Claim(next)
}

fn lease_lost() -> Error {
    Error::conflict(
        "the lease on this job was lost (it expired, was taken over, or the job is no longer running)",
    )
}

/// A heartbeat: the lease runs `lease` seconds from `now`.
pub fn heartbeat(
    record: &JobRecord,
    worker: &str,
    attempt: Option<u32>,
    now: Timestamp,
    lease: i64,
) -> Result<JobRecord> {
    if !record.held_by(worker, attempt, now) {
        return Err(lease_lost());
    }
    let mut next = record.touched(now);
    next.job.lease_expires_at = Some(next.job.updated_at + Duration::seconds(lease));
    Ok(next)
}

/// The worker's report that ends the job.
pub fn complete(
    record: &JobRecord,
    worker: &str,
    report: &Completion,
    now: Timestamp,
    retention_days: u32,
) -> Result<JobRecord> {
    if !record.held_by(worker, report.attempt, now) {
        return Err(lease_lost());
    }
    Ok(record.finished(report.status, now, retention_days, |job| {
        job.result = report.result.clone();
        job.error = report.error.clone();
    }))
}

/// A cancellation, from `pending` or `running` only.
pub fn cancel(record: &JobRecord, now: Timestamp, retention_days: u32) -> Result<JobRecord> {
    if !record.job.status.is_active() {
        return Err(Error::conflict(format!(
            "the job is already {}",
            record.job.status.as_str()
        )));
    }
    Ok(record.finished(JobStatus::Cancelled, now, retention_days, |_| {}))
}

pub const WRITABLE: &[&str] = &["name", "job_type", "description", "params"];
/// Fields of a job a client may send back with a create; they are ignored.
pub const READ_ONLY: &[&str] = &[
    "campaign_id",
    "organization_id",
    "status",
    "attempts",
    "worker",
    "lease_expires_at",
    "result",
    "error",
    "started_at",
    "finished_at",
];

/// The filters of a campaign's job list; each combination is an index partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<JobType>,
}

/// A validated create body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub name: String,
    pub job_type: JobType,
    pub description: Option<String>,
    pub params: Value,
}

impl NewJob {
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        let mut v = Violations::default();
        let name = match body.get("name") {
            Some(value) => trimmed_string(&mut v, "name", value, NAME_MIN, NAME_MAX),
            None => {
                v.add("name", "is required");
                None
            }
        };
        let job_type = match body.get("job_type") {
            Some(Value::String(raw)) => JobType::parse(raw).or_else(|| {
                v.add("job_type", JOB_TYPE_MESSAGE);
                None
            }),
            Some(_) => {
                v.add("job_type", JOB_TYPE_MESSAGE);
                None
            }
            None => {
                v.add("job_type", "is required");
                None
            }
        };
        let description = match body.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if d.chars().count() <= DESCRIPTION_MAX => Some(d.clone()),
            Some(Value::String(_)) => {
                v.add(
                    "description",
                    format!("should be at most {DESCRIPTION_MAX} characters"),
                );
                None
            }
            Some(_) => {
                v.add("description", "must be a string or null");
                None
            }
        };
        let params = match body.get("params") {
            None | Some(Value::Null) => Some(Value::Object(Map::new())),
            Some(value) => bounded_object(&mut v, "params", value, usize::MAX, PARAMS_MAX_BYTES),
        };
        v.into_result()?;
        match (name, job_type, params) {
            (Some(name), Some(job_type), Some(params)) => Ok(NewJob {
                name,
                job_type,
                description,
                params,
            }),
            _ => Err(Error::Internal),
        }
    }

    /// A pending job on `campaign` of `organization_id`.
    pub fn create(
        &self,
        id: String,
        tenant_id: &str,
        campaign_id: &str,
        organization_id: &str,
        now: Timestamp,
    ) -> JobRecord {
        JobRecord {
            job: Job {
                id,
                tenant_id: tenant_id.to_owned(),
                campaign_id: campaign_id.to_owned(),
                organization_id: organization_id.to_owned(),
                name: self.name.clone(),
                description: self.description.clone(),
                job_type: self.job_type,
                params: self.params.clone(),
                status: JobStatus::Pending,
                attempts: 0,
                worker: None,
                lease_expires_at: None,
                result: None,
                error: None,
                inserted_at: now,
                updated_at: now,
                started_at: None,
                finished_at: None,
            },
            version: 1,
            lease_expiries: 0,
            expires_at: None,
        }
    }
}

/// `lease_seconds`: 10..900, 300 when absent.
fn lease_seconds(v: &mut Violations, body: &Map<String, Value>) -> i64 {
    match body.get("lease_seconds") {
        None | Some(Value::Null) => LEASE_DEFAULT_SECONDS,
        Some(value) => match value.as_i64() {
            Some(s) if (LEASE_MIN_SECONDS..=LEASE_MAX_SECONDS).contains(&s) => s,
            _ => {
                v.add(
                    "lease_seconds",
                    format!("must be a whole number of seconds, {LEASE_MIN_SECONDS}..{LEASE_MAX_SECONDS}"),
                );
                LEASE_DEFAULT_SECONDS
            }
        },
    }
}

/// `attempt`: the optional fencing token of heartbeats and completions.
fn attempt(v: &mut Violations, body: &Map<String, Value>) -> Option<u32> {
    match body.get("attempt") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().and_then(|a| u32::try_from(a).ok()) {
            Some(a) if a >= 1 => Some(a),
            _ => {
                v.add("attempt", "must be a positive whole number");
                None
            }
        },
    }
}

fn unknown(v: &mut Violations, body: &Map<String, Value>, known: &[&str]) {
    for name in body.keys() {
        if !known.contains(&name.as_str()) {
            v.add(name, "unknown field");
        }
    }
}

/// A validated claim body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The types to claim from, deduplicated and sorted; all when the body names none.
    pub job_types: Vec<JobType>,
    pub lease_seconds: i64,
}

impl ClaimRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        let mut v = Violations::default();
        unknown(&mut v, body, &["job_types", "lease_seconds"]);
        let lease_seconds = lease_seconds(&mut v, body);
        let mut job_types = match body.get("job_types") {
            None | Some(Value::Null) => JobType::ALL.to_vec(),
            Some(Value::Array(items)) if !items.is_empty() => {
                let parsed: Vec<Option<JobType>> = items
                    .iter()
                    .map(|i| i.as_str().and_then(JobType::parse))
                    .collect();
                if parsed.iter().any(Option::is_none) {
                    v.add("job_types", format!("each {JOB_TYPE_MESSAGE}"));
                }
                parsed.into_iter().flatten().collect()
            }
            Some(_) => {
                v.add("job_types", "must be a non-empty array of job types");
                Vec::new()
            }
        };
        v.into_result()?;
        job_types.sort();
        job_types.dedup();
        Ok(ClaimRequest {
            job_types,
            lease_seconds,
        })
    }
}

/// A validated heartbeat body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub lease_seconds: i64,
    pub attempt: Option<u32>,
}

impl Heartbeat {
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        let mut v = Violations::default();
        unknown(&mut v, body, &["lease_seconds", "attempt"]);
        let lease_seconds = lease_seconds(&mut v, body);
        let attempt = attempt(&mut v, body);
        v.into_result()?;
        Ok(Heartbeat {
            lease_seconds,
            attempt,
        })
    }
}

/// A validated completion body.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub status: JobStatus,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub attempt: Option<u32>,
}

impl Completion {
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        let mut v = Violations::default();
        unknown(&mut v, body, &["status", "result", "error", "attempt"]);
        let status = match body.get("status").and_then(Value::as_str) {
            Some("succeeded") => Some(JobStatus::Succeeded),
            Some("failed") => Some(JobStatus::Failed),
            _ if body.contains_key("status") => {
                v.add("status", "must be succeeded or failed");
                None
            }
            _ => {
                v.add("status", "is required");
                None
            }
        };
        let result = match body.get("result") {
            None | Some(Value::Null) => None,
            Some(value) => bounded_object(&mut v, "result", value, usize::MAX, RESULT_MAX_BYTES),
        };
        let error = match body.get("error") {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) if e.chars().count() <= ERROR_MAX && !e.trim().is_empty() => {
                Some(e.clone())
            }
            Some(Value::String(_)) => {
                v.add("error", format!("must be 1..{ERROR_MAX} characters"));
                None
            }
            Some(_) => {
                v.add("error", "must be a string or null");
                None
            }
        };
        if status == Some(JobStatus::Succeeded) && error.is_some() {
            v.add("error", "must not be set when the job succeeded");
        }
        let attempt = attempt(&mut v, body);
        v.into_result()?;
        Ok(Completion {
            status: status.unwrap_or(JobStatus::Failed),
            result,
            error,
            attempt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        time::parse(s).unwrap()
    }

    fn pending() -> JobRecord {
        NewJob::parse(
            json!({"name": "fetch", "job_type": "fetch_leads"})
                .as_object()
                .unwrap(),
        )
        .unwrap()
        .create("j".into(), "t", "c", "o", t("2026-01-01T00:00:00Z"))
    }

    fn claimed(record: &JobRecord, worker: &str, at: &str) -> JobRecord {
        match claim(record, worker, t(at), 60, 30) {
            ClaimStep::Claim(next) => next,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lease_expiring_the_third_time_fails_the_job() {
        let first = claimed(&pending(), "w1", "2026-01-01T00:00:10Z");
        assert_eq!(first.job.attempts, 1);
        assert_eq!(first.lease_expiries, 0);
        // Not claimable while the lease runs.
        assert_eq!(
            claim(&first, "w2", t("2026-01-01T00:01:09Z"), 60, 30),
            ClaimStep::Skip
        );
        let second = claimed(&first, "w2", "2026-01-01T00:01:10Z");
        assert_eq!((second.job.attempts, second.lease_expiries), (2, 1));
        assert!(!second.held_by("w1", None, t("2026-01-01T00:01:11Z")));
        let third = claimed(&second, "w3", "2026-01-01T00:02:10Z");
        assert_eq!((third.job.attempts, third.lease_expiries), (3, 2));
        match claim(&third, "w4", t("2026-01-01T00:03:10Z"), 60, 30) {
            ClaimStep::Fail(failed) => {
                assert_eq!(failed.job.status, JobStatus::Failed);
                assert_eq!(failed.job.error.as_deref(), Some(LEASE_EXPIRED_ERROR));
                assert_eq!(failed.job.worker, None);
                assert_eq!(failed.expires_at, Some(t("2026-01-31T00:03:10Z").timestamp()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_holder_of_a_live_lease_reports() {
        let job = claimed(&pending(), "w1", "2026-01-01T00:00:10Z");
        let now = t("2026-01-01T00:00:20Z");
        assert!(heartbeat(&job, "w2", None, now, 60).is_err());
        assert!(heartbeat(&job, "w1", Some(2), now, 60).is_err());
        let beat = heartbeat(&job, "w1", Some(1), now, 60).unwrap();
        assert_eq!(beat.job.lease_expires_at, Some(t("2026-01-01T00:01:20Z")));
        assert!(heartbeat(&job, "w1", None, t("2026-01-01T00:01:10Z"), 60).is_err());
        let report = Completion::parse(json!({"status": "succeeded"}).as_object().unwrap()).unwrap();
        let done = complete(&beat, "w1", &report, now, 30).unwrap();
        assert_eq!(done.job.status, JobStatus::Succeeded);
        assert!(cancel(&done, now, 30).is_err());
    }

    #[test]
    fn bodies_are_checked() {
        let bad = |body: Value| NewJob::parse(body.as_object().unwrap()).unwrap_err();
        assert!(
            matches!(bad(json!({"name": "abc", "job_type": "mine"})), Error::Invalid(e) if e.contains_key("job_type"))
        );
        let big = "x".repeat(PARAMS_MAX_BYTES);
        assert!(
            matches!(bad(json!({"name": "abc", "job_type": "fetch_leads", "params": {"a": big}})), Error::Invalid(e) if e.contains_key("params"))
        );
        for lease in [json!(9), json!(901), json!("60"), json!(1.5)] {
            assert!(ClaimRequest::parse(json!({"lease_seconds": lease}).as_object().unwrap()).is_err());
        }
        let c = ClaimRequest::parse(
            json!({"job_types": ["send_messages", "fetch_leads", "fetch_leads"]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(c.job_types, vec![JobType::FetchLeads, JobType::SendMessages]);
        assert!(Completion::parse(
            json!({"status": "succeeded", "error": "boom"})
                .as_object()
                .unwrap()
        )
        .is_err());
        assert!(Completion::parse(json!({"status": "cancelled"}).as_object().unwrap()).is_err());
    }
}
