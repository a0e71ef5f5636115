//! The domain's error: what a rule or a write can come to, in terms of the business, not of
//! HTTP (the web layer maps it to problem+json) nor of DynamoDB (the store's own error is
//! `store::StoreError`, folded in here as `Unavailable`/`Internal`).

use std::collections::BTreeMap;

use crate::store::{tx::TxError, StoreError};

/// Field name → messages, as in the contract's `errors` map.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No such record in the caller's tenant (also for another tenant's record).
    NotFound,
    /// A uniqueness or state rule refuses the change.
    Conflict(String),
    /// The record existed but can no longer be used (an expired, revoked or used invitation).
    Gone(String),
    /// `If-Match` does not match the record's current ETag.
    PreconditionFailed,
    /// The caller's role does not allow the action.
    Forbidden(String),
    /// The caller's tenant is suspended or deleted.
    TenantInactive,
    /// Field errors.
    Invalid(FieldErrors),
    /// DynamoDB throttled, timed out or could not be reached: retry later.
    Unavailable,
    /// Something unexpected, already logged where it happened.
    Internal,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// One field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        Error::Invalid(errors)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Error::Gone(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable => Error::Unavailable,
            StoreError::Internal => Error::Internal,
        }
    }
}

impl From<TxError> for Error {
    /// For the failures of a transaction a store function did not map to a rule of its own.
    fn from(e: TxError) -> Self {
        match e {
            TxError::ClaimLost => Error::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later".into(),
            ),
            TxError::Store(e) => e.into(),
            TxError::Conditions(failed) => {
                tracing::error!(
                    ?failed,
                    "a transaction condition failed that no rule accounts for"
                );
                Error::Internal
            }
        }
    }
}

/// Collects field errors while validating a whole body, so the client sees all of them at once.
#[derive(Debug, Default)]
pub struct Violations(FieldErrors);

impl Violations {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}
