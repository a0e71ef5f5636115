//! Memberships: a user's role and status in one organization, and the rules on who may change
//! them.
//!
//! Every write that changes who belongs to an organization changes its counters in the same
//! transaction: `member_count` (invited and active memberships) and the internal `owner_count`
//! (active owners), whose condition on every owner removal enforces the last-owner rule even
//! when two owners demote each other at the same moment.

pub mod authority;
pub mod handlers;
pub mod store;

use serde::{Deserialize, Serialize};

pub use self::authority::Authority;
use crate::{
    error::{Error, Result},
    organizations::Organization,
    store::Item,
    time::{self, Timestamp},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// Who may manage members and change an organization.
pub const MANAGERS: [Role; 2] = [Role::Owner, Role::Admin];
/// Who may grant or take away ownership, and delete an organization.
pub const OWNERS: [Role; 1] = [Role::Owner];
pub const ANY_MEMBER: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Invited,
    Active,
    /// How an invitation past its `expires_at` reads; never stored (see `Membership::at`).
    Expired,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Invited => "invited",
            MemberStatus::Active => "active",
            MemberStatus::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "invited" => Some(MemberStatus::Invited),
            "active" => Some(MemberStatus::Active),
            "expired" => Some(MemberStatus::Expired),
            _ => None,
        }
    }
}

/// Lifetime of a membership invitation. Fixed, so an invitation expires exactly
/// `INVITATION_DAYS` after `inserted_at`: the time-ordered index keys then split a status
/// partition into its live and its expired invitations with a key condition (see
/// `store::list_members`), and nothing needs to be stored or rewritten when one expires.
pub const INVITATION_DAYS: i64 = 7;

/// Where a membership invitation inserted at `inserted_at` expires.
pub fn invitation_expiry(inserted_at: Timestamp) -> Timestamp {
    inserted_at + chrono::Duration::days(INVITATION_DAYS)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub organization_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub role: Role,
    pub status: MemberStatus,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub invited_by_user_id: Option<String>,
    #[serde(with = "time::rfc3339_option", default)]
    pub last_active_at: Option<Timestamp>,
    /// When an invitation stops being acceptable; `null` once active. Derived from
    /// `inserted_at`, never stored (the table's `expires_at` is its time to live, and a
    /// membership, counted in `member_count`, must not vanish on its own).
    #[serde(with = "time::rfc3339_option", default, skip_deserializing)]
    pub expires_at: Option<Timestamp>,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

impl Membership {
    /// The active owner membership of whoever creates `org`.
    pub fn founder(org: &Organization, user_id: &str, email: Option<String>, now: Timestamp) -> Self {
        Membership {
            organization_id: org.id.clone(),
            user_id: user_id.to_owned(),
            tenant_id: org.tenant_id.clone(),
            role: Role::Owner,
            status: MemberStatus::Active,
            email,
            invited_by_user_id: None,
            last_active_at: Some(now),
            expires_at: None,
            inserted_at: now,
            updated_at: now,
        }
    }

    /// The membership as it reads at `now`: an invitation carries its expiry, and past it
    /// reads as `expired`. Only for showing: writes take the stored form.
    pub fn at(mut self, now: Timestamp) -> Self {
        self.expires_at = None;
        if self.status == MemberStatus::Invited {
            let expiry = invitation_expiry(self.inserted_at);
            self.expires_at = Some(expiry);
            if now >= expiry {
                self.status = MemberStatus::Expired;
            }
        }
        self
    }

    /// Whether this stored invitation can no longer be accepted at `now`.
    pub fn is_expired_invitation(&self, now: Timestamp) -> bool {
        self.clone().at(now).status == MemberStatus::Expired
    }

    pub fn is_active_owner(&self) -> bool {
        self.role == Role::Owner && self.status == MemberStatus::Active
    }

    /// The stored form, for a transaction of another resource that creates one.
    pub fn item(&self) -> Result<Item> {
        Ok(store::member_item(self)?)
    }
}

/// One user's membership with its organization, as `/v1/users/{id}/organizations` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct UserOrganization {
    pub organization: Organization,
    pub membership: Membership,
}

pub fn already_member() -> Error {
    Error::conflict("the user already has a membership in this organization")
}

pub fn last_owner() -> Error {
    Error::conflict("the last active owner can be neither demoted nor removed")
}

/// The membership changed between the read and the write.
pub fn invitation_expired() -> Error {
    Error::gone("the invitation has expired; ask for a new one")
}

pub fn changed() -> Error {
    Error::conflict("the membership changed while this request ran; retry")
}
