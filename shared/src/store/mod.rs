//! The DynamoDB primitives every resource's store is built on: the client and its timeouts, one
//! table with tenant-prefixed keys (`keys`), item encoding, transactions with their
//! cancellation reasons and the versioned-retry loop (`tx`), pages (`pages`), organization
//! counters (`counters`) and idempotency records (`idempotency`). The key design is documented
//! with its access patterns in the README.

pub mod counters;
pub mod error;
pub mod idempotency;
pub mod keys;
pub mod pages;
pub mod tx;

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    config::{retry::RetryConfig, timeout::TimeoutConfig},
    types::AttributeValue,
    Client,
};
use serde::{de::DeserializeOwned, Serialize};

pub use self::error::{conditional, failure, is_condition_failure, StoreError};
use crate::config::DynamoDbSettings;

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

/// How a single-item read sees concurrent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Sees every write that completed before it (twice the read cost).
    Strong,
    /// May miss a write of the last second; for reads whose result is cached anyway.
    Eventual,
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

    /// One item, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        key: Item,
        read: Read,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(read == Read::Strong)
            .send()
            .await
            .map_err(|e| failure(operation, e))?;
        out.item.map(from_item).transpose()
    }
}

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|error| {
        tracing::error!(%error, "encoding an item failed");
        StoreError::Internal
    })
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|error| {
        tracing::error!(%error, "an item in the table does not have the expected shape");
        StoreError::Internal
    })
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `#[serde(with = "store::json_text")]` for free-form JSON kept as text in an item: DynamoDB
/// caps nesting at 32 levels and normalises numbers, and the API promises neither.
pub mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(value: &Value, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        serde_json::from_str(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Value>`; `None` is left out of the item.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(value: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.serialize_some(&v.to_string()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => serde_json::from_str(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}
