//! Campaigns: the record, its validation and its storage.
//!
//! A campaign belongs to exactly one live organization of its tenant. Every write that creates,
//! moves or deletes a campaign changes the organizations' `campaign_count` in the same
//! transaction, conditioned on the organization being live, so a campaign can never be created
//! under an organization that is being deleted at the same moment. `version` is the ETag.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    error::{ApiError, Violations},
    etag::{self, IfMatch},
    organizations::{self, counter_update, parse_id},
    pagination::{self, CursorSigner, ListQuery, Page, PageParams},
    store::{
        self,
        keys::{self, GSI1, GSI2, GSI3, TABLE},
        time::{self, Timestamp},
        tx::{self, built, Rounds, TxError},
        Store,
    },
    validate::trimmed_string,
};

pub const NAME_MIN: usize = 3;
pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Active,
    Paused,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(CampaignStatus::Active),
            "paused" => Some(CampaignStatus::Paused),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub id: String,
    pub tenant_id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "time::rfc3339_option")]
    pub start_time: Option<Timestamp>,
    #[serde(with = "time::rfc3339_option")]
    pub end_time: Option<Timestamp>,
    pub status: CampaignStatus,
    pub metadata: Value,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecord {
    pub campaign: Campaign,
    pub version: u64,
}

impl CampaignRecord {
    pub fn etag(&self) -> String {
        etag::of_version(self.version)
    }
}

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
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
    status: CampaignStatus,
    metadata_json: String,
    version: u64,
    inserted_at: String,
    updated_at: String,
}

impl CampaignItem {
    fn new(record: &CampaignRecord) -> Self {
        let c = &record.campaign;
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
            id: c.id.clone(),
            tenant_id: t.to_owned(),
            organization_id: o.to_owned(),
            name: c.name.clone(),
            description: c.description.clone(),
            start_time: c.start_time.as_ref().map(time::format),
            end_time: c.end_time.as_ref().map(time::format),
            status: c.status,
            metadata_json: c.metadata.to_string(),
            version: record.version,
            inserted_at: time::format(&c.inserted_at),
            updated_at: time::format(&c.updated_at),
        }
    }

    fn into_record(self) -> Result<CampaignRecord, ApiError> {
        let corrupt = |what: &str| {
            tracing::error!(campaign_id = %self.id, what, "stored campaign is malformed");
            ApiError::Internal
        };
        let parse_opt = |raw: &Option<String>, what: &str| match raw {
            Some(raw) => time::parse(raw).map(Some).ok_or_else(|| corrupt(what)),
            None => Ok(None),
        };
        let start_time = parse_opt(&self.start_time, "start_time")?;
        let end_time = parse_opt(&self.end_time, "end_time")?;
        let metadata = serde_json::from_str(&self.metadata_json).map_err(|_| corrupt("metadata"))?;
        let inserted_at = time::parse(&self.inserted_at).ok_or_else(|| corrupt("inserted_at"))?;
        let updated_at = time::parse(&self.updated_at).ok_or_else(|| corrupt("updated_at"))?;
        Ok(CampaignRecord {
            campaign: Campaign {
                id: self.id,
                tenant_id: self.tenant_id,
                organization_id: self.organization_id,
                name: self.name,
                description: self.description,
                start_time,
                end_time,
                status: self.status,
                metadata,
                inserted_at,
                updated_at,
            },
            version: self.version,
        })
    }
}

pub const WRITABLE: &[&str] = &[
    "organization_id",
    "name",
    "description",
    "start_time",
    "end_time",
    "status",
    "metadata",
];

/// A create or update body, validated field by field. `None`: not sent; `Some(None)`: clear.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CampaignFields {
    pub organization_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub start_time: Option<Option<Timestamp>>,
    pub end_time: Option<Option<Timestamp>>,
    pub status: Option<CampaignStatus>,
    pub metadata: Option<Value>,
}

impl CampaignFields {
    pub fn parse(body: &Map<String, Value>, creating: bool) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let mut f = CampaignFields::default();
        match body.get("organization_id") {
            Some(Value::String(raw)) => match parse_id(raw) {
                Some(id) => f.organization_id = Some(id),
                None => v.add("organization_id", "must name a live organization of the tenant"),
            },
            Some(_) => v.add("organization_id", "must be an organization id"),
            None if creating => v.add("organization_id", "is required"),
            None => {}
        }
        match body.get("name") {
            Some(value) => f.name = trimmed_string(&mut v, "name", value, NAME_MIN, NAME_MAX),
            None if creating => v.add("name", "is required"),
            None => {}
        }
        match body.get("description") {
            None => {}
            Some(Value::Null) => f.description = Some(None),
            Some(Value::String(d)) if d.chars().count() <= DESCRIPTION_MAX => {
                f.description = Some(Some(d.clone()))
            }
            Some(Value::String(_)) => v.add(
                "description",
                format!("should be at most {DESCRIPTION_MAX} characters"),
            ),
            Some(_) => v.add("description", "must be a string or null"),
        }
        for (field, slot) in [("start_time", &mut f.start_time), ("end_time", &mut f.end_time)] {
            match body.get(field) {
                None => {}
                Some(Value::Null) => *slot = Some(None),
                Some(Value::String(raw)) => match time::parse(raw) {
                    Some(t) => *slot = Some(Some(t)),
                    None => v.add(
                        field,
                        "must be an RFC 3339 time with an offset in years 0001-9999 (UTC), e.g. 2026-11-22T08:15:30Z",
                    ),
                },
                Some(_) => v.add(field, "must be an RFC 3339 time or null"),
            }
        }
        match body.get("status") {
            None => {}
            Some(Value::String(s)) if CampaignStatus::parse(s).is_some() => {
                f.status = CampaignStatus::parse(s)
            }
            Some(_) => v.add("status", "must be active or paused"),
        }
        match body.get("metadata") {
            None => {}
            Some(Value::Null) => f.metadata = Some(Value::Object(Map::new())),
            Some(value) => f.metadata = organizations::metadata(&mut v, value),
        }
        v.into_result()?;
        Ok(f)
    }

    /// Applies the fields to `campaign` (all of them, for a create).
    pub fn apply(&self, c: &mut Campaign) {
        if let Some(org) = &self.organization_id {
            c.organization_id = org.clone();
        }
        if let Some(name) = &self.name {
            c.name = name.clone();
        }
        if let Some(d) = &self.description {
            c.description = d.clone();
        }
        if let Some(t) = self.start_time {
            c.start_time = t;
        }
        if let Some(t) = self.end_time {
            c.end_time = t;
        }
        if let Some(s) = self.status {
            c.status = s;
        }
        if let Some(m) = &self.metadata {
            c.metadata = m.clone();
        }
    }
}

/// The date rule on a whole campaign: when both are set, start strictly before end.
pub fn check_dates(c: &Campaign) -> Result<(), ApiError> {
    match (c.start_time, c.end_time) {
        (Some(start), Some(end)) if start >= end => {
            Err(ApiError::field("start_time", "must be before end_time"))
        }
        _ => Ok(()),
    }
}

/// The 422 for an `organization_id` that names no live organization of the tenant.
pub fn unknown_org() -> ApiError {
    ApiError::field("organization_id", "must name a live organization of the tenant")
}

pub enum CampaignWriteError {
    NotFound,
    PreconditionFailed,
    UnknownOrganization,
    Api(ApiError),
}

impl From<ApiError> for CampaignWriteError {
    fn from(e: ApiError) -> Self {
        CampaignWriteError::Api(e)
    }
}

impl From<CampaignWriteError> for ApiError {
    fn from(e: CampaignWriteError) -> Self {
        match e {
            CampaignWriteError::NotFound => ApiError::NotFound,
            CampaignWriteError::PreconditionFailed => ApiError::PreconditionFailed,
            CampaignWriteError::UnknownOrganization => unknown_org(),
            CampaignWriteError::Api(e) => e,
        }
    }
}

fn campaign_key(tenant: &str, id: &str) -> std::collections::HashMap<String, AttributeValue> {
    [
        (keys::PK.to_owned(), store::s(keys::campaigns_pk(tenant))),
        (keys::SK.to_owned(), store::s(id)),
    ]
    .into()
}

impl Store {
    pub async fn get_campaign(&self, tenant: &str, id: &str) -> Result<Option<CampaignRecord>, ApiError> {
        let item: Option<CampaignItem> = self.get_item("get_campaign", campaign_key(tenant, id)).await?;
        item.map(CampaignItem::into_record).transpose()
    }

    /// Writes the campaign and counts it on its organization, which must be live.
    pub async fn create_campaign(
        &self,
        record: &CampaignRecord,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), CampaignWriteError> {
        let c = &record.campaign;
        let items = vec![
            tx::put(built(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(store::to_item(&CampaignItem::new(record))?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?),
            counter_update(self.table(), &c.tenant_id, &c.organization_id, 0, 0, 1)?,
        ];
        match self.transact("create_campaign", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => Err(CampaignWriteError::UnknownOrganization),
            Err(TxError::Api(e)) => Err(e.into()),
            Err(_) => Err(CampaignWriteError::Api(ApiError::Internal)),
        }
    }

    /// Read-modify-write guarded by the version; moving to another organization moves the count.
    /// `first` is the record the caller has just read; it is re-read only after a lost race.
    pub async fn update_campaign(
        &self,
        first: CampaignRecord,
        if_match: Option<&IfMatch>,
        fields: &CampaignFields,
    ) -> Result<CampaignRecord, CampaignWriteError> {
        let (tenant, id) = (first.campaign.tenant_id.clone(), first.campaign.id.clone());
        let (tenant, id) = (tenant.as_str(), id.as_str());
        let mut current = first;
        let mut rounds = Rounds::default();
        loop {
            if rounds.next().await? > 0 {
                current = self
                    .get_campaign(tenant, id)
                    .await?
                    .ok_or(CampaignWriteError::NotFound)?;
            }
            if !etag::allows(if_match, &current.etag()) {
                return Err(CampaignWriteError::PreconditionFailed);
            }
            let mut next = current.clone();
            fields.apply(&mut next.campaign);
            check_dates(&next.campaign)?;
            if next.campaign == current.campaign {
                return Ok(current);
            }
            next.campaign.updated_at = time::now().max(current.campaign.updated_at);
            next.version = current.version + 1;
            let (from, to) = (&current.campaign.organization_id, &next.campaign.organization_id);
            let mut items = vec![tx::put(built(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(store::to_item(&CampaignItem::new(&next))?))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                    .build(),
            )?)];
            if from != to {
                items.push(counter_update(self.table(), tenant, to, 0, 0, 1)?);
                items.push(counter_update(self.table(), tenant, from, 0, 0, -1)?);
            }
            match self.transact("update_campaign", items, None).await {
                Ok(()) => return Ok(next),
                Err(e) if e.failed(1) => return Err(CampaignWriteError::UnknownOrganization),
                Err(e) if e.failed(0) => continue,
                Err(TxError::Api(e)) => return Err(e.into()),
                Err(_) => return Err(CampaignWriteError::Api(ApiError::Internal)),
            }
        }
    }

    /// Hard delete, uncounting the campaign on its organization. Only the version and the
    /// organization are read, so a stored campaign that no longer decodes can still be removed.
    pub async fn delete_campaign(
        &self,
        tenant: &str,
        id: &str,
        if_match: Option<&IfMatch>,
    ) -> Result<(), CampaignWriteError> {
        #[derive(Deserialize)]
        struct Guard {
            version: u64,
            organization_id: String,
        }
        let mut rounds = Rounds::default();
        loop {
            rounds.next().await?;
            let current: Guard = self
                .get_item("get_campaign", campaign_key(tenant, id))
                .await?
                .ok_or(CampaignWriteError::NotFound)?;
            if !etag::allows(if_match, &etag::of_version(current.version)) {
                return Err(CampaignWriteError::PreconditionFailed);
            }
            let items = vec![
                tx::delete(built(
                    Delete::builder()
                        .table_name(self.table())
                        .set_key(Some(campaign_key(tenant, id)))
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                        .build(),
                )?),
                counter_update(self.table(), tenant, &current.organization_id, 0, 0, -1)?,
            ];
            match self.transact("delete_campaign", items, None).await {
                Ok(()) => return Ok(()),
                Err(e) if e.failed(0) => continue,
                Err(TxError::Api(e)) => return Err(e.into()),
                Err(_) => return Err(CampaignWriteError::Api(ApiError::Internal)),
            }
        }
    }

    pub async fn list_campaigns(
        &self,
        tenant: &str,
        organization_id: Option<&str>,
        status: Option<CampaignStatus>,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<Campaign>, ApiError> {
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
        };
        self.query_page_with(&list, params, signer, |item| {
            store::from_item::<CampaignItem>(item)?
                .into_record()
                .map(|r| r.campaign)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Result<CampaignFields, ApiError> {
        CampaignFields::parse(body.as_object().unwrap(), true)
    }

    const ORG: &str = "0190b7c4-1111-7000-8000-000000000000";

    #[test]
    fn times_need_an_offset_and_become_utc() {
        let f =
            fields(json!({"organization_id": ORG, "name": "abc", "start_time": "2026-01-01T10:00:00+02:00"}))
                .unwrap();
        assert_eq!(
            time::format(&f.start_time.unwrap().unwrap()),
            "2026-01-01T08:00:00.000Z"
        );
        assert!(
            fields(json!({"organization_id": ORG, "name": "abc", "start_time": "2026-01-01T10:00:00"}))
                .is_err()
        );
    }

    #[test]
    fn required_fields_on_create() {
        match fields(json!({})) {
            Err(ApiError::Validation(e)) => {
                assert!(e.contains_key("name") && e.contains_key("organization_id"));
            }
            other => panic!("{other:?}"),
        }
    }
}
