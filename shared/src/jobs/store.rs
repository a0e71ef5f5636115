//! Job items: one partition per job (`<tenant>#JOB#<id>`), listed per campaign newest first on
//! `gsi1` (all), `gsi2` (by status), `gsi3` (by type) and `gsi4` (by both), and queued for
//! workers on `gsi5`: one partition per (tenant, type) holding only unfinished jobs, sorted by
//! the time each becomes claimable. A claim reads the head of at most three such partitions and
//! writes conditioned on the version it read, so its cost does not grow with the number of jobs
//! and two claimers never both win.

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest};
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{claim, ClaimRequest, ClaimStep, Job, JobFilter, JobRecord, JobStatus, JobType};
use crate::{
    campaigns::CampaignStatus,
    clock::Clock,
    error::{Error, Result},
    pagination::{self, CursorSigner, Page, PageParams},
    store::{
        conditional, failure, from_item, json_text,
        keys::{self, GSI1, GSI2, GSI3, GSI4, GSI5},
        n,
        pages::ListQuery,
        s, to_item,
        tx::{self, backoff, versioned, Round, TxError, Versioned},
        Read, Store, StoreError,
    },
    time::{self, Timestamp},
    validate::parse_id,
};

/// The idempotency receipt of the response that a write of this record would give, if the
/// request has an `Idempotency-Key` (see `Ctx::draft_receipt`).
pub type Receipt<'a> = &'a (dyn Fn(&JobRecord) -> Result<Option<TransactWriteItem>> + Send + Sync);

/// Candidates read from each claim partition per round.
const CANDIDATES: i32 = 10;
/// Rounds of a claim that only lost races before it gives up with a 503 (retry).
const CLAIM_ROUNDS: u32 = 6;
/// Jobs of a deleted campaign removed in the delete request itself; the rest expire by TTL.
const PURGE_BATCHES: usize = 4;
const BATCH_WRITE_MAX: i32 = 25;

#[derive(Serialize, Deserialize)]
struct JobItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    gsi3pk: String,
    gsi3sk: String,
    gsi4pk: String,
    gsi4sk: String,
    // Left out of finished jobs, which takes them out of the claim index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi5pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi5sk: Option<String>,
    entity: String,
    id: String,
    tenant_id: String,
    campaign_id: String,
    organization_id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    job_type: JobType,
    #[serde(with = "json_text")]
    params_json: Value,
    status: JobStatus,
    attempts: u32,
    #[serde(default)]
    lease_expiries: u32,
    #[serde(default)]
    worker: Option<String>,
    #[serde(default, with = "time::rfc3339_option")]
    lease_expires_at: Option<Timestamp>,
    #[serde(default, with = "json_text::option", skip_serializing_if = "Option::is_none")]
    result_json: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(with = "time::rfc3339")]
    inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    updated_at: Timestamp,
    #[serde(default, with = "time::rfc3339_option")]
    started_at: Option<Timestamp>,
    #[serde(default, with = "time::rfc3339_option")]
    finished_at: Option<Timestamp>,
    version: u64,
    /// `keys::TTL_ATTRIBUTE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl JobItem {
    fn new(record: &JobRecord) -> Self {
        let j = record.job.clone();
        let (t, c, ty, st) = (
            j.tenant_id.as_str(),
            j.campaign_id.as_str(),
            j.job_type.as_str(),
            j.status.as_str(),
        );
        let claim_key = record.claimable_from().map(|from| {
            (
                keys::claimable_jobs_pk(t, ty),
                keys::claim_sk(from.timestamp_millis(), &j.id),
            )
        });
        JobItem {
            pk: keys::job_pk(t, &j.id),
            sk: keys::JOB_SK.into(),
            gsi1pk: keys::campaign_jobs_pk(t, c),
            gsi1sk: j.id.clone(),
            gsi2pk: keys::campaign_jobs_by_status_pk(t, c, st),
            gsi2sk: j.id.clone(),
            gsi3pk: keys::campaign_jobs_by_type_pk(t, c, ty),
            gsi3sk: j.id.clone(),
            gsi4pk: keys::campaign_jobs_by_type_status_pk(t, c, ty, st),
            gsi4sk: j.id.clone(),
            gsi5pk: claim_key.as_ref().map(|(pk, _)| pk.clone()),
            gsi5sk: claim_key.map(|(_, sk)| sk),
            entity: "job".into(),
            id: j.id,
            tenant_id: j.tenant_id,
            campaign_id: j.campaign_id,
            organization_id: j.organization_id,
            name: j.name,
            description: j.description,
            job_type: j.job_type,
            params_json: j.params,
            status: j.status,
            attempts: j.attempts,
            lease_expiries: record.lease_expiries,
            worker: j.worker,
            lease_expires_at: j.lease_expires_at,
            result_json: j.result,
            error: j.error,
            inserted_at: j.inserted_at,
            updated_at: j.updated_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            version: record.version,
            expires_at: record.expires_at,
        }
    }

    fn into_record(self) -> JobRecord {
        JobRecord {
            job: Job {
                id: self.id,
                tenant_id: self.tenant_id,
                campaign_id: self.campaign_id,
                organization_id: self.organization_id,
                name: self.name,
                description: self.description,
                job_type: self.job_type,
                params: self.params_json,
                status: self.status,
                attempts: self.attempts,
                worker: self.worker,
                lease_expires_at: self.lease_expires_at,
                result: self.result_json,
                error: self.error,
                inserted_at: self.inserted_at,
                updated_at: self.updated_at,
                started_at: self.started_at,
                finished_at: self.finished_at,
            },
            version: self.version,
            lease_expiries: self.lease_expiries,
            expires_at: self.expires_at,
        }
    }
}

impl Versioned for JobRecord {
    fn version(&self) -> u64 {
        self.version
    }
}

/// The transaction item that moves a campaign's `active_job_count` (and its version, its ETag,
/// since the count is part of its representation). A new job also needs the campaign active.
fn campaign_jobs(
    table: &str,
    tenant: &str,
    campaign_id: &str,
    by: i64,
    creating: bool,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(keys::campaign(tenant, campaign_id)))
        .expression_attribute_values(":by", n(by))
        .expression_attribute_values(":one", n(1));
    let update = if creating {
        // `had_jobs` tells a later campaign delete that there are finished jobs to clean up.
        update
            .update_expression("ADD active_job_count :by, version :one SET had_jobs = :true")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .condition_expression("attribute_exists(pk) AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(CampaignStatus::Active.as_str()))
    } else {
        update
            .update_expression("ADD active_job_count :by, version :one")
            .condition_expression("attribute_exists(pk)")
    };
    tx::update(update)
}

/// How a transition changes the number of active jobs.
fn activity_change(from: &JobRecord, to: &JobRecord) -> i64 {
    i64::from(to.job.status.is_active()) - i64::from(from.job.status.is_active())
}

impl Store {
    pub async fn get_job(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>> {
        let item: Option<JobItem> = self.get("get_job", keys::job(tenant, id), Read::Strong).await?;
        Ok(item.map(JobItem::into_record))
    }

    /// The job a path names, as every job route sees it: not past its retention, and with its
    /// campaign still there (a deleted campaign's jobs are gone at once, whenever their items
    /// are removed). Only finished jobs need the campaign read: one with active jobs cannot be
    /// deleted.
    pub async fn visible_job(&self, tenant: &str, raw_id: &str, now: Timestamp) -> Result<JobRecord> {
        let id = parse_id(raw_id).ok_or(Error::NotFound)?;
        let record = self.get_job(tenant, &id).await?.ok_or(Error::NotFound)?;
        if record.is_expired(now) {
            return Err(Error::NotFound);
        }
        if !record.job.status.is_active() && !self.campaign_exists(tenant, &record.job.campaign_id).await? {
            return Err(Error::NotFound);
        }
        Ok(record)
    }

    async fn campaign_exists(&self, tenant: &str, campaign_id: &str) -> Result<bool> {
        #[derive(Deserialize)]
        struct Exists {}
        let found: Option<Exists> = self
            .get("get_campaign", keys::campaign(tenant, campaign_id), Read::Strong)
            .await?;
        Ok(found.is_some())
    }

    /// Writes a pending job and counts it on its campaign, which must still be there and active.
    pub async fn create_job(&self, record: &JobRecord, receipt: Option<TransactWriteItem>) -> Result<()> {
        let j = &record.job;
        let items = vec![
            tx::put(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(to_item(&JobItem::new(record))?))
                    .condition_expression("attribute_not_exists(pk)"),
            )?,
            campaign_jobs(self.table(), &j.tenant_id, &j.campaign_id, 1, true)?,
        ];
        match self.transact("create_job", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => match self.get_campaign(&j.tenant_id, &j.campaign_id).await? {
                None => Err(Error::NotFound),
                Some(_) => Err(inactive_campaign()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `next` over `current` (conditioned on its version), moving the campaign's count
    /// when the job becomes active or finishes; item 0's condition failing is a lost race.
    async fn write_job(
        &self,
        operation: &'static str,
        current: &JobRecord,
        next: &JobRecord,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), TxError> {
        let item = to_item(&JobItem::new(next))?;
        let change = activity_change(current, next);
        if change == 0 && receipt.is_none() {
            // A single conditional put: half the cost of a transaction, on the claim's hot path.
            let result = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(current.version))
                .send()
                .await;
            return match conditional(operation, result)? {
                Some(_) => Ok(()),
                None => Err(TxError::Conditions(vec![true])),
            };
        }
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(current.version));
        let mut items = vec![tx::put(put)?];
        if change != 0 {
            let j = &next.job;
            items.push(campaign_jobs(
                self.table(),
                &j.tenant_id,
                &j.campaign_id,
                change,
                false,
            )?);
        }
        self.transact(operation, items, receipt).await
    }

    /// The read-modify-write of one job: `step` decides the next record from the current one
    /// (or refuses), and after a lost race it decides again on a fresh read.
    pub async fn transition_job(
        &self,
        operation: &'static str,
        first: JobRecord,
        clock: &Clock,
        step: &(dyn Fn(&JobRecord, Timestamp) -> Result<JobRecord> + Send + Sync),
        receipt: Receipt<'_>,
    ) -> Result<JobRecord> {
        let (tenant, id) = (first.job.tenant_id.clone(), first.job.id.clone());
        let (tenant, id) = (tenant.as_str(), id.as_str());
        versioned(
            Some(first),
            None,
            || {
                Box::pin(async move {
                    match self.get_job(tenant, id).await? {
                        Some(r) if !r.is_expired(clock.now()) => Ok(r),
                        _ => Err(Error::NotFound),
                    }
                })
            },
            |current: JobRecord| {
                Box::pin(async move {
                    let next = step(&current, clock.now())?;
                    match self.write_job(operation, &current, &next, receipt(&next)?).await {
                        Ok(()) => Ok(Round::Done(next)),
                        Err(e) if e.failed(0) => Ok(Round::LostRace),
                        Err(e) => Err(e.into()),
                    }
                })
            },
        )
        .await
    }

    /// The oldest claimable job of the requested types, now held by `worker`; `None` when there
    /// is none. On a lost race the claimer moves on to another candidate, so many concurrent
    /// claimers spread over the queue's head instead of all retrying its first job.
    pub async fn claim_job(
        &self,
        tenant: &str,
        request: &ClaimRequest,
        worker: &str,
        clock: &Clock,
        retention_days: u32,
        receipt: Receipt<'_>,
    ) -> Result<Option<JobRecord>> {
        for round in 0..CLAIM_ROUNDS {
            if round > 0 {
                backoff(round).await;
            }
            let candidates = self
                .claim_candidates(tenant, &request.job_types, clock.now())
                .await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            for i in spread_order(candidates.len()) {
                let current = &candidates[i];
                match claim(
                    current,
                    worker,
                    clock.now(),
                    request.lease_seconds,
                    retention_days,
                ) {
                    ClaimStep::Skip => {}
                    ClaimStep::Fail(failed) => {
                        match self.write_job("fail_expired_job", current, &failed, None).await {
                            Ok(()) => {
                                tracing::info!(job = %failed.job.id, "a job's lease ran out for the last time; it failed")
                            }
                            Err(e) if e.failed(0) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    ClaimStep::Claim(next) => {
                        match self.write_job("claim_job", current, &next, receipt(&next)?).await {
                            Ok(()) => return Ok(Some(next)),
                            Err(e) if e.failed(0) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            }
        }
        tracing::warn!(
            rounds = CLAIM_ROUNDS,
            "every claim candidate was taken by other claimers"
        );
        Err(Error::Unavailable)
    }

    /// The head of the claim index for `types`, oldest first: jobs claimable at `now`. The index
    /// is eventually consistent, so these are only candidates; the conditional write decides.
    async fn claim_candidates(
        &self,
        tenant: &str,
        types: &[JobType],
        now: Timestamp,
    ) -> Result<Vec<JobRecord>> {
        let until = keys::claim_sk_until(now.timestamp_millis());
        let queries = types.iter().map(|t| {
            let partition = keys::claimable_jobs_pk(tenant, t.as_str());
            let until = until.clone();
            async move {
                self.client()
                    .query()
                    .table_name(self.table())
                    .set_index_name(GSI5.name.map(str::to_owned))
                    .key_condition_expression("#pk = :pk AND #sk <= :until")
                    .expression_attribute_names("#pk", GSI5.pk)
                    .expression_attribute_names("#sk", GSI5.sk)
                    .expression_attribute_values(":pk", s(partition))
                    .expression_attribute_values(":until", s(until))
                    .scan_index_forward(true)
                    .limit(CANDIDATES)
                    .send()
                    .await
                    .map_err(|e| failure("claim_candidates", e))
            }
        });
        let mut found: Vec<(String, JobRecord)> = Vec::new();
        for output in try_join_all(queries).await? {
            for item in output.items.unwrap_or_default() {
                let order = match item.get(GSI5.sk) {
                    Some(AttributeValue::S(sk)) => sk.clone(),
                    _ => continue,
                };
                // Logged by from_item; one bad item must not stop the queue.
                if let Ok(job) = from_item::<JobItem>(item) {
                    found.push((order, job.into_record()));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.truncate(CANDIDATES as usize);
        Ok(found.into_iter().map(|(_, r)| r).collect())
    }

    pub async fn list_jobs(
        &self,
        tenant: &str,
        campaign_id: &str,
        filter: JobFilter,
        params: &PageParams,
        signer: &CursorSigner,
        now: Timestamp,
    ) -> Result<Page<Job>> {
        let (s, t) = (
            filter.status.map(JobStatus::as_str),
            filter.job_type.map(JobType::as_str),
        );
        let (index, partition) = match (s, t) {
            (None, None) => (GSI1, keys::campaign_jobs_pk(tenant, campaign_id)),
            (Some(s), None) => (GSI2, keys::campaign_jobs_by_status_pk(tenant, campaign_id, s)),
            (None, Some(t)) => (GSI3, keys::campaign_jobs_by_type_pk(tenant, campaign_id, t)),
            (Some(s), Some(t)) => (
                GSI4,
                keys::campaign_jobs_by_type_status_pk(tenant, campaign_id, t, s),
            ),
        };
        let list = ListQuery {
            index,
            partition,
            scope: pagination::scope(
                Some(tenant),
                "campaign_jobs",
                &[("campaign_id", Some(campaign_id)), ("status", s), ("job_type", t)],
            ),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
            sk_range: None,
        };
        self.query_page_where(&list, params, signer, |item| {
            let record = from_item::<JobItem>(item)?.into_record();
            Ok((!record.is_expired(now)).then_some(record.job))
        })
        .await
    }

    /// Removes the jobs of a campaign that was just deleted, a bounded number per call (the
    /// request that deleted it makes one). They are unreachable already, since every job route
    /// checks the campaign, and all of them are finished, so any left over are removed by
    /// DynamoDB's TTL within the retention period. Failures are logged, not returned: the
    /// campaign is gone either way.
    pub async fn purge_campaign_jobs(&self, tenant: &str, campaign_id: &str) {
        if let Err(error) = self.try_purge_campaign_jobs(tenant, campaign_id).await {
            tracing::warn!(
                ?error,
                campaign = campaign_id,
                "removing a deleted campaign's jobs failed; TTL removes them"
            );
        }
    }

    async fn try_purge_campaign_jobs(&self, tenant: &str, campaign_id: &str) -> Result<(), StoreError> {
        let partition = keys::campaign_jobs_pk(tenant, campaign_id);
        for _ in 0..PURGE_BATCHES {
            let output = self
                .client()
                .query()
                .table_name(self.table())
                .set_index_name(GSI1.name.map(str::to_owned))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1.pk)
                .expression_attribute_values(":pk", s(&partition))
                .limit(BATCH_WRITE_MAX)
                .send()
                .await
                .map_err(|e| failure("purge_campaign_jobs", e))?;
            let mut requests = Vec::new();
            for item in output.items.unwrap_or_default() {
                let (Some(pk), Some(sk)) = (item.get(keys::PK), item.get(keys::SK)) else {
                    continue;
                };
                let delete = DeleteRequest::builder()
                    .key(keys::PK, pk.clone())
                    .key(keys::SK, sk.clone())
                    .build()
                    .map_err(|error| {
                        tracing::error!(%error, "building a DynamoDB request failed");
                        StoreError::Internal
                    })?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            if requests.is_empty() {
                return Ok(());
            }
            let mut pending = requests;
            // Unprocessed deletes are retried a few times; whatever is left, TTL removes.
            for attempt in 1..=3 {
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(self.table(), pending)
                    .send()
                    .await
                    .map_err(|e| failure("purge_campaign_jobs", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(self.table()))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                backoff(attempt).await;
            }
            if output.last_evaluated_key.is_none() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The 409 for a job on a campaign that is not active.
pub fn inactive_campaign() -> Error {
    Error::conflict("jobs can only be created on an active campaign")
}

/// The order in which a claimer tries `n` candidates: the oldest first, so a claimer alone
/// always gets the oldest job; should that one be taken, the others from a random point on,
/// so that concurrent claimers do not all run down the same list one loss at a time.
fn spread_order(n: usize) -> Vec<usize> {
    if n <= 1 {
        return (0..n).collect();
    }
    let start = usize::from(uuid::Uuid::now_v7().as_bytes()[15]) % (n - 1);
    std::iter::once(0)
        .chain((0..n - 1).map(|k| 1 + (start + k) % (n - 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_order_starts_with_the_oldest_and_tries_each_once() {
        for n in 0..12 {
            let order = spread_order(n);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            if n > 0 {
                assert_eq!(order[0], 0);
            }
        }
    }
}
