//! Counters on an organization (`member_count`, the internal `owner_count`, `campaign_count`),
//! changed with `ADD` inside the transaction that adds or removes what they count.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::{keys, n, tx, StoreError};

/// How a write changes an organization's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgCounts {
    pub members: i64,
    /// Active owners; taking one away must leave at least one (the last-owner rule).
    pub owners: i64,
    pub campaigns: i64,
}

impl OrgCounts {
    pub const fn members(by: i64) -> Self {
        OrgCounts {
            members: by,
            owners: 0,
            campaigns: 0,
        }
    }

    pub const fn campaigns(by: i64) -> Self {
        OrgCounts {
            members: 0,
            owners: 0,
            campaigns: by,
        }
    }
}

/// A transaction item that changes an organization's counters (and bumps its version, its
/// ETag), failing unless the organization is live and, when owners are taken away, unless at
/// least one active owner stays.
pub fn org_counters(
    table: &str,
    tenant: &str,
    org_id: &str,
    change: OrgCounts,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(keys::org(tenant, org_id)))
        .update_expression("ADD member_count :m, owner_count :o, campaign_count :c, version :one")
        .expression_attribute_values(":m", n(change.members))
        .expression_attribute_values(":o", n(change.owners))
        .expression_attribute_values(":c", n(change.campaigns))
        .expression_attribute_values(":one", n(1));
    let update = if change.owners < 0 {
        update
            .condition_expression("attribute_exists(pk) AND owner_count > :min")
            .expression_attribute_values(":min", n(-change.owners))
    } else {
        update.condition_expression("attribute_exists(pk)")
    };
    tx::update(update)
}
