//! The DynamoDB access layer: one table, tenant-prefixed partition keys, overloaded indexes.
//! The key design is documented with its access patterns in the README.

pub mod keys;
pub mod time;
pub mod tx;

use std::collections::HashMap;

use aws_sdk_dynamodb::config::{retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::AttributeValue,
    Client,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::{config::DynamoDbSettings, error::ApiError};

pub type Item = HashMap<String, AttributeValue>;

/// Applies the timeouts and retry policy of `settings` to a DynamoDB client configuration, for
/// the deployed functions and local runs alike.
pub fn configure(
    builder: aws_sdk_dynamodb::config::Builder,
    settings: &DynamoDbSettings,
) -> aws_sdk_dynamodb::config::Builder {
    builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .operation_timeout(settings.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    after_commit: Option<tx::AfterCommit>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
            after_commit: None,
        }
    }

    /// Installs a test-only fault hook run after every committed transaction.
    pub fn set_after_commit(&mut self, hook: tx::AfterCommit) {
        self.after_commit = Some(hook);
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A strongly consistent read of one item, decoded as `T`.
    pub async fn get_item<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        key: Item,
    ) -> Result<Option<T>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure(operation, e))?;
        out.item.map(from_item).transpose()
    }
}

/// Codes DynamoDB answers when it sheds load or fails on its side: retrying later can succeed.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Maps an AWS error to what the client is told, logged with its full context: throttling,
/// timeouts and connection failures are a 503 `unavailable` (retryable), anything else a bare
/// 500. The SDK's text, the table name and the keys never reach the client.
pub fn failure<E, R>(operation: &'static str, error: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ServiceError(e) => e.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c)),
        _ => false,
    };
    if transient {
        let code = error.as_service_error().and_then(|e| e.code()).unwrap_or("");
        tracing::warn!(operation, code, error = %DisplayErrorContext(&error), "DynamoDB unavailable");
        ApiError::Unavailable
    } else {
        tracing::error!(operation, error = %DisplayErrorContext(&error), "DynamoDB call failed");
        ApiError::Internal
    }
}

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, ApiError> {
    serde_dynamo::to_item(value).map_err(|error| {
        tracing::error!(%error, "serialising an item failed");
        ApiError::Internal
    })
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    serde_dynamo::from_item(item).map_err(|error| {
        tracing::error!(%error, "an item in the table does not have the expected shape");
        ApiError::Internal
    })
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Whether a failed write failed because one of its conditions did not hold.
pub fn is_condition_failure<E>(error: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}
