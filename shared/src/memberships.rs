//! Memberships: a user's role and status in one organization, and their storage.
//!
//! Every write that changes who belongs to an organization changes its counters in the same
//! transaction: `member_count` (invited and active memberships) and the internal
//! `owner_count` (active owners), whose condition `owner_count > 1` on every owner removal
//! enforces the last-owner rule even when two owners demote each other at the same moment.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::{
    error::ApiError,
    organizations::{counter_update, OrgRecord},
    pagination::{self, CursorSigner, ListQuery, Page, PageParams},
    store::{
        self,
        keys::{self, GSI1, GSI2, GSI3, GSI4, GSI5},
        time::{self, Timestamp},
        tx::{self, built, TxError},
        Item, Store,
    },
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Invited,
    Active,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Invited => "invited",
            MemberStatus::Active => "active",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "invited" => Some(MemberStatus::Invited),
            "active" => Some(MemberStatus::Active),
            _ => None,
        }
    }
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
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

impl Membership {
    pub fn is_active_owner(&self) -> bool {
        self.role == Role::Owner && self.status == MemberStatus::Active
    }
}

#[derive(Serialize)]
struct MemberItem<'a> {
    pk: String,
    sk: &'a str,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    gsi3pk: String,
    gsi3sk: String,
    gsi4pk: String,
    gsi4sk: String,
    gsi5pk: String,
    gsi5sk: String,
    entity: &'static str,
    #[serde(flatten)]
    membership: &'a Membership,
}

/// The stored form of a membership, with every index key it belongs under.
pub fn member_item(m: &Membership) -> Result<Item, ApiError> {
    let (t, o) = (m.tenant_id.as_str(), m.organization_id.as_str());
    let order = keys::time_ordered_sk(&time::format(&m.inserted_at), &m.user_id);
    store::to_item(&MemberItem {
        pk: keys::members_pk(t, o),
        sk: &m.user_id,
        gsi1pk: keys::members_pk(t, o),
        gsi1sk: order.clone(),
        gsi2pk: keys::members_by_role_pk(t, o, m.role.as_str()),
        gsi2sk: order.clone(),
        gsi3pk: keys::members_by_status_pk(t, o, m.status.as_str()),
        gsi3sk: order.clone(),
        gsi4pk: keys::members_by_role_status_pk(t, o, m.role.as_str(), m.status.as_str()),
        gsi4sk: order,
        gsi5pk: keys::user_orgs_pk(t, &m.user_id),
        gsi5sk: keys::time_ordered_sk(&time::format(&m.inserted_at), o),
        entity: "membership",
        membership: m,
    })
}

fn member_key(tenant: &str, org_id: &str, user_id: &str) -> HashMap<String, AttributeValue> {
    [
        (keys::PK.to_owned(), store::s(keys::members_pk(tenant, org_id))),
        (keys::SK.to_owned(), store::s(user_id)),
    ]
    .into()
}

/// A transaction condition: `user_id` is still an active member of the organization with one
/// of `roles`. Used so a permission checked before a write still holds when it commits.
pub fn actor_check(
    table: &str,
    tenant: &str,
    org_id: &str,
    user_id: &str,
    roles: &[Role],
) -> Option<ConditionCheck> {
    let mut check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(member_key(tenant, org_id, user_id)))
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":active", store::s("active"));
    let mut placeholders = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let name = format!(":r{i}");
        check = check.expression_attribute_values(&name, store::s(role.as_str()));
        placeholders.push(name);
    }
    check
        .condition_expression(format!(
            "#status = :active AND #role IN ({})",
            placeholders.join(", ")
        ))
        .build()
        .ok()
}

/// Why a membership write did not happen.
#[derive(Debug)]
pub enum MemberWriteError {
    OrgNotFound,
    MemberNotFound,
    AlreadyMember,
    LastOwner,
    /// The membership changed between the read and the write.
    Changed,
    Forbidden,
    Api(ApiError),
}

impl From<ApiError> for MemberWriteError {
    fn from(e: ApiError) -> Self {
        MemberWriteError::Api(e)
    }
}

impl From<MemberWriteError> for ApiError {
    fn from(e: MemberWriteError) -> Self {
        match e {
            MemberWriteError::OrgNotFound | MemberWriteError::MemberNotFound => ApiError::NotFound,
            MemberWriteError::AlreadyMember => {
                ApiError::Conflict("the user already has a membership in this organization".into())
            }
            MemberWriteError::LastOwner => {
                ApiError::Conflict("the last active owner can be neither demoted nor removed".into())
            }
            MemberWriteError::Changed => {
                ApiError::Conflict("the membership changed while this request ran; retry".into())
            }
            MemberWriteError::Forbidden => {
                ApiError::Forbidden("the caller's role no longer allows this".into())
            }
            MemberWriteError::Api(e) => e,
        }
    }
}

/// One user's membership with its organization, as `/v1/users/{id}/organizations` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct UserOrganization {
    pub organization: crate::organizations::Organization,
    pub membership: Membership,
}

impl Store {
    pub async fn get_membership(
        &self,
        tenant: &str,
        org_id: &str,
        user_id: &str,
    ) -> Result<Option<Membership>, ApiError> {
        self.get_item("get_membership", member_key(tenant, org_id, user_id))
            .await
    }

    fn guarded_put(
        &self,
        m: &Membership,
        previous: &Membership,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, ApiError> {
        Ok(tx::put(built(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(member_item(m)?))
                .condition_expression("#role = :old_role AND #status = :old_status")
                .expression_attribute_names("#role", "role")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":old_role", store::s(previous.role.as_str()))
                .expression_attribute_values(":old_status", store::s(previous.status.as_str()))
                .build(),
        )?))
    }

    /// Runs a membership transaction: item 0 changes the membership, item 1 the organization's
    /// counters, item 2 (optional) checks the caller.
    async fn member_tx(
        &self,
        operation: &'static str,
        mut items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
        actor: Option<ConditionCheck>,
        subject: &Membership,
        membership_failure: MemberWriteError,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), MemberWriteError> {
        if let Some(check) = actor {
            items.push(tx::check(check));
        }
        match self.transact(operation, items, receipt).await {
            Ok(()) => Ok(()),
            Err(TxError::Api(e)) => Err(e.into()),
            // The organization's conditions first: when two owners demote each other, the loser
            // fails both the owner count and (having just been demoted) the caller check, and
            // the last-owner rule is the useful answer.
            Err(e) if e.failed(1) => {
                match self.get_org(&subject.tenant_id, &subject.organization_id).await? {
                    None => Err(MemberWriteError::OrgNotFound),
                    Some(_) => Err(MemberWriteError::LastOwner),
                }
            }
            Err(e) if e.failed(2) => Err(MemberWriteError::Forbidden),
            Err(_) => Err(membership_failure),
        }
    }

    /// Creates an invitation and counts it on the organization.
    pub async fn invite(
        &self,
        m: &Membership,
        actor: Option<ConditionCheck>,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), MemberWriteError> {
        let put = tx::put(built(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(member_item(m)?))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?);
        let counters = counter_update(self.table(), &m.tenant_id, &m.organization_id, 1, 0, 0)?;
        self.member_tx(
            "invite",
            vec![put, counters],
            actor,
            m,
            MemberWriteError::AlreadyMember,
            receipt,
        )
        .await
    }

    /// Replaces `previous` with `next` (role or status change), keeping the owner count exact.
    pub async fn replace_membership(
        &self,
        previous: &Membership,
        next: &Membership,
        actor: Option<ConditionCheck>,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), MemberWriteError> {
        let owners = i64::from(next.is_active_owner()) - i64::from(previous.is_active_owner());
        let put = self.guarded_put(next, previous)?;
        let counters = counter_update(self.table(), &next.tenant_id, &next.organization_id, 0, owners, 0)?;
        self.member_tx(
            "replace_membership",
            vec![put, counters],
            actor,
            next,
            MemberWriteError::Changed,
            receipt,
        )
        .await
    }

    /// Deletes the membership and uncounts it.
    pub async fn remove_membership(
        &self,
        m: &Membership,
        actor: Option<ConditionCheck>,
    ) -> Result<(), MemberWriteError> {
        let delete = tx::delete(built(
            Delete::builder()
                .table_name(self.table())
                .set_key(Some(member_key(&m.tenant_id, &m.organization_id, &m.user_id)))
                .condition_expression("#role = :old_role AND #status = :old_status")
                .expression_attribute_names("#role", "role")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":old_role", store::s(m.role.as_str()))
                .expression_attribute_values(":old_status", store::s(m.status.as_str()))
                .build(),
        )?);
        let owners = -i64::from(m.is_active_owner());
        let counters = counter_update(self.table(), &m.tenant_id, &m.organization_id, -1, owners, 0)?;
        self.member_tx(
            "remove_membership",
            vec![delete, counters],
            actor,
            m,
            MemberWriteError::Changed,
            None,
        )
        .await
    }

    pub async fn list_members(
        &self,
        tenant: &str,
        org_id: &str,
        role: Option<Role>,
        status: Option<MemberStatus>,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<Membership>, ApiError> {
        let (index, partition) = match (role, status) {
            (None, None) => (GSI1, keys::members_pk(tenant, org_id)),
            (Some(r), None) => (GSI2, keys::members_by_role_pk(tenant, org_id, r.as_str())),
            (None, Some(s)) => (GSI3, keys::members_by_status_pk(tenant, org_id, s.as_str())),
            (Some(r), Some(s)) => (
                GSI4,
                keys::members_by_role_status_pk(tenant, org_id, r.as_str(), s.as_str()),
            ),
        };
        let list = ListQuery {
            index,
            partition,
            scope: pagination::scope(
                Some(tenant),
                &format!("members:{org_id}"),
                &[
                    ("role", role.map(Role::as_str)),
                    ("status", status.map(MemberStatus::as_str)),
                ],
            ),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
        };
        self.query_page(&list, params, signer).await
    }

    /// A user's organizations, newest membership first. A deleted organization's memberships
    /// stay behind (deleting an organization costs the same however many members it had), so
    /// the ones met here are skipped, taken out of the user's list for good, and the page is
    /// refilled from further down.
    pub async fn list_user_orgs(
        &self,
        tenant: &str,
        user_id: &str,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<UserOrganization>, ApiError> {
        // Each round detaches what it skipped, so a later request never meets it again.
        const MAX_ROUNDS: usize = 10;
        let list = ListQuery {
            index: GSI5,
            partition: keys::user_orgs_pk(tenant, user_id),
            scope: pagination::scope(Some(tenant), &format!("user-orgs:{user_id}"), &[]),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
        };
        let mut data = Vec::new();
        let mut request = params.clone();
        for round in 1.. {
            let page: Page<Membership> = self.query_page(&list, &request, signer).await?;
            let ids: Vec<String> = page.data.iter().map(|m| m.organization_id.clone()).collect();
            let mut orgs: HashMap<String, Option<OrgRecord>> = self.get_orgs(tenant, &ids).await?;
            let mut dead = Vec::new();
            for membership in page.data {
                match orgs.remove(&membership.organization_id) {
                    Some(Some(record)) => data.push(UserOrganization {
                        organization: record.org,
                        membership,
                    }),
                    Some(None) => {}
                    None => dead.push(membership),
                }
            }
            self.detach_from_user_list(&dead).await;
            if data.len() >= params.limit || !page.has_more || round == MAX_ROUNDS {
                return Ok(Page {
                    data,
                    next_cursor: page.next_cursor,
                    has_more: page.has_more,
                });
            }
            request = PageParams {
                limit: params.limit - data.len(),
                cursor: page.next_cursor,
            };
        }
        unreachable!("the loop returns by its last round")
    }

    /// Takes memberships of deleted organizations out of their users' lists (best effort: one
    /// that stays is skipped again next time).
    async fn detach_from_user_list(&self, dead: &[Membership]) {
        let updates = dead.iter().map(|m| {
            self.client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(member_key(&m.tenant_id, &m.organization_id, &m.user_id)))
                .update_expression("REMOVE gsi5pk, gsi5sk")
                .condition_expression("attribute_exists(pk)")
                .send()
        });
        for result in futures::future::join_all(updates).await {
            if let Err(e) = result {
                if !store::is_condition_failure(&e) {
                    let _ = store::failure("detach_from_user_list", e);
                }
            }
        }
    }
}
