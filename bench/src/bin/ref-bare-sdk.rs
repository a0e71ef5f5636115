//! Reference: `lambda_http` + `aws-config` + `aws-sdk-dynamodb`, answering every request with
//! one strongly consistent `GetItem` of a fixed key (`REF_PK`/`REF_SK`) of the table `TABLE_NAME`.
//!
//! The client is built as the functions build theirs (`aws_config::load_defaults`, the same SDK
//! features from the workspace, the timeouts and retries of `shared::store::configure` with
//! their default settings), but written out here so that changes to ours do not move the
//! reference.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::{
    config::{retry::RetryConfig, timeout::TimeoutConfig},
    types::AttributeValue,
    Client,
};
use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("TABLE_NAME")?;
    let pk = std::env::var("REF_PK").unwrap_or_else(|_| "bench#REF".to_owned());
    let sk = std::env::var("REF_SK").unwrap_or_else(|_| "REF".to_owned());
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(1000))
                .operation_attempt_timeout(Duration::from_millis(1500))
                .operation_timeout(Duration::from_millis(3500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build();
    // Lives as long as the process, like the functions' per-container state.
    let state: &'static (Client, String, String, String) =
        Box::leak(Box::new((Client::from_conf(config), table, pk, sk)));
    let (client, table, pk, sk) = (&state.0, state.1.as_str(), state.2.as_str(), state.3.as_str());
    lambda_http::run(service_fn(move |_request: Request| async move {
        let out = client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await?;
        Response::builder()
            .status(if out.item.is_some() { 200 } else { 404 })
            .header("content-type", "application/json")
            .body(Body::from(format!(r#"{{"found":{}}}"#, out.item.is_some())))
            .map_err(Error::from)
    }))
    .await
}
