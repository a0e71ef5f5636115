//! `/v1/campaigns/{id}/jobs` and `/v1/jobs/...`: jobs for any tenant caller, and the worker
//! protocol (claim, heartbeat, complete) for tokens with the role `job_worker`.

use aws_sdk_dynamodb::types::TransactWriteItem;
use http::{header, StatusCode};
use serde_json::{Map, Value};

use super::{
    cancel, complete, heartbeat, store::inactive_campaign, ClaimRequest, Completion, Heartbeat, JobFilter,
    JobRecord, JobStatus, JobType, NewJob, JOB_TYPE_MESSAGE, READ_ONLY, ROLE_JOB_WORKER, STATUS_MESSAGE,
    WRITABLE,
};
use crate::{
    campaigns::CampaignStatus,
    error::{Error, Result},
    route,
    time::Timestamp,
    validate::{known_fields, new_id},
    web::{
        request::Query,
        response::{json, no_content, with_header},
        ApiError, Ctx, Reply, Route,
    },
};

pub const ROUTES: &[Route] = &[
    route!(POST "/v1/campaigns/{id}/jobs" => create),
    route!(GET "/v1/campaigns/{id}/jobs" => list),
    route!(POST "/v1/jobs/claim" => claim_next),
    route!(GET "/v1/jobs/{id}" => get),
    route!(POST "/v1/jobs/{id}/cancel" => cancel_job),
    route!(POST "/v1/jobs/{id}/heartbeat" => heartbeat_job),
    route!(POST "/v1/jobs/{id}/complete" => complete_job),
];

fn job_response(status: StatusCode, record: &JobRecord) -> Reply {
    json(status, &record.job)
}

/// The receipt a write of `record` would commit, for the store's read-modify-write loops.
fn draft(cx: &Ctx<'_>, record: &JobRecord) -> Result<Option<TransactWriteItem>> {
    let response = job_response(StatusCode::OK, record).map_err(|_| Error::Internal)?;
    cx.draft_receipt(&response).map_err(|_| Error::Internal)
}

/// The body of a route whose fields are all optional: no body at all is `{}`.
fn optional_body(cx: &Ctx<'_>) -> Result<Map<String, Value>, ApiError> {
    if cx.req.body().as_ref().iter().all(u8::is_ascii_whitespace) {
        Ok(Map::new())
    } else {
        cx.body()
    }
}

fn require_worker(cx: &Ctx<'_>) -> Result<(), ApiError> {
    if cx.principal.has_role(ROLE_JOB_WORKER) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only tokens with the role {ROLE_JOB_WORKER} may claim and report jobs"
        )))
    }
}

async fn create(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let campaign = cx.store().live_campaign(tenant, cx.param("id")).await?.campaign;
    let new = NewJob::parse(&known_fields(cx.body()?, WRITABLE, READ_ONLY)?)?;
    if campaign.status != CampaignStatus::Active {
        return Err(inactive_campaign().into());
    }
    let now = cx.app.clock.now();
    let record = new.create(new_id(&now), tenant, &campaign.id, &campaign.organization_id, now);
    let location = format!("/v1/jobs/{}", record.job.id);
    let response = with_header(
        job_response(StatusCode::CREATED, &record)?,
        header::LOCATION,
        &location,
    );
    cx.store().create_job(&record, cx.receipt(&response)?).await?;
    Ok(response)
}

async fn list(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let campaign = cx.store().live_campaign(tenant, cx.param("id")).await?.campaign;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "status", "job_type"])?;
    let params = query.page()?;
    let filters = JobFilter {
        status: filter(&query, "status", JobStatus::parse, STATUS_MESSAGE)?,
        job_type: filter(&query, "job_type", JobType::parse, JOB_TYPE_MESSAGE)?,
    };
    let page = cx
        .store()
        .list_jobs(
            tenant,
            &campaign.id,
            filters,
            &params,
            &cx.app.cursors,
            cx.app.clock.now(),
        )
        .await?;
    json(StatusCode::OK, &page)
}

fn filter<T>(
    query: &Query,
    name: &str,
    parse: fn(&str) -> Option<T>,
    message: &str,
) -> Result<Option<T>, ApiError> {
    match query.get(name) {
        None => Ok(None),
        Some(raw) => parse(raw).map(Some).ok_or_else(|| ApiError::field(name, message)),
    }
}

/// The job the path names, hidden once past its retention or when its campaign is gone (404).
async fn addressed_job(cx: &Ctx<'_>, tenant: &str) -> Result<JobRecord> {
    cx.store()
        .visible_job(tenant, cx.param("id"), cx.app.clock.now())
        .await
}

/// Applies `step` to `current` as one versioned write carrying the request's receipt, and
/// answers with the job it made.
async fn apply_transition(
    cx: &Ctx<'_>,
    operation: &'static str,
    current: JobRecord,
    step: &(dyn Fn(&JobRecord, Timestamp) -> Result<JobRecord> + Send + Sync),
) -> Reply {
    let record = cx
        .store()
        .transition_job(operation, current, &cx.app.clock, step, &|r| draft(cx, r))
        .await?;
    cx.receipt_committed();
    job_response(StatusCode::OK, &record)
}

async fn get(cx: &Ctx<'_>) -> Reply {
    job_response(StatusCode::OK, &addressed_job(cx, cx.tenant()?).await?)
}

async fn cancel_job(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    known_fields(optional_body(cx)?, &[], &[])?;
    let current = addressed_job(cx, tenant).await?;
    let days = cx.app.config.job_retention_days;
    apply_transition(cx, "cancel_job", current, &|r, now| cancel(r, now, days)).await
}

async fn claim_next(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    require_worker(cx)?;
    let request = ClaimRequest::parse(&optional_body(cx)?)?;
    let claimed = cx
        .store()
        .claim_job(
            tenant,
            &request,
            &cx.principal.sub,
            &cx.app.clock,
            cx.app.config.job_retention_days,
            &|r| draft(cx, r),
        )
        .await?;
    match claimed {
        Some(record) => {
            cx.receipt_committed();
            job_response(StatusCode::OK, &record)
        }
        None => Ok(no_content()),
    }
}

async fn heartbeat_job(cx: &Ctx<'_>) -> Reply {
    let current = addressed_job(cx, cx.tenant()?).await?;
    require_worker(cx)?;
    let beat = Heartbeat::parse(&optional_body(cx)?)?;
    let worker = cx.principal.sub.as_str();
    apply_transition(cx, "heartbeat_job", current, &|r, now| {
        heartbeat(r, worker, beat.attempt, now, beat.lease_seconds)
    })
    .await
}

async fn complete_job(cx: &Ctx<'_>) -> Reply {
    let current = addressed_job(cx, cx.tenant()?).await?;
    require_worker(cx)?;
    let report = Completion::parse(&cx.body()?)?;
    let worker = cx.principal.sub.as_str();
    let days = cx.app.config.job_retention_days;
    apply_transition(cx, "complete_job", current, &|r, now| {
        complete(r, worker, &report, now, days)
    })
    .await
}
