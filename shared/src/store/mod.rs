//! The DynamoDB access layer: one table, tenant-prefixed partition keys, overloaded indexes.
//! The key design is documented with its access patterns in the README.

pub mod keys;
pub mod time;
pub mod tx;

use std::collections::HashMap;

use aws_sdk_dynamodb::{error::DisplayErrorContext, types::AttributeValue, Client};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::ApiError;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
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
            .map_err(|e| internal(operation, e))?;
        out.item.map(from_item).transpose()
    }
}

/// Logs an AWS error with its full context and turns it into a bare 500: the SDK's text, the
/// table name and the keys never reach the client.
pub fn internal(operation: &'static str, error: impl std::error::Error) -> ApiError {
    tracing::error!(operation, error = %DisplayErrorContext(&error), "DynamoDB call failed");
    ApiError::Internal
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
