//! Campaigns: the record and its rules.
//!
//! A campaign belongs to exactly one live organization of its tenant; every write that creates,
//! moves or deletes one changes the organizations' `campaign_count` in the same transaction,
//! conditioned on the organization being live. When both are set, `start_time` is strictly
//! before `end_time`. `version` is the ETag. A campaign with active (pending or running) jobs
//! can be neither deleted nor moved; deleting one removes its finished jobs.

pub mod handlers;
pub mod store;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    error::{Error, Result, Violations},
    etag,
    time::{self, Timestamp},
    validate::{metadata, parse_id, trimmed_string},
};

pub const NAME_MIN: usize = 3;
pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Active,
    Paused,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(CampaignStatus::Active),
            "paused" => Some(CampaignStatus::Paused),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub id: String,
    pub tenant_id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "time::rfc3339_option")]
    pub start_time: Option<Timestamp>,
    #[serde(with = "time::rfc3339_option")]
    pub end_time: Option<Timestamp>,
    pub status: CampaignStatus,
    pub metadata: Value,
    /// Pending and running jobs; kept by the jobs' own transactions.
    pub active_job_count: i64,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecord {
    pub campaign: Campaign,
    pub version: u64,
    /// Whether a job was ever created on the campaign: only then has a delete finished jobs
    /// to clean up.
    pub had_jobs: bool,
}

impl CampaignRecord {
    pub fn etag(&self) -> String {
        etag::of_version(self.version)
    }
}

/// Read-only fields a client may send back; they are ignored.
pub const READ_ONLY: &[&str] = &["active_job_count"];

/// The 409 for deleting or moving a campaign that still has work.
pub fn has_active_jobs() -> Error {
    Error::conflict("the campaign has pending or running jobs; cancel or finish them first")
}

pub const WRITABLE: &[&str] = &[
    "organization_id",
    "name",
    "description",
    "start_time",
    "end_time",
    "status",
    "metadata",
];

/// The 422 for an `organization_id` that names no live organization of the tenant.
pub fn unknown_org() -> Error {
    Error::field("organization_id", "must name a live organization of the tenant")
}

/// A create or update body, validated field by field. `None`: not sent; `Some(None)`: clear.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CampaignFields {
    pub organization_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub start_time: Option<Option<Timestamp>>,
    pub end_time: Option<Option<Timestamp>>,
    pub status: Option<CampaignStatus>,
    pub metadata: Option<Value>,
}

impl CampaignFields {
    pub fn parse(body: &Map<String, Value>, creating: bool) -> Result<Self> {
        let mut v = Violations::default();
        let mut f = CampaignFields::default();
        match body.get("organization_id") {
            Some(Value::String(raw)) => match parse_id(raw) {
                Some(id) => f.organization_id = Some(id),
                None => v.add("organization_id", "must name a live organization of the tenant"),
            },
            Some(_) => v.add("organization_id", "must be an organization id"),
            None if creating => v.add("organization_id", "is required"),
            None => {}
        }
        match body.get("name") {
            Some(value) => f.name = trimmed_string(&mut v, "name", value, NAME_MIN, NAME_MAX),
            None if creating => v.add("name", "is required"),
            None => {}
        }
        match body.get("description") {
            None => {}
            Some(Value::Null) => f.description = Some(None),
            Some(Value::String(d)) if d.chars().count() <= DESCRIPTION_MAX => {
                f.description = Some(Some(d.clone()))
            }
            Some(Value::String(_)) => v.add(
                "description",
                format!("should be at most {DESCRIPTION_MAX} characters"),
            ),
            Some(_) => v.add("description", "must be a string or null"),
        }
        for (field, slot) in [("start_time", &mut f.start_time), ("end_time", &mut f.end_time)] {
            match body.get(field) {
                None => {}
                Some(Value::Null) => *slot = Some(None),
                Some(Value::String(raw)) => match time::parse(raw) {
                    Some(t) => *slot = Some(Some(t)),
                    None => v.add(
                        field,
                        "must be an RFC 3339 time with an offset in years 0001-9999 (UTC), e.g. 2026-11-22T08:15:30Z",
                    ),
                },
                Some(_) => v.add(field, "must be an RFC 3339 time or null"),
            }
        }
        match body.get("status") {
            None => {}
            Some(Value::String(s)) if CampaignStatus::parse(s).is_some() => {
                f.status = CampaignStatus::parse(s)
            }
            Some(_) => v.add("status", "must be active or paused"),
        }
        match body.get("metadata") {
            None => {}
            Some(Value::Null) => f.metadata = Some(Value::Object(Map::new())),
            Some(value) => f.metadata = metadata(&mut v, "metadata", value),
        }
        v.into_result()?;
        Ok(f)
    }

    /// Applies the fields to `campaign` (all of them, for a create).
    pub fn apply(&self, c: &mut Campaign) {
        if let Some(org) = &self.organization_id {
            c.organization_id = org.clone();
        }
        if let Some(name) = &self.name {
            c.name = name.clone();
        }
        if let Some(d) = &self.description {
            c.description = d.clone();
        }
        if let Some(t) = self.start_time {
            c.start_time = t;
        }
        if let Some(t) = self.end_time {
            c.end_time = t;
        }
        if let Some(s) = self.status {
            c.status = s;
        }
        if let Some(m) = &self.metadata {
            c.metadata = m.clone();
        }
    }

    /// A new campaign of `tenant_id` with these fields; the date rule applies.
    pub fn create(&self, id: String, tenant_id: &str, now: Timestamp) -> Result<CampaignRecord> {
        let mut campaign = Campaign {
            id,
            tenant_id: tenant_id.to_owned(),
            organization_id: String::new(),
            name: String::new(),
            description: None,
            start_time: None,
            end_time: None,
            status: CampaignStatus::Active,
            metadata: Value::Object(Map::new()),
            active_job_count: 0,
            inserted_at: now,
            updated_at: now,
        };
        self.apply(&mut campaign);
        check_dates(&campaign)?;
        Ok(CampaignRecord {
            campaign,
            version: 1,
            had_jobs: false,
        })
    }
}

/// The date rule on a whole campaign: when both are set, start strictly before end.
pub fn check_dates(c: &Campaign) -> Result<()> {
    match (c.start_time, c.end_time) {
        (Some(start), Some(end)) if start >= end => {
            Err(Error::field("start_time", "must be before end_time"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Result<CampaignFields> {
        CampaignFields::parse(body.as_object().unwrap(), true)
    }

    const ORG: &str = "0190b7c4-1111-7000-8000-000000000000";

    #[test]
    fn times_need_an_offset_and_become_utc() {
        let f =
            fields(json!({"organization_id": ORG, "name": "abc", "start_time": "2026-01-01T10:00:00+02:00"}))
                .unwrap();
        assert_eq!(
            time::format(&f.start_time.unwrap().unwrap()),
            "2026-01-01T08:00:00.000Z"
        );
        assert!(
            fields(json!({"organization_id": ORG, "name": "abc", "start_time": "2026-01-01T10:00:00"}))
                .is_err()
        );
    }

    #[test]
    fn required_fields_on_create() {
        match fields(json!({})) {
            Err(Error::Invalid(e)) => assert!(e.contains_key("name") && e.contains_key("organization_id")),
            other => panic!("{other:?}"),
        }
    }
}
