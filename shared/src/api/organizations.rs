//! `/v1/organizations` and `/v1/organizations/{id}`.

use http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::{addressed_org, if_match, with_header, Authority};
use crate::{
    app::Ctx,
    error::{ApiError, Violations},
    http::{json_object, json_response, no_content, Query},
    memberships::{member_item, MemberStatus, Membership, Role},
    organizations::{self, is_dns_name, new_id, OrgFields, OrgRecord, Organization},
    pagination::{Page, PageParams},
    store::time,
    validate::{known_fields, trimmed_string},
};

pub async fn dispatch(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = cx.active_tenant().await?;
    let tenant = tenant.id.as_str();
    match (cx.matched.route.path, cx.matched.method.as_str()) {
        ("/v1/organizations", "POST") => create(cx, tenant).await,
        ("/v1/organizations", "GET") => list(cx, tenant).await,
        ("/v1/organizations/{id}", "GET") => get(cx, tenant).await,
        ("/v1/organizations/{id}", "PATCH" | "PUT") => update(cx, tenant).await,
        ("/v1/organizations/{id}", "DELETE") => delete(cx, tenant).await,
        _ => Err(ApiError::NotFound),
    }
}

fn org_response(status: StatusCode, record: &OrgRecord) -> Result<Response<Body>, ApiError> {
    Ok(with_header(
        json_response(status, &record.org)?,
        header::ETAG,
        &record.etag(),
    ))
}

async fn create(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let body = known_fields(
        json_object(cx.req)?,
        organizations::WRITABLE,
        organizations::READ_ONLY,
    )?;
    let fields = OrgFields::parse(&body, true)?;
    let now = time::now();
    let id = new_id(&now);
    let record = OrgRecord {
        org: Organization {
            id: id.clone(),
            tenant_id: tenant.to_owned(),
            name: fields.name.unwrap_or_default(),
            domain: fields.domain.flatten(),
            billing_email: fields.billing_email.flatten(),
            billing_address: fields.billing_address.flatten(),
            stripe_customer_id: fields.stripe_customer_id.flatten(),
            metadata: fields
                .metadata
                .unwrap_or_else(|| Value::Object(Default::default())),
            campaign_count: 0,
            member_count: 1,
            inserted_at: now,
            updated_at: now,
        },
        owner_count: 1,
        version: 1,
    };
    let owner = Membership {
        organization_id: id.clone(),
        user_id: cx.principal.sub.clone(),
        tenant_id: tenant.to_owned(),
        role: Role::Owner,
        status: MemberStatus::Active,
        email: cx.principal.email.clone(),
        invited_by_user_id: None,
        last_active_at: Some(now),
        inserted_at: now,
        updated_at: now,
    };
    let response = with_header(
        org_response(StatusCode::CREATED, &record)?,
        header::LOCATION,
        &format!("/v1/organizations/{id}"),
    );
    cx.app
        .store
        .create_org(&record, member_item(&owner)?, cx.receipt(&response)?)
        .await?;
    Ok(response)
}

async fn list(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let query = Query::from_request(cx.req)?;
    query.only(&["limit", "cursor", "name", "domain"])?;
    let params = PageParams::from_query(&query)?;
    let domain = match query.get("domain") {
        None => None,
        Some(raw) => {
            let domain = raw.trim().to_lowercase();
            if !is_dns_name(&domain) {
                return Err(ApiError::field("domain", "must be a DNS name such as acme.com"));
            }
            Some(domain)
        }
    };
    if let Some(raw) = query.get("name") {
        // Names are unique: the filter is a key lookup with at most one result, never a page.
        if params.cursor.is_some() {
            return Err(ApiError::field("cursor", "is invalid or belongs to another list"));
        }
        // A value no organization could be named is a 422, like a malformed domain.
        let mut violations = Violations::default();
        let name = trimmed_string(
            &mut violations,
            "name",
            &Value::String(raw.to_owned()),
            1,
            organizations::NAME_MAX,
        );
        violations.into_result()?;
        let name = name.ok_or(ApiError::Internal)?;
        let found = cx.app.store.find_org_by_name(tenant, &name).await?;
        let data: Vec<Organization> = found
            .map(|r| r.org)
            .filter(|o| domain.is_none() || o.domain == domain)
            .into_iter()
            .collect();
        return json_response(
            StatusCode::OK,
            &Page {
                data,
                next_cursor: None,
                has_more: false,
            },
        );
    }
    let page = cx
        .app
        .store
        .list_orgs(tenant, domain.as_deref(), &params, &cx.app.cursors)
        .await?;
    json_response(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let record = addressed_org(cx, tenant).await?;
    org_response(StatusCode::OK, &record)
}

async fn update(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let current = addressed_org(cx, tenant).await?;
    let id = current.org.id.clone();
    let roles = [Role::Owner, Role::Admin];
    let authority = Authority::of(cx, tenant, &id).await?;
    authority.require(&roles, "changing an organization")?;
    let body = known_fields(
        json_object(cx.req)?,
        organizations::WRITABLE,
        organizations::READ_ONLY,
    )?;
    let fields = OrgFields::parse(&body, false)?;
    let record = cx
        .app
        .store
        .update_org(
            current,
            if_match(cx).as_ref(),
            || authority.check(cx, tenant, &id, &roles),
            |org| fields.apply(org),
        )
        .await?;
    org_response(StatusCode::OK, &record)
}

async fn delete(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let current = addressed_org(cx, tenant).await?;
    let id = current.org.id.clone();
    let roles = [Role::Owner];
    let authority = Authority::of(cx, tenant, &id).await?;
    authority.require(&roles, "deleting an organization")?;
    cx.app
        .store
        .delete_org(current, if_match(cx).as_ref(), || {
            authority.check(cx, tenant, &id, &roles)
        })
        .await?;
    Ok(no_content())
}
