//! Transactions: conditional multi-item writes with the reason for a cancellation kept per item.

use std::time::Duration;

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{ConditionCheck, Delete, Put, TransactWriteItem, Update},
};

use crate::{error::ApiError, store::Store};

const MAX_ATTEMPTS: u32 = 12;

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxError {
    /// `failed[i]` is true when the condition of item `i` did not hold.
    ConditionFailed(Vec<bool>),
    Api(ApiError),
}

impl From<ApiError> for TxError {
    fn from(e: ApiError) -> Self {
        TxError::Api(e)
    }
}

impl TxError {
    pub fn failed(&self, index: usize) -> bool {
        matches!(self, TxError::ConditionFailed(f) if f.get(index).copied().unwrap_or(false))
    }
}

pub fn put(put: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(put).build()
}

pub fn update(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

pub fn delete(delete: Delete) -> TransactWriteItem {
    TransactWriteItem::builder().delete(delete).build()
}

pub fn check(check: ConditionCheck) -> TransactWriteItem {
    TransactWriteItem::builder().condition_check(check).build()
}

/// Builder results are only `Err` when a required field is missing, which is a bug here.
pub fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, ApiError> {
    result.map_err(|error| {
        tracing::error!(%error, "building a DynamoDB request failed");
        ApiError::Internal
    })
}

/// A test-only fault: called after a transaction committed, it may make the store report an
/// error anyway (as when the SDK loses the response of a call that succeeded).
pub type AfterCommit = std::sync::Arc<dyn Fn(&'static str) -> Option<ApiError> + Send + Sync>;

impl Store {
    /// Runs the transaction, retrying when it only collided with another transaction on the
    /// same items (DynamoDB cancels rather than waits), so concurrent writers are decided by
    /// the conditions, not by timing. `receipt` (an idempotency record, see
    /// `idempotency::Claim::receipt`) commits with the items or not at all; when its condition
    /// fails the request has lost its claim and nothing is written (409).
    pub async fn transact(
        &self,
        operation: &'static str,
        mut items: Vec<TransactWriteItem>,
        receipt: Option<TransactWriteItem>,
    ) -> Result<(), TxError> {
        let receipt_index = receipt.is_some().then_some(items.len());
        items.extend(receipt);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // One token per attempt: the SDK's own retries of an attempt whose answer was lost
            // reuse it, and DynamoDB then reports the earlier commit instead of running it again.
            let result = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(uuid::Uuid::now_v7().to_string())
                .send()
                .await;
            let error = match result {
                Ok(_) => {
                    return match self.after_commit.as_ref().and_then(|fault| fault(operation)) {
                        Some(injected) => Err(TxError::Api(injected)),
                        None => Ok(()),
                    }
                }
                Err(error) => error,
            };
            let conflict = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let failed: Vec<bool> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect();
                    if receipt_index.is_some_and(|i| failed.get(i).copied().unwrap_or(false)) {
                        return Err(TxError::Api(ApiError::Conflict(
                            "a request with this Idempotency-Key is still in progress; retry later".into(),
                        )));
                    }
                    if failed.contains(&true) {
                        return Err(TxError::ConditionFailed(failed));
                    }
                    cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            if !conflict {
                return Err(TxError::Api(super::failure(operation, error)));
            }
            if attempt >= MAX_ATTEMPTS {
                tracing::warn!(operation, attempt, "transaction kept colliding with others");
                return Err(TxError::Api(ApiError::Unavailable));
            }
            backoff(attempt).await;
        }
    }
}

/// Sleeps before retry `attempt` (1-based): exponential from 5 ms, capped at 200 ms, with
/// full jitter so colliding writers spread out.
pub async fn backoff(attempt: u32) {
    let cap = (5u64 << attempt.min(6)).min(200);
    let jitter = u64::from(uuid::Uuid::now_v7().as_bytes()[15]) * cap / 255;
    tokio::time::sleep(Duration::from_millis(jitter.max(1))).await;
}

/// Rounds of a read-modify-write, for a loop that re-reads and re-applies until its versioned
/// write commits. Without `If-Match` an update is last-writer-wins, so losing a race is never
/// the client's problem: rounds go on (with backoff) for as long as the request's time budget
/// allows, and the budget cuts them off with a 503. The cap only stops a runaway loop.
#[derive(Debug, Default)]
pub struct Rounds {
    done: u32,
}

impl Rounds {
    const MAX: u32 = 200;

    /// The index of the next round (0 first), after a backoff from the second on.
    pub async fn next(&mut self) -> Result<u32, ApiError> {
        if self.done >= Self::MAX {
            tracing::warn!(rounds = self.done, "read-modify-write never won a round");
            return Err(ApiError::Unavailable);
        }
        if self.done > 0 {
            backoff(self.done).await;
        }
        self.done += 1;
        Ok(self.done - 1)
    }
}
