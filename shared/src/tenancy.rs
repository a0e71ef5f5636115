//! Tenants: the record, its storage, just-in-time provisioning and the status gate.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use crate::{
    error::ApiError,
    pagination::{self, CursorSigner, ListQuery, Page, PageParams},
    store::{
        self,
        keys::{self, GSI1, GSI2},
        time::{self, Timestamp},
        Store,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
    Deleted,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            "deleted" => Some(TenantStatus::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub status: TenantStatus,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
    #[serde(with = "time::rfc3339_option", default)]
    pub deleted_at: Option<Timestamp>,
}

#[derive(Serialize)]
struct TenantItem<'a> {
    pk: String,
    sk: &'static str,
    gsi1pk: &'static str,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    entity: &'static str,
    #[serde(flatten)]
    tenant: &'a Tenant,
}

impl<'a> TenantItem<'a> {
    fn new(tenant: &'a Tenant) -> Self {
        let order = keys::time_ordered_sk(&time::format(&tenant.inserted_at), &tenant.id);
        TenantItem {
            pk: keys::tenant_pk(&tenant.id),
            sk: keys::TENANT_SK,
            gsi1pk: keys::ALL_TENANTS_PK,
            gsi1sk: order.clone(),
            gsi2pk: keys::tenants_by_status_pk(tenant.status.as_str()),
            gsi2sk: order,
            entity: "tenant",
            tenant,
        }
    }
}

/// What a platform admin may change on a tenant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub status: Option<TenantStatus>,
}

fn tenant_key(id: &str) -> [(String, aws_sdk_dynamodb::types::AttributeValue); 2] {
    [
        (keys::PK.to_owned(), store::s(keys::tenant_pk(id))),
        (keys::SK.to_owned(), store::s(keys::TENANT_SK)),
    ]
}

impl Store {
    pub async fn get_tenant(&self, id: &str, consistent: bool) -> Result<Option<Tenant>, ApiError> {
        if consistent {
            return self
                .get_item("get_tenant", tenant_key(id).into_iter().collect())
                .await;
        }
        // The per-request lookup: an eventually consistent read is half the cost, and a
        // tenant's status is cached for seconds anyway.
        let output = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(tenant_key(id).into_iter().collect()))
            .send()
            .await
            .map_err(|e| store::failure("get_tenant", e))?;
        output.item.map(store::from_item).transpose()
    }

    /// Creates the tenant unless it exists; `Ok(None)` when another request got there first.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<Option<Tenant>, ApiError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(store::to_item(&TenantItem::new(tenant))?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(tenant.clone())),
            Err(e) if store::is_condition_failure(&e) => Ok(None),
            Err(e) => Err(store::failure("create_tenant", e)),
        }
    }

    pub async fn list_tenants(
        &self,
        status: Option<TenantStatus>,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<Tenant>, ApiError> {
        let list = ListQuery {
            index: if status.is_some() { GSI2 } else { GSI1 },
            partition: match status {
                Some(s) => keys::tenants_by_status_pk(s.as_str()),
                None => keys::ALL_TENANTS_PK.to_owned(),
            },
            scope: pagination::scope(None, "tenants", &[("status", status.map(TenantStatus::as_str))]),
            item_pk_prefix: None,
            newest_first: true,
        };
        self.query_page(&list, params, signer).await
    }

    /// Applies `changes`; `Ok(None)` when there is no such tenant.
    pub async fn update_tenant(&self, id: &str, changes: &TenantChanges) -> Result<Option<Tenant>, ApiError> {
        let now = time::format(&time::now());
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(tenant_key(id).into_iter().collect()))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":now", store::s(&now))
            .return_values(ReturnValue::AllNew);
        let mut sets = vec!["#updated_at = :now"];
        if let Some(name) = &changes.name {
            sets.push("#name = :name");
            update = update
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", store::s(name));
        }
        if let Some(status) = changes.status {
            sets.extend([
                "#status = :status",
                "#gsi2pk = :gsi2pk",
                "#deleted_at = :deleted_at",
            ]);
            let deleted_at = if status == TenantStatus::Deleted {
                store::s(&now)
            } else {
                aws_sdk_dynamodb::types::AttributeValue::Null(true)
            };
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#gsi2pk", GSI2.pk)
                .expression_attribute_names("#deleted_at", "deleted_at")
                .expression_attribute_values(":status", store::s(status.as_str()))
                .expression_attribute_values(":gsi2pk", store::s(keys::tenants_by_status_pk(status.as_str())))
                .expression_attribute_values(":deleted_at", deleted_at);
        }
        match update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(output) => output.attributes.map(store::from_item).transpose(),
            Err(e) if store::is_condition_failure(&e) => Ok(None),
            Err(e) => Err(store::failure("update_tenant", e)),
        }
    }

    /// Soft delete: the record stays with status `deleted`. Deleting twice keeps the first
    /// `deleted_at`. `Ok(false)` when there is no such tenant.
    pub async fn soft_delete_tenant(&self, id: &str) -> Result<bool, ApiError> {
        let now = time::format(&time::now());
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(tenant_key(id).into_iter().collect()))
            .update_expression(
                "SET #status = :deleted, #gsi2pk = :gsi2pk, #deleted_at = :now, #updated_at = :now",
            )
            .condition_expression("attribute_exists(#pk) AND #status <> :deleted")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#gsi2pk", GSI2.pk)
            .expression_attribute_names("#deleted_at", "deleted_at")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":deleted", store::s("deleted"))
            .expression_attribute_values(":gsi2pk", store::s(keys::tenants_by_status_pk("deleted")))
            .expression_attribute_values(":now", store::s(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if store::is_condition_failure(&e) => Ok(self.get_tenant(id, true).await?.is_some()),
            Err(e) => Err(store::failure("soft_delete_tenant", e)),
        }
    }
}

/// Finds or creates the caller's tenant and applies the status gate, with a short per-container
/// cache. A status change made elsewhere is seen here within `ttl` (default 5 s); changes made
/// through this container are seen at once because they evict the entry.
pub struct TenantDirectory {
    ttl: Duration,
    cache: Mutex<HashMap<String, (Tenant, Instant)>>,
}

const CACHE_CAPACITY: usize = 1024;

impl TenantDirectory {
    pub fn new(ttl: Duration) -> Self {
        TenantDirectory {
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The caller's tenant, created on first sight; 403 `tenant_inactive` unless it is active.
    pub async fn resolve_active(&self, store: &Store, tenant_id: &str) -> Result<Tenant, ApiError> {
        let tenant = self.resolve(store, tenant_id).await?;
        if tenant.status != TenantStatus::Active {
            return Err(ApiError::TenantInactive);
        }
        Ok(tenant)
    }

    pub async fn resolve(&self, store: &Store, tenant_id: &str) -> Result<Tenant, ApiError> {
        if let Some(tenant) = self.cached(tenant_id) {
            return Ok(tenant);
        }
        let tenant = match store.get_tenant(tenant_id, false).await? {
            Some(tenant) => tenant,
            None => {
                let now = time::now();
                let fresh = Tenant {
                    id: tenant_id.to_owned(),
                    name: tenant_id.to_owned(),
                    status: TenantStatus::Active,
                    inserted_at: now,
                    updated_at: now,
                    deleted_at: None,
                };
                match store.create_tenant(&fresh).await? {
                    Some(created) => {
                        tracing::info!(tenant_id, "tenant provisioned just in time");
                        created
                    }
                    // A concurrent first request created it; read the winner's record.
                    None => store.get_tenant(tenant_id, true).await?.ok_or_else(|| {
                        tracing::error!(tenant_id, "tenant vanished right after a lost create race");
                        ApiError::Internal
                    })?,
                }
            }
        };
        self.remember(&tenant);
        Ok(tenant)
    }

    pub fn forget(&self, tenant_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant_id);
        }
    }

    pub fn remember(&self, tenant: &Tenant) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(tenant.id.clone(), (tenant.clone(), Instant::now()));
        }
    }

    fn cached(&self, tenant_id: &str) -> Option<Tenant> {
        let cache = self.cache.lock().ok()?;
        let (tenant, at) = cache.get(tenant_id)?;
        (at.elapsed() < self.ttl).then(|| tenant.clone())
    }
}
