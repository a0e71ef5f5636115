//! Organizations: the record and its rules.
//!
//! Names are unique per tenant, case-insensitively (the store keeps a uniqueness item per
//! folded name). A deleted organization is soft-deleted and refused while it has campaigns.
//! Every write bumps `version`, the organization's ETag; `campaign_count`, `member_count` and
//! the internal `owner_count` are changed by the writes that change what they count.

pub mod handlers;
pub mod store;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    error::{Error, Result, Violations},
    etag,
    time::{self, Timestamp},
    validate::{is_dns_name, is_email, metadata, optional, trimmed_string},
};

pub const NAME_MAX: usize = 200;
/// DynamoDB's limit on a sort key, which the case-folded name is in the uniqueness item.
pub const NAME_SORT_KEY_MAX: usize = 1024;
const BILLING_ADDRESS_MAX_BYTES: usize = 2 * 1024;

/// The organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub billing_email: Option<String>,
    pub billing_address: Option<Value>,
    pub stripe_customer_id: Option<String>,
    pub metadata: Value,
    pub campaign_count: u64,
    pub member_count: u64,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

/// The stored organization: the API fields plus what only the rules need.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgRecord {
    pub org: Organization,
    pub owner_count: u64,
    pub version: u64,
}

impl OrgRecord {
    pub fn etag(&self) -> String {
        etag::of_version(self.version)
    }
}

/// Case-insensitive identity of a name, used as the uniqueness key.
pub fn fold_name(name: &str) -> String {
    name.to_lowercase()
}

pub fn name_taken() -> Error {
    Error::conflict("an organization with this name already exists in the tenant")
}

pub fn has_campaigns() -> Error {
    Error::conflict("the organization still has campaigns; delete or move them first")
}

/// A permission checked before a write no longer held when it committed.
pub fn role_lost() -> Error {
    Error::forbidden("the caller's role no longer allows this")
}

pub const WRITABLE: &[&str] = &[
    "name",
    "domain",
    "billing_email",
    "billing_address",
    "stripe_customer_id",
    "metadata",
];
pub const READ_ONLY: &[&str] = &["campaign_count", "member_count"];

/// The writable fields of a create or update body, already validated. For updates, `None`
/// means "not sent" and `Some(None)` means "clear".
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrgFields {
    pub name: Option<String>,
    pub domain: Option<Option<String>>,
    pub billing_email: Option<Option<String>>,
    pub billing_address: Option<Option<Value>>,
    pub stripe_customer_id: Option<Option<String>>,
    pub metadata: Option<Value>,
}

/// A name an organization can have: trimmed 1..200 characters whose folded form fits a key.
pub fn valid_name(v: &mut Violations, value: &Value) -> Option<String> {
    let name = trimmed_string(v, "name", value, 1, NAME_MAX)?;
    if fold_name(&name).len() > NAME_SORT_KEY_MAX {
        v.add("name", "is too long once case-folded");
        return None;
    }
    Some(name)
}

/// A domain filter or field: a DNS name, compared in lower case.
pub fn valid_domain(v: &mut Violations, raw: &str) -> Option<String> {
    let domain = raw.trim().to_lowercase();
    if is_dns_name(&domain) {
        Some(domain)
    } else {
        v.add("domain", "must be a DNS name such as acme.com");
        None
    }
}

impl OrgFields {
    pub fn parse(body: &Map<String, Value>, creating: bool) -> Result<Self> {
        let mut v = Violations::default();
        let mut fields = OrgFields::default();
        match body.get("name") {
            Some(value) => fields.name = valid_name(&mut v, value),
            None if creating => v.add("name", "is required"),
            None => {}
        }
        fields.domain = optional(&mut v, body, "domain", valid_domain);
        fields.billing_email = optional(&mut v, body, "billing_email", |v, value| {
            let email = value.trim();
            if is_email(email) {
                Some(email.to_owned())
            } else {
                v.add("billing_email", "must be an e-mail address");
                None
            }
        });
        fields.stripe_customer_id = optional(&mut v, body, "stripe_customer_id", |v, value| {
            let ok = !value.is_empty()
                && value.len() <= 255
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if ok {
                Some(value.to_owned())
            } else {
                v.add(
                    "stripe_customer_id",
                    "must be 1..255 letters, digits or underscores",
                );
                None
            }
        });
        match body.get("billing_address") {
            None => {}
            Some(Value::Null) => fields.billing_address = Some(None),
            Some(value @ Value::Object(map)) => {
                if !map.values().all(|x| x.is_string() || x.is_null()) {
                    v.add("billing_address", "values must be strings");
                } else if value.to_string().len() > BILLING_ADDRESS_MAX_BYTES {
                    v.add("billing_address", "must be at most 2 KiB");
                } else {
                    fields.billing_address = Some(Some(value.clone()));
                }
            }
            Some(_) => v.add("billing_address", "must be an object or null"),
        }
        match body.get("metadata") {
            None => {}
            Some(Value::Null) => fields.metadata = Some(Value::Object(Map::new())),
            Some(value) => fields.metadata = metadata(&mut v, "metadata", value),
        }
        v.into_result()?;
        Ok(fields)
    }

    /// Applies the sent fields to `org`.
    pub fn apply(&self, org: &mut Organization) {
        if let Some(name) = &self.name {
            org.name = name.clone();
        }
        if let Some(domain) = &self.domain {
            org.domain = domain.clone();
        }
        if let Some(email) = &self.billing_email {
            org.billing_email = email.clone();
        }
        if let Some(address) = &self.billing_address {
            org.billing_address = address.clone();
        }
        if let Some(stripe) = &self.stripe_customer_id {
            org.stripe_customer_id = stripe.clone();
        }
        if let Some(metadata) = &self.metadata {
            org.metadata = metadata.clone();
        }
    }

    /// A new organization of `tenant_id` with these fields, its creator its first owner.
    pub fn create(self, id: String, tenant_id: &str, now: Timestamp) -> OrgRecord {
        OrgRecord {
            org: Organization {
                id,
                tenant_id: tenant_id.to_owned(),
                name: self.name.unwrap_or_default(),
                domain: self.domain.flatten(),
                billing_email: self.billing_email.flatten(),
                billing_address: self.billing_address.flatten(),
                stripe_customer_id: self.stripe_customer_id.flatten(),
                metadata: self.metadata.unwrap_or_else(|| Value::Object(Map::new())),
                campaign_count: 0,
                member_count: 1,
                inserted_at: now,
                updated_at: now,
            },
            owner_count: 1,
            version: 1,
        }
    }
}
