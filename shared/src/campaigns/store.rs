//! Campaign items: `<tenant>#CAMPAIGNS` / id, listed newest first (ids are time-ordered) on
//! the table and three indexes: by status (GSI1), by organization (GSI2), by both (GSI3).

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    check_dates, has_active_jobs, unknown_org, Campaign, CampaignFields, CampaignRecord, CampaignStatus,
};
use crate::{
    error::{Error, Result},
    etag::IfMatch,
    pagination::{self, CursorSigner, Page, PageParams},
    store::{
        counters::{org_counters, OrgCounts},
        from_item, json_text,
        keys::{self, GSI1, GSI2, GSI3, TABLE},
        n,
        pages::ListQuery,
        to_item,
        tx::{self, versioned, Round, Versioned},
        Read, Store, StoreError,
    },
    time::{self, Timestamp},
    validate::parse_id,
};

#[derive(Serialize, Deserialize)]
struct CampaignItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    gsi3pk: String,
    gsi3sk: String,
    entity: String,
    id: String,
    tenant_id: String,
    organization_id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, with = "time::rfc3339_option")]
    start_time: Option<Timestamp>,
    #[serde(default, with = "time::rfc3339_option")]
    end_time: Option<Timestamp>,
    status: CampaignStatus,
    #[serde(with = "json_text")]
    metadata_json: Value,
    #[serde(default)]
    active_job_count: i64,
    /// Set by the first job's creation (`jobs::store`), never cleared.
    #[serde(default)]
    had_jobs: bool,
    version: u64,
    #[serde(with = "time::rfc3339")]
    inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    updated_at: Timestamp,
}

impl CampaignItem {
    fn new(record: &CampaignRecord) -> Self {
        let c = record.campaign.clone();
        let (t, o, s) = (
            c.tenant_id.as_str(),
            c.organization_id.as_str(),
            c.status.as_str(),
        );
        CampaignItem {
            pk: keys::campaigns_pk(t),
            sk: c.id.clone(),
            gsi1pk: keys::campaigns_by_status_pk(t, s),
            gsi1sk: c.id.clone(),
            gsi2pk: keys::org_campaigns_pk(t, o),
            gsi2sk: c.id.clone(),
            gsi3pk: keys::org_campaigns_by_status_pk(t, o, s),
            gsi3sk: c.id.clone(),
            entity: "campaign".into(),
            id: c.id,
            tenant_id: c.tenant_id,
            organization_id: c.organization_id,
            name: c.name,
            description: c.description,
            start_time: c.start_time,
            end_time: c.end_time,
            status: c.status,
            metadata_json: c.metadata,
            active_job_count: c.active_job_count,
            had_jobs: record.had_jobs,
            version: record.version,
            inserted_at: c.inserted_at,
            updated_at: c.updated_at,
        }
    }

    fn into_record(self) -> CampaignRecord {
        CampaignRecord {
            campaign: Campaign {
                id: self.id,
                tenant_id: self.tenant_id,
                organization_id: self.organization_id,
                name: self.name,
                description: self.description,
                start_time: self.start_time,
                end_time: self.end_time,
                status: self.status,
                metadata: self.metadata_json,
                active_job_count: self.active_job_count,
                inserted_at: self.inserted_at,
                updated_at: self.updated_at,
            },
            version: self.version,
            had_jobs: self.had_jobs,
        }
    }
}

fn counted(table: &str, tenant: &str, org_id: &str, by: i64) -> Result<TransactWriteItem, StoreError> {
    org_counters(table, tenant, org_id, OrgCounts::campaigns(by))
}

impl Versioned for CampaignRecord {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Store {
    pub async fn get_campaign(&self, tenant: &str, id: &str) -> Result<Option<CampaignRecord>> {
        let item: Option<CampaignItem> = self
            .get("get_campaign", keys::campaign(tenant, id), Read::Strong)
            .await?;
        Ok(item.map(CampaignItem::into_record))
    }

    /// The campaign a path names by `raw_id`; `NotFound` for anything else.
    pub async fn live_campaign(&self, tenant: &str, raw_id: &str) -> Result<CampaignRecord> {
        let id = parse_id(raw_id).ok_or(Error::NotFound)?;
        self.get_campaign(tenant, &id).await?.ok_or(Error::NotFound)
    }

    /// Writes the campaign and counts it on its organization, which must be live.
    pub async fn create_campaign(
        &self,
        record: &CampaignRecord,
        receipt: Option<TransactWriteItem>,
    ) -> Result<()> {
        let c = &record.campaign;
        let items = vec![
            tx::put(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(to_item(&CampaignItem::new(record))?))
                    .condition_expression("attribute_not_exists(pk)"),
            )?,
            counted(self.table(), &c.tenant_id, &c.organization_id, 1)?,
        ];
        match self.transact("create_campaign", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => Err(unknown_org()),
            Err(e) => Err(e.into()),
        }
    }

    /// Read-modify-write guarded by the version; moving to another organization moves the count.
    /// `first` is the record the caller has just read; it is re-read only after a lost race.
    pub async fn update_campaign(
        &self,
        first: CampaignRecord,
        if_match: Option<&IfMatch>,
        fields: &CampaignFields,
    ) -> Result<CampaignRecord> {
        let (tenant, id) = (first.campaign.tenant_id.clone(), first.campaign.id.clone());
        let (tenant, id) = (tenant.as_str(), id.as_str());
        versioned(
            Some(first),
            if_match,
            || Box::pin(async move { self.get_campaign(tenant, id).await?.ok_or(Error::NotFound) }),
            |current: CampaignRecord| {
                Box::pin(async move {
                    let mut next = current.clone();
                    fields.apply(&mut next.campaign);
                    check_dates(&next.campaign)?;
                    if next.campaign == current.campaign {
                        return Ok(Round::Done(current));
                    }
                    next.campaign.updated_at = time::now().max(current.campaign.updated_at);
                    next.version = current.version + 1;
                    let (from, to) = (&current.campaign.organization_id, &next.campaign.organization_id);
                    // Jobs keep the organization they were created under; moving the campaign
                    // under running work would split it across two organizations.
                    if from != to && current.campaign.active_job_count != 0 {
                        return Err(has_active_jobs());
                    }
                    let mut items = vec![tx::put(
                        Put::builder()
                            .table_name(self.table())
                            .set_item(Some(to_item(&CampaignItem::new(&next))?))
                            .condition_expression("version = :v")
                            .expression_attribute_values(":v", n(current.version)),
                    )?];
                    if from != to {
                        items.push(counted(self.table(), tenant, to, 1)?);
                        items.push(counted(self.table(), tenant, from, -1)?);
                    }
                    match self.transact("update_campaign", items, None).await {
                        Ok(()) => Ok(Round::Done(next)),
                        Err(e) if e.failed(1) => Err(unknown_org()),
                        Err(e) if e.failed(0) => Ok(Round::LostRace),
                        Err(e) => Err(e.into()),
                    }
                })
            },
        )
        .await
    }

    /// Hard delete, uncounting the campaign on its organization, refused while it has active
    /// jobs; its finished jobs go with it. Only the version, the organization and the job
    /// count are read, so a stored campaign that no longer decodes can still be removed.
    pub async fn delete_campaign(&self, tenant: &str, id: &str, if_match: Option<&IfMatch>) -> Result<()> {
        #[derive(Deserialize)]
        struct Guard {
            version: u64,
            organization_id: String,
            #[serde(default)]
            active_job_count: i64,
            #[serde(default)]
            had_jobs: bool,
        }
        impl Versioned for Guard {
            fn version(&self) -> u64 {
                self.version
            }
        }
        let had_jobs = versioned(
            None,
            if_match,
            || {
                Box::pin(async move {
                    self.get::<Guard>("get_campaign", keys::campaign(tenant, id), Read::Strong)
                        .await?
                        .ok_or(Error::NotFound)
                })
            },
            |current: Guard| {
                Box::pin(async move {
                    // Every job that becomes active bumps the version, so the version condition
                    // below also covers a job created after this read.
                    if current.active_job_count != 0 {
                        return Err(has_active_jobs());
                    }
                    let items = vec![
                        tx::delete(
                            Delete::builder()
                                .table_name(self.table())
                                .set_key(Some(keys::campaign(tenant, id)))
                                .condition_expression("version = :v")
                                .expression_attribute_values(":v", n(current.version)),
                        )?,
                        counted(self.table(), tenant, &current.organization_id, -1)?,
                    ];
                    match self.transact("delete_campaign", items, None).await {
                        Ok(()) => Ok(Round::Done(current.had_jobs)),
                        Err(e) if e.failed(0) => Ok(Round::LostRace),
                        Err(e) => Err(e.into()),
                    }
                })
            },
        )
        .await?;
        // A campaign that never had a job has none to clean up: no query for them.
        if had_jobs {
            self.purge_campaign_jobs(tenant, id).await;
        }
        Ok(())
    }

    pub async fn list_campaigns(
        &self,
        tenant: &str,
        organization_id: Option<&str>,
        status: Option<CampaignStatus>,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<Campaign>> {
        let s = status.map(CampaignStatus::as_str);
        let (index, partition) = match (organization_id, s) {
            (None, None) => (TABLE, keys::campaigns_pk(tenant)),
            (None, Some(s)) => (GSI1, keys::campaigns_by_status_pk(tenant, s)),
            (Some(o), None) => (GSI2, keys::org_campaigns_pk(tenant, o)),
            (Some(o), Some(s)) => (GSI3, keys::org_campaigns_by_status_pk(tenant, o, s)),
        };
        let list = ListQuery {
            index,
            partition,
            scope: pagination::scope(
                Some(tenant),
                "campaigns",
                &[("organization_id", organization_id), ("status", s)],
            ),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
            sk_range: None,
        };
        self.query_page(&list, params, signer, |item| {
            from_item::<CampaignItem>(item).map(|i| i.into_record().campaign)
        })
        .await
    }
}
