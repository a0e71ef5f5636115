//! Organization items and their uniqueness items.
//!
//! A live organization is `<tenant>#ORG` / id, indexed by domain on GSI1; a soft-deleted one
//! moves to `<tenant>#ORG#DELETED`, so every live read is a plain key lookup and no list
//! filters it out. Each name has a uniqueness item (`<tenant>#ORGNAME` / folded name → id)
//! written in the same transaction as the organization, moved on rename, released on delete.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{fold_name, has_campaigns, name_taken, role_lost, OrgRecord, Organization, NAME_SORT_KEY_MAX};
use crate::{
    error::{Error, Result},
    etag::IfMatch,
    pagination::{self, CursorSigner, Page, PageParams},
    store::{
        failure, from_item, json_text,
        keys::{self, GSI1, TABLE},
        n,
        pages::ListQuery,
        s, to_item,
        tx::{self, versioned, Round, Versioned},
        Item, Read, Store, StoreError,
    },
    time::{self, Timestamp},
    validate::parse_id,
};

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
    #[serde(default, with = "json_text::option")]
    billing_address_json: Option<Value>,
    #[serde(default)]
    stripe_customer_id: Option<String>,
    #[serde(with = "json_text")]
    metadata_json: Value,
    campaign_count: u64,
    member_count: u64,
    owner_count: u64,
    version: u64,
    #[serde(with = "time::rfc3339")]
    inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted_at: Option<String>,
}

impl OrgItem {
    fn live(record: &OrgRecord) -> Self {
        let org = record.org.clone();
        let domain_key = org
            .domain
            .as_ref()
            .map(|d| keys::org_domain_pk(&org.tenant_id, d));
        OrgItem {
            pk: keys::org_pk(&org.tenant_id),
            sk: org.id.clone(),
            gsi1sk: domain_key.as_ref().map(|_| org.id.clone()),
            gsi1pk: domain_key,
            entity: "organization".into(),
            id: org.id,
            tenant_id: org.tenant_id,
            name: org.name,
            domain: org.domain,
            billing_email: org.billing_email,
            billing_address_json: org.billing_address,
            stripe_customer_id: org.stripe_customer_id,
            metadata_json: org.metadata,
            campaign_count: org.campaign_count,
            member_count: org.member_count,
            owner_count: record.owner_count,
            version: record.version,
            inserted_at: org.inserted_at,
            updated_at: org.updated_at,
            deleted_at: None,
        }
    }

    /// The same organization in the deleted partition, out of the domain index.
    fn tombstone(record: &OrgRecord, now: &Timestamp) -> Self {
        OrgItem {
            pk: keys::deleted_org_pk(&record.org.tenant_id),
            gsi1pk: None,
            gsi1sk: None,
            deleted_at: Some(time::format(now)),
            ..OrgItem::live(record)
        }
    }

    fn into_record(self) -> OrgRecord {
        OrgRecord {
            org: Organization {
                id: self.id,
                tenant_id: self.tenant_id,
                name: self.name,
                domain: self.domain,
                billing_email: self.billing_email,
                billing_address: self.billing_address_json,
                stripe_customer_id: self.stripe_customer_id,
                metadata: self.metadata_json,
                campaign_count: self.campaign_count,
                member_count: self.member_count,
                inserted_at: self.inserted_at,
                updated_at: self.updated_at,
            },
            owner_count: self.owner_count,
            version: self.version,
        }
    }
}

fn decode(item: Item) -> Result<OrgRecord, StoreError> {
    from_item::<OrgItem>(item).map(OrgItem::into_record)
}

/// The uniqueness item of a name, pointing at the organization that holds it.
fn name_item(tenant: &str, name: &str, org_id: &str) -> Item {
    let mut item = keys::org_name(tenant, &fold_name(name));
    item.insert("org_id".into(), s(org_id));
    item.insert("entity".into(), s("organization_name"));
    item
}

fn put_name(table: &str, tenant: &str, name: &str, org_id: &str) -> Result<TransactWriteItem, StoreError> {
    tx::put(
        Put::builder()
            .table_name(table)
            .set_item(Some(name_item(tenant, name, org_id)))
            .condition_expression("attribute_not_exists(pk)"),
    )
}

fn release_name(
    table: &str,
    tenant: &str,
    name: &str,
    org_id: &str,
) -> Result<TransactWriteItem, StoreError> {
    tx::delete(
        Delete::builder()
            .table_name(table)
            .set_key(Some(keys::org_name(tenant, &fold_name(name))))
            .condition_expression("org_id = :id")
            .expression_attribute_values(":id", s(org_id)),
    )
}

impl Versioned for OrgRecord {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Store {
    pub async fn get_org(&self, tenant: &str, org_id: &str) -> Result<Option<OrgRecord>> {
        let item: Option<OrgItem> = self
            .get("get_org", keys::org(tenant, org_id), Read::Strong)
            .await?;
        Ok(item.map(OrgItem::into_record))
    }

    /// The live organization a path or body names by `raw_id`; anything that is not one of the
    /// tenant's live organizations (not even an id) is `NotFound`.
    pub async fn live_org(&self, tenant: &str, raw_id: &str) -> Result<OrgRecord> {
        let id = parse_id(raw_id).ok_or(Error::NotFound)?;
        self.get_org(tenant, &id).await?.ok_or(Error::NotFound)
    }

    /// Gets several live organizations at once (at most 100 ids): missing ones are left out,
    /// present ones that do not decode map to `None`.
    pub async fn get_orgs(&self, tenant: &str, ids: &[String]) -> Result<HashMap<String, Option<OrgRecord>>> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut keys = KeysAndAttributes::builder().consistent_read(true);
        for id in ids {
            keys = keys.keys(keys::org(tenant, id));
        }
        let keys = keys.build().map_err(|error| {
            tracing::error!(%error, "building a DynamoDB request failed");
            Error::Internal
        })?;
        let mut request: HashMap<String, KeysAndAttributes> = [(self.table().to_owned(), keys)].into();
        for _ in 0..10 {
            let out = self
                .client()
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| failure("get_orgs", e))?;
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
                let record = decode(item);
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
        Err(Error::Internal)
    }

    /// The live organization with this name (case-insensitive), if any.
    pub async fn find_org_by_name(&self, tenant: &str, name: &str) -> Result<Option<OrgRecord>> {
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
        let found: Option<NameItem> = self
            .get("find_org_by_name", keys::org_name(tenant, &folded), Read::Strong)
            .await?;
        match found {
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
    ) -> Result<Page<Organization>> {
        let list = ListQuery {
            index: if domain.is_some() { GSI1 } else { TABLE },
            partition: match domain {
                Some(d) => keys::org_domain_pk(tenant, d),
                None => keys::org_pk(tenant),
            },
            scope: pagination::scope(Some(tenant), "organizations", &[("domain", domain)]),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
            sk_range: None,
        };
        self.query_page(&list, params, signer, |item| decode(item).map(|r| r.org))
            .await
    }

    /// Writes the organization, its name and its first owner's membership in one transaction.
    pub async fn create_org(
        &self,
        record: &OrgRecord,
        owner: Item,
        receipt: Option<TransactWriteItem>,
    ) -> Result<()> {
        let org = &record.org;
        let items = vec![
            tx::put(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(to_item(&OrgItem::live(record))?))
                    .condition_expression("attribute_not_exists(pk)"),
            )?,
            put_name(self.table(), &org.tenant_id, &org.name, &org.id)?,
            tx::put(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(owner))
                    .condition_expression("attribute_not_exists(pk)"),
            )?,
        ];
        match self.transact("create_org", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => Err(name_taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// Read-modify-write of an organization, guarded by its version. With `if_match` a changed
    /// version is a 412; without, the change is re-applied to the fresh record until it wins.
    /// `actor` proves inside the transaction that the caller may still act.
    pub async fn update_org(
        &self,
        first: OrgRecord,
        if_match: Option<&IfMatch>,
        actor: Option<TransactWriteItem>,
        apply: impl Fn(&mut Organization) + Sync,
    ) -> Result<OrgRecord> {
        let (tenant, org_id) = (first.org.tenant_id.clone(), first.org.id.clone());
        let (tenant, org_id) = (tenant.as_str(), org_id.as_str());
        let (apply, actor) = (&apply, &actor);
        versioned(
            Some(first),
            if_match,
            || Box::pin(async move { self.get_org(tenant, org_id).await?.ok_or(Error::NotFound) }),
            |current: OrgRecord| {
                Box::pin(async move {
                    let mut next = current.clone();
                    apply(&mut next.org);
                    if next.org == current.org {
                        return Ok(Round::Done(current));
                    }
                    next.org.updated_at = time::now().max(current.org.updated_at);
                    next.version = current.version + 1;
                    // A change of letter case only keeps the uniqueness item, keyed by the folded name.
                    let renamed = fold_name(&next.org.name) != fold_name(&current.org.name);
                    let mut items = vec![self.versioned_put(&next, current.version)?];
                    if renamed {
                        items.push(release_name(self.table(), tenant, &current.org.name, org_id)?);
                        items.push(put_name(self.table(), tenant, &next.org.name, org_id)?);
                    }
                    let actor_index = items.len();
                    items.extend(actor.clone());
                    match self.transact("update_org", items, None).await {
                        Ok(()) => Ok(Round::Done(next)),
                        Err(e) if renamed && e.failed(2) => Err(name_taken()),
                        Err(e) if e.failed(actor_index) => Err(role_lost()),
                        Err(e) if e.failed(0) => Ok(Round::LostRace),
                        Err(e) => Err(e.into()),
                    }
                })
            },
        )
        .await
    }

    fn versioned_put(
        &self,
        next: &OrgRecord,
        expected_version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        tx::put(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(to_item(&OrgItem::live(next))?))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected_version)),
        )
    }

    /// Soft delete: the record moves to the deleted partition, its name is released; refused
    /// while it has campaigns (checked on the version read, which every campaign write bumps).
    /// Its memberships stay where they are (soft delete keeps data): every route reaches them
    /// through the live organization only, so the work is the same for 1 member or 10,000.
    pub async fn delete_org(
        &self,
        first: OrgRecord,
        if_match: Option<&IfMatch>,
        actor: Option<TransactWriteItem>,
    ) -> Result<OrgRecord> {
        let (tenant, org_id) = (first.org.tenant_id.clone(), first.org.id.clone());
        let (tenant, org_id) = (tenant.as_str(), org_id.as_str());
        let actor = &actor;
        versioned(
            Some(first),
            if_match,
            || Box::pin(async move { self.get_org(tenant, org_id).await?.ok_or(Error::NotFound) }),
            |current: OrgRecord| {
                Box::pin(async move {
                    if current.org.campaign_count > 0 {
                        return Err(has_campaigns());
                    }
                    let mut items = vec![
                        tx::delete(
                            Delete::builder()
                                .table_name(self.table())
                                .set_key(Some(keys::org(tenant, org_id)))
                                .condition_expression("version = :v AND campaign_count = :zero")
                                .expression_attribute_values(":v", n(current.version))
                                .expression_attribute_values(":zero", n(0)),
                        )?,
                        tx::put(
                            Put::builder()
                                .table_name(self.table())
                                .set_item(Some(to_item(&OrgItem::tombstone(&current, &time::now()))?)),
                        )?,
                        release_name(self.table(), tenant, &current.org.name, org_id)?,
                    ];
                    let actor_index = items.len();
                    items.extend(actor.clone());
                    match self.transact("delete_org", items, None).await {
                        Ok(()) => Ok(Round::Done(current)),
                        Err(e) if e.failed(actor_index) => Err(role_lost()),
                        Err(e) if e.failed(0) => Ok(Round::LostRace),
                        Err(e) => Err(e.into()),
                    }
                })
            },
        )
        .await
    }
}
