//! What a caller may do in one organization: `tenant_admin` may do anything in the tenant, an
//! active member what their role allows, anyone else nothing.

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{store::actor_check, MemberStatus, Role};
use crate::{
    auth::Principal,
    error::{Error, Result},
    store::Store,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    TenantAdmin,
    /// An active member with this role. Invited members are outsiders until they accept.
    Member(Role),
    Outsider,
}

impl Authority {
    pub async fn of(store: &Store, caller: &Principal, tenant: &str, org_id: &str) -> Result<Self> {
        if caller.is_tenant_admin() {
            return Ok(Authority::TenantAdmin);
        }
        Ok(match store.get_membership(tenant, org_id, &caller.sub).await? {
            Some(m) if m.status == MemberStatus::Active => Authority::Member(m.role),
            _ => Authority::Outsider,
        })
    }

    pub fn is_any(self, roles: &[Role]) -> bool {
        match self {
            Authority::TenantAdmin => true,
            Authority::Member(role) => roles.contains(&role),
            Authority::Outsider => false,
        }
    }

    /// Forbidden unless the caller is a tenant admin or an active member with one of `roles`.
    pub fn require(self, roles: &[Role], action: &str) -> Result<()> {
        if self.is_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(Error::forbidden(format!(
                "{action} needs the role {} in the organization, or tenant_admin",
                names.join(" or ")
            )))
        }
    }

    /// The in-transaction proof that a member caller still holds one of `roles` (tenant admins
    /// need none: their power comes from the token).
    pub fn check(
        self,
        store: &Store,
        caller: &Principal,
        tenant: &str,
        org_id: &str,
        roles: &[Role],
    ) -> Result<Option<TransactWriteItem>> {
        match self {
            Authority::Member(_) => Ok(Some(actor_check(
                store.table(),
                tenant,
                org_id,
                &caller.sub,
                roles,
            )?)),
            _ => Ok(None),
        }
    }
}
