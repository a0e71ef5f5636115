//! `Idempotency-Key` on every `POST`: the first request with a key runs and its response is
//! stored for 24 hours; a retry with the same key and the same request gets that response again
//! without running, the same key with another request is a 422, and a retry while the first is
//! still running is a 409. Keys are scoped to the tenant and the caller (`sub`), and a replay
//! passes the same tenant gate as a first request.
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
use aws_sdk_dynamodb::types::TransactWriteItem;
use http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};

use super::{request::route_path, ApiError, Ctx};
use crate::store::{
    idempotency::{KeyClaim, StoredResponse},
    keys,
};

pub const HEADER: &str = "idempotency-key";
const REPLAYED_HEADERS: &[&str] = &["content-type", "location", "etag"];

/// The key held by the request being served, from which its handler takes a receipt.
pub struct Claim {
    key: KeyClaim,
    receipt_issued: AtomicBool,
}

impl Claim {
    /// The transaction item that records `response` as this key's outcome.
    pub fn receipt(&self, cx: &Ctx<'_>, response: &Response<Body>) -> Result<TransactWriteItem, ApiError> {
        let item = self.draft(cx, response)?;
        self.committed();
        Ok(item)
    }

    /// A receipt for a write that may not be attempted or may not commit (one of several
    /// candidate writes); `committed` must follow once one carrying it did.
    pub fn draft(&self, cx: &Ctx<'_>, response: &Response<Body>) -> Result<TransactWriteItem, ApiError> {
        Ok(cx.app.store.key_receipt(&self.key, stored(response))?)
    }

    pub fn committed(&self) {
        self.receipt_issued.store(true, Ordering::SeqCst);
    }
}

/// The header's value, if the request has one; a malformed one is a 400.
pub fn key_of(req: &lambda_http::Request) -> Result<Option<String>, ApiError> {
    let bad_key = || ApiError::BadRequest("Idempotency-Key must be 1..255 visible ASCII characters".into());
    match req.headers().get(HEADER) {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(input: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, input).as_ref())
}

/// What identifies "the same request": method, path and the JSON body with keys sorted.
fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let canonical = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => value.to_string().into_bytes(),
        Err(_) => body.to_vec(),
    };
    let mut input = format!("{method}\n{path}\n").into_bytes();
    input.extend_from_slice(&canonical);
    sha256_hex(&input)
}

/// Runs `handler` at most once per key, replaying its stored response to retries.
pub async fn run<'a, F, Fut>(
    cx: &'a Ctx<'a>,
    key: &str,
    request_id: &str,
    handler: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce(&'a Ctx<'a>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let tenant = cx.tenant()?;
    // A digest of caller and key, so no two (caller, key) pairs share a record.
    let digest = sha256_hex(&[cx.principal.sub.as_bytes(), &[0], key.as_bytes()].concat());
    let claim = KeyClaim {
        pk: keys::idempotency_pk(tenant, &digest),
        id: uuid::Uuid::now_v7().to_string(),
        fingerprint: fingerprint(
            cx.req.method().as_str(),
            &route_path(cx.req),
            cx.req.body().as_ref(),
        ),
        now: chrono::Utc::now().timestamp(),
    };
    let store = &cx.app.store;

    if let Some(existing) = store.claim_key(&claim).await? {
        return match existing {
            Some(r) if r.fingerprint != claim.fingerprint => Err(ApiError::field(
                "Idempotency-Key",
                "was already used with a different request",
            )),
            Some(r) => match r.response() {
                Some(response) => Ok(replay(response)),
                // Claimed meanwhile and still running (or expired and re-claimed by another retry).
                None => Err(in_progress()),
            },
            None => Err(in_progress()),
        };
    }

    let claim = cx.idempotency.get_or_init(|| Claim {
        key: claim,
        receipt_issued: AtomicBool::new(false),
    });
    let result = handler(cx).await;
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
        store.complete_key(&claim.key, stored(&response)).await
    } else {
        store.release_key(&claim.key).await
    };
    if let Err(error) = outcome {
        tracing::warn!(
            ?error,
            "finishing the idempotency record failed; a retry after the lock expires runs again"
        );
    }
    Ok(response)
}

/// The 409 for a key whose first request is still running.
pub fn in_progress() -> ApiError {
    ApiError::Conflict("a request with this Idempotency-Key is still in progress; retry later".into())
}

fn stored(response: &Response<Body>) -> StoredResponse {
    StoredResponse {
        status: response.status().as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect(),
        body: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
    }
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let body = if stored.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(stored.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (name, value) in &stored.headers {
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
