//! Idempotency records: one item per (tenant, caller, key) digest, claimed by the first request
//! and holding its response once it finished. The table's TTL attribute removes them; reads also
//! ignore records past their expiry, since TTL deletion can lag.
//!
//! A record is `in_progress` (held by one attempt, `claim_id`, until `locked_until`) or `done`
//! (with the stored response). Completing or releasing is conditioned on the claim id, so an
//! attempt whose claim was taken over cannot overwrite the new holder's record.

use aws_sdk_dynamodb::{
    operation::put_item::PutItemError,
    types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem},
};
use serde::{Deserialize, Serialize};

use super::{conditional, failure, from_item, keys, n, s, to_item, tx, Store, StoreError};

/// How long a finished request's response is replayed.
pub const RETENTION_SECONDS: i64 = 24 * 3600;
/// A request that has been "in progress" this long is presumed dead and may be taken over.
pub const LOCK_SECONDS: i64 = 30;

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// A response as it is stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pk: String,
    sk: String,
    pub fingerprint: String,
    #[serde(default)]
    claim_id: String,
    state: String,
    expires_at: i64,
    locked_until: i64,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
}

impl Record {
    /// The stored response, once the request that claimed the key has finished.
    pub fn response(&self) -> Option<StoredResponse> {
        (self.state == DONE).then(|| StoredResponse {
            status: self.status.unwrap_or(200),
            headers: self.headers.clone(),
            body: self.body.clone().unwrap_or_default(),
        })
    }
}

/// One attempt's hold on a key.
#[derive(Debug, Clone)]
pub struct KeyClaim {
    /// The record's partition: `keys::idempotency_pk` of the digest of caller and key.
    pub pk: String,
    /// Which attempt holds the record.
    pub id: String,
    /// What identifies "the same request".
    pub fingerprint: String,
    /// Unix seconds when the attempt started.
    pub now: i64,
}

impl KeyClaim {
    fn record(&self, state: &str, response: Option<StoredResponse>) -> Record {
        let done = response.is_some();
        let response = response.unwrap_or(StoredResponse {
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        });
        Record {
            pk: self.pk.clone(),
            sk: keys::IDEMPOTENCY_SK.into(),
            fingerprint: self.fingerprint.clone(),
            claim_id: self.id.clone(),
            state: state.into(),
            expires_at: self.now + RETENTION_SECONDS,
            locked_until: if done { 0 } else { self.now + LOCK_SECONDS },
            status: done.then_some(response.status),
            headers: response.headers,
            body: done.then_some(response.body),
        }
    }
}

impl Store {
    /// Claims the key: `None` when this attempt now holds it, else the live record found (itself
    /// `None` only if it vanished between the check and the read). The record that blocks the
    /// claim comes back with the failure, so a replay costs one call.
    pub async fn claim_key(&self, claim: &KeyClaim) -> Result<Option<Option<Record>>, StoreError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(&claim.record(IN_PROGRESS, None))?))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now \
                 OR (#state = :in_progress AND locked_until < :now AND fingerprint = :fp)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(claim.now))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":fp", s(&claim.fingerprint))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Some(failed.item().cloned().map(from_item).transpose()?))
                }
                _ => Err(failure("idempotency_claim", e)),
            },
        }
    }

    /// The transaction item that records `response` as the key's outcome; it fails (and with it
    /// the whole transaction) unless `claim` still holds the key.
    pub fn key_receipt(
        &self,
        claim: &KeyClaim,
        response: StoredResponse,
    ) -> Result<TransactWriteItem, StoreError> {
        tx::put(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(to_item(&claim.record(DONE, Some(response)))?))
                .condition_expression("claim_id = :claim AND #state = :in_progress")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":claim", s(&claim.id))
                .expression_attribute_values(":in_progress", s(IN_PROGRESS)),
        )
    }

    /// Stores the response of a request that wrote nothing (a validation error, a no-op).
    pub async fn complete_key(&self, claim: &KeyClaim, response: StoredResponse) -> Result<(), StoreError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(&claim.record(DONE, Some(response)))?))
            .condition_expression("claim_id = :claim AND #state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", s(&claim.id))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        // Not held any more: the record belongs to whoever took it over.
        conditional("idempotency_complete", result).map(drop)
    }

    /// Frees the key after a failure that depends on passing state (5xx, 401, 403), so a retry
    /// runs.
    pub async fn release_key(&self, claim: &KeyClaim) -> Result<(), StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(keys::key(&claim.pk, keys::IDEMPOTENCY_SK)))
            .condition_expression("claim_id = :claim AND #state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", s(&claim.id))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        // Not held any more: the record belongs to whoever took it over.
        conditional("idempotency_release", result).map(drop)
    }
}
