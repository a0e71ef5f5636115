//! Organizations: the record, its validation and its storage.
//!
//! Names are unique per tenant, case-insensitively, through a uniqueness item written in the
//! same transaction as the organization (`<tenant>#ORGNAME` / folded name → id), moved on rename
//! and released on delete. A soft-deleted organization moves from `<tenant>#ORG` to
//! `<tenant>#ORG#DELETED`, so every live read is a plain key lookup and no list filters it out.
//! Every write bumps `version`, which is the organization's ETag and the guard of read-modify-
//! write updates; counters are changed with `ADD` by the writes that change them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    error::{ApiError, Violations},
    etag::{self, IfMatch},
    pagination::{self, CursorSigner, ListQuery, Page, PageParams},
    store::{
        self,
        keys::{self, GSI1, TABLE},
        time::{self, Timestamp},
        tx::{self, built, Rounds},
        Item, Store,
    },
    validate::trimmed_string,
};

pub const NAME_MAX: usize = 200;
/// DynamoDB's limit on a sort key, which the case-folded name is in the uniqueness item.
const NAME_SORT_KEY_MAX: usize = 1024;
pub const METADATA_MAX_KEYS: usize = 50;
pub const METADATA_MAX_BYTES: usize = 8 * 1024;
const BILLING_ADDRESS_MAX_BYTES: usize = 2 * 1024;

/// The organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub billing_email: Option<String>,
    pub billing_address: Option<Value>,
    pub stripe_customer_id: Option<String>,
    pub metadata: Value,
    pub campaign_count: u64,
    pub member_count: u64,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

/// The stored organization: the API fields plus what only the store needs.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgRecord {
    pub org: Organization,
    pub owner_count: u64,
    pub version: u64,
}

impl OrgRecord {
    pub fn etag(&self) -> String {
        etag::of_version(self.version)
    }
}

#[derive(Serialize, Deserialize)]
struct OrgItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    entity: String,
    id: String,
    tenant_id: String,
    name: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    billing_email: Option<String>,
    #[serde(default)]
    billing_address_json: Option<String>,
    #[serde(default)]
    stripe_customer_id: Option<String>,
    metadata_json: String,
    campaign_count: u64,
    member_count: u64,
    owner_count: u64,
    version: u64,
    inserted_at: String,
    updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted_at: Option<String>,
}

impl OrgItem {
    fn live(record: &OrgRecord) -> Self {
        let org = &record.org;
        let (gsi1pk, gsi1sk) = match &org.domain {
            Some(domain) => (
                Some(keys::org_domain_pk(&org.tenant_id, domain)),
                Some(org.id.clone()),
            ),
            None => (None, None),
        };
        OrgItem {
            pk: keys::org_pk(&org.tenant_id),
            sk: org.id.clone(),
            gsi1pk,
            gsi1sk,
            entity: "organization".into(),
            id: org.id.clone(),
            tenant_id: org.tenant_id.clone(),
            name: org.name.clone(),
            domain: org.domain.clone(),
            billing_email: org.billing_email.clone(),
            billing_address_json: org.billing_address.as_ref().map(Value::to_string),
            stripe_customer_id: org.stripe_customer_id.clone(),
            metadata_json: org.metadata.to_string(),
            campaign_count: org.campaign_count,
            member_count: org.member_count,
            owner_count: record.owner_count,
            version: record.version,
            inserted_at: time::format(&org.inserted_at),
            updated_at: time::format(&org.updated_at),
            deleted_at: None,
        }
    }

    fn into_record(self) -> Result<OrgRecord, ApiError> {
        let corrupt = |what: &str| {
            tracing::error!(org_id = %self.id, what, "stored organization is malformed");
            ApiError::Internal
        };
        let metadata = serde_json::from_str(&self.metadata_json).map_err(|_| corrupt("metadata"))?;
        let billing_address = match &self.billing_address_json {
            Some(raw) => Some(serde_json::from_str(raw).map_err(|_| corrupt("billing_address"))?),
            None => None,
        };
        let inserted_at = time::parse(&self.inserted_at).ok_or_else(|| corrupt("inserted_at"))?;
        let updated_at = time::parse(&self.updated_at).ok_or_else(|| corrupt("updated_at"))?;
        Ok(OrgRecord {
            org: Organization {
                id: self.id,
                tenant_id: self.tenant_id,
                name: self.name,
                domain: self.domain,
                billing_email: self.billing_email,
                billing_address,
                stripe_customer_id: self.stripe_customer_id,
                metadata,
                campaign_count: self.campaign_count,
                member_count: self.member_count,
                inserted_at,
                updated_at,
            },
            owner_count: self.owner_count,
            version: self.version,
        })
    }
}

/// Case-insensitive identity of a name, used as the uniqueness key.
pub fn fold_name(name: &str) -> String {
    name.to_lowercase()
}

/// The writable fields of a create or update body, already validated. For updates, `None`
/// means "not sent" and `Some(None)` means "clear".
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrgFields {
    pub name: Option<String>,
    pub domain: Option<Option<String>>,
    pub billing_email: Option<Option<String>>,
    pub billing_address: Option<Option<Value>>,
    pub stripe_customer_id: Option<Option<String>>,
    pub metadata: Option<Value>,
}

pub const WRITABLE: &[&str] = &[
    "name",
    "domain",
    "billing_email",
    "billing_address",
    "stripe_customer_id",
    "metadata",
];
pub const READ_ONLY: &[&str] = &["campaign_count", "member_count"];

impl OrgFields {
    pub fn parse(body: &Map<String, Value>, creating: bool) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        let mut fields = OrgFields::default();
        match body.get("name") {
            Some(value) => {
                fields.name = trimmed_string(&mut v, "name", value, 1, NAME_MAX);
                // The folded name is a sort key, which DynamoDB caps at 1024 bytes.
                if fields
                    .name
                    .as_deref()
                    .is_some_and(|n| fold_name(n).len() > NAME_SORT_KEY_MAX)
                {
                    v.add("name", "is too long once case-folded");
                    fields.name = None;
                }
            }
            None if creating => v.add("name", "is required"),
            None => {}
        }
        fields.domain = optional(&mut v, body, "domain", |v, value| {
            let domain = value.trim().to_lowercase();
            if is_dns_name(&domain) {
                Some(domain)
            } else {
                v.add("domain", "must be a DNS name such as acme.com");
                None
            }
        });
        fields.billing_email = optional(&mut v, body, "billing_email", |v, value| {
            let email = value.trim();
            if is_email(email) {
                Some(email.to_owned())
            } else {
                v.add("billing_email", "must be an e-mail address");
                None
            }
        });
        fields.stripe_customer_id = optional(&mut v, body, "stripe_customer_id", |v, value| {
            let ok = !value.is_empty()
                && value.len() <= 255
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if ok {
                Some(value.to_owned())
            } else {
                v.add(
                    "stripe_customer_id",
                    "must be 1..255 letters, digits or underscores",
                );
                None
            }
        });
        match body.get("billing_address") {
            None => {}
            Some(Value::Null) => fields.billing_address = Some(None),
            Some(Value::Object(map)) => {
                if !map.values().all(|x| x.is_string() || x.is_null()) {
                    v.add("billing_address", "values must be strings");
                } else if Value::Object(map.clone()).to_string().len() > BILLING_ADDRESS_MAX_BYTES {
                    v.add("billing_address", "must be at most 2 KiB");
                } else {
                    fields.billing_address = Some(Some(Value::Object(map.clone())));
                }
            }
            Some(_) => v.add("billing_address", "must be an object or null"),
        }
        match body.get("metadata") {
            None => {}
            Some(Value::Null) => fields.metadata = Some(Value::Object(Map::new())),
            Some(value) => fields.metadata = metadata(&mut v, value),
        }
        v.into_result()?;
        Ok(fields)
    }
}

impl OrgFields {
    /// Applies the sent fields to `org`.
    pub fn apply(&self, org: &mut Organization) {
        if let Some(name) = &self.name {
            org.name = name.clone();
        }
        if let Some(domain) = &self.domain {
            org.domain = domain.clone();
        }
        if let Some(email) = &self.billing_email {
            org.billing_email = email.clone();
        }
        if let Some(address) = &self.billing_address {
            org.billing_address = address.clone();
        }
        if let Some(stripe) = &self.stripe_customer_id {
            org.stripe_customer_id = stripe.clone();
        }
        if let Some(metadata) = &self.metadata {
            org.metadata = metadata.clone();
        }
    }
}

/// A bounded JSON object: at most 50 keys and 8 KiB serialized.
pub fn metadata(v: &mut Violations, value: &Value) -> Option<Value> {
    let Value::Object(map) = value else {
        v.add("metadata", "must be a JSON object");
        return None;
    };
    if map.len() > METADATA_MAX_KEYS {
        v.add("metadata", format!("must have at most {METADATA_MAX_KEYS} keys"));
        return None;
    }
    if value.to_string().len() > METADATA_MAX_BYTES {
        v.add("metadata", "must be at most 8 KiB serialized");
        return None;
    }
    Some(value.clone())
}

fn optional<T>(
    v: &mut Violations,
    body: &Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&mut Violations, &str) -> Option<T>,
) -> Option<Option<T>> {
    match body.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => parse(v, s).map(Some),
        Some(_) => {
            v.add(field, "must be a string or null");
            None
        }
    }
}

/// A lower-case DNS name with at least two labels: `acme.com`, `eu.acme.co.uk`.
pub fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A pragmatic e-mail check: one `@`, a plausible local part and a DNS domain.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && is_dns_name(&domain.to_lowercase())
}

pub fn org_key(tenant: &str, org_id: &str) -> HashMap<String, AttributeValue> {
    [
        (keys::PK.to_owned(), store::s(keys::org_pk(tenant))),
        (keys::SK.to_owned(), store::s(org_id)),
    ]
    .into()
}

fn name_key(tenant: &str, name: &str) -> HashMap<String, AttributeValue> {
    [
        (keys::PK.to_owned(), store::s(keys::org_name_pk(tenant))),
        (keys::SK.to_owned(), store::s(fold_name(name))),
    ]
    .into()
}

/// A time-ordered id and the creation time it encodes, so ordering by id is ordering by time.
pub fn new_id(now: &Timestamp) -> String {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        ((millis % 1000) * 1_000_000) as u32,
    );
    Uuid::new_v7(ts).to_string()
}

/// Ids in paths are UUIDs; anything else cannot name a record.
pub fn parse_id(raw: &str) -> Option<String> {
    Uuid::parse_str(raw)
        .ok()
        .filter(|u| u.hyphenated().to_string() == raw)
        .map(|u| u.to_string())
}

/// How the write that needs it proves the caller may still act (checked inside the transaction).
pub type ActorCheck = Option<ConditionCheck>;

pub enum OrgWriteError {
    NotFound,
    NameTaken,
    HasCampaigns,
    PreconditionFailed,
    Forbidden,
    Api(ApiError),
}

impl From<ApiError> for OrgWriteError {
    fn from(e: ApiError) -> Self {
        OrgWriteError::Api(e)
    }
}

impl From<OrgWriteError> for ApiError {
    fn from(e: OrgWriteError) -> Self {
        match e {
            OrgWriteError::NotFound => ApiError::NotFound,
            OrgWriteError::NameTaken => {
                ApiError::Conflict("an organization with this name already exists in the tenant".into())
            }
            OrgWriteError::HasCampaigns => {
                ApiError::Conflict("the organization still has campaigns; delete or move them first".into())
            }
            OrgWriteError::PreconditionFailed => ApiError::PreconditionFailed,
            OrgWriteError::Forbidden => ApiError::Forbidden("the caller's role no longer allows this".into()),
            OrgWriteError::Api(e) => e,
        }
    }
}

impl Store {
    pub async fn get_org(&self, tenant: &str, org_id: &str) -> Result<Option<OrgRecord>, ApiError> {
        let item: Option<OrgItem> = self.get_item("get_org", org_key(tenant, org_id)).await?;
        item.map(OrgItem::into_record).transpose()
    }

    /// Gets several live organizations at once (at most 100 ids): missing ones are left out,
    /// present ones that do not decode map to `None`.
    pub async fn get_orgs(
        &self,
        tenant: &str,
        ids: &[String],
    ) -> Result<HashMap<String, Option<OrgRecord>>, ApiError> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder().consistent_read(true);
        for id in ids {
            keys = keys.keys(org_key(tenant, id));
        }
        let mut request: HashMap<String, aws_sdk_dynamodb::types::KeysAndAttributes> =
            [(self.table().to_owned(), built(keys.build())?)].into();
        for _ in 0..10 {
            let out = self
                .client()
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| store::failure("get_orgs", e))?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(self.table())
                .unwrap_or_default()
            {
                // An organization that does not decode is left out, like one that is gone.
                let id = match item.get(keys::SK) {
                    Some(AttributeValue::S(id)) => id.clone(),
                    _ => continue,
                };
                let record = store::from_item::<OrgItem>(item).and_then(OrgItem::into_record);
                if record.is_err() {
                    tracing::error!(tenant, org_id = %id, "an organization does not decode");
                }
                found.insert(id, record.ok());
            }
            match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                Some(rest) => request = rest,
                None => return Ok(found),
            }
        }
        tracing::error!("batch_get_item kept returning unprocessed keys");
        Err(ApiError::Internal)
    }

    /// The live organization with this name (case-insensitive), if any.
    pub async fn find_org_by_name(&self, tenant: &str, name: &str) -> Result<Option<OrgRecord>, ApiError> {
        #[derive(Deserialize)]
        struct NameItem {
            org_id: String,
        }
        // Such a name cannot be stored (creates and renames refuse it), and DynamoDB refuses an
        // empty or over-long sort key with an error rather than "not found".
        let folded = fold_name(name);
        if folded.is_empty() || folded.len() > NAME_SORT_KEY_MAX {
            return Ok(None);
        }
        match self
            .get_item::<NameItem>("find_org_by_name", name_key(tenant, name))
            .await?
        {
            Some(item) => self.get_org(tenant, &item.org_id).await,
            None => Ok(None),
        }
    }

    pub async fn list_orgs(
        &self,
        tenant: &str,
        domain: Option<&str>,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<Organization>, ApiError> {
        let list = ListQuery {
            index: if domain.is_some() { GSI1 } else { TABLE },
            partition: match domain {
                Some(d) => keys::org_domain_pk(tenant, d),
                None => keys::org_pk(tenant),
            },
            scope: pagination::scope(Some(tenant), "organizations", &[("domain", domain)]),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
        };
        self.query_page_with(&list, params, signer, |item| {
            store::from_item::<OrgItem>(item)?.into_record().map(|r| r.org)
        })
        .await
    }

    /// Writes the organization, its name and its first owner's membership in one transaction.
    pub async fn create_org(
        &self,
        record: &OrgRecord,
        owner: Item,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), OrgWriteError> {
        let org = &record.org;
        let items = vec![
            tx::put(built(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(store::to_item(&OrgItem::live(record))?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?),
            tx::put(built(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(name_item(&org.tenant_id, &org.name, &org.id)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?),
            tx::put(built(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(owner))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?),
        ];
        match self.transact("create_org", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => Err(OrgWriteError::NameTaken),
            Err(tx::TxError::Api(e)) => Err(e.into()),
            Err(_) => Err(OrgWriteError::Api(ApiError::Internal)),
        }
    }

    /// Read-modify-write of an organization, guarded by its version. With `if_match` a changed
    /// version is a 412; without, the change is re-applied to the fresh record until it wins.
    ///
    /// `first` is the record the caller has just read; it is re-read only after a lost race.
    pub async fn update_org(
        &self,
        first: OrgRecord,
        if_match: Option<&IfMatch>,
        actor: impl Fn() -> ActorCheck,
        apply: impl Fn(&mut Organization),
    ) -> Result<OrgRecord, OrgWriteError> {
        let (tenant, org_id) = (first.org.tenant_id.clone(), first.org.id.clone());
        let (tenant, org_id) = (tenant.as_str(), org_id.as_str());
        let mut current = first;
        let mut rounds = Rounds::default();
        loop {
            if rounds.next().await? > 0 {
                current = self
                    .get_org(tenant, org_id)
                    .await?
                    .ok_or(OrgWriteError::NotFound)?;
            }
            if !etag::allows(if_match, &current.etag()) {
                return Err(OrgWriteError::PreconditionFailed);
            }
            let mut next = current.clone();
            apply(&mut next.org);
            if next.org == current.org {
                return Ok(current);
            }
            next.org.updated_at = time::now().max(current.org.updated_at);
            next.version = current.version + 1;
            // A change of letter case only keeps the uniqueness item, keyed by the folded name.
            let renamed = fold_name(&next.org.name) != fold_name(&current.org.name);
            let mut items = vec![tx::put(built(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(store::to_item(&OrgItem::live(&next))?))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                    .build(),
            )?)];
            if renamed {
                items.push(tx::delete(built(
                    Delete::builder()
                        .table_name(self.table())
                        .set_key(Some(name_key(tenant, &current.org.name)))
                        .condition_expression("org_id = :id")
                        .expression_attribute_values(":id", store::s(org_id))
                        .build(),
                )?));
                items.push(tx::put(built(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(name_item(tenant, &next.org.name, org_id)))
                        .condition_expression("attribute_not_exists(pk)")
                        .build(),
                )?));
            }
            let actor_index = items.len();
            if let Some(check) = actor() {
                items.push(tx::check(check));
            }
            match self.transact("update_org", items, None).await {
                Ok(()) => return Ok(next),
                Err(e) if renamed && e.failed(2) => return Err(OrgWriteError::NameTaken),
                Err(e) if e.failed(actor_index) => return Err(OrgWriteError::Forbidden),
                Err(e) if e.failed(0) => continue,
                Err(tx::TxError::Api(e)) => return Err(e.into()),
                Err(_) => return Err(OrgWriteError::Api(ApiError::Internal)),
            }
        }
    }

    /// Soft delete: the record moves to the deleted partition, its name is released; refused
    /// while it has campaigns (checked on the version read, which every campaign write bumps).
    /// Its memberships stay where they are (soft delete keeps data): every route reaches them
    /// through the live organization only, so the work is the same for 1 member or 10,000.
    /// `first` is the record the caller has just read; it is re-read only after a lost race.
    pub async fn delete_org(
        &self,
        first: OrgRecord,
        if_match: Option<&IfMatch>,
        actor: impl Fn() -> ActorCheck,
    ) -> Result<OrgRecord, OrgWriteError> {
        let (tenant, org_id) = (first.org.tenant_id.clone(), first.org.id.clone());
        let (tenant, org_id) = (tenant.as_str(), org_id.as_str());
        let mut current = first;
        let mut rounds = Rounds::default();
        loop {
            if rounds.next().await? > 0 {
                current = self
                    .get_org(tenant, org_id)
                    .await?
                    .ok_or(OrgWriteError::NotFound)?;
            }
            if !etag::allows(if_match, &current.etag()) {
                return Err(OrgWriteError::PreconditionFailed);
            }
            if current.org.campaign_count > 0 {
                return Err(OrgWriteError::HasCampaigns);
            }
            let mut tombstone = OrgItem::live(&current);
            tombstone.pk = keys::deleted_org_pk(tenant);
            tombstone.gsi1pk = None;
            tombstone.gsi1sk = None;
            tombstone.deleted_at = Some(time::format(&time::now()));
            let mut items = vec![
                tx::delete(built(
                    Delete::builder()
                        .table_name(self.table())
                        .set_key(Some(org_key(tenant, org_id)))
                        .condition_expression("version = :v AND campaign_count = :zero")
                        .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                        .build(),
                )?),
                tx::put(built(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(store::to_item(&tombstone)?))
                        .build(),
                )?),
                tx::delete(built(
                    Delete::builder()
                        .table_name(self.table())
                        .set_key(Some(name_key(tenant, &current.org.name)))
                        .condition_expression("org_id = :id")
                        .expression_attribute_values(":id", store::s(org_id))
                        .build(),
                )?),
            ];
            let actor_index = items.len();
            if let Some(check) = actor() {
                items.push(tx::check(check));
            }
            match self.transact("delete_org", items, None).await {
                Ok(()) => return Ok(current),
                Err(e) if e.failed(actor_index) => return Err(OrgWriteError::Forbidden),
                Err(e) if e.failed(0) => continue,
                Err(tx::TxError::Api(e)) => return Err(e.into()),
                Err(_) => return Err(OrgWriteError::Api(ApiError::Internal)),
            }
        }
    }
}

/// A transaction item that changes an organization's counters, failing unless the organization
/// is live. `min_owners_after`: the owner count must stay at least this (the last-owner rule).
pub fn counter_update(
    table: &str,
    tenant: &str,
    org_id: &str,
    members: i64,
    owners: i64,
    campaigns: i64,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, ApiError> {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(org_key(tenant, org_id)))
        .update_expression("ADD member_count :m, owner_count :o, campaign_count :c, version :one")
        .expression_attribute_values(":m", AttributeValue::N(members.to_string()))
        .expression_attribute_values(":o", AttributeValue::N(owners.to_string()))
        .expression_attribute_values(":c", AttributeValue::N(campaigns.to_string()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    update = if owners < 0 {
        // Taking an owner away must leave at least one active owner.
        update
            .condition_expression("attribute_exists(pk) AND owner_count > :min")
            .expression_attribute_values(":min", AttributeValue::N((-owners).to_string()))
    } else {
        update.condition_expression("attribute_exists(pk)")
    };
    Ok(tx::update(built(update.build())?))
}

fn name_item(tenant: &str, name: &str, org_id: &str) -> Item {
    let mut item = name_key(tenant, name);
    item.insert("org_id".into(), store::s(org_id));
    item.insert("entity".into(), store::s("organization_name"));
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        for ok in ["acme.com", "eu.acme.co.uk", "a-b.io", "x1.example"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in [
            "acme", "Acme.com", "-a.com", "a-.com", "a..com", ".com", "a.c0m1", "a b.com", "a_b.com", "",
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(is_email("billing@acme.com"));
        assert!(is_email("a.b+c@eu.acme.co.uk"));
        for bad in [
            "",
            "acme.com",
            "@acme.com",
            "a@",
            "a@acme",
            "a b@acme.com",
            "a@@acme.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_canonical_uuids_ordered_by_time() {
        let a = new_id(&time::parse("2026-01-01T00:00:00.001Z").unwrap());
        let b = new_id(&time::parse("2026-01-01T00:00:00.002Z").unwrap());
        assert!(a < b);
        assert_eq!(parse_id(&a), Some(a.clone()));
        assert_eq!(parse_id(&a.to_uppercase()), None);
        assert_eq!(parse_id("not-a-uuid"), None);
    }
}
