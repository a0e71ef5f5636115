//! Invitation items and the three items that keep them honest.
//!
//! - The invitation: `<tenant>#INVITATION` / id, listed per organization newest first (GSI1) and
//!   per stored status (GSI2). Its API `expires_at` is kept as `valid_until` (and in
//!   milliseconds for conditions), because `expires_at` is the table's time-to-live attribute;
//!   that one is set only when the invitation stops being pending, so DynamoDB never removes an
//!   invitation that is still counted below.
//! - The address item: `<tenant>#ORG#<org>#INVITATION_EMAIL` / folded address → the pending
//!   invitation that holds it: one pending invitation per (organization, address), also under
//!   concurrent invites.
//! - The counter: pending invitations of the organization, conditioned below the cap.
//!
//! Every change of a pending invitation to another status is one transaction that also
//! releases its address and uncounts it, conditioned on the invitation still being pending
//! (and, for accept, on the token the caller holds being its current one): two writers racing
//! for one invitation have exactly one winner.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{
    changed, gone, not_pending, org_gone, pending_exists, too_many, Invitation, InvitationStatus,
    MAX_PENDING, RETENTION_DAYS,
};
use crate::{
    error::{Error, Result},
    memberships::{store::member_item, Membership, Role},
    organizations::role_lost,
    pagination::{self, CursorSigner, Page, PageParams},
    store::{
        counters::{org_counters, OrgCounts},
        failure, from_item,
        keys::{self, GSI1, GSI2, GSI6},
        n,
        pages::ListQuery,
        s, to_item,
        tx::{self, TxError},
        Item, Read, Store, StoreError,
    },
    time::{self, Timestamp},
};

#[derive(Serialize, Deserialize)]
struct InvitationItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    entity: String,
    id: String,
    organization_id: String,
    tenant_id: String,
    email: String,
    role: Role,
    /// The stored status: `pending` until a write says otherwise, even past `valid_until`.
    status: InvitationStatus,
    invited_by_user_id: String,
    #[serde(default)]
    accepted_by_user_id: Option<String>,
    #[serde(with = "time::rfc3339")]
    valid_until: Timestamp,
    valid_until_ms: i64,
    token_hash: String,
    #[serde(with = "time::rfc3339")]
    inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    updated_at: Timestamp,
    /// Time to live (epoch seconds), only once the invitation is no longer pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// An invitation as stored, with the digest of its current token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvitation {
    /// With its stored status; `Invitation::at` gives what it reads as.
    pub invitation: Invitation,
    pub token_hash: String,
}

fn decode(item: Item) -> Result<StoredInvitation, StoreError> {
    let i: InvitationItem = from_item(item)?;
    Ok(StoredInvitation {
        invitation: Invitation {
            id: i.id,
            organization_id: i.organization_id,
            tenant_id: i.tenant_id,
            email: i.email,
            role: i.role,
            status: i.status,
            invited_by_user_id: i.invited_by_user_id,
            accepted_by_user_id: i.accepted_by_user_id,
            expires_at: i.valid_until,
            inserted_at: i.inserted_at,
            updated_at: i.updated_at,
        },
        token_hash: i.token_hash,
    })
}

fn invitation_item(inv: &Invitation, token_hash: &str) -> Result<Item, StoreError> {
    let (t, o) = (inv.tenant_id.as_str(), inv.organization_id.as_str());
    let order = keys::time_ordered_sk(&time::format(&inv.inserted_at), &inv.id);
    to_item(&InvitationItem {
        pk: keys::invitations_pk(t),
        sk: inv.id.clone(),
        gsi1pk: keys::org_invitations_pk(t, o),
        gsi1sk: order.clone(),
        gsi2pk: keys::org_invitations_by_status_pk(t, o, inv.status.as_str()),
        gsi2sk: order,
        entity: "invitation".into(),
        id: inv.id.clone(),
        organization_id: inv.organization_id.clone(),
        tenant_id: inv.tenant_id.clone(),
        email: inv.email.clone(),
        role: inv.role,
        status: inv.status,
        invited_by_user_id: inv.invited_by_user_id.clone(),
        accepted_by_user_id: inv.accepted_by_user_id.clone(),
        valid_until: inv.expires_at,
        valid_until_ms: inv.expires_at.timestamp_millis(),
        token_hash: token_hash.to_owned(),
        inserted_at: inv.inserted_at,
        updated_at: inv.updated_at,
        expires_at: None,
    })
}

/// How a pending invitation stops being pending.
enum Close<'a> {
    Accept {
        user_id: &'a str,
        token_hash: &'a str,
    },
    Revoke,
    /// Written lazily, by whoever finds it past its expiry.
    Expire,
}

impl Close<'_> {
    fn status(&self) -> InvitationStatus {
        match self {
            Close::Accept { .. } => InvitationStatus::Accepted,
            Close::Revoke => InvitationStatus::Revoked,
            Close::Expire => InvitationStatus::Expired,
        }
    }
}

/// Every index of `query` is read with eventual consistency; a write that has just committed
/// may be missing, which the conditions of the writes below make harmless.
const SWEEP_MAX_PAGES: usize = 10;

impl Store {
    pub async fn get_invitation(&self, tenant: &str, id: &str) -> Result<Option<StoredInvitation>> {
        let item: Option<Item> = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(keys::invitation(tenant, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("get_invitation", e))?
            .item;
        Ok(item.map(decode).transpose()?)
    }

    /// The items that take a pending invitation to `how`'s status: the invitation itself
    /// (conditioned on still being pending, and on its expiry as `how` needs), its address
    /// released and its place under the cap given back.
    fn close_items(
        &self,
        inv: &Invitation,
        how: &Close<'_>,
        now: Timestamp,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (t, o) = (inv.tenant_id.as_str(), inv.organization_id.as_str());
        let to = how.status();
        // An expired invitation changed when it expired, whenever that is noticed.
        let changed_at = match how {
            Close::Expire => inv.expires_at.max(inv.updated_at),
            _ => now.max(inv.updated_at),
        };
        let ttl = (now.max(inv.expires_at) + Duration::days(RETENTION_DAYS)).timestamp();
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::invitation(t, &inv.id)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":part", s(keys::org_invitations_by_status_pk(t, o, to.as_str())))
            .expression_attribute_values(":at", s(time::format(&changed_at)))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":pending", s(InvitationStatus::Pending.as_str()))
            .expression_attribute_values(":now", n(now.timestamp_millis()));
        let mut set = "SET #status = :to, gsi2pk = :part, updated_at = :at, expires_at = :ttl".to_owned();
        let condition = match how {
            Close::Accept { user_id, token_hash } => {
                set.push_str(", accepted_by_user_id = :user");
                update = update
                    .expression_attribute_values(":user", s(*user_id))
                    .expression_attribute_values(":hash", s(*token_hash));
                "#status = :pending AND token_hash = :hash AND valid_until_ms > :now"
            }
            Close::Revoke => "#status = :pending AND valid_until_ms > :now",
            Close::Expire => "#status = :pending AND valid_until_ms <= :now",
        };
        let close = tx::update(update.update_expression(set).condition_expression(condition))?;
        let uncount = tx::update(
            Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::invitation_counter(t, o)))
                .update_expression("ADD pending :minus")
                .expression_attribute_values(":minus", n(-1)),
        )?;
        // Lenient: an address item that is already gone must not make the invitation unusable.
        let release = tx::delete(
            Delete::builder()
                .table_name(self.table())
                .set_key(Some(keys::invitation_email(t, o, &inv.folded_email())))
                .condition_expression("attribute_not_exists(pk) OR invitation_id = :id")
                .expression_attribute_values(":id", s(&inv.id)),
        )?;
        Ok(vec![close, uncount, release])
    }

    /// Creates the invitation, holding its address and counting it, unless the organization is
    /// gone (404), the address has a live pending invitation or the organization is at the cap
    /// (409). Pending invitations that turn out to be past their expiry give their address and
    /// their place up on the way.
    pub async fn create_invitation(
        &self,
        inv: &Invitation,
        token_hash: &str,
        actor: Option<TransactWriteItem>,
        receipt: Option<TransactWriteItem>,
        now: Timestamp,
    ) -> Result<()> {
        let (t, o) = (inv.tenant_id.as_str(), inv.organization_id.as_str());
        let folded = inv.folded_email();
        // Each retry follows a round that freed what blocked it; three leave room for an
        // address and the cap freed one after the other, and for one lost race.
        for _ in 0..3 {
            let mut lock = keys::invitation_email(t, o, &folded);
            lock.insert("invitation_id".into(), s(&inv.id));
            lock.insert("entity".into(), s("invitation_email"));
            let mut items = vec![
                tx::put(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(invitation_item(inv, token_hash)?))
                        .condition_expression("attribute_not_exists(pk)"),
                )?,
                tx::put(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(lock))
                        .condition_expression("attribute_not_exists(pk)"),
                )?,
                tx::update(
                    Update::builder()
                        .table_name(self.table())
                        .set_key(Some(keys::invitation_counter(t, o)))
                        .update_expression("ADD pending :one")
                        .condition_expression("attribute_not_exists(pending) OR pending < :max")
                        .expression_attribute_values(":one", n(1))
                        .expression_attribute_values(":max", n(MAX_PENDING)),
                )?,
                tx::check(
                    ConditionCheck::builder()
                        .table_name(self.table())
                        .set_key(Some(keys::org(t, o)))
                        .condition_expression("attribute_exists(pk)"),
                )?,
            ];
            items.extend(actor.clone());
            let e = match self.transact("create_invitation", items, receipt.clone()).await {
                Ok(()) => return Ok(()),
                Err(e @ (TxError::Store(_) | TxError::ClaimLost)) => return Err(e.into()),
                Err(e) => e,
            };
            if e.failed(3) {
                return Err(Error::NotFound);
            }
            if e.failed(4) {
                return Err(role_lost());
            }
            if e.failed(0) {
                tracing::error!("a new invitation id was already taken");
                return Err(Error::Internal);
            }
            if e.failed(1) && !self.free_address(t, o, &folded, now).await? {
                return Err(pending_exists());
            }
            if e.failed(2) && self.expire_overdue(t, o, now).await? == 0 {
                return Err(too_many());
            }
        }
        Err(changed())
    }

    /// Frees the address item of `folded` unless a live pending invitation holds it; whether
    /// the address may be tried again.
    async fn free_address(&self, tenant: &str, org_id: &str, folded: &str, now: Timestamp) -> Result<bool> {
        #[derive(Deserialize)]
        struct Lock {
            invitation_id: String,
        }
        let key = keys::invitation_email(tenant, org_id, folded);
        let Some(lock) = self
            .get::<Lock>("get_invitation_email", key.clone(), Read::Strong)
            .await?
        else {
            return Ok(true);
        };
        match self.get_invitation(tenant, &lock.invitation_id).await? {
            Some(held) if held.invitation.status == InvitationStatus::Pending => {
                if held.invitation.clone().at(now).status == InvitationStatus::Pending {
                    return Ok(false);
                }
                self.expire(&held.invitation, now).await?;
            }
            // Released with every change of status, so only a damaged table gets here.
            _ => {
                tracing::warn!(
                    tenant,
                    org_id,
                    "an invitation address item outlived its invitation"
                );
                let result = self
                    .client()
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some(key))
                    .condition_expression("invitation_id = :id")
                    .expression_attribute_values(":id", s(&lock.invitation_id))
                    .send()
                    .await;
                crate::store::conditional("free_invitation_email", result)?;
            }
        }
        Ok(true)
    }

    /// Writes a pending invitation past its expiry as `expired`; whether this call did it.
    async fn expire(&self, inv: &Invitation, now: Timestamp) -> Result<bool> {
        let items = self.close_items(inv, &Close::Expire, now)?;
        match self.transact("expire_invitation", items, None).await {
            Ok(()) => Ok(true),
            // Accepted, revoked or expired by someone else meanwhile.
            Err(TxError::Conditions(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes every pending invitation of the organization that is past its expiry as
    /// `expired`; how many this call wrote. The pending partition holds at most `MAX_PENDING`
    /// invitations (the counter counts every stored-pending one), so this reads a bounded
    /// number of items.
    pub async fn expire_overdue(&self, tenant: &str, org_id: &str, now: Timestamp) -> Result<usize> {
        let partition =
            keys::org_invitations_by_status_pk(tenant, org_id, InvitationStatus::Pending.as_str());
        let mut overdue = Vec::new();
        let mut start = None;
        for _ in 0..SWEEP_MAX_PAGES {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(GSI2.name.unwrap_or_default())
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI2.pk)
                .expression_attribute_values(":pk", s(&partition))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| failure("expire_overdue", e))?;
            for item in out.items.unwrap_or_default() {
                match decode(item) {
                    Ok(stored) if stored.invitation.clone().at(now).status == InvitationStatus::Expired => {
                        overdue.push(stored.invitation)
                    }
                    Ok(_) => {}
                    Err(_) => tracing::error!(tenant, org_id, "a pending invitation does not decode"),
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        let results = futures::future::join_all(overdue.iter().map(|inv| self.expire(inv, now))).await;
        let mut expired = 0;
        for result in results {
            expired += usize::from(result?);
        }
        Ok(expired)
    }

    /// Revokes a pending invitation; a 409 when it is no longer pending.
    pub async fn revoke_invitation(
        &self,
        inv: &Invitation,
        actor: Option<TransactWriteItem>,
        now: Timestamp,
    ) -> Result<()> {
        let mut items = self.close_items(inv, &Close::Revoke, now)?;
        let actor_index = items.len();
        items.extend(actor);
        match self.transact("revoke_invitation", items, None).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(actor_index) => Err(role_lost()),
            Err(e) if e.failed(0) => Err(self.why_not_pending(inv, now).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the invitation a new token and expiry, the old token dying in the same write.
    pub async fn resend_invitation(
        &self,
        current: &StoredInvitation,
        next: &Invitation,
        token_hash: &str,
        actor: Option<TransactWriteItem>,
        receipt: Option<TransactWriteItem>,
        now: Timestamp,
    ) -> Result<()> {
        let update = tx::update(
            Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::invitation(&next.tenant_id, &next.id)))
                .update_expression(
                    "SET token_hash = :hash, valid_until = :until, valid_until_ms = :until_ms, updated_at = :at",
                )
                .condition_expression(
                    "#status = :pending AND token_hash = :old AND valid_until_ms > :now",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":hash", s(token_hash))
                .expression_attribute_values(":until", s(time::format(&next.expires_at)))
                .expression_attribute_values(":until_ms", n(next.expires_at.timestamp_millis()))
                .expression_attribute_values(":at", s(time::format(&next.updated_at)))
                .expression_attribute_values(":pending", s(InvitationStatus::Pending.as_str()))
                .expression_attribute_values(":old", s(&current.token_hash))
                .expression_attribute_values(":now", n(now.timestamp_millis())),
        )?;
        let mut items = vec![update];
        items.extend(actor);
        match self.transact("resend_invitation", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(1) => Err(role_lost()),
            Err(e) if e.failed(0) => Err(self.why_not_pending(&current.invitation, now).await),
            Err(e) => Err(e.into()),
        }
    }

    /// The answer for a write to `inv` whose "still pending" condition failed.
    async fn why_not_pending(&self, inv: &Invitation, now: Timestamp) -> Error {
        match self.get_invitation(&inv.tenant_id, &inv.id).await {
            Ok(None) => Error::NotFound,
            Ok(Some(fresh)) => match fresh.invitation.at(now).status {
                InvitationStatus::Pending => changed(),
                other => not_pending(other),
            },
            Err(e) => e,
        }
    }

    /// Accepts the invitation the caller's token names: the invitation becomes `accepted`,
    /// `member` (active, with the invited role) is created and counted on the organization,
    /// all in one transaction. A token that is no longer the invitation's current one (another
    /// request resent it meanwhile) is a 404, as any unknown token; an invitation that stopped
    /// being pending is a 410; a caller who already has a membership a 409.
    pub async fn accept_invitation(
        &self,
        current: &StoredInvitation,
        member: &Membership,
        receipt: Option<TransactWriteItem>,
        now: Timestamp,
    ) -> Result<()> {
        let inv = &current.invitation;
        let how = Close::Accept {
            user_id: &member.user_id,
            token_hash: &current.token_hash,
        };
        let mut items = self.close_items(inv, &how, now)?;
        items.push(tx::put(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(member_item(member)?))
                .condition_expression("attribute_not_exists(pk)"),
        )?);
        let change = OrgCounts {
            members: 1,
            owners: i64::from(member.is_active_owner()),
            campaigns: 0,
        };
        items.push(org_counters(
            self.table(),
            &inv.tenant_id,
            &inv.organization_id,
            change,
        )?);
        match self.transact("accept_invitation", items, receipt).await {
            Ok(()) => Ok(()),
            Err(e @ (TxError::Store(_) | TxError::ClaimLost)) => Err(e.into()),
            Err(e) if e.failed(4) => Err(org_gone()),
            Err(e) if e.failed(0) => match self.get_invitation(&inv.tenant_id, &inv.id).await? {
                Some(fresh) if fresh.token_hash == current.token_hash => {
                    match fresh.invitation.at(now).status {
                        InvitationStatus::Pending => Err(changed()),
                        other => Err(gone(other)),
                    }
                }
                _ => Err(Error::NotFound),
            },
            Err(e) if e.failed(3) => Err(crate::memberships::already_member()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether an active member of the organization has this (case-folded) address.
    pub async fn active_member_with_email(&self, tenant: &str, org_id: &str, folded: &str) -> Result<bool> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(GSI6.name.unwrap_or_default())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI6.pk)
            .expression_attribute_values(":pk", s(keys::members_by_email_pk(tenant, org_id, folded)))
            .limit(1)
            .send()
            .await
            .map_err(|e| failure("active_member_with_email", e))?;
        Ok(out.count > 0)
    }

    /// The organization's invitations, newest first, as they read at `now`. A `pending` list
    /// reads the stored-pending partition and leaves out the ones past their expiry; an
    /// `expired` list first writes those as expired. Both partitions are bounded by the cap.
    pub async fn list_invitations(
        &self,
        tenant: &str,
        org_id: &str,
        status: Option<InvitationStatus>,
        params: &PageParams,
        signer: &CursorSigner,
        now: Timestamp,
    ) -> Result<Page<Invitation>> {
        if matches!(
            status,
            Some(InvitationStatus::Pending | InvitationStatus::Expired)
        ) {
            self.expire_overdue(tenant, org_id, now).await?;
        }
        let (index, partition) = match status {
            None => (GSI1, keys::org_invitations_pk(tenant, org_id)),
            Some(s) => (
                GSI2,
                keys::org_invitations_by_status_pk(tenant, org_id, s.as_str()),
            ),
        };
        let list = ListQuery {
            index,
            partition,
            scope: pagination::scope(
                Some(tenant),
                &format!("invitations:{org_id}"),
                &[("status", status.map(InvitationStatus::as_str))],
            ),
            item_pk_prefix: Some(keys::tenant_prefix(tenant)),
            newest_first: true,
            sk_range: None,
        };
        // An invitation whose index entry says pending but whose time ran out is left out of
        // the pending list.
        self.query_page_where(&list, params, signer, |item| {
            let invitation = decode(item)?.invitation.at(now);
            Ok(status
                .is_none_or(|wanted| invitation.status == wanted)
                .then_some(invitation))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_keeps_the_ttl_attribute_for_closed_invitations_only() {
        let now = time::now();
        let inv = Invitation {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: "o".into(),
            tenant_id: "t".into(),
            email: "A@B.example".into(),
            role: Role::Admin,
            status: InvitationStatus::Pending,
            invited_by_user_id: "u".into(),
            accepted_by_user_id: None,
            expires_at: super::super::expiry(now, 7),
            inserted_at: now,
            updated_at: now,
        };
        let item = invitation_item(&inv, "hash").unwrap();
        assert!(!item.contains_key(keys::TTL_ATTRIBUTE));
        assert!(item.contains_key("valid_until"));
        let back = decode(item).unwrap();
        assert_eq!(back.invitation, inv);
        assert_eq!(back.token_hash, "hash");
    }
}
