//! Organization members and a user's organizations.

use http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::{addressed_org, with_header, Authority};
use crate::{
    app::Ctx,
    error::{ApiError, Violations},
    http::{json_object, json_response, no_content, Query},
    memberships::{MemberStatus, Membership, Role},
    organizations::is_email,
    pagination::PageParams,
    store::time,
    validate::known_fields,
};

const MANAGERS: [Role; 2] = [Role::Owner, Role::Admin];
const OWNERS: [Role; 1] = [Role::Owner];
const ANY_MEMBER: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];
const MEMBERSHIP_READ_ONLY: &[&str] = &[
    "organization_id",
    "user_id",
    "status",
    "email",
    "invited_by_user_id",
    "last_active_at",
];

pub async fn dispatch(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = cx.active_tenant().await?;
    let tenant = tenant.id.as_str();
    match (cx.matched.route.path, cx.matched.method.as_str()) {
        ("/v1/organizations/{id}/members", "POST") => invite(cx, tenant).await,
        ("/v1/organizations/{id}/members", "GET") => list(cx, tenant).await,
        ("/v1/organizations/{id}/members/{user_id}", "GET") => get(cx, tenant).await,
        ("/v1/organizations/{id}/members/{user_id}", "PATCH") => change_role(cx, tenant).await,
        ("/v1/organizations/{id}/members/{user_id}", "DELETE") => remove(cx, tenant).await,
        ("/v1/organizations/{id}/members/{user_id}/accept", "POST") => accept(cx, tenant).await,
        ("/v1/users/{user_id}/organizations", "GET") => user_orgs(cx, tenant).await,
        _ => Err(ApiError::NotFound),
    }
}

/// User ids come from tokens (`sub`): any non-empty text without control characters.
pub fn is_valid_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.chars().any(char::is_control)
}

fn member_response(status: StatusCode, m: &Membership) -> Result<Response<Body>, ApiError> {
    json_response(status, m)
}

async fn live_org(cx: &Ctx<'_>, tenant: &str) -> Result<String, ApiError> {
    Ok(addressed_org(cx, tenant).await?.org.id)
}

async fn target(cx: &Ctx<'_>, tenant: &str, org_id: &str) -> Result<Membership, ApiError> {
    let user_id = cx.param(1);
    if !is_valid_user_id(user_id) {
        return Err(ApiError::NotFound);
    }
    cx.app
        .store
        .get_membership(tenant, org_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)
}

fn parse_role(v: &mut Violations, value: Option<&Value>) -> Option<Role> {
    match value {
        Some(Value::String(s)) => Role::parse(s).or_else(|| {
            v.add("role", "must be one of owner, admin, member");
            None
        }),
        Some(_) => {
            v.add("role", "must be one of owner, admin, member");
            None
        }
        None => None,
    }
}

async fn invite(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = live_org(cx, tenant).await?;
    let authority = Authority::of(cx, tenant, &org_id).await?;
    authority.require(&MANAGERS, "inviting members")?;
    let body = known_fields(
        json_object(cx.req)?,
        &["user_id", "role", "email"],
        &[
            "organization_id",
            "status",
            "invited_by_user_id",
            "last_active_at",
        ],
    )?;
    let mut v = Violations::default();
    let user_id = match body.get("user_id") {
        Some(Value::String(u)) if is_valid_user_id(u) => Some(u.clone()),
        Some(_) => {
            v.add("user_id", "must be a non-empty string of at most 255 characters");
            None
        }
        None => {
            v.add("user_id", "is required");
            None
        }
    };
    let role = parse_role(&mut v, body.get("role"));
    if body.get("role").is_none() {
        v.add("role", "is required");
    }
    let email = match body.get("email") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if is_email(e.trim()) => Some(e.trim().to_owned()),
        Some(_) => {
            v.add("email", "must be an e-mail address");
            None
        }
    };
    v.into_result()?;
    let (Some(user_id), Some(role)) = (user_id, role) else {
        return Err(ApiError::Internal);
    };
    let allowed: &[Role] = if role == Role::Owner { &OWNERS } else { &MANAGERS };
    authority.require(allowed, "granting this role")?;
    let now = time::now();
    let membership = Membership {
        organization_id: org_id.clone(),
        user_id: user_id.clone(),
        tenant_id: tenant.to_owned(),
        role,
        status: MemberStatus::Invited,
        email,
        invited_by_user_id: Some(cx.principal.sub.clone()),
        last_active_at: None,
        inserted_at: now,
        updated_at: now,
    };
    let location = format!("/v1/organizations/{org_id}/members/{}", encode_segment(&user_id));
    let response = with_header(
        member_response(StatusCode::CREATED, &membership)?,
        header::LOCATION,
        &location,
    );
    cx.app
        .store
        .invite(
            &membership,
            authority.check(cx, tenant, &org_id, allowed),
            cx.receipt(&response)?,
        )
        .await?;
    Ok(response)
}

fn encode_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn list(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = live_org(cx, tenant).await?;
    Authority::of(cx, tenant, &org_id)
        .await?
        .require(&ANY_MEMBER, "listing members")?;
    let query = Query::from_request(cx.req)?;
    query.only(&["limit", "cursor", "role", "status"])?;
    let params = PageParams::from_query(&query)?;
    let mut v = Violations::default();
    let role = query.get("role").and_then(|r| {
        Role::parse(r).or_else(|| {
            v.add("role", "must be one of owner, admin, member");
            None
        })
    });
    let status = query.get("status").and_then(|s| {
        MemberStatus::parse(s).or_else(|| {
            v.add("status", "must be invited or active");
            None
        })
    });
    v.into_result()?;
    let page = cx
        .app
        .store
        .list_members(tenant, &org_id, role, status, &params, &cx.app.cursors)
        .await?;
    json_response(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = live_org(cx, tenant).await?;
    Authority::of(cx, tenant, &org_id)
        .await?
        .require(&ANY_MEMBER, "reading members")?;
    let membership = target(cx, tenant, &org_id).await?;
    member_response(StatusCode::OK, &membership)
}

async fn change_role(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = live_org(cx, tenant).await?;
    let authority = Authority::of(cx, tenant, &org_id).await?;
    authority.require(&MANAGERS, "changing roles")?;
    let current = target(cx, tenant, &org_id).await?;
    let body = known_fields(json_object(cx.req)?, &["role"], MEMBERSHIP_READ_ONLY)?;
    let mut v = Violations::default();
    let role = parse_role(&mut v, body.get("role"));
    if body.get("role").is_some_and(Value::is_null) {
        v.add("role", "must be one of owner, admin, member");
    }
    v.into_result()?;
    let Some(role) = role.filter(|r| *r != current.role) else {
        return member_response(StatusCode::OK, &current);
    };
    // Owner is granted and taken away only by owners (or tenant admins).
    let allowed: &[Role] = if role == Role::Owner || current.role == Role::Owner {
        &OWNERS
    } else {
        &MANAGERS
    };
    authority.require(allowed, "granting or taking away the owner role")?;
    let next = Membership {
        role,
        updated_at: time::now().max(current.updated_at),
        ..current.clone()
    };
    // A member acting on their own membership is already guarded by the membership's condition.
    let check = if current.user_id == cx.principal.sub {
        None
    } else {
        authority.check(cx, tenant, &org_id, allowed)
    };
    cx.app
        .store
        .replace_membership(&current, &next, check, None)
        .await?;
    member_response(StatusCode::OK, &next)
}

async fn remove(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = live_org(cx, tenant).await?;
    let current = target(cx, tenant, &org_id).await?;
    let leaving = current.user_id == cx.principal.sub;
    let check = if leaving {
        None
    } else {
        let authority = Authority::of(cx, tenant, &org_id).await?;
        let allowed: &[Role] = if current.role == Role::Owner {
            &OWNERS
        } else {
            &MANAGERS
        };
        authority.require(allowed, "removing this member")?;
        authority.check(cx, tenant, &org_id, allowed)
    };
    cx.app.store.remove_membership(&current, check).await?;
    Ok(no_content())
}

async fn accept(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = live_org(cx, tenant).await?;
    if cx.param(1) != cx.principal.sub {
        return Err(ApiError::Forbidden(
            "only the invited user can accept an invitation".into(),
        ));
    }
    let current = target(cx, tenant, &org_id).await?;
    if current.status == MemberStatus::Active {
        return member_response(StatusCode::OK, &current);
    }
    let now = time::now().max(current.updated_at);
    let next = Membership {
        status: MemberStatus::Active,
        last_active_at: Some(now),
        email: cx.principal.email.clone().or_else(|| current.email.clone()),
        updated_at: now,
        ..current.clone()
    };
    let response = member_response(StatusCode::OK, &next)?;
    cx.app
        .store
        .replace_membership(&current, &next, None, cx.receipt(&response)?)
        .await?;
    Ok(response)
}

async fn user_orgs(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let raw = cx.param(0);
    let user_id = if raw == "me" {
        cx.principal.sub.as_str()
    } else {
        raw
    };
    if !is_valid_user_id(user_id) {
        return Err(ApiError::NotFound);
    }
    if user_id != cx.principal.sub && !cx.principal.is_tenant_admin() {
        return Err(ApiError::Forbidden(
            "only the user themself or a tenant_admin may list this".into(),
        ));
    }
    let query = Query::from_request(cx.req)?;
    query.only(&["limit", "cursor"])?;
    let params = PageParams::from_query(&query)?;
    let page = cx
        .app
        .store
        .list_user_orgs(tenant, user_id, &params, &cx.app.cursors)
        .await?;
    json_response(StatusCode::OK, &page)
}
