//! Membership items: `<tenant>#ORG#<org>#MEMBERS` / user id, with up to six index entries: the
//! organization's members newest first (GSI1), by role (GSI2), by status (GSI3), by both
//! (GSI4), the user's organizations (GSI5), and, for an active member with an e-mail address,
//! the address (GSI6, which an e-mail invitation to an existing member is checked against).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};
use serde::Serialize;

use chrono::Duration;

use super::{
    already_member, changed, last_owner, MemberStatus, Membership, Role, UserOrganization, INVITATION_DAYS,
};
use crate::{
    error::{Error, Result},
    organizations::{role_lost, OrgRecord},
    pagination::{self, CursorSigner, Page, PageParams},
    store::{
        conditional,
        counters::{org_counters, OrgCounts},
        from_item,
        keys::{self, GSI1, GSI2, GSI3, GSI4, GSI5},
        pages::{ListQuery, SkRange},
        s, to_item,
        tx::{self, TxError},
        Item, Read, Store, StoreError,
    },
    time::{self, Timestamp},
};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi6pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi6sk: Option<&'a str>,
    entity: &'static str,
    #[serde(flatten)]
    membership: &'a Membership,
}

/// The stored form of a membership, with every index key it belongs under.
pub fn member_item(m: &Membership) -> Result<Item, StoreError> {
    let (t, o) = (m.tenant_id.as_str(), m.organization_id.as_str());
    let order = keys::time_ordered_sk(&time::format(&m.inserted_at), &m.user_id);
    let email_key =
        match (&m.email, m.status) {
            (Some(email), MemberStatus::Active) if !email.trim().is_empty() => Some(
                keys::members_by_email_pk(t, o, &crate::invitations::fold_email(email)),
            ),
            _ => None,
        };
    let mut item = to_item(&MemberItem {
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
        gsi6sk: email_key.as_ref().map(|_| m.user_id.as_str()),
        gsi6pk: email_key,
        entity: "membership",
        membership: m,
    })?;
    // Derived on every read; the attribute of that name is the table's time to live.
    item.remove(keys::TTL_ATTRIBUTE);
    Ok(item)
}

/// A transaction condition: `user_id` is still an active member of the organization with one
/// of `roles`, so a permission checked before a write still holds when it commits.
pub fn actor_check(
    table: &str,
    tenant: &str,
    org_id: &str,
    user_id: &str,
    roles: &[Role],
) -> Result<TransactWriteItem, StoreError> {
    let mut check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(keys::member(tenant, org_id, user_id)))
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":active", s("active"));
    let mut placeholders = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let name = format!(":r{i}");
        check = check.expression_attribute_values(&name, s(role.as_str()));
        placeholders.push(name);
    }
    tx::check(check.condition_expression(format!(
        "#status = :active AND #role IN ({})",
        placeholders.join(", ")
    )))
}

impl Store {
    pub async fn get_membership(
        &self,
        tenant: &str,
        org_id: &str,
        user_id: &str,
    ) -> Result<Option<Membership>> {
        Ok(self
            .get(
                "get_membership",
                keys::member(tenant, org_id, user_id),
                Read::Strong,
            )
            .await?)
    }

    /// Puts `m` in place of `previous`, unless the membership changed meanwhile.
    fn guarded_put(&self, m: &Membership, previous: &Membership) -> Result<TransactWriteItem, StoreError> {
        tx::put(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(member_item(m)?))
                .condition_expression("#role = :old_role AND #status = :old_status")
                .expression_attribute_names("#role", "role")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":old_role", s(previous.role.as_str()))
                .expression_attribute_values(":old_status", s(previous.status.as_str())),
        )
    }

    /// Runs a membership transaction: item 0 changes the membership, item 1 the organization's
    /// counters, item 2 (optional) checks the caller. `membership_failure` is the answer when
    /// item 0's condition fails.
    async fn member_tx(
        &self,
        operation: &'static str,
        mut items: Vec<TransactWriteItem>,
        actor: Option<TransactWriteItem>,
        subject: &Membership,
        membership_failure: fn() -> Error,
        receipt: Option<TransactWriteItem>,
    ) -> Result<()> {
        items.extend(actor);
        match self.transact(operation, items, receipt).await {
            Ok(()) => Ok(()),
            Err(e @ (TxError::Store(_) | TxError::ClaimLost)) => Err(e.into()),
            // The organization's conditions first: when two owners demote each other, the loser
            // fails both the owner count and (having just been demoted) the caller check, and
            // the last-owner rule is the useful answer.
            Err(e) if e.failed(1) => {
                match self.get_org(&subject.tenant_id, &subject.organization_id).await? {
                    None => Err(Error::NotFound),
                    Some(_) => Err(last_owner()),
                }
            }
            Err(e) if e.failed(2) => Err(role_lost()),
            Err(_) => Err(membership_failure()),
        }
    }

    /// Creates an invitation and counts it on the organization.
    pub async fn invite(
        &self,
        m: &Membership,
        actor: Option<TransactWriteItem>,
        receipt: Option<TransactWriteItem>,
    ) -> Result<()> {
        let put = tx::put(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(member_item(m)?))
                .condition_expression("attribute_not_exists(pk)"),
        )?;
        let counters = org_counters(
            self.table(),
            &m.tenant_id,
            &m.organization_id,
            OrgCounts::members(1),
        )?;
        self.member_tx("invite", vec![put, counters], actor, m, already_member, receipt)
            .await
    }

    /// Replaces `previous` with `next` (role or status change), keeping the owner count exact.
    pub async fn replace_membership(
        &self,
        previous: &Membership,
        next: &Membership,
        actor: Option<TransactWriteItem>,
        receipt: Option<TransactWriteItem>,
    ) -> Result<()> {
        let owners = i64::from(next.is_active_owner()) - i64::from(previous.is_active_owner());
        let put = self.guarded_put(next, previous)?;
        let change = OrgCounts {
            owners,
            ..OrgCounts::default()
        };
        let counters = org_counters(self.table(), &next.tenant_id, &next.organization_id, change)?;
        self.member_tx(
            "replace_membership",
            vec![put, counters],
            actor,
            next,
            changed,
            receipt,
        )
        .await
    }

    /// Deletes the membership and uncounts it.
    pub async fn remove_membership(&self, m: &Membership, actor: Option<TransactWriteItem>) -> Result<()> {
        let delete = tx::delete(
            Delete::builder()
                .table_name(self.table())
                .set_key(Some(keys::member(&m.tenant_id, &m.organization_id, &m.user_id)))
                .condition_expression("#role = :old_role AND #status = :old_status")
                .expression_attribute_names("#role", "role")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":old_role", s(m.role.as_str()))
                .expression_attribute_values(":old_status", s(m.status.as_str())),
        )?;
        let change = OrgCounts {
            members: -1,
            owners: -i64::from(m.is_active_owner()),
            campaigns: 0,
        };
        let counters = org_counters(self.table(), &m.tenant_id, &m.organization_id, change)?;
        self.member_tx(
            "remove_membership",
            vec![delete, counters],
            actor,
            m,
            changed,
            None,
        )
        .await
    }

    // The two filters, the page and the moment the statuses are read at are all the list is.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_members(
        &self,
        tenant: &str,
        org_id: &str,
        role: Option<Role>,
        status: Option<MemberStatus>,
        params: &PageParams,
        signer: &CursorSigner,
        now: Timestamp,
    ) -> Result<Page<Membership>> {
        // Expired invitations are stored as invited: a key condition on the time-ordered sort
        // key splits them off, since each expires a fixed time after it was inserted.
        let cutoff = format!("{}$", time::format(&(now - Duration::days(INVITATION_DAYS))));
        let sk_range = match status {
            Some(MemberStatus::Invited) => Some(SkRange::After(cutoff)),
            Some(MemberStatus::Expired) => Some(SkRange::Before(cutoff)),
            _ => None,
        };
        let stored = status.map(|s| match s {
            MemberStatus::Expired => MemberStatus::Invited,
            other => other,
        });
        let (index, partition) = match (role, stored) {
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
            sk_range,
        };
        self.query_page(&list, params, signer, |item| {
            from_item::<Membership>(item).map(|m| m.at(now))
        })
        .await
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
    ) -> Result<Page<UserOrganization>> {
        // Each round detaches what it skipped, so a later request never meets it again.
        const MAX_ROUNDS: usize = 10;
        let list = ListQuery {
            index: GSI5,
            partition: keys::user_orgs_pk(tenant, user_id),
            scope: pagination::scope(Some(tenant), &format!("user-orgs:{user_id}"), &[]),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
            sk_range: None,
        };
        let mut data = Vec::new();
        let mut request = params.clone();
        for round in 1.. {
            let page: Page<Membership> = self.query_page(&list, &request, signer, from_item).await?;
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
                .set_key(Some(keys::member(&m.tenant_id, &m.organization_id, &m.user_id)))
                .update_expression("REMOVE gsi5pk, gsi5sk")
                .condition_expression("attribute_exists(pk)")
                .send()
        });
        for result in futures::future::join_all(updates).await {
            // A failure is logged there; the membership is skipped again next time.
            let _ = conditional("detach_from_user_list", result);
        }
    }
}
