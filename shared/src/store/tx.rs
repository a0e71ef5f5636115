//! Transactions: conditional multi-item writes with the reason for a cancellation kept per item,
//! and the loop of rounds every read-modify-write runs in.

use std::time::Duration;

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        builders::{ConditionCheckBuilder, DeleteBuilder, PutBuilder, UpdateBuilder},
        TransactWriteItem,
    },
};

use futures::future::BoxFuture;

use super::{failure, Store, StoreError};
use crate::{
    error::Error,
    etag::{self, IfMatch},
};

/// Attempts of one transaction that only collided with other transactions.
const MAX_ATTEMPTS: u32 = 12;

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxError {
    /// `failed[i]` is true when the condition of item `i` did not hold.
    Conditions(Vec<bool>),
    /// The request's idempotency receipt failed: its claim was taken over, nothing was written.
    ClaimLost,
    Store(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl TxError {
    /// Whether the condition of item `index` failed.
    pub fn failed(&self, index: usize) -> bool {
        matches!(self, TxError::Conditions(f) if f.get(index).copied().unwrap_or(false))
    }
}

/// A builder only fails when a required field is missing, which is a bug here.
fn finish<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|error| {
        tracing::error!(%error, "building a DynamoDB request failed");
        StoreError::Internal
    })
}

pub fn put(put: PutBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder().put(finish(put.build())?).build())
}

pub fn update(update: UpdateBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .update(finish(update.build())?)
        .build())
}

pub fn delete(delete: DeleteBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .delete(finish(delete.build())?)
        .build())
}

pub fn check(check: ConditionCheckBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .condition_check(finish(check.build())?)
        .build())
}

/// A test-only fault: called after a transaction committed, it may make the store report an
/// error anyway (as when the SDK loses the response of a call that succeeded).
pub type AfterCommit = std::sync::Arc<dyn Fn(&'static str) -> Option<StoreError> + Send + Sync>;

impl Store {
    /// Runs the transaction, retrying when it only collided with another transaction on the
    /// same items (DynamoDB cancels rather than waits), so concurrent writers are decided by
    /// the conditions, not by timing. `receipt` (an idempotency record, see
    /// `idempotency::Claim::receipt`) commits with the items or not at all; when its condition
    /// fails the request has lost its claim and nothing is written.
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
                        Some(injected) => Err(TxError::Store(injected)),
                        None => Ok(()),
                    }
                }
                Err(error) => error,
            };
            let collided = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let reasons = cancelled.cancellation_reasons();
                    let failed: Vec<bool> = reasons
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect();
                    if receipt_index.is_some_and(|i| failed.get(i).copied().unwrap_or(false)) {
                        return Err(TxError::ClaimLost);
                    }
                    if failed.contains(&true) {
                        return Err(TxError::Conditions(failed));
                    }
                    reasons.iter().any(|r| r.code() == Some("TransactionConflict"))
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            if !collided {
                return Err(TxError::Store(failure(operation, error)));
            }
            crate::telemetry::transaction_conflict(operation);
            if attempt >= MAX_ATTEMPTS {
                tracing::warn!(operation, attempt, "transaction kept colliding with others");
                return Err(TxError::Store(StoreError::Unavailable));
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
    pub async fn next(&mut self) -> Result<u32, StoreError> {
        if self.done >= Self::MAX {
            tracing::warn!(rounds = self.done, "read-modify-write never won a round");
            return Err(StoreError::Unavailable);
        }
        if self.done > 0 {
            crate::telemetry::write_round_retried();
            backoff(self.done).await;
        }
        self.done += 1;
        Ok(self.done - 1)
    }
}

/// What one round of a read-modify-write came to.
pub enum Round<T> {
    Done(T),
    /// The versioned write lost to another writer: read again and re-apply.
    LostRace,
}

/// A record whose writes are guarded by a version, which is also its ETag.
pub trait Versioned {
    fn version(&self) -> u64;
}

/// The read-modify-write loop of every versioned update: a record whose ETag does not match
/// `if_match` is refused (412); otherwise `attempt` writes conditioned on the version of the
/// record it is given, and after a lost race the record is read again with `reread`. `first`
/// is a record the caller has just read (it is then not read twice).
///
/// The steps are boxed futures rather than async closures so that the handler's future stays
/// `Send` (rustc cannot yet prove that for async closures borrowing the request).
pub async fn versioned<'a, R: Versioned, T>(
    first: Option<R>,
    if_match: Option<&IfMatch>,
    reread: impl Fn() -> BoxFuture<'a, Result<R, Error>>,
    attempt: impl Fn(R) -> BoxFuture<'a, Result<Round<T>, Error>>,
) -> Result<T, Error> {
    let mut rounds = Rounds::default();
    let mut current = first;
    loop {
        rounds.next().await?;
        let record = match current.take() {
            Some(record) => record,
            None => reread().await?,
        };
        if !etag::allows(if_match, &etag::of_version(record.version())) {
            return Err(Error::PreconditionFailed);
        }
        if let Round::Done(value) = attempt(record).await? {
            return Ok(value);
        }
    }
}
