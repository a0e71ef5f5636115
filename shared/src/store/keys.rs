//! Key layout, all of it: every partition and sort key the code reads or writes is built here.
//! Every tenant-owned key starts with `<tenant>#`; tenant ids cannot contain `#` (see
//! `auth::is_valid_tenant_id`), so one tenant's prefix is never a prefix of another's.
//! Platform-wide keys start with `#`, which no tenant id can.

use super::{s, Item};

/// A key schema to query: the base table or one of the overloaded global secondary indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: Option<&'static str>,
    pub pk: &'static str,
    pub sk: &'static str,
}

pub const PK: &str = "pk";
pub const SK: &str = "sk";

pub const TABLE: Index = Index {
    name: None,
    pk: PK,
    sk: SK,
};
pub const GSI1: Index = Index {
    name: Some("gsi1"),
    pk: "gsi1pk",
    sk: "gsi1sk",
};
pub const GSI2: Index = Index {
    name: Some("gsi2"),
    pk: "gsi2pk",
    sk: "gsi2sk",
};

pub const GSI3: Index = Index {
    name: Some("gsi3"),
    pk: "gsi3pk",
    sk: "gsi3sk",
};
pub const GSI4: Index = Index {
    name: Some("gsi4"),
    pk: "gsi4pk",
    sk: "gsi4sk",
};
pub const GSI5: Index = Index {
    name: Some("gsi5"),
    pk: "gsi5pk",
    sk: "gsi5sk",
};
pub const GSI6: Index = Index {
    name: Some("gsi6"),
    pk: "gsi6pk",
    sk: "gsi6sk",
};

/// Every key schema the code queries; the table definition in `template.yaml` must declare them.
pub const ALL_INDEXES: &[Index] = &[TABLE, GSI1, GSI2, GSI3, GSI4, GSI5, GSI6];

/// The primary key of one item.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    [(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))].into()
}

pub fn tenant(tenant_id: &str) -> Item {
    key(tenant_pk(tenant_id), TENANT_SK)
}

pub fn org(tenant_id: &str, org_id: &str) -> Item {
    key(org_pk(tenant_id), org_id)
}

/// The uniqueness item of a case-folded organization name.
pub fn org_name(tenant_id: &str, folded_name: &str) -> Item {
    key(org_name_pk(tenant_id), folded_name)
}

pub fn member(tenant_id: &str, org_id: &str, user_id: &str) -> Item {
    key(members_pk(tenant_id, org_id), user_id)
}

pub fn invitation(tenant_id: &str, invitation_id: &str) -> Item {
    key(invitations_pk(tenant_id), invitation_id)
}

/// The item that holds an organization's one pending invitation per (case-folded) address.
pub fn invitation_email(tenant_id: &str, org_id: &str, folded_email: &str) -> Item {
    key(invitation_emails_pk(tenant_id, org_id), folded_email)
}

/// The counter of an organization's pending invitations (kept off the organization item, whose
/// writes replace it whole and whose version is its ETag).
pub fn invitation_counter(tenant_id: &str, org_id: &str) -> Item {
    key(invitation_counter_pk(tenant_id, org_id), INVITATION_COUNTER_SK)
}

pub fn campaign(tenant_id: &str, campaign_id: &str) -> Item {
    key(campaigns_pk(tenant_id), campaign_id)
}

pub fn job(tenant_id: &str, job_id: &str) -> Item {
    key(job_pk(tenant_id, job_id), JOB_SK)
}

pub fn idempotency(tenant_id: &str, digest: &str) -> Item {
    key(idempotency_pk(tenant_id, digest), IDEMPOTENCY_SK)
}

pub const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

/// The prefix every key of `tenant_id` starts with.
pub fn tenant_prefix(tenant_id: &str) -> String {
    format!("{tenant_id}#")
}

/// Time-to-live attribute (epoch seconds) for records DynamoDB may expire on its own.
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub fn tenant_pk(tenant_id: &str) -> String {
    format!("{tenant_id}#TENANT")
}

pub const TENANT_SK: &str = "TENANT";

/// All tenants, newest first (platform admins only).
pub const ALL_TENANTS_PK: &str = "#PLATFORM#TENANTS";

pub fn tenants_by_status_pk(status: &str) -> String {
    format!("#PLATFORM#TENANTS#{status}")
}

/// Sort key that orders by creation time, ties broken by id.
pub fn time_ordered_sk(inserted_at: &str, id: &str) -> String {
    format!("{inserted_at}#{id}")
}

/// Live organizations (sort key: the time-ordered id).
pub fn org_pk(tenant_id: &str) -> String {
    format!("{tenant_id}#ORG")
}

/// Soft-deleted organizations, kept out of every live read.
pub fn deleted_org_pk(tenant_id: &str) -> String {
    format!("{tenant_id}#ORG#DELETED")
}

/// Name uniqueness items (sort key: the case-folded name).
pub fn org_name_pk(tenant_id: &str) -> String {
    format!("{tenant_id}#ORGNAME")
}

/// `gsi1`: live organizations of one domain.
pub fn org_domain_pk(tenant_id: &str, domain: &str) -> String {
    format!("{tenant_id}#ORG#DOMAIN#{domain}")
}

/// Memberships of one organization (sort key: user id); also `gsi1`, time-ordered.
pub fn members_pk(tenant_id: &str, org_id: &str) -> String {
    format!("{tenant_id}#MEMBERS#{org_id}")
}

/// `gsi2`: memberships of one organization with one role.
pub fn members_by_role_pk(tenant_id: &str, org_id: &str, role: &str) -> String {
    format!("{tenant_id}#MEMBERS#{org_id}#ROLE#{role}")
}

/// `gsi3`: memberships of one organization with one status.
pub fn members_by_status_pk(tenant_id: &str, org_id: &str, status: &str) -> String {
    format!("{tenant_id}#MEMBERS#{org_id}#STATUS#{status}")
}

/// `gsi4`: memberships of one organization with one role and one status.
pub fn members_by_role_status_pk(tenant_id: &str, org_id: &str, role: &str, status: &str) -> String {
    format!("{tenant_id}#MEMBERS#{org_id}#ROLE#{role}#STATUS#{status}")
}

/// `gsi5`: one user's memberships across the tenant's organizations.
pub fn user_orgs_pk(tenant_id: &str, user_id: &str) -> String {
    format!("{tenant_id}#USER#{user_id}#ORGS")
}

/// `gsi6`: an organization's active memberships with one (case-folded) e-mail address.
pub fn members_by_email_pk(tenant_id: &str, org_id: &str, folded_email: &str) -> String {
    format!("{tenant_id}#MEMBERS#{org_id}#EMAIL#{folded_email}")
}

/// E-mail invitations of a tenant (sort key: the invitation id, which the token carries).
pub fn invitations_pk(tenant_id: &str) -> String {
    format!("{tenant_id}#INVITATION")
}

/// `gsi1`: one organization's invitations (sort key: time-ordered id).
pub fn org_invitations_pk(tenant_id: &str, org_id: &str) -> String {
    format!("{tenant_id}#ORG#{org_id}#INVITATIONS")
}

/// `gsi2`: one organization's invitations with one stored status.
pub fn org_invitations_by_status_pk(tenant_id: &str, org_id: &str, status: &str) -> String {
    format!("{tenant_id}#ORG#{org_id}#INVITATIONS#STATUS#{status}")
}

pub fn invitation_emails_pk(tenant_id: &str, org_id: &str) -> String {
    format!("{tenant_id}#ORG#{org_id}#INVITATION_EMAIL")
}

pub fn invitation_counter_pk(tenant_id: &str, org_id: &str) -> String {
    format!("{tenant_id}#ORG#{org_id}#INVITATION_COUNT")
}

pub const INVITATION_COUNTER_SK: &str = "PENDING";

/// Campaigns of a tenant (sort key: the time-ordered id).
pub fn campaigns_pk(tenant_id: &str) -> String {
    format!("{tenant_id}#CAMPAIGN")
}

/// `gsi1`: campaigns with one status.
pub fn campaigns_by_status_pk(tenant_id: &str, status: &str) -> String {
    format!("{tenant_id}#CAMPAIGN#STATUS#{status}")
}

/// `gsi2`: campaigns of one organization.
pub fn org_campaigns_pk(tenant_id: &str, org_id: &str) -> String {
    format!("{tenant_id}#ORG#{org_id}#CAMPAIGNS")
}

/// `gsi3`: campaigns of one organization with one status.
pub fn org_campaigns_by_status_pk(tenant_id: &str, org_id: &str, status: &str) -> String {
    format!("{tenant_id}#ORG#{org_id}#CAMPAIGNS#STATUS#{status}")
}

/// Idempotency records, one partition per (caller, key) digest.
pub fn idempotency_pk(tenant_id: &str, digest: &str) -> String {
    format!("{tenant_id}#IDEMPOTENCY#{digest}")
}

/// One job per partition: claims and heartbeats write single jobs at high rates, and a job is
/// always addressed by its id.
pub fn job_pk(tenant_id: &str, job_id: &str) -> String {
    format!("{tenant_id}#JOB#{job_id}")
}

pub const JOB_SK: &str = "JOB";

/// `gsi1`: jobs of one campaign (sort key: the time-ordered id).
pub fn campaign_jobs_pk(tenant_id: &str, campaign_id: &str) -> String {
    format!("{tenant_id}#JOBS#CAMPAIGN#{campaign_id}")
}

/// `gsi2`: jobs of one campaign with one status.
pub fn campaign_jobs_by_status_pk(tenant_id: &str, campaign_id: &str, status: &str) -> String {
    format!("{tenant_id}#JOBS#CAMPAIGN#{campaign_id}#STATUS#{status}")
}

/// `gsi3`: jobs of one campaign with one type.
pub fn campaign_jobs_by_type_pk(tenant_id: &str, campaign_id: &str, job_type: &str) -> String {
    format!("{tenant_id}#JOBS#CAMPAIGN#{campaign_id}#TYPE#{job_type}")
}

/// `gsi4`: jobs of one campaign with one type and one status.
pub fn campaign_jobs_by_type_status_pk(
    tenant_id: &str,
    campaign_id: &str,
    job_type: &str,
    status: &str,
) -> String {
    format!("{tenant_id}#JOBS#CAMPAIGN#{campaign_id}#TYPE#{job_type}#STATUS#{status}")
}

/// `gsi5`: the unfinished jobs of one type across the tenant, ordered by when they become
/// claimable (`claim_sk`). Finished jobs leave it, so the index holds only work.
pub fn claimable_jobs_pk(tenant_id: &str, job_type: &str) -> String {
    format!("{tenant_id}#JOBS#CLAIMABLE#{job_type}")
}

/// Sort key in the claim index: the millisecond a job becomes claimable (its creation for a
/// pending job, its lease's end for a running one), zero-padded so text order is time order,
/// ties broken by id.
pub fn claim_sk(claimable_from_ms: i64, job_id: &str) -> String {
    format!("{:015}#{job_id}", claimable_from_ms.max(0))
}

/// Upper bound of the claim index keys that are claimable at `now_ms` (`~` sorts after every
/// id character).
pub fn claim_sk_until(now_ms: i64) -> String {
    format!("{:015}#~", now_ms.max(0))
}
