//! Transactions: conditional multi-item writes with the reason for a cancellation kept per item.

use std::time::Duration;

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{ConditionCheck, Delete, Put, TransactWriteItem, Update},
};

use crate::{error::ApiError, store::Store};

const MAX_ATTEMPTS: u32 = 6;

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

impl Store {
    /// Runs the transaction, retrying when it only collided with another transaction on the
    /// same items (DynamoDB cancels rather than waits), so concurrent writers are decided by
    /// the conditions, not by timing.
    pub async fn transact(
        &self,
        operation: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TxError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let conflict = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<Option<&str>> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code())
                        .collect();
                    if codes.contains(&Some("ConditionalCheckFailed")) {
                        return Err(TxError::ConditionFailed(
                            codes
                                .iter()
                                .map(|c| *c == Some("ConditionalCheckFailed"))
                                .collect(),
                        ));
                    }
                    codes.contains(&Some("TransactionConflict"))
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            if !conflict || attempt >= MAX_ATTEMPTS {
                return Err(TxError::Api(super::internal(operation, error)));
            }
            let jitter = u64::from(uuid::Uuid::now_v7().as_bytes()[15] % 20);
            tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
        }
    }
}
