//! `Idempotency-Key` on every `POST`: the first request with a key runs and its response is
//! stored for 24 hours; a retry with the same key and the same request gets that response again
//! without running, the same key with another request is a 422, and a retry while the first is
//! still running is a 409. Keys are scoped to the tenant and the caller (`sub`).
//!
//! Records live under their own partition per (caller, key) digest with the table's TTL
//! attribute, so DynamoDB expires them; the code also ignores records past their expiry, since
//! TTL deletion can lag.
//!
//! The stored response of a request that writes is committed in the same transaction as the
//! write (the handler asks for a *receipt*, `Ctx::receipt`, and its store call appends it), so
//! after any failure a retry either replays the response or finds nothing written: never both
//! a committed effect and a claim that lets the request run again.

use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
};

use aws_lc_rs::digest;
use aws_sdk_dynamodb::{
    operation::put_item::PutItemError,
    types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem},
};
use http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use crate::{
    app::Ctx,
    error::ApiError,
    store::{self, keys, tx, Store},
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
    /// Which attempt holds the record: completing or releasing it is conditioned on it, so a
    /// request whose claim was taken over cannot overwrite the new holder's record.
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

/// The key claimed by the request being served, from which its handler takes a receipt.
pub struct Claim {
    pk: String,
    id: String,
    fingerprint: String,
    now: i64,
    receipt_issued: AtomicBool,
}

impl Claim {
    /// The transaction item that records `response` as this key's outcome; it fails (and with
    /// it the whole transaction) unless this request still holds the claim.
    pub fn receipt(&self, table: &str, response: &Response<Body>) -> Result<TransactWriteItem, ApiError> {
        let record = Record {
            pk: self.pk.clone(),
            sk: SK.into(),
            fingerprint: self.fingerprint.clone(),
            claim_id: self.id.clone(),
            state: DONE.into(),
            expires_at: self.now + RETENTION_SECONDS,
            locked_until: 0,
            status: Some(response.status().as_u16()),
            headers: replayed_headers(response),
            body: Some(String::from_utf8_lossy(response.body().as_ref()).into_owned()),
        };
        self.receipt_issued.store(true, Ordering::SeqCst);
        Ok(tx::put(tx::built(
            Put::builder()
                .table_name(table)
                .set_item(Some(store::to_item(&record)?))
                .condition_expression("claim_id = :claim AND #state = :in_progress")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":claim", store::s(&self.id))
                .expression_attribute_values(":in_progress", store::s(IN_PROGRESS))
                .build(),
        )?))
    }
}

const SK: &str = "IDEMPOTENCY";
const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// Runs `handler` at most once per key, replaying its stored response to retries. A replay
/// passes the same tenant gate as a first request.
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
    let tenant = cx.active_tenant().await?;
    let store = &cx.app.store;
    let pk = record_pk(&tenant.id, &cx.principal.sub, key);
    let path = crate::http::route_path(cx.req);
    let fingerprint = fingerprint(cx.matched.method.as_str(), &path, cx.req.body().as_ref());
    let now = chrono::Utc::now().timestamp();
    let claim = Claim {
        pk,
        id: uuid::Uuid::now_v7().to_string(),
        fingerprint,
        now,
        receipt_issued: AtomicBool::new(false),
    };

    if let Some(existing) = try_claim(store, &claim).await? {
        return match existing {
            Some(r) if r.fingerprint != claim.fingerprint => Err(ApiError::field(
                "Idempotency-Key",
                "was already used with a different request",
            )),
            Some(r) if r.state == DONE => Ok(replay(&r)),
            // Claimed meanwhile and still running (or expired and re-claimed by another retry).
            _ => Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later".into(),
            )),
        };
    }

    let claim = cx.idempotency.get_or_init(|| claim);
    let result = handler().await;
    let committed = result.is_ok() && claim.receipt_issued.load(Ordering::SeqCst);
    let response = result.unwrap_or_else(|e| e.into_response(request_id));
    if committed {
        return Ok(response);
    }
    let status = response.status();
    let keep =
        !(status.is_server_error() || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN);
    // Both are conditioned on this request still holding an unfinished claim: when a receipt
    // did commit although the handler saw an error, the record stays and retries replay it.
    let outcome = if keep {
        complete(store, claim, &response).await
    } else {
        release(store, claim).await
    };
    if let Err(error) = outcome {
        tracing::warn!(
            ?error,
            "finishing the idempotency record failed; a retry after the lock expires runs again"
        );
    }
    Ok(response)
}

/// Claims the key: `None` when this request now holds it, else the live record found (itself
/// `None` only if it vanished between the check and the read).
async fn try_claim(store: &Store, claim: &Claim) -> Result<Option<Option<Record>>, ApiError> {
    let record = Record {
        pk: claim.pk.clone(),
        sk: SK.into(),
        fingerprint: claim.fingerprint.clone(),
        claim_id: claim.id.clone(),
        state: IN_PROGRESS.into(),
        expires_at: claim.now + RETENTION_SECONDS,
        locked_until: claim.now + LOCK_SECONDS,
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
        .expression_attribute_values(":now", AttributeValue::N(claim.now.to_string()))
        .expression_attribute_values(":in_progress", store::s(IN_PROGRESS))
        .expression_attribute_values(":fp", store::s(&claim.fingerprint))
        // The record that blocks the claim comes back with the failure: a replay costs one call.
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(_) => Ok(None),
        Err(e) => match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                let existing = match failed.item() {
                    Some(item) => Some(store::from_item::<Record>(item.clone())?),
                    None => None,
                };
                Ok(Some(existing))
            }
            _ => Err(store::failure("idempotency_claim", e)),
        },
    }
}

fn record_key(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_owned(), store::s(pk)), ("sk".to_owned(), store::s(SK))].into()
}

fn replayed_headers(response: &Response<Body>) -> Vec<(String, String)> {
    REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect()
}

/// Stores the response of a request that wrote nothing (a validation error, a no-op).
async fn complete(store: &Store, claim: &Claim, response: &Response<Body>) -> Result<(), ApiError> {
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let headers =
        serde_dynamo::to_attribute_value(replayed_headers(response)).map_err(|_| ApiError::Internal)?;
    let result = store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(record_key(&claim.pk)))
        .update_expression(
            "SET #state = :done, #status = :status, headers = :headers, body = :body, expires_at = :exp",
        )
        .condition_expression("claim_id = :claim AND #state = :in_progress")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":done", store::s(DONE))
        .expression_attribute_values(":in_progress", store::s(IN_PROGRESS))
        .expression_attribute_values(":claim", store::s(&claim.id))
        .expression_attribute_values(
            ":status",
            AttributeValue::N(response.status().as_u16().to_string()),
        )
        .expression_attribute_values(":headers", headers)
        .expression_attribute_values(":body", store::s(body))
        .expression_attribute_values(
            ":exp",
            AttributeValue::N((claim.now + RETENTION_SECONDS).to_string()),
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if store::is_condition_failure(&e) => Ok(()),
        Err(e) => Err(store::failure("idempotency_complete", e)),
    }
}

/// Frees the key after a failure that depends on passing state (5xx, 401, 403), so a retry runs.
async fn release(store: &Store, claim: &Claim) -> Result<(), ApiError> {
    let result = store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(record_key(&claim.pk)))
        .condition_expression("claim_id = :claim AND #state = :in_progress")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":claim", store::s(&claim.id))
        .expression_attribute_values(":in_progress", store::s(IN_PROGRESS))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if store::is_condition_failure(&e) => Ok(()),
        Err(e) => Err(store::failure("idempotency_release", e)),
    }
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
