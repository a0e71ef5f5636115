//! Everything local runs and tests need around the real handlers: DynamoDB Local, the table
//! created from `template.yaml`, dev tokens and an HTTP server serving the API's paths.

pub mod dynamo_proxy;
pub mod dynamodb_local;
#[cfg(test)]
mod openapi;
pub mod runtime_api;
pub mod schema;
pub mod server;
#[cfg(test)]
mod template;
pub mod token;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use shared::config::DynamoDbSettings;

/// The table of local runs (`make run`, `cargo lambda watch` with local.env).
pub const DEV_TABLE_NAME: &str = "campaign-api-local";

/// DynamoDB Local's port for `make run` when `DYNAMODB_PORT` is unset; the Makefile's
/// `DYNAMODB_PORT ?=` default, which `make watch` hands to the functions, is the same (tested).
pub const DEFAULT_DYNAMODB_PORT: u16 = 8000;

/// A DynamoDB client for a local endpoint with the SDK settings the functions use; DynamoDB
/// Local accepts any credentials.
pub fn local_client(endpoint: &str, settings: &DynamoDbSettings) -> aws_sdk_dynamodb::Client {
    let builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        // The functions' HTTPS client, so local runs and tests exercise the same connector.
        .http_client(shared::https::client(shared::https::Roots::Bundled));
    aws_sdk_dynamodb::Client::from_conf(shared::store::configure(builder, settings).build())
}
