//! `Idempotency-Key` on every `POST`: the first request with a key runs and its response is
//! stored for 24 hours; a retry with the same key and the same request gets that response again
//! without running, the same key with another request is a 422, and a retry while the first is
//! still running is a 409. Keys are scoped to the tenant and the caller (`sub`).
//!
//! Records live under their own partition per (caller, key) digest with the table's TTL
//! attribute, so DynamoDB expires them; the code also ignores records past their expiry, since
//! TTL deletion can lag.

use std::future::Future;

use aws_lc_rs::digest;
use aws_sdk_dynamodb::types::AttributeValue;
use http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use crate::{
    app::Ctx,
    error::ApiError,
    store::{self, keys, Store},
};

pub const HEADER: &str = "idempotency-key";
const RETENTION_SECONDS: i64 = 24 * 3600;
/// A request that has been "in progress" this long is presumed dead and may be taken over.
const LOCK_SECONDS: i64 = 30;
const REPLAYED_HEADERS: &[&str] = &["content-type", "location", "etag"];

#[derive(Serialize, Deserialize)]
struct Record {
    pk: String,
    sk: String,
    fingerprint: String,
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record's partition: a digest of caller and key, so no two (caller, key) pairs share one.
fn record_pk(tenant: &str, sub: &str, key: &str) -> String {
    let mut input = Vec::with_capacity(sub.len() + key.len() + 1);
    input.extend_from_slice(sub.as_bytes());
    input.push(0);
    input.extend_from_slice(key.as_bytes());
    keys::idempotency_pk(tenant, &hex(digest::digest(&digest::SHA256, &input).as_ref()))
}

/// What identifies "the same request": method, path and the JSON body with keys sorted.
fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let canonical = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => value.to_string().into_bytes(),
        Err(_) => body.to_vec(),
    };
    let mut input = format!("{method}\n{path}\n").into_bytes();
    input.extend_from_slice(&canonical);
    hex(digest::digest(&digest::SHA256, &input).as_ref())
}

/// The header's value, if the request has one; a malformed one is a 400.
pub fn key_of(cx: &Ctx<'_>) -> Result<Option<String>, ApiError> {
    match cx.req.headers().get(HEADER) {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().map_err(|_| bad_key())?.trim();
            if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad_key());
            }
            Ok(Some(key.to_owned()))
        }
    }
}

fn bad_key() -> ApiError {
    ApiError::BadRequest("Idempotency-Key must be 1..255 visible ASCII characters".into())
}

/// Runs `handler` at most once per key, replaying its stored response to retries.
pub async fn run<F, Fut>(
    cx: &Ctx<'_>,
    key: &str,
    request_id: &str,
    handler: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let tenant = cx.principal.tenant()?;
    let store = &cx.app.store;
    let pk = record_pk(tenant, &cx.principal.sub, key);
    let path = crate::http::route_path(cx.req);
    let print = fingerprint(cx.matched.method.as_str(), &path, cx.req.body().as_ref());
    let now = chrono::Utc::now().timestamp();

    if !claim(store, &pk, &print, now).await? {
        let existing = load(store, &pk).await?;
        return match existing {
            Some(r) if r.fingerprint != print => Err(ApiError::field(
                "Idempotency-Key",
                "was already used with a different request",
            )),
            Some(r) if r.state == "done" => Ok(replay(&r)),
            // Claimed meanwhile and still running (or expired and re-claimed by another retry).
            _ => Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later".into(),
            )),
        };
    }

    let response = handler().await.unwrap_or_else(|e| e.into_response(request_id));
    let status = response.status();
    let keep =
        !(status.is_server_error() || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN);
    let outcome = if keep {
        complete(store, &pk, &response, now).await
    } else {
        release(store, &pk).await
    };
    if let Err(error) = outcome {
        // The write itself happened; a retry will find the key in progress until the lock
        // expires, then run again. Log loudly, answer with what happened.
        tracing::error!(?error, "storing the idempotent response failed");
    }
    Ok(response)
}

/// Claims the key; false when a live record for it exists.
async fn claim(store: &Store, pk: &str, print: &str, now: i64) -> Result<bool, ApiError> {
    let record = Record {
        pk: pk.to_owned(),
        sk: "IDEMPOTENCY".into(),
        fingerprint: print.to_owned(),
        state: "in_progress".into(),
        expires_at: now + RETENTION_SECONDS,
        locked_until: now + LOCK_SECONDS,
        status: None,
        headers: Vec::new(),
        body: None,
    };
    let result = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(store::to_item(&record)?))
        .condition_expression(
            "attribute_not_exists(pk) OR expires_at < :now \
             OR (#state = :in_progress AND locked_until < :now AND fingerprint = :fp)",
        )
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":in_progress", store::s("in_progress"))
        .expression_attribute_values(":fp", store::s(print))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if store::is_condition_failure(&e) => Ok(false),
        Err(e) => Err(store::internal("idempotency_claim", e)),
    }
}

fn record_key(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [
        ("pk".to_owned(), store::s(pk)),
        ("sk".to_owned(), store::s("IDEMPOTENCY")),
    ]
    .into()
}

async fn load(store: &Store, pk: &str) -> Result<Option<Record>, ApiError> {
    store.get_item("idempotency_load", record_key(pk)).await
}

async fn complete(store: &Store, pk: &str, response: &Response<Body>, now: i64) -> Result<(), ApiError> {
    let headers: Vec<(String, String)> = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(record_key(pk)))
        .update_expression(
            "SET #state = :done, #status = :status, headers = :headers, body = :body, expires_at = :exp",
        )
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":done", store::s("done"))
        .expression_attribute_values(
            ":status",
            AttributeValue::N(response.status().as_u16().to_string()),
        )
        .expression_attribute_values(
            ":headers",
            serde_dynamo::to_attribute_value(&headers).map_err(|_| ApiError::Internal)?,
        )
        .expression_attribute_values(":body", store::s(body))
        .expression_attribute_values(":exp", AttributeValue::N((now + RETENTION_SECONDS).to_string()))
        .send()
        .await
        .map_err(|e| store::internal("idempotency_complete", e))?;
    Ok(())
}

async fn release(store: &Store, pk: &str) -> Result<(), ApiError> {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(record_key(pk)))
        .send()
        .await
        .map_err(|e| store::internal("idempotency_release", e))?;
    Ok(())
}

fn replay(record: &Record) -> Response<Body> {
    let body = match record.body.as_deref() {
        Some("") | None => Body::Empty,
        Some(text) => Body::Text(text.to_owned()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = record
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    for (name, value) in &record.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
