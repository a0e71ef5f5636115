//! Invitations by e-mail: an organization invites someone who may have no user id yet, and
//! whoever signs in with that address accepts with a one-time token.
//!
//! The token is shown once (create and resend) and only its SHA-256 is stored; it carries the
//! invitation's id, so accepting is one key lookup in the caller's tenant and a token of another
//! tenant finds nothing (404).
//!
//! Expiry needs no job: the stored status stays `pending` until something writes the
//! invitation, and every read turns a pending invitation past its `expires_at` into `expired`.
//! The ones that are read that way are also written as `expired` (lazily, see
//! `Store::expire_overdue`), which frees their address and their place under the cap, and
//! starts their time to live.

pub mod handlers;
pub mod store;

use aws_lc_rs::{digest, rand::SecureRandom};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    memberships::Role,
    time::{self, Timestamp},
};

/// Lifetime of an invitation unless the inviter asks for another (`expires_in_days`).
pub const DEFAULT_DAYS: i64 = 7;
pub const MIN_DAYS: i64 = 1;
pub const MAX_DAYS: i64 = 30;
/// Pending invitations one organization may have at once.
pub const MAX_PENDING: i64 = 100;
/// How long an invitation stays readable after it stopped being pending, before DynamoDB's
/// time to live removes it.
pub const RETENTION_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub const ALL: [InvitationStatus; 4] = [
        InvitationStatus::Pending,
        InvitationStatus::Accepted,
        InvitationStatus::Revoked,
        InvitationStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: Role,
    /// As read at some moment: see `Invitation::at`.
    pub status: InvitationStatus,
    pub invited_by_user_id: String,
    pub accepted_by_user_id: Option<String>,
    #[serde(with = "time::rfc3339")]
    pub expires_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub inserted_at: Timestamp,
    #[serde(with = "time::rfc3339")]
    pub updated_at: Timestamp,
}

impl Invitation {
    /// The invitation as it reads at `now`: a pending one past its expiry is expired.
    pub fn at(mut self, now: Timestamp) -> Self {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            self.status = InvitationStatus::Expired;
        }
        self
    }

    /// The case-folded address: the one the uniqueness rule and the accept check compare.
    pub fn folded_email(&self) -> String {
        fold_email(&self.email)
    }
}

/// A create or resend response: the invitation and its token, the one time it is shown.
#[derive(Debug, Serialize)]
pub struct WithToken<'a> {
    #[serde(flatten)]
    pub invitation: &'a Invitation,
    pub token: Option<&'a str>,
}

pub fn fold_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn expiry(now: Timestamp, days: i64) -> Timestamp {
    now + Duration::days(days)
}

/// What an invitation token stands for: an invitation id and a secret, of which only the
/// digest of the whole token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub invitation_id: String,
    pub text: String,
}

const TOKEN_PREFIX: &str = "inv_";
/// 256 random bits, twice what the contract asks, encoded in 43 base64url characters.
const SECRET_BYTES: usize = 32;

impl Token {
    /// A fresh token for `invitation_id`.
    pub fn issue(invitation_id: &str) -> Result<Self> {
        let mut secret = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| {
                tracing::error!("the system random generator failed");
                Error::Internal
            })?;
        let simple = uuid::Uuid::parse_str(invitation_id)
            .map_err(|_| {
                tracing::error!("an invitation id is not a UUID");
                Error::Internal
            })?
            .simple()
            .to_string();
        Ok(Token {
            invitation_id: invitation_id.to_owned(),
            text: format!("{TOKEN_PREFIX}{simple}_{}", URL_SAFE_NO_PAD.encode(secret)),
        })
    }

    /// The invitation a client's token names, if it has the shape of one this API issued.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(TOKEN_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        let decoded = URL_SAFE_NO_PAD.decode(secret).ok()?;
        if decoded.len() != SECRET_BYTES {
            return None;
        }
        let id = uuid::Uuid::parse_str(id).ok()?;
        Some(Token {
            invitation_id: id.hyphenated().to_string(),
            text: text.to_owned(),
        })
    }

    /// What is stored: the SHA-256 of the token, hex.
    pub fn hash(&self) -> String {
        digest::digest(&digest::SHA256, self.text.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

pub fn pending_exists() -> Error {
    Error::conflict("a pending invitation for this e-mail address already exists")
}

pub fn already_member() -> Error {
    Error::conflict("this e-mail address already belongs to an active member of the organization")
}

pub fn too_many() -> Error {
    Error::conflict(format!(
        "the organization has {MAX_PENDING} pending invitations; revoke some or wait for them to expire"
    ))
}

pub fn not_pending(status: InvitationStatus) -> Error {
    Error::conflict(format!(
        "the invitation is {}; only a pending invitation can be changed",
        status.as_str()
    ))
}

pub fn changed() -> Error {
    Error::conflict("the invitation changed while this request ran; retry")
}

/// Why a genuine token can no longer be used.
pub fn gone(status: InvitationStatus) -> Error {
    Error::gone(match status {
        InvitationStatus::Accepted => "the invitation was already accepted",
        InvitationStatus::Revoked => "the invitation was revoked",
        InvitationStatus::Expired => "the invitation has expired",
        InvitationStatus::Pending => "the invitation can no longer be used",
    })
}

pub fn org_gone() -> Error {
    Error::gone("the organization of this invitation no longer exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_differ() {
        let id = uuid::Uuid::now_v7().to_string();
        let a = Token::issue(&id).unwrap();
        let b = Token::issue(&id).unwrap();
        assert_ne!(a.text, b.text);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(Token::parse(&a.text), Some(a.clone()));
        assert_eq!(a.hash().len(), 64);
        assert!(!a.hash().contains(&a.text));
    }

    #[test]
    fn malformed_tokens_are_not_tokens() {
        let id = uuid::Uuid::now_v7().to_string();
        let good = Token::issue(&id).unwrap().text;
        for bad in [
            "",
            "inv_",
            "inv_abc_def",
            &good[..good.len() - 1],
            &format!("{good}A"),
            &good.replace("inv_", "INV_"),
            &good.to_uppercase(),
            "inv_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn expiry_reads_at_the_moment() {
        let now = time::now();
        let inv = Invitation {
            id: "i".into(),
            organization_id: "o".into(),
            tenant_id: "t".into(),
            email: "A@B.example".into(),
            role: Role::Member,
            status: InvitationStatus::Pending,
            invited_by_user_id: "u".into(),
            accepted_by_user_id: None,
            expires_at: expiry(now, 1),
            inserted_at: now,
            updated_at: now,
        };
        assert_eq!(inv.clone().at(now).status, InvitationStatus::Pending);
        assert_eq!(inv.clone().at(expiry(now, 1)).status, InvitationStatus::Expired);
        let revoked = Invitation {
            status: InvitationStatus::Revoked,
            ..inv.clone()
        };
        assert_eq!(revoked.at(expiry(now, 2)).status, InvitationStatus::Revoked);
        assert_eq!(inv.folded_email(), "a@b.example");
    }
}
