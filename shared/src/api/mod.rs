//! HTTP handlers, one module per resource.

pub mod campaigns;
pub mod memberships;
pub mod organizations;
pub mod tenants;

use aws_sdk_dynamodb::types::ConditionCheck;
use http::{header, HeaderValue};
use lambda_http::{Body, Response};

use crate::{
    app::Ctx,
    error::ApiError,
    etag::IfMatch,
    memberships::{actor_check, MemberStatus, Role},
    organizations::{parse_id, OrgRecord},
};

/// What the caller may do in one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// `tenant_admin`: full control inside the tenant.
    TenantAdmin,
    /// An active member with this role. Invited members are outsiders until they accept.
    Member(Role),
    Outsider,
}

impl Authority {
    pub async fn of(cx: &Ctx<'_>, tenant: &str, org_id: &str) -> Result<Self, ApiError> {
        if cx.principal.is_tenant_admin() {
            return Ok(Authority::TenantAdmin);
        }
        Ok(
            match cx
                .app
                .store
                .get_membership(tenant, org_id, &cx.principal.sub)
                .await?
            {
                Some(m) if m.status == MemberStatus::Active => Authority::Member(m.role),
                _ => Authority::Outsider,
            },
        )
    }

    pub fn is_any(self, roles: &[Role]) -> bool {
        match self {
            Authority::TenantAdmin => true,
            Authority::Member(role) => roles.contains(&role),
            Authority::Outsider => false,
        }
    }

    /// 403 unless the caller is a tenant admin or an active member with one of `roles`.
    pub fn require(self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if self.is_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "{action} needs the role {} in the organization, or tenant_admin",
                names.join(" or ")
            )))
        }
    }

    /// The in-transaction proof that a member caller still holds one of `roles` (tenant
    /// admins need none: their power comes from the token).
    pub fn check(self, cx: &Ctx<'_>, tenant: &str, org_id: &str, roles: &[Role]) -> Option<ConditionCheck> {
        match self {
            Authority::Member(_) => {
                actor_check(cx.app.store.table(), tenant, org_id, &cx.principal.sub, roles)
            }
            _ => None,
        }
    }
}

/// The organization or campaign id from the path; anything that is not a canonical UUID is a 404.
pub fn id_param(cx: &Ctx<'_>) -> Result<String, ApiError> {
    parse_id(cx.param(0)).ok_or(ApiError::NotFound)
}

/// The live organization the path names (`/v1/organizations/{id}/...`); 404 when there is none,
/// before anything else is said about it.
pub async fn addressed_org(cx: &Ctx<'_>, tenant: &str) -> Result<OrgRecord, ApiError> {
    let id = id_param(cx)?;
    cx.app.store.get_org(tenant, &id).await?.ok_or(ApiError::NotFound)
}

pub fn if_match(cx: &Ctx<'_>) -> Option<IfMatch> {
    IfMatch::from_headers(cx.req.headers())
}

pub fn with_header(mut response: Response<Body>, name: header::HeaderName, value: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}
