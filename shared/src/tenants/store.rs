//! Tenant items: `<tenant>#TENANT` / `TENANT`, listed newest first through GSI1 (all tenants)
//! and GSI2 (by status), both platform-wide partitions.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::Serialize;

use super::{Tenant, TenantChanges, TenantStatus};
use crate::{
    error::Result,
    pagination::{self, CursorSigner, Page, PageParams},
    store::{
        conditional, from_item,
        keys::{self, GSI1, GSI2},
        pages::ListQuery,
        s, to_item, Read, Store,
    },
    time,
};

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

impl Store {
    /// The per-request lookup reads eventually consistent (half the cost: a tenant's status is
    /// cached for seconds anyway); administration reads strongly.
    pub async fn get_tenant(&self, id: &str, read: Read) -> Result<Option<Tenant>> {
        Ok(self.get("get_tenant", keys::tenant(id), read).await?)
    }

    /// Creates the tenant unless it exists; `Ok(None)` when another request got there first.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<Option<Tenant>> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(&TenantItem::new(tenant))?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await;
        Ok(conditional("create_tenant", result)?.map(|_| tenant.clone()))
    }

    pub async fn list_tenants(
        &self,
        status: Option<TenantStatus>,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<Tenant>> {
        let list = ListQuery {
            index: if status.is_some() { GSI2 } else { GSI1 },
            partition: match status {
                Some(s) => keys::tenants_by_status_pk(s.as_str()),
                None => keys::ALL_TENANTS_PK.to_owned(),
            },
            scope: pagination::scope(None, "tenants", &[("status", status.map(TenantStatus::as_str))]),
            item_pk_prefix: None,
            newest_first: true,
            sk_range: None,
        };
        self.query_page(&list, params, signer, from_item).await
    }

    /// Applies `changes`; `Ok(None)` when there is no such tenant.
    pub async fn update_tenant(&self, id: &str, changes: &TenantChanges) -> Result<Option<Tenant>> {
        let now = time::format(&time::now());
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(keys::tenant(id)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":now", s(&now))
            .return_values(ReturnValue::AllNew);
        let mut sets = vec!["#updated_at = :now"];
        if let Some(name) = &changes.name {
            sets.push("#name = :name");
            update = update
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", s(name));
        }
        if let Some(status) = changes.status {
            sets.extend([
                "#status = :status",
                "#gsi2pk = :gsi2pk",
                "#deleted_at = :deleted_at",
            ]);
            let deleted_at = if status == TenantStatus::Deleted {
                s(&now)
            } else {
                AttributeValue::Null(true)
            };
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#gsi2pk", GSI2.pk)
                .expression_attribute_names("#deleted_at", "deleted_at")
                .expression_attribute_values(":status", s(status.as_str()))
                .expression_attribute_values(":gsi2pk", s(keys::tenants_by_status_pk(status.as_str())))
                .expression_attribute_values(":deleted_at", deleted_at);
        }
        let result = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        match conditional("update_tenant", result)?.and_then(|output| output.attributes) {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Soft delete: the record stays with status `deleted`. Deleting twice keeps the first
    /// `deleted_at`. `Ok(false)` when there is no such tenant.
    pub async fn soft_delete_tenant(&self, id: &str) -> Result<bool> {
        let now = time::format(&time::now());
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(keys::tenant(id)))
            .update_expression(
                "SET #status = :deleted, #gsi2pk = :gsi2pk, #deleted_at = :now, #updated_at = :now",
            )
            .condition_expression("attribute_exists(#pk) AND #status <> :deleted")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#gsi2pk", GSI2.pk)
            .expression_attribute_names("#deleted_at", "deleted_at")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":deleted", s("deleted"))
            .expression_attribute_values(":gsi2pk", s(keys::tenants_by_status_pk("deleted")))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        match conditional("soft_delete_tenant", result)? {
            Some(_) => Ok(true),
            // Already deleted (true), or no such tenant.
            None => Ok(self.get_tenant(id, Read::Strong).await?.is_some()),
        }
    }
}
