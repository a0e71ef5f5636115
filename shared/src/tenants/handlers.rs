//! `/v1/tenant` (the caller's own tenant) and `/v1/tenants` (platform administration).

use http::StatusCode;
use serde_json::Value;

use super::{TenantChanges, TenantStatus, NAME_MAX};
use crate::{
    auth::is_valid_tenant_id,
    error::Violations,
    route,
    store::Read,
    validate::{known_fields, trimmed_string},
    web::{
        response::{json, no_content},
        router::Gate,
        ApiError, Ctx, Reply, Route,
    },
};

pub const ROUTES: &[Route] = &[
    route!(GET "/v1/tenant" => get_own),
    route!(PATCH "/v1/tenant" => update_own),
    route!(GET "/v1/tenants" => list, Gate::Caller),
    route!(GET "/v1/tenants/{id}" => get, Gate::Caller),
    route!(PATCH "/v1/tenants/{id}" => update, Gate::Caller),
    route!(DELETE "/v1/tenants/{id}" => delete, Gate::Caller),
];

async fn get_own(cx: &Ctx<'_>) -> Reply {
    json(StatusCode::OK, cx.tenant_record()?)
}

async fn update_own(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant_record()?;
    if !cx.principal.is_tenant_admin() {
        return Err(ApiError::Forbidden(
            "renaming the tenant needs the tenant_admin role".into(),
        ));
    }
    let body = known_fields(cx.body()?, &["name"], &["status", "deleted_at"])?;
    let mut violations = Violations::default();
    let name = body
        .get("name")
        .and_then(|v| trimmed_string(&mut violations, "name", v, 1, NAME_MAX));
    violations.into_result()?;
    if name.is_none() {
        return json(StatusCode::OK, tenant);
    }
    let changes = TenantChanges { name, status: None };
    let updated = cx
        .store()
        .update_tenant(&tenant.id, &changes)
        .await?
        .ok_or(ApiError::NotFound)?;
    cx.app.tenants.remember(&updated);
    json(StatusCode::OK, &updated)
}

fn require_platform_admin(cx: &Ctx<'_>) -> Result<(), ApiError> {
    if cx.principal.is_platform_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this route needs the platform_admin role".into(),
        ))
    }
}

/// The tenant id in the path; one that cannot be a tenant id is simply not found.
fn path_tenant_id<'a>(cx: &'a Ctx<'_>) -> Result<&'a str, ApiError> {
    let id = cx.param("id");
    if is_valid_tenant_id(id) {
        Ok(id)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn list(cx: &Ctx<'_>) -> Reply {
    require_platform_admin(cx)?;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "status"])?;
    let params = query.page()?;
    let status = match query.get("status") {
        None => None,
        Some(raw) => Some(
            TenantStatus::parse(raw)
                .ok_or_else(|| ApiError::field("status", "must be one of active, suspended, deleted"))?,
        ),
    };
    let page = cx.store().list_tenants(status, &params, &cx.app.cursors).await?;
    json(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>) -> Reply {
    require_platform_admin(cx)?;
    let id = path_tenant_id(cx)?;
    let tenant = cx
        .store()
        .get_tenant(id, Read::Strong)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(StatusCode::OK, &tenant)
}

async fn update(cx: &Ctx<'_>) -> Reply {
    require_platform_admin(cx)?;
    let id = path_tenant_id(cx)?;
    let body = known_fields(cx.body()?, &["name", "status"], &["deleted_at"])?;
    let mut violations = Violations::default();
    let name = body
        .get("name")
        .and_then(|v| trimmed_string(&mut violations, "name", v, 1, NAME_MAX));
    let status = match body.get("status") {
        None => None,
        Some(Value::String(s)) if s == "active" => Some(TenantStatus::Active),
        Some(Value::String(s)) if s == "suspended" => Some(TenantStatus::Suspended),
        Some(Value::String(s)) if s == "deleted" => {
            violations.add("status", "use DELETE /v1/tenants/{id} to delete a tenant");
            None
        }
        Some(_) => {
            violations.add("status", "must be active or suspended");
            None
        }
    };
    violations.into_result()?;
    let changes = TenantChanges { name, status };
    let updated = if changes == TenantChanges::default() {
        cx.store().get_tenant(id, Read::Strong).await?
    } else {
        cx.store().update_tenant(id, &changes).await?
    }
    .ok_or(ApiError::NotFound)?;
    cx.app.tenants.forget(id);
    json(StatusCode::OK, &updated)
}

async fn delete(cx: &Ctx<'_>) -> Reply {
    require_platform_admin(cx)?;
    let id = path_tenant_id(cx)?;
    if !cx.store().soft_delete_tenant(id).await? {
        return Err(ApiError::NotFound);
    }
    cx.app.tenants.forget(id);
    Ok(no_content())
}
