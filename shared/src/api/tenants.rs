//! `/v1/tenant` (the caller's own tenant) and `/v1/tenants` (platform administration).

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::Value;

use crate::{
    app::Ctx,
    auth::is_valid_tenant_id,
    error::{ApiError, Violations},
    http::{json_object, json_response, no_content, Query},
    pagination::PageParams,
    tenancy::{TenantChanges, TenantStatus},
    validate::{known_fields, trimmed_string},
};

const NAME_MAX: usize = 200;

pub async fn dispatch(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    match (cx.matched.route.path, cx.matched.method.as_str()) {
        ("/v1/tenant", "GET") => get_own(cx).await,
        ("/v1/tenant", "PATCH") => update_own(cx).await,
        ("/v1/tenants", "GET") => list(cx).await,
        ("/v1/tenants/{id}", "GET") => get(cx).await,
        ("/v1/tenants/{id}", "PATCH") => update(cx).await,
        ("/v1/tenants/{id}", "DELETE") => delete(cx).await,
        _ => Err(ApiError::NotFound),
    }
}

async fn get_own(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = cx.active_tenant().await?;
    json_response(StatusCode::OK, &tenant)
}

async fn update_own(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = cx.active_tenant().await?;
    if !cx.principal.is_tenant_admin() {
        return Err(ApiError::Forbidden(
            "renaming the tenant needs the tenant_admin role".into(),
        ));
    }
    let body = known_fields(json_object(cx.req)?, &["name"], &["status", "deleted_at"])?;
    let mut violations = Violations::default();
    let name = body
        .get("name")
        .and_then(|v| trimmed_string(&mut violations, "name", v, 1, NAME_MAX));
    violations.into_result()?;
    if name.is_none() {
        return json_response(StatusCode::OK, &tenant);
    }
    let changes = TenantChanges { name, status: None };
    let updated = cx
        .app
        .store
        .update_tenant(&tenant.id, &changes)
        .await?
        .ok_or(ApiError::NotFound)?;
    cx.app.tenants.remember(&updated);
    json_response(StatusCode::OK, &updated)
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

/// A path id that cannot be a tenant id is simply not found.
fn path_tenant_id<'a>(cx: &'a Ctx<'_>) -> Result<&'a str, ApiError> {
    let id = cx.param(0);
    if is_valid_tenant_id(id) {
        Ok(id)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn list(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    require_platform_admin(cx)?;
    let query = Query::from_request(cx.req)?;
    query.only(&["limit", "cursor", "status"])?;
    let params = PageParams::from_query(&query)?;
    let status = match query.get("status") {
        None => None,
        Some(raw) => Some(
            TenantStatus::parse(raw)
                .ok_or_else(|| ApiError::field("status", "must be one of active, suspended, deleted"))?,
        ),
    };
    let page = cx
        .app
        .store
        .list_tenants(status, &params, &cx.app.cursors)
        .await?;
    json_response(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    require_platform_admin(cx)?;
    let id = path_tenant_id(cx)?;
    let tenant = cx
        .app
        .store
        .get_tenant(id, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    json_response(StatusCode::OK, &tenant)
}

async fn update(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    require_platform_admin(cx)?;
    let id = path_tenant_id(cx)?;
    let body = known_fields(json_object(cx.req)?, &["name", "status"], &["deleted_at"])?;
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
        cx.app.store.get_tenant(id, true).await?
    } else {
        cx.app.store.update_tenant(id, &changes).await?
    }
    .ok_or(ApiError::NotFound)?;
    cx.app.tenants.forget(id);
    json_response(StatusCode::OK, &updated)
}

async fn delete(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    require_platform_admin(cx)?;
    let id = path_tenant_id(cx)?;
    if !cx.app.store.soft_delete_tenant(id).await? {
        return Err(ApiError::NotFound);
    }
    cx.app.tenants.forget(id);
    Ok(no_content())
}
