//! Organization members and a user's organizations.

use http::{header, StatusCode};
use serde_json::Value;

use super::{
    already_member, invitation_expired, Authority, MemberStatus, Membership, Role, UserOrganization,
    ANY_MEMBER, MANAGERS, OWNERS,
};
use crate::{
    error::Violations,
    route,
    validate::{is_email, is_user_id, known_fields},
    web::{
        response::{json, no_content, with_header},
        ApiError, Ctx, Reply, Route,
    },
};

pub const ROUTES: &[Route] = &[
    route!(GET "/v1/organizations/{id}/members" => list),
    route!(POST "/v1/organizations/{id}/members" => invite),
    route!(GET "/v1/organizations/{id}/members/{user_id}" => get),
    route!(PATCH "/v1/organizations/{id}/members/{user_id}" => change_role),
    route!(DELETE "/v1/organizations/{id}/members/{user_id}" => remove),
    route!(POST "/v1/organizations/{id}/members/{user_id}/accept" => accept),
    route!(GET "/v1/users/{user_id}/organizations" => user_orgs),
];

const MEMBERSHIP_READ_ONLY: &[&str] = &[
    "organization_id",
    "user_id",
    "status",
    "email",
    "invited_by_user_id",
    "last_active_at",
    "expires_at",
];

/// The live organization the path names, and the caller's tenant.
async fn addressed_org<'a>(cx: &'a Ctx<'_>) -> Result<(&'a str, String), ApiError> {
    let tenant = cx.tenant()?;
    Ok((tenant, cx.store().live_org(tenant, cx.param("id")).await?.org.id))
}

/// The membership the path names; 404 when there is none.
async fn addressed_member(cx: &Ctx<'_>, tenant: &str, org_id: &str) -> Result<Membership, ApiError> {
    let user_id = cx.param("user_id");
    if !is_user_id(user_id) {
        return Err(ApiError::NotFound);
    }
    cx.store()
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

/// A path segment with everything but unreserved characters percent-encoded.
fn encode_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn invite(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id) = addressed_org(cx).await?;
    let authority = Authority::of(cx.store(), &cx.principal, tenant, &org_id).await?;
    authority.require(&MANAGERS, "inviting members")?;
    let body = known_fields(
        cx.body()?,
        &["user_id", "role", "email"],
        &[
            "organization_id",
            "status",
            "invited_by_user_id",
            "last_active_at",
            "expires_at",
        ],
    )?;
    let mut v = Violations::default();
    let user_id = match body.get("user_id") {
        Some(Value::String(u)) if is_user_id(u) => Some(u.clone()),
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
    let now = cx.app.clock.now();
    // An invitation that expired is replaced by the new one; anything else is a membership.
    let expired = match cx.store().get_membership(tenant, &org_id, &user_id).await? {
        Some(existing) if existing.is_expired_invitation(now) => Some(existing),
        Some(_) => return Err(already_member().into()),
        None => None,
    };
    let membership = Membership {
        organization_id: org_id.clone(),
        user_id: user_id.clone(),
        tenant_id: tenant.to_owned(),
        role,
        status: MemberStatus::Invited,
        email,
        invited_by_user_id: Some(cx.principal.sub.clone()),
        last_active_at: None,
        expires_at: None,
        inserted_at: now,
        updated_at: now,
    };
    let location = format!("/v1/organizations/{org_id}/members/{}", encode_segment(&user_id));
    let response = with_header(
        json(StatusCode::CREATED, &membership.clone().at(now))?,
        header::LOCATION,
        &location,
    );
    let actor = authority.check(cx.store(), &cx.principal, tenant, &org_id, allowed)?;
    let receipt = cx.receipt(&response)?;
    match expired {
        Some(previous) => {
            cx.store()
                .replace_membership(&previous, &membership, actor, receipt)
                .await?
        }
        None => cx.store().invite(&membership, actor, receipt).await?,
    }
    Ok(response)
}

async fn list(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id) = addressed_org(cx).await?;
    Authority::of(cx.store(), &cx.principal, tenant, &org_id)
        .await?
        .require(&ANY_MEMBER, "listing members")?;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "role", "status"])?;
    let params = query.page()?;
    let mut v = Violations::default();
    let role = query.get("role").and_then(|r| {
        Role::parse(r).or_else(|| {
            v.add("role", "must be one of owner, admin, member");
            None
        })
    });
    let status = query.get("status").and_then(|s| {
        MemberStatus::parse(s).or_else(|| {
            v.add("status", "must be invited, active or expired");
            None
        })
    });
    v.into_result()?;
    let page = cx
        .store()
        .list_members(
            tenant,
            &org_id,
            role,
            status,
            &params,
            &cx.app.cursors,
            cx.app.clock.now(),
        )
        .await?;
    json(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id) = addressed_org(cx).await?;
    Authority::of(cx.store(), &cx.principal, tenant, &org_id)
        .await?
        .require(&ANY_MEMBER, "reading members")?;
    let member = addressed_member(cx, tenant, &org_id).await?;
    json(StatusCode::OK, &member.at(cx.app.clock.now()))
}

async fn change_role(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id) = addressed_org(cx).await?;
    let authority = Authority::of(cx.store(), &cx.principal, tenant, &org_id).await?;
    authority.require(&MANAGERS, "changing roles")?;
    let current = addressed_member(cx, tenant, &org_id).await?;
    let body = known_fields(cx.body()?, &["role"], MEMBERSHIP_READ_ONLY)?;
    let mut v = Violations::default();
    let role = parse_role(&mut v, body.get("role"));
    if body.get("role").is_some_and(Value::is_null) {
        v.add("role", "must be one of owner, admin, member");
    }
    v.into_result()?;
    let now = cx.app.clock.now();
    let Some(role) = role.filter(|r| *r != current.role) else {
        return json(StatusCode::OK, &current.at(now));
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
        updated_at: now.max(current.updated_at),
        ..current.clone()
    };
    // A member acting on their own membership is already guarded by the membership's condition.
    let actor = if current.user_id == cx.principal.sub {
        None
    } else {
        authority.check(cx.store(), &cx.principal, tenant, &org_id, allowed)?
    };
    cx.store()
        .replace_membership(&current, &next, actor, None)
        .await?;
    json(StatusCode::OK, &next.at(now))
}

async fn remove(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id) = addressed_org(cx).await?;
    let current = addressed_member(cx, tenant, &org_id).await?;
    let leaving = current.user_id == cx.principal.sub;
    let actor = if leaving {
        None
    } else {
        let authority = Authority::of(cx.store(), &cx.principal, tenant, &org_id).await?;
        let allowed: &[Role] = if current.role == Role::Owner {
            &OWNERS
        } else {
            &MANAGERS
        };
        authority.require(allowed, "removing this member")?;
        authority.check(cx.store(), &cx.principal, tenant, &org_id, allowed)?
    };
    cx.store().remove_membership(&current, actor).await?;
    Ok(no_content())
}

async fn accept(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id) = addressed_org(cx).await?;
    if cx.param("user_id") != cx.principal.sub {
        return Err(ApiError::Forbidden(
            "only the invited user can accept an invitation".into(),
        ));
    }
    let current = addressed_member(cx, tenant, &org_id).await?;
    let now = cx.app.clock.now();
    if current.status == MemberStatus::Active {
        return json(StatusCode::OK, &current.at(now));
    }
    if current.is_expired_invitation(now) {
        return Err(invitation_expired().into());
    }
    let now = now.max(current.updated_at);
    let next = Membership {
        status: MemberStatus::Active,
        last_active_at: Some(now),
        email: cx.principal.email.clone().or_else(|| current.email.clone()),
        updated_at: now,
        ..current.clone()
    };
    let response = json(StatusCode::OK, &next.clone().at(now))?;
    cx.store()
        .replace_membership(&current, &next, None, cx.receipt(&response)?)
        .await?;
    Ok(response)
}

async fn user_orgs(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let raw = cx.param("user_id");
    let user_id = if raw == "me" {
        cx.principal.sub.as_str()
    } else {
        raw
    };
    if !is_user_id(user_id) {
        return Err(ApiError::NotFound);
    }
    if user_id != cx.principal.sub && !cx.principal.is_tenant_admin() {
        return Err(ApiError::Forbidden(
            "only the user themself or a tenant_admin may list this".into(),
        ));
    }
    let query = cx.query()?;
    query.only(&["limit", "cursor"])?;
    let params = query.page()?;
    let page = cx
        .store()
        .list_user_orgs(tenant, user_id, &params, &cx.app.cursors)
        .await?;
    let now = cx.app.clock.now();
    json(
        StatusCode::OK,
        &page.map(|uo| UserOrganization {
            membership: uo.membership.at(now),
            ..uo
        }),
    )
}
