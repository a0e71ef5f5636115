//! E-mail invitations of an organization, and accepting one with its token.

use http::{header, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::{
    already_member, expiry, fold_email, gone, not_pending, org_gone, store::StoredInvitation, Invitation,
    InvitationStatus, Token, WithToken, DEFAULT_DAYS, MAX_DAYS, MIN_DAYS,
};
use crate::{
    error::Violations,
    memberships::{Authority, MemberStatus, Membership, Role, MANAGERS, OWNERS},
    organizations::Organization,
    route,
    validate::{is_email, known_fields, new_id, parse_id},
    web::{
        response::{json, no_content, with_header},
        ApiError, Ctx, Reply, Route,
    },
};

pub const ROUTES: &[Route] = &[
    route!(GET "/v1/organizations/{id}/invitations" => list),
    route!(POST "/v1/organizations/{id}/invitations" => create),
    route!(GET "/v1/organizations/{id}/invitations/{invitation_id}" => get),
    route!(DELETE "/v1/organizations/{id}/invitations/{invitation_id}" => revoke),
    route!(POST "/v1/organizations/{id}/invitations/{invitation_id}/resend" => resend),
    route!(POST "/v1/invitations/accept" => accept),
];

const READ_ONLY: &[&str] = &[
    "organization_id",
    "status",
    "invited_by_user_id",
    "accepted_by_user_id",
    "expires_at",
    "token",
];

const ROLES: &str = "must be one of owner, admin, member";

/// The live organization the path names, the caller's tenant and what the caller may do there.
async fn addressed_org<'a>(cx: &'a Ctx<'_>) -> Result<(&'a str, String, Authority), ApiError> {
    let tenant = cx.tenant()?;
    let org_id = cx.store().live_org(tenant, cx.param("id")).await?.org.id;
    let authority = Authority::of(cx.store(), &cx.principal, tenant, &org_id).await?;
    authority.require(&MANAGERS, "managing invitations")?;
    Ok((tenant, org_id, authority))
}

/// The organization's invitation the path names; 404 when there is none.
async fn addressed_invitation(
    cx: &Ctx<'_>,
    tenant: &str,
    org_id: &str,
) -> Result<StoredInvitation, ApiError> {
    let id = parse_id(cx.param("invitation_id")).ok_or(ApiError::NotFound)?;
    match cx.store().get_invitation(tenant, &id).await? {
        Some(found) if found.invitation.organization_id == org_id => Ok(found),
        _ => Err(ApiError::NotFound),
    }
}

/// Who may act on an invitation with `role`: owners are invited, and uninvited, by owners.
fn roles_for(role: Role) -> &'static [Role] {
    if role == Role::Owner {
        &OWNERS
    } else {
        &MANAGERS
    }
}

/// `expires_in_days`: absent or null is the default.
fn lifetime_days(v: &mut Violations, value: Option<&Value>) -> i64 {
    match value {
        None | Some(Value::Null) => DEFAULT_DAYS,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(days) if (MIN_DAYS..=MAX_DAYS).contains(&days) => days,
            _ => {
                v.add(
                    "expires_in_days",
                    format!("must be a whole number of days from {MIN_DAYS} to {MAX_DAYS}"),
                );
                DEFAULT_DAYS
            }
        },
        Some(_) => {
            v.add(
                "expires_in_days",
                format!("must be a whole number of days from {MIN_DAYS} to {MAX_DAYS}"),
            );
            DEFAULT_DAYS
        }
    }
}

/// The response with the token, and the one the idempotency record keeps: the token is never
/// stored in clear, so a replay shows `token: null` (a resend issues a new one).
fn with_token(status: StatusCode, inv: &Invitation, token: &str) -> (Reply, Reply) {
    let shown = json(
        status,
        &WithToken {
            invitation: inv,
            token: Some(token),
        },
    );
    let kept = json(
        status,
        &WithToken {
            invitation: inv,
            token: None,
        },
    );
    (shown, kept)
}

async fn create(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id, authority) = addressed_org(cx).await?;
    let body = known_fields(cx.body()?, &["email", "role", "expires_in_days"], READ_ONLY)?;
    let mut v = Violations::default();
    let email = match body.get("email") {
        Some(Value::String(e)) if is_email(e.trim()) => Some(e.trim().to_owned()),
        Some(_) => {
            v.add("email", "must be an e-mail address");
            None
        }
        None => {
            v.add("email", "is required");
            None
        }
    };
    let role = match body.get("role") {
        Some(Value::String(r)) => Role::parse(r).or_else(|| {
            v.add("role", ROLES);
            None
        }),
        Some(_) => {
            v.add("role", ROLES);
            None
        }
        None => {
            v.add("role", "is required");
            None
        }
    };
    let days = lifetime_days(&mut v, body.get("expires_in_days"));
    v.into_result()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ApiError::Internal);
    };
    let allowed = roles_for(role);
    authority.require(allowed, "granting this role")?;
    if cx
        .store()
        .active_member_with_email(tenant, &org_id, &fold_email(&email))
        .await?
    {
        return Err(already_member().into());
    }
    let now = cx.app.clock.now();
    let id = new_id(&now);
    let token = Token::issue(&id)?;
    let invitation = Invitation {
        id: id.clone(),
        organization_id: org_id.clone(),
        tenant_id: tenant.to_owned(),
        email,
        role,
        status: InvitationStatus::Pending,
        invited_by_user_id: cx.principal.sub.clone(),
        accepted_by_user_id: None,
        expires_at: expiry(now, days),
        inserted_at: now,
        updated_at: now,
    };
    let location = format!("/v1/organizations/{org_id}/invitations/{id}");
    let (shown, kept) = with_token(StatusCode::CREATED, &invitation, &token.text);
    let shown = with_header(shown?, header::LOCATION, &location);
    let kept = with_header(kept?, header::LOCATION, &location);
    let actor = authority.check(cx.store(), &cx.principal, tenant, &org_id, allowed)?;
    cx.store()
        .create_invitation(&invitation, &token.hash(), actor, cx.receipt(&kept)?, now)
        .await?;
    Ok(shown)
}

async fn list(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id, _) = addressed_org(cx).await?;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "status"])?;
    let params = query.page()?;
    let status = match query.get("status") {
        None => None,
        Some(raw) => Some(InvitationStatus::parse(raw).ok_or_else(|| {
            ApiError::field("status", "must be one of pending, accepted, revoked, expired")
        })?),
    };
    let page = cx
        .store()
        .list_invitations(
            tenant,
            &org_id,
            status,
            &params,
            &cx.app.cursors,
            cx.app.clock.now(),
        )
        .await?;
    json(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id, _) = addressed_org(cx).await?;
    let found = addressed_invitation(cx, tenant, &org_id).await?;
    json(StatusCode::OK, &found.invitation.at(cx.app.clock.now()))
}

async fn revoke(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id, authority) = addressed_org(cx).await?;
    let found = addressed_invitation(cx, tenant, &org_id).await?;
    let now = cx.app.clock.now();
    let current = found.invitation.clone().at(now);
    if current.status != InvitationStatus::Pending {
        return Err(not_pending(current.status).into());
    }
    let allowed = roles_for(current.role);
    authority.require(allowed, "revoking this invitation")?;
    let actor = authority.check(cx.store(), &cx.principal, tenant, &org_id, allowed)?;
    cx.store()
        .revoke_invitation(&found.invitation, actor, now)
        .await?;
    Ok(no_content())
}

async fn resend(cx: &Ctx<'_>) -> Reply {
    let (tenant, org_id, authority) = addressed_org(cx).await?;
    let found = addressed_invitation(cx, tenant, &org_id).await?;
    // The body is optional: `{}` or none at all resends with the default lifetime.
    let days = if cx.req.body().as_ref().is_empty() {
        DEFAULT_DAYS
    } else {
        let body = known_fields(cx.body()?, &["expires_in_days"], &[])?;
        let mut v = Violations::default();
        let days = lifetime_days(&mut v, body.get("expires_in_days"));
        v.into_result()?;
        days
    };
    let now = cx.app.clock.now();
    let current = found.invitation.clone().at(now);
    if current.status != InvitationStatus::Pending {
        return Err(not_pending(current.status).into());
    }
    let allowed = roles_for(current.role);
    authority.require(allowed, "resending this invitation")?;
    let token = Token::issue(&current.id)?;
    let next = Invitation {
        expires_at: expiry(now, days),
        updated_at: now.max(current.updated_at),
        ..current
    };
    let (shown, kept) = with_token(StatusCode::OK, &next, &token.text);
    let actor = authority.check(cx.store(), &cx.principal, tenant, &org_id, allowed)?;
    cx.store()
        .resend_invitation(&found, &next, &token.hash(), actor, cx.receipt(&kept?)?, now)
        .await?;
    shown
}

#[derive(Serialize)]
struct Accepted<'a> {
    organization: &'a Organization,
    membership: &'a Membership,
}

async fn accept(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let body = known_fields(cx.body()?, &["token"], &[])?;
    let text = match body.get("token") {
        Some(Value::String(t)) if !t.is_empty() => t,
        Some(_) => return Err(ApiError::field("token", "must be a non-empty string")),
        None => return Err(ApiError::field("token", "is required")),
    };
    // Anything that is not the current token of an invitation of this tenant is unknown here.
    let token = Token::parse(text).ok_or(ApiError::NotFound)?;
    let found = cx
        .store()
        .get_invitation(tenant, &token.invitation_id)
        .await?
        .filter(|found| found.token_hash == token.hash())
        .ok_or(ApiError::NotFound)?;
    let now = cx.app.clock.now();
    let current = found.invitation.clone().at(now);
    if current.status != InvitationStatus::Pending {
        return Err(gone(current.status).into());
    }
    let email_matches = cx
        .principal
        .email
        .as_deref()
        .is_some_and(|claimed| fold_email(claimed) == current.folded_email());
    if !email_matches {
        return Err(ApiError::Forbidden(
            "the invitation is for another e-mail address than the token's `email` claim".into(),
        ));
    }
    let org = cx
        .store()
        .get_org(tenant, &current.organization_id)
        .await?
        .ok_or_else(|| ApiError::from(org_gone()))?
        .org;
    let membership = Membership {
        organization_id: current.organization_id.clone(),
        user_id: cx.principal.sub.clone(),
        tenant_id: tenant.to_owned(),
        role: current.role,
        status: MemberStatus::Active,
        email: cx.principal.email.clone(),
        invited_by_user_id: Some(current.invited_by_user_id.clone()),
        last_active_at: Some(now),
        expires_at: None,
        inserted_at: now,
        updated_at: now,
    };
    let organization = Organization {
        member_count: org.member_count + 1,
        ..org
    };
    let response = json(
        StatusCode::OK,
        &Accepted {
            organization: &organization,
            membership: &membership,
        },
    )?;
    cx.store()
        .accept_invitation(&found, &membership, cx.receipt(&response)?, now)
        .await?;
    Ok(response)
}
