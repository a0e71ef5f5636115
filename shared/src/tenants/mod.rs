//! Tenants: one per identity-provider tenant claim, provisioned the first time a token shows
//! up, suspended or soft-deleted by platform admins. The status gate every tenant route
//! passes is `tenancy::TenantDirectory`.

pub mod handlers;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::time::{self, Timestamp};

pub const NAME_MAX: usize = 200;

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

impl Tenant {
    /// A tenant seen for the first time: named after its id, active.
    pub fn first_seen(id: &str, now: Timestamp) -> Self {
        Tenant {
            id: id.to_owned(),
            name: id.to_owned(),
            status: TenantStatus::Active,
            inserted_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

/// What a platform admin may change on a tenant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub status: Option<TenantStatus>,
}
