//! Key layout. Every tenant-owned key starts with `<tenant>#`; tenant ids cannot contain `#`
//! (see `auth::is_valid_tenant_id`), so one tenant's prefix is never a prefix of another's.
//! Platform-wide keys start with `#`, which no tenant id can.

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

/// Every key schema the code queries; the table definition in `template.yaml` must declare them.
pub const ALL_INDEXES: &[Index] = &[TABLE, GSI1, GSI2];

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
